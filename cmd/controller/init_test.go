package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/haproxy"
)

// runWithInput runs the command line as run does, with in as standard
// input (never the test's own, which may be a terminal).
func runWithInput(in io.Reader, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	root := newCommand(context.Background(), &code, &out, &errOut)
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(&out)
	root.SetErr(&errOut)
	if _, err := root.ExecuteC(); err != nil {
		errOut.WriteString(err.Error())
		return exitUsage, out.String(), errOut.String()
	}
	return code, out.String(), errOut.String()
}

// initArgs are the flags of a complete init of service web into dir.
func initArgs(dir string, more ...string) []string {
	return append([]string{"init", "--name", "web", "--image", "demo:v1", "--out", dir,
		"--map-file", filepath.Join(dir, "hosts.map"), "--runtime", "unix://" + filepath.Join(dir, "admin.sock"),
		"--blue-port", "28081", "--green-port", "28082", "--listen", "127.0.0.1:28080"}, more...)
}

// haproxyCheck runs haproxy -c on the configuration files.
func haproxyCheck(t *testing.T, files ...string) {
	t.Helper()
	bin := testenv.RequireBinary(t, "haproxy", testenv.HAProxyHint)
	args := []string{"-c", "-q"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("haproxy %s refuses what init wrote: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestInitWritesWhatValidateAndHAProxyAccept: from flags alone, init
// writes desired.yaml, which validate accepts with its health checks
// agreeing with haproxy.cfg, an haproxy.cfg that haproxy -c accepts, and
// the map file routing the service to blue.
func TestInitWritesWhatValidateAndHAProxyAccept(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		cfg   []string // lines haproxy.cfg holds
	}{
		{"hosts", []string{"--host", "Web.Example", "--host", "www.web.example,shop.example"}, []string{
			"    acl host_web req.hdr(host),lower,field(1,:) -m str web.example www.web.example shop.example\n" +
				"    use_backend %[str(web),map(MAP)] if host_web\n",
		}},
		{"no host: every request", nil, []string{"    bind 127.0.0.1:28080\n    use_backend %[str(web),map(MAP)]\n",
			"    retries 3\n", "    option redispatch 1\n"}}, // a server moved under traffic: docs/design.md
		{"a TCP runtime API and another health path", []string{"--runtime", "tcp://127.0.0.1:29999", "--health-path", "/api/health"}, []string{
			"    stats socket ipv4@127.0.0.1:29999 level admin\n", "    option httpchk GET /api/health\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			code, out, errOut := runWithInput(strings.NewReader(""), initArgs(dir, tc.flags...)...)
			if code != exitOK {
				t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
			}
			cfg := filepath.Join(dir, "haproxy.cfg")
			b, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range append(tc.cfg,
				"    server app 127.0.0.1:28081 check inter 1s fastinter 100ms downinter 250ms rise 2 fall 2\n",
				"backend web_green\n", "    http-check expect status 200\n", "    server app 127.0.0.1:28082 check") {
				if want = strings.ReplaceAll(want, "MAP", filepath.Join(dir, "hosts.map")); !strings.Contains(string(b), want) {
					t.Errorf("haproxy.cfg does not hold %q:\n%s", want, b)
				}
			}
			if v, found, err := haproxy.LookupMapFile(filepath.Join(dir, "hosts.map"), "web"); err != nil || !found || v != "web_blue" {
				t.Errorf("map file: web is %q (found %v, %v), want web_blue", v, found, err)
			}
			haproxyCheck(t, cfg)
			code, out, errOut = runCmd("validate", "-f", filepath.Join(dir, "desired.yaml"), "--haproxy-config", cfg)
			if code != exitOK || !strings.Contains(out, "the health checks of 2 backend(s) agree") {
				t.Errorf("validate of what init wrote: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}

// TestInitBesideAnExistingHAProxyConfig: an haproxy.cfg that exists is left
// as it is; the lines to add go to a file of their own, which HAProxy
// accepts with it; a key already in the map file is not changed; a second
// init is refused without --force, which overwrites.
func TestInitBesideAnExistingHAProxyConfig(t *testing.T) {
	dir := t.TempDir()
	existing := "global\n    stats socket " + filepath.Join(dir, "admin.sock") + " level admin\n" +
		"defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n" +
		"frontend fe\n    bind 127.0.0.1:28080\n    default_backend other\nbackend other\n    server o 127.0.0.1:28083\n"
	cfg := writeTemp(t, dir, "haproxy.cfg", existing)
	mapFile := writeTemp(t, dir, "hosts.map", "api api_blue\nweb web_green\n")

	code, out, errOut := runWithInput(strings.NewReader(""), initArgs(dir, "--host", "web.example")...)
	frag := filepath.Join(dir, "haproxy-web.cfg")
	if code != exitOK || !strings.Contains(out, frag+": the lines to add to "+cfg+", which exists and is left as it is") {
		t.Fatalf("init beside an haproxy.cfg: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(cfg); string(b) != existing {
		t.Errorf("haproxy.cfg was changed:\n%s", b)
	}
	if b, _ := os.ReadFile(mapFile); string(b) != "api api_blue\nweb web_green\n" {
		t.Errorf("the map file's line for web was changed:\n%s", b)
	}
	if !strings.Contains(out, "the map file already routes web to web_green: left as it is") {
		t.Errorf("init does not say the map file is left as it is:\n%s", out)
	}
	b, _ := os.ReadFile(frag)
	for _, want := range []string{"#        use_backend %[str(web),map(" + mapFile + ")] if host_web\n", "\nbackend web_blue\n", "\nbackend web_green\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not hold %q:\n%s", frag, want, b)
		}
	}
	haproxyCheck(t, cfg, frag)

	desired, _ := os.ReadFile(filepath.Join(dir, "desired.yaml"))
	code, _, errOut = runWithInput(strings.NewReader(""), initArgs(dir, "--image", "demo:v2")...)
	if code != exitUsage || !strings.Contains(errOut, filepath.Join(dir, "desired.yaml")+" exists: it is left as it is") {
		t.Errorf("a second init: exit %d, want %d and desired.yaml named\n%s", code, exitUsage, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "desired.yaml")); string(b) != string(desired) {
		t.Errorf("a refused init changed desired.yaml")
	}
	code, out, errOut = runWithInput(strings.NewReader(""), initArgs(dir, "--image", "demo:v2", "--force")...)
	if code != exitOK {
		t.Fatalf("init --force: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(cfg); !strings.Contains(string(b), "backend web_green") {
		t.Errorf("init --force did not write haproxy.cfg:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "desired.yaml")); !strings.Contains(string(b), "image: demo:v2") {
		t.Errorf("init --force did not write desired.yaml:\n%s", b)
	}
	if b, _ := os.ReadFile(mapFile); string(b) != "api api_blue\nweb web_green\n" {
		t.Errorf("init --force changed the map file's line for web:\n%s", b)
	}
}

// TestInitRefusesBadAnswers: a bad answer is refused with the flag that
// gave it, and nothing is written.
func TestInitRefusesBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		errOut string
	}{
		{"no name, no terminal", []string{"init", "--image", "demo:v1", "--out", "DIR"}, "--name: required when standard input is not a terminal"},
		{"a bad name", []string{"--name", "Web_1"}, "metadata.name (--name): "},
		{"a privileged port", []string{"--blue-port", "80"}, "spec.colors.blue.hostPort (--blue-port): 80 is out of range"},
		{"the same port twice", []string{"--green-port", "28081"}, "spec.colors.green.hostPort (--green-port): 28081 is also blue's port"},
		{"a host with a space", []string{"--host", "web example"}, `--host "web example" is not a host name`},
		{"a host with a port", []string{"--host", "web.example:80"}, `--host "web.example:80" is not a host name`},
		{"a listen address without a port", []string{"--listen", "80"}, `--listen "80": want ADDRESS:PORT`},
		{"a line break in the image", []string{"--image", "demo:v1\n  user: root"}, "holds a line break"},
		{"an image with a comment", []string{"--image", "demo:v1 #x"}, "spec.image (--image): "},
		{"a map path HAProxy's map() cannot hold", []string{"--map-file", "/etc/haproxy/a,b.map"}, "cannot be written into haproxy.cfg's map() converter"},
		{"a map file the host policy refuses", []string{"--map-file", "/srv/hosts.map"}, "spec.haproxy.mapFile (--map-file): /srv/hosts.map"},
		{"a runtime address that is none", []string{"--runtime", "/run/haproxy.sock"}, "spec.haproxy.runtime (--runtime): "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string(nil), tc.args...)
			if args[0] != "init" {
				args = initArgs(dir, args...)
			}
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "DIR", dir)
			}
			code, out, errOut := runWithInput(strings.NewReader(""), args...)
			if code != exitUsage || !strings.Contains(errOut, tc.errOut) {
				t.Errorf("exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", code, exitUsage, tc.errOut, out, errOut)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("a refused init wrote %v", ents)
			}
		})
	}
}

// TestInitAsks: on a terminal, init asks for each answer no flag gave,
// offering the default; an empty answer takes it, an unusable one is
// asked again, and an input that ends is an error.
func TestInitAsks(t *testing.T) {
	given := map[string]bool{"runtime": true}
	a := &initAnswers{containerPort: 8080, healthPath: "/healthz", bluePort: 18081, greenPort: 18082,
		runtime: "unix:///run/haproxy/admin.sock", mapFile: "/etc/haproxy/hosts.map", listen: ":80",
		changed: func(f string) bool { return given[f] }}
	input := strings.Join([]string{
		"",             // name: needed, asked again
		"shop",         // name
		"shop:v3",      // image
		"eight",        // container port: asked again
		"3000",         // container port
		"",             // health path: the default
		"Shop.example", // hosts
		"",             // blue port: the default
		"28082",        // green port
		// runtime: given by a flag, not asked
		"", // map file: the default
		"127.0.0.1:8080",
	}, "\n") + "\n"
	var out bytes.Buffer
	if err := askAnswers(a, newPrompter(strings.NewReader(input), &out)); err != nil {
		t.Fatalf("askAnswers: %v\n%s", err, out.String())
	}
	want := initAnswers{name: "shop", image: "shop:v3", containerPort: 3000, healthPath: "/healthz", hosts: []string{"Shop.example"},
		bluePort: 18081, greenPort: 28082, runtime: "unix:///run/haproxy/admin.sock", mapFile: "/etc/haproxy/hosts.map", listen: "127.0.0.1:8080"}
	a.changed = nil
	if strings.Join(a.hosts, ",") != strings.Join(want.hosts, ",") || a.name != want.name || a.image != want.image ||
		a.containerPort != want.containerPort || a.healthPath != want.healthPath || a.bluePort != want.bluePort ||
		a.greenPort != want.greenPort || a.runtime != want.runtime || a.mapFile != want.mapFile || a.listen != want.listen {
		t.Errorf("answers %+v, want %+v", *a, want)
	}
	for _, q := range []string{"Service name (a-z 0-9 -): ", "an answer is needed", "Port the app listens on in the container [8080]: ",
		`"eight" is not a whole number`, "Host names to route to it (comma separated, - for none) [none: every request]: ", "127.0.0.1 port of blue [18081]: "} {
		if !strings.Contains(out.String(), q) {
			t.Errorf("the questions do not hold %q:\n%s", q, out.String())
		}
	}
	if strings.Contains(out.String(), "HAProxy runtime API") {
		t.Errorf("a question whose flag was given was asked:\n%s", out.String())
	}

	b := &initAnswers{changed: func(string) bool { return false }}
	err := askAnswers(b, newPrompter(strings.NewReader("web\n"), io.Discard))
	if err == nil || !strings.Contains(err.Error(), `no answer to "Image": the input ended (give it as a flag instead)`) {
		t.Errorf("an input that ends: %v", err)
	}
}

// TestInitReplicas: --replicas N writes spec.replicas and a server per
// replica in each backend, each at its own published port, green's from
// blue's plus N unless --green-port says otherwise (then an overlap is
// refused, naming the flags); haproxy -c and validate accept the result.
func TestInitReplicas(t *testing.T) {
	dir := t.TempDir()
	args := []string{"init", "--name", "web", "--image", "demo:v1", "--out", dir, "--replicas", "2",
		"--map-file", filepath.Join(dir, "hosts.map"), "--runtime", "unix://" + filepath.Join(dir, "admin.sock"),
		"--blue-port", "28081", "--listen", "127.0.0.1:28080"}
	code, out, errOut := runWithInput(strings.NewReader(""), args...)
	if code != exitOK {
		t.Fatalf("init --replicas 2: exit %d\n%s%s", code, out, errOut)
	}
	desired, _ := os.ReadFile(filepath.Join(dir, "desired.yaml"))
	cfg := filepath.Join(dir, "haproxy.cfg")
	b, _ := os.ReadFile(cfg)
	if !strings.Contains(string(desired), "\n  replicas: 2\n") || !strings.Contains(string(desired), "hostPort: 28083") {
		t.Errorf("desired.yaml lacks replicas: 2 or green's port 28083:\n%s", desired)
	}
	for _, want := range []string{"    server app1 127.0.0.1:28081 check", "    server app2 127.0.0.1:28082 check",
		"    server app1 127.0.0.1:28083 check", "    server app2 127.0.0.1:28084 check"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("haproxy.cfg does not hold %q:\n%s", want, b)
		}
	}
	haproxyCheck(t, cfg)
	if code, out, errOut := runCmd("validate", "-f", filepath.Join(dir, "desired.yaml"), "--haproxy-config", cfg); code != exitOK {
		t.Errorf("validate of what init wrote: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = runWithInput(strings.NewReader(""), append(args, "--out", t.TempDir(), "--green-port", "28082")...)
	if code != exitUsage || !strings.Contains(errOut, "(--green-port)") || !strings.Contains(errOut, "overlaps blue's 28081-28082") {
		t.Errorf("green's ports inside blue's: exit %d, want %d naming --green-port and the overlap\n%s%s", code, exitUsage, out, errOut)
	}
}
