package specfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// good is a valid desired file of one service, web.
var good = spectest.Good

func TestParseDefaults(t *testing.T) {
	svcs, err := Parse([]byte(good), "desired.yaml", t.TempDir())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(svcs) != 1 {
		t.Fatalf("got %d services, want 1", len(svcs))
	}
	s := svcs[0]
	checks := []struct{ field, got, want string }{
		{"name", s.Name, "web"},
		{"network", string(s.Network), string(spec.NetworkBridge)},
		{"healthPath", s.HealthPath, "/healthz"},
		{"blue backend", s.Colors.Blue.Backend, "web_blue"},
		{"green backend", s.Colors.Green.Backend, "web_green"},
		{"blue server", s.Colors.Blue.Server, "app"},
		{"mapKey", s.HAProxy.MapKey, "web"},
		{"idle policy", string(s.Idle.Policy), string(spec.IdleStop)},
		{"container", s.ContainerName(spec.Green), "bg-web-green"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if s.ContainerPort != 8080 || s.ReadyTimeout.Duration != time.Minute || s.DrainTimeout.Duration != 30*time.Second {
		t.Errorf("defaults: containerPort %d readyTimeout %s drainTimeout %s", s.ContainerPort, s.ReadyTimeout, s.DrainTimeout)
	}
}

func TestGenerationFollowsSpec(t *testing.T) {
	a, _ := Parse([]byte(good), "a.yaml", "")
	b, _ := Parse([]byte(strings.Replace(good, "demo:v1", "demo:v2", 1)), "a.yaml", "")
	c, _ := Parse([]byte(good+"  # a comment\n"), "a.yaml", "")
	if a[0].Generation() == b[0].Generation() {
		t.Errorf("generation did not change with the image")
	}
	if a[0].Generation() != c[0].Generation() {
		t.Errorf("generation changed with a comment")
	}
}

func TestParseSeveralDocuments(t *testing.T) {
	second := strings.NewReplacer("name: web", "name: api", "18081", "18091", "18082", "18092").Replace(good)
	svcs, err := Parse([]byte("# two services\n---\n"+good+"---\n"+second+"---\n"), "desired.yaml", "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(svcs) != 2 || svcs[0].Name != "web" || svcs[1].Name != "api" {
		t.Fatalf("got %d services (%v), want web and api", len(svcs), svcs)
	}
	if svcs[1].Source != `desired.yaml (document 2) service "api"` {
		t.Errorf("source = %q", svcs[1].Source)
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	second := strings.NewReplacer("name: web", "name: api", "18081", "18091", "18082", "18092").Replace(good)
	write(t, filepath.Join(dir, "a.yaml"), good)
	write(t, filepath.Join(dir, "b.yml"), second)
	write(t, filepath.Join(dir, "notes.txt"), "not yaml")
	svcs, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(svcs) != 2 {
		t.Fatalf("got %d services, want 2", len(svcs))
	}
	write(t, filepath.Join(dir, "c.yaml"), good)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `"web" is already defined in`) {
		t.Fatalf("duplicate across files: got %v", err)
	}
}

// TestLoadRefusesEachDocumentAlone: a directory with a good file, a file
// whose document does not validate, one that is not YAML and one that
// takes a port another holds: the error is a PartlyRefused whose Valid
// holds the good service and whose refusals name the service (or, when
// the name cannot be read, only the file).
func TestLoadRefusesEachDocumentAlone(t *testing.T) {
	dir := t.TempDir()
	api := strings.NewReplacer("name: web", "name: api", "18081", "18091", "18082", "18092").Replace(good)
	write(t, filepath.Join(dir, "a.yaml"), good)
	write(t, filepath.Join(dir, "b.yaml"), strings.Replace(api, "activeColor: blue", "activeColor: purple", 1))
	write(t, filepath.Join(dir, "c.yaml"), "metadata: [not: {a mapping\n")
	write(t, filepath.Join(dir, "d.yaml"), strings.Replace(good, "name: web", "name: shop", 1))
	// blog's second document is refused: blog is refused whole.
	blog := strings.NewReplacer("name: web", "name: blog", "18081", "18095", "18082", "18096", "mapFile: /etc/haproxy/hosts.map", "mapFile: /etc/haproxy/blog.map").Replace(good)
	write(t, filepath.Join(dir, "e.yaml"), blog+"---\n"+strings.Replace(blog, "activeColor: blue", "activeColor: teal", 1))
	_, err := Load(dir)
	p := spec.Refused(err)
	if p == nil {
		t.Fatalf("Load = %v, want a PartlyRefused", err)
	}
	if len(p.Valid) != 1 || p.Valid[0].Name != "web" {
		t.Errorf("valid %v, want web alone", p.Valid)
	}
	type refusal struct{ file, name, says string }
	want := []refusal{{"b.yaml", "api", "purple"}, {"c.yaml", "", "malformed YAML"}, {"e.yaml", "blog", "teal"},
		{"d.yaml", "shop", "18081 is already used by service \"web\""}}
	if len(p.Refused) != len(want) {
		t.Fatalf("refused %d: %v", len(p.Refused), err)
	}
	for i, r := range p.Refused {
		w := want[i]
		if filepath.Base(r.File) != w.file || r.Name != w.name || !strings.Contains(r.Err.Error(), w.says) {
			t.Errorf("refusal %d: %s %q: %v; want %s %q saying %q", i, r.File, r.Name, r.Err, w.file, w.name, w.says)
		}
	}
}

func TestResources(t *testing.T) {
	svcs, err := Parse([]byte(good+"  resources: {memory: 64Mi, cpus: 0.5}\n"), "d.yaml", t.TempDir())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	r := svcs[0].Resources
	if r.MemoryBytes() != 64<<20 || r.NanoCPUs() != 5e8 {
		t.Fatalf("memory %d bytes, %d nano CPUs; want %d, %d", r.MemoryBytes(), r.NanoCPUs(), 64<<20, int64(5e8))
	}
	plain, err := Parse([]byte(good), "d.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if plain[0].Generation() == svcs[0].Generation() {
		t.Fatal("resources do not change the generation")
	}
}

func TestBuildContextResolvesAgainstFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "app", "Dockerfile"), "FROM scratch\n")
	svcs, err := Parse([]byte(good+"  build: {context: app}\n"), "d.yaml", dir)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := svcs[0].BuildContext(); got != filepath.Join(dir, "app") {
		t.Errorf("BuildContext = %q", got)
	}
}

// TestParseRefusesBadInput: every bad file gets an error naming the file,
// the field path and the bad value.
func TestParseRefusesBadInput(t *testing.T) {
	r := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	tests := []struct {
		name string
		yaml string
		want []string // all must appear in the error
	}{
		{"malformed YAML", "apiVersion: [unclosed\n", []string{"desired.yaml", "malformed YAML"}},
		{"tab indentation", r("  activeColor: blue", "\tactiveColor: blue"), []string{"desired.yaml", "malformed YAML"}},
		{"unknown field", r("  image: demo:v1", "  image: demo:v1\n  replicaCount: 3"), []string{"spec.replicaCount", "unknown field"}},
		{"field name wrong case", r("activeColor", "activecolor"), []string{"spec.activecolor", `did you mean "activeColor"`}},
		{"unknown nested field", r("blue: {hostPort: 18081}", "blue: {hostPort: 18081, weight: 2}"), []string{"spec.colors.blue.weight", "unknown field"}},
		{"wrong type", r("hostPort: 18081", `hostPort: "eighteen"`), []string{"spec.colors.blue.hostPort", "want an integer", `"eighteen"`}},
		{"memory not a size", good + "  resources: {memory: lots}\n", []string{"spec.resources.memory", `"lots"`, "not a size"}},
		{"memory below the engine's minimum", good + "  resources: {memory: 1m}\n", []string{"spec.resources.memory", `"1m"`, "minimum"}},
		{"negative cpus", good + "  resources: {cpus: -1}\n", []string{"spec.resources.cpus", "-1"}},
		{"unknown resource", good + "  resources: {gpus: 1}\n", []string{"spec.resources.gpus", "unknown field"}},
		{"env value not a string", r("  image: demo:v1", "  image: demo:v1\n  env: {WORKERS: 4}"), []string{"spec.env.WORKERS", "want a string", "number 4"}},
		{"unknown color", r("activeColor: blue", "activeColor: purple"), []string{"spec.activeColor", `"purple"`}},
		{"empty image", r("image: demo:v1", `image: ""`), []string{"spec.image", "is empty"}},
		{"image with a space", r("image: demo:v1", `image: "demo:v1 extra"`), []string{"spec.image", `"demo:v1 extra"`}},
		{"image with a semicolon", r("image: demo:v1", `image: "demo:v1;rm"`), []string{"spec.image", `"demo:v1;rm"`}},
		{"same host port for both colors", r("hostPort: 18082", "hostPort: 18081"), []string{"spec.colors.green.hostPort", "18081", "blue's port"}},
		{"privileged port", r("hostPort: 18081", "hostPort: 80"), []string{"spec.colors.blue.hostPort", "80", "privileged"}},
		{"port out of range", r("hostPort: 18082", "hostPort: 70000"), []string{"spec.colors.green.hostPort", "70000"}},
		{"network with a colon", r("  image: demo:v1", "  image: demo:v1\n  network: container:db"), []string{"spec.network", `"container:db"`, "name of a Docker network"}},
		{"unknown pull policy", r("  image: demo:v1", "  image: demo:v1\n  pull: Always"), []string{"spec.pull", `"Always"`, "Never"}},
		{"network none", r("  image: demo:v1", "  image: demo:v1\n  network: none"), []string{"spec.network", `"none"`}},
		{"container port out of range", r("  image: demo:v1", "  image: demo:v1\n  containerPort: 99999"), []string{"spec.containerPort", "99999"}},
		{"negative duration", r("  image: demo:v1", "  image: demo:v1\n  drainTimeout: -5s"), []string{"spec.drainTimeout", "-5s", "positive"}},
		{"negative restartAfter", good + "  health: {restartAfter: -1s}\n", []string{"spec.health.restartAfter", "-1s", "negative"}},
		{"unknown health field", good + "  health: {restartAfer: 1s}\n", []string{"spec.health.restartAfer"}},
		{"unparsable duration", r("  image: demo:v1", "  image: demo:v1\n  readyTimeout: soon"), []string{"spec.readyTimeout", `"soon"`}},
		{"duration without unit", r("  image: demo:v1", "  image: demo:v1\n  readyTimeout: 30"), []string{"spec.readyTimeout", "number 30"}},
		{"missing build context", r("  image: demo:v1", "  image: demo:v1\n  build: {context: ./nowhere}"), []string{"spec.build.context", `"./nowhere"`, "does not exist"}},
		{"map key with a semicolon", r("    mapFile: /etc/haproxy/hosts.map", "    mapFile: /etc/haproxy/hosts.map\n    mapKey: \"web;shutdown sessions\""), []string{"spec.haproxy.mapKey", `"web;shutdown sessions"`}},
		{"map key with a newline", r("    mapFile: /etc/haproxy/hosts.map", "    mapFile: /etc/haproxy/hosts.map\n    mapKey: \"web\\nset server x/y state maint\""), []string{"spec.haproxy.mapKey", `\n`}},
		{"map key longer than HAProxy takes", r("    mapFile: /etc/haproxy/hosts.map", "    mapFile: /etc/haproxy/hosts.map\n    mapKey: "+strings.Repeat("k", 20000)), []string{"spec.haproxy.mapKey", "20000 bytes long", "at most 255"}},
		{"server name longer than HAProxy takes", r("green: {hostPort: 18082}", "green: {hostPort: 18082, server: "+strings.Repeat("s", 256)+"}"), []string{"spec.colors.green.server", "256 bytes long"}},
		{"backend with a space", r("blue: {hostPort: 18081}", `blue: {hostPort: 18081, backend: "web blue"}`), []string{"spec.colors.blue.backend", `"web blue"`}},
		{"server with a semicolon", r("green: {hostPort: 18082}", `green: {hostPort: 18082, server: "app;disable"}`), []string{"spec.colors.green.server", `"app;disable"`}},
		{"relative map file", r("mapFile: /etc/haproxy/hosts.map", "mapFile: hosts.map"), []string{"spec.haproxy.mapFile", `"hosts.map"`, "absolute"}},
		{"bad runtime address", r("runtime: unix:///run/haproxy/admin.sock", "runtime: /run/haproxy/admin.sock"), []string{"spec.haproxy.runtime", `"/run/haproxy/admin.sock"`}},
		{"bad service name", r("name: web", "name: Web_1"), []string{"metadata.name", `"Web_1"`}},
		{"wrong apiVersion", r("bluegreen.dev/v1", "bluegreen.dev/v9"), []string{"apiVersion", `"bluegreen.dev/v9"`}},
		{"reserved env", r("  image: demo:v1", "  image: demo:v1\n  env: {PORT: \"9\"}"), []string{"spec.env.PORT", "set by the controller"}},
		{"bad idle policy", r("  image: demo:v1", "  image: demo:v1\n  idle: {policy: Sleep}"), []string{"spec.idle.policy", `"Sleep"`}},
		{"duplicate key", r("  image: demo:v1", "  image: demo:v1\n  image: demo:v2"), []string{"malformed YAML", "image"}},
		{"duplicate service names", good + "---\n" + good, []string{"document 2", "metadata.name", `"web" is already defined`}},
		{"backend shared by two services", good + "---\n" + strings.NewReplacer("name: web", "name: api", "18081", "18091", "18082", "18092", "green: {hostPort: 18082}", "green: {hostPort: 18092, backend: web_green}").Replace(good),
			[]string{"document 2", "spec.colors.green.backend", `"web_green" is already used by service "web" green`}},
		{"second document bad, first fine", good + "---\n" + strings.NewReplacer("name: web", "name: api", "18081", "18091", "18082", "18092", "activeColor: blue", "activeColor: red").Replace(good),
			[]string{"desired.yaml (document 2)", `service "api"`, "spec.activeColor", `"red"`}},
		{"empty file", "# nothing\n", []string{"desired.yaml", "no service document"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svcs, err := Parse([]byte(tc.yaml), "desired.yaml", t.TempDir())
			if err == nil {
				t.Fatalf("accepted bad input, got %d services", len(svcs))
			}
			if svcs != nil {
				t.Errorf("returned services along with an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, "desired.yaml") {
				t.Errorf("error does not name the file: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
		})
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestParseUserNetwork: a Docker network named by the user is taken as a
// bridge-like network, with the same default container port.
func TestParseUserNetwork(t *testing.T) {
	in := strings.Replace(good, "  image: demo:v1", "  image: demo:v1\n  network: apps_net-1.0", 1)
	svcs, err := Parse([]byte(in), "desired.yaml", t.TempDir())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if s := svcs[0]; s.Network != "apps_net-1.0" || s.ContainerPort != spec.DefaultContainerPort {
		t.Errorf("network %q, containerPort %d; want apps_net-1.0 and %d", s.Network, s.ContainerPort, spec.DefaultContainerPort)
	}
}

// TestBuildStaysInsideTheDesiredFilesDirectory: the build context, and the
// Dockerfile within it, must resolve below the directory of the desired
// file, the context with no link on its path: whoever writes that file
// must not make the controller, which runs as root, put another user's
// files into an image.
func TestBuildStaysInsideTheDesiredFilesDirectory(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "config")
	outside := filepath.Join(root, "home", ".ssh")
	for _, d := range []string{filepath.Join(base, "app"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(base, "app", "Dockerfile"), filepath.Join(outside, "Dockerfile"), filepath.Join(outside, "id_rsa")} {
		if err := os.WriteFile(f, []byte("FROM scratch\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(base, "ssh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "id_rsa"), filepath.Join(base, "app", "Dockerfile.link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "app"), filepath.Join(base, "app.link")); err != nil {
		t.Fatal(err)
	}
	build := func(b string) string {
		return strings.Replace(good, "  image: demo:v1", "  image: demo:v1\n  build: "+b, 1)
	}
	for _, tc := range []struct{ name, build, field string }{
		{"context inside", "{context: app}", ""},
		{"context ./ inside", "{context: ./app/.}", ""},
		{"context is the directory itself", "{context: ., dockerfile: app/Dockerfile}", ""},
		{"context above", "{context: ../home/.ssh}", "spec.build.context"},
		{"absolute context elsewhere", "{context: " + outside + "}", "spec.build.context"},
		{"symlink to elsewhere", "{context: ssh}", "spec.build.context"},
		{"symlink inside (the build refuses a link on the context's path)", "{context: app.link}", "spec.build.context"},
		{"dockerfile above", "{context: app, dockerfile: ../../home/.ssh/Dockerfile}", "spec.build.dockerfile"},
		{"absolute dockerfile", "{context: app, dockerfile: /etc/passwd}", "spec.build.dockerfile"},
		{"dockerfile symlink to elsewhere", "{context: app, dockerfile: Dockerfile.link}", "spec.build.dockerfile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(build(tc.build)), "desired.yaml", base)
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
				t.Fatalf("Parse = %v, want an error on %s", err, tc.field)
			}
		})
	}
}

// TestLoadDecodesAgainWhatMayHaveChanged: a file read again unchanged
// gives the same services; a change of its contents is seen at the next
// read; and a build context checked on disk is checked at every read, the
// file untouched: a context that appears makes the refused service stand.
func TestLoadDecodesAgainWhatMayHaveChanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	write(t, path, good)
	first, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(path)
	if err != nil || len(again) != 1 || again[0].Generation() != first[0].Generation() {
		t.Fatalf("read again unchanged: %v %v, want generation %s", again, err, first[0].Generation())
	}
	write(t, path, strings.Replace(good, "demo:v1", "demo:v2", 1))
	changed, err := Load(path)
	if err != nil || len(changed) != 1 || changed[0].Image != "demo:v2" {
		t.Fatalf("after the file changed: %v %v, want image demo:v2", changed, err)
	}

	write(t, path, good+"  build: {context: app}\n")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("build context missing: %v, want a refusal", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "app", "Dockerfile"), "FROM scratch\n")
	if svcs, err := Load(path); err != nil || len(svcs) != 1 {
		t.Fatalf("build context made, the file untouched: %v %v, want web to stand", svcs, err)
	}
}
