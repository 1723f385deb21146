package haproxy

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// checkCase is a haproxy.cfg and the health checks ReadHealthChecks reads
// in it, or the error it gives. In cfg, {{SERVER}} is the address of every
// server, {{DIR}} a directory holding an empty hosts.map and {{FRONT}} a
// port to bind.
type checkCase struct {
	name string
	cfg  string
	// want is by backend; a zero Line is the line of the backend's header,
	// found by headerLine; File is the file read.
	want    map[string]HealthCheck
	wantErr string // a part of the error; its line is errLine
	errLine int
	// haproxyRefuses: "haproxy -c" refuses the cfg of a wantErr case too
	// (some are refused by ReadHealthChecks alone).
	haproxyRefuses bool
	// notLive names why HAProxy, running, sends another check than the one
	// read (by design); "" for a case whose checks the live test compares.
	notLive string
}

// preamble is the start of most cases: the defaults every backend needs.
const preamble = `defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
    timeout check 1s
`

// httpCheck is the health check of a backend with an HTTP check.
func httpCheck(method, uri, host, expect string, servers map[string]bool) HealthCheck {
	return HealthCheck{HTTP: true, Method: method, URI: uri, Host: host, Expect: expect, Servers: servers}
}

var checked = map[string]bool{"s": true}

func checkCases(t *testing.T) []checkCase {
	return append([]checkCase{
		{name: "option httpchk with no argument", cfg: preamble + `backend b
    option httpchk
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("OPTIONS", "/", "", "", checked)}},

		{name: "one argument is the uri", cfg: preamble + `backend b
    option httpchk /healthz
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("OPTIONS", "/healthz", "", "", checked)}},

		{name: "two arguments: method and uri", cfg: preamble + `backend b
    option httpchk GET /healthz
    http-check expect status 200
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", "status 200", checked)}},

		{name: "three arguments: method, uri and version", cfg: preamble + `backend b
    option httpchk HEAD /healthz HTTP/1.1
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("HEAD", "/healthz", "", "", checked)}},

		{name: "a Host hidden after the version", cfg: preamble + `backend b
    option httpchk GET /healthz HTTP/1.1\r\nHost:\ www.example.com
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "www.example.com", "", checked)}},

		{name: "a Host hidden after the version, in double quotes", cfg: preamble + `backend b
    option httpchk get /healthz "HTTP/1.1\r\nX-Check: 1\r\nhost: quoted.example"
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("get", "/healthz", "quoted.example", "", checked)}},

		{name: "http-check send overrides option httpchk", cfg: preamble + `backend b
    option httpchk GET /old HTTP/1.1\r\nHost:\ old.example
    http-check send meth HEAD uri /new hdr Host new.example
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("HEAD", "/new", "new.example", "", checked)}},

		{name: "http-check send keeps what it does not name", cfg: preamble + `backend b
    option httpchk GET /old HTTP/1.1\r\nHost:\ kept.example
    http-check send uri /new
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/new", "kept.example", "", checked)}},

		{name: "option httpchk after http-check send overrides it", cfg: preamble + `backend b
    http-check send uri /send hdr Host send.example
    option httpchk GET /option
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/option", "send.example", "", checked)}},

		{name: "http-check send keywords in any order", cfg: preamble + `backend b
    option httpchk
    http-check send hdr host any.example ver HTTP/1.1 uri /any meth PUT
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("PUT", "/any", "any.example", "", checked)}},

		{name: "option httpchk and http-check expect inherited from defaults", cfg: preamble + `    option httpchk GET /healthz
    http-check expect status 200
    default-server check
backend b
    server s {{SERVER}}
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", "status 200", checked)}},

		{name: "http-check expect in a backend drops the request of defaults", cfg: preamble + `    option httpchk GET /healthz
backend b
    http-check expect status 200
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("", "", "", "", checked)}},

		{name: "http-check expect in defaults without option httpchk is dropped", cfg: preamble + `    http-check expect status 500
backend b
    option httpchk GET /healthz
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", "", checked)}},

		{name: "http-check expect before option httpchk in a backend", cfg: preamble + `backend b
    http-check expect status 500
    option httpchk GET /healthz
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", "status 500", checked)}},

		{name: "expect rules as written, joined", cfg: preamble + `backend b
    option httpchk GET /healthz
    http-check expect ! rstatus ^5    # a comment
    http-check expect  string  "all good"
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", `! rstatus ^5; string  "all good"`, checked)}},

		{name: "http-check send-state and disable-on-404 add no rule", cfg: preamble + `    option httpchk GET /healthz
backend b
    http-check send-state
    http-check disable-on-404
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", "", checked)}},

		{name: "the first request of a check in two steps", cfg: preamble + `backend b
    option httpchk
    http-check connect
    http-check send meth GET uri /first
    http-check expect status 200
    http-check connect
    http-check send meth GET uri /second
    http-check expect status 200-204
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/first", "", "status 200", checked)}},

		{name: "named defaults: from names one, the others take the last", cfg: `defaults named
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
    option httpchk GET /named
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
    option httpchk GET /last
backend b from named
    server s {{SERVER}} check
backend c
    server s {{SERVER}} check
`, want: map[string]HealthCheck{
			"b": httpCheck("GET", "/named", "", "", checked),
			"c": httpCheck("GET", "/last", "", "", checked),
		}},

		{name: "a defaults section from another", cfg: `defaults base
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
    option httpchk GET /base
defaults child from base
    default-server check
backend b
    server s {{SERVER}}
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/base", "", "", checked)}},

		{name: "a defaults section without from starts afresh", cfg: preamble + `    option httpchk GET /healthz
    default-server check
` + preamble + `backend b
    server s {{SERVER}}
`, want: map[string]HealthCheck{"b": {Servers: map[string]bool{"s": false}}}},

		{name: "a listen section is a backend", cfg: preamble + `listen l
    bind 127.0.0.1:{{FRONT}}
    option httpchk GET /listen
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"l": httpCheck("GET", "/listen", "", "", checked)}},

		{name: "frontends and other sections are not backends", cfg: preamble + `userlist users
    user admin insecure-password secret
resolvers dns
    nameserver ns1 127.0.0.1:53
mailers mta
    mailer smtp1 127.0.0.1:25
cache small
    total-max-size 4
ring logbuf
    size 32764
    server syslog 127.0.0.1:6514
frontend fe
    bind 127.0.0.1:{{FRONT}}
    option httpchk GET /frontend
    default_backend b
backend b
    option httpchk GET /backend
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/backend", "", "", checked)}},

		{name: "comments, blank lines, indentation and quotes", cfg: `# a comment
` + preamble + `

	# an indented comment
backend b   # after a header
	option   httpchk	GET "/a#b"   # '#' within quotes is not a comment
        server 's' {{SERVER}} 'check'# at the end
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/a#b", "", "", checked)}},

		{name: "an environment variable stays as written", cfg: preamble + `backend b
    option httpchk GET "/${BLUEGREEN_NOT_SET}"
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/${BLUEGREEN_NOT_SET}", "", "", checked)},
			notLive: "HAProxy expands the variable"},

		{name: "default-server check, and no-check on one server", cfg: preamble + `backend b
    option httpchk GET /healthz
    default-server check inter 1s
    server a {{SERVER}}
    server b {{SERVER}} no-check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", "", map[string]bool{"a": true, "b": false})}},

		{name: "default-server applies to the servers after it", cfg: preamble + `backend b
    option httpchk GET /healthz
    server a {{SERVER}}
    default-server check
    server b {{SERVER}}
    default-server no-check
    server c {{SERVER}}
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", "", map[string]bool{"a": false, "b": true, "c": false})}},

		{name: "the last of check and no-check wins", cfg: preamble + `backend b
    option httpchk GET /healthz
    server a {{SERVER}} check no-check
    server b {{SERVER}} no-check check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", "", map[string]bool{"a": false, "b": true})}},

		{name: "a keyword's argument is not a keyword", cfg: preamble + `backend b
    option httpchk GET /healthz
    cookie SRV insert
    server a {{SERVER}} cookie check
    server b {{SERVER}} inter 1s weight 10 check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", "", map[string]bool{"a": false, "b": true})}},

		{name: "server-template", cfg: preamble + `backend b
    option httpchk GET /healthz
    server-template app 3 {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", "", map[string]bool{"app1": true, "app2": true, "app3": true})}},

		{name: "option tcp-check replaces an inherited option httpchk", cfg: preamble + `    option httpchk GET /healthz
backend b
    option tcp-check
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": {Servers: checked}}},

		{name: "option httpchk after option tcp-check", cfg: preamble + `backend b
    option tcp-check
    option httpchk GET /healthz
    server s {{SERVER}} check
`, want: map[string]HealthCheck{"b": httpCheck("GET", "/healthz", "", "", checked)}},

		{name: "no check at all", cfg: preamble + `backend b
    server s {{SERVER}}
`, want: map[string]HealthCheck{"b": {Servers: map[string]bool{"s": false}}}},

		{name: "no option httpchk, which HAProxy refuses", cfg: preamble + `    option httpchk GET /healthz
backend b
    no option httpchk
    server s {{SERVER}} check
`, wantErr: "no option httpchk: HAProxy 2.6 refuses it", errLine: 9, haproxyRefuses: true},

		{name: "option httpchk with four arguments", cfg: preamble + `backend b
    option httpchk GET /healthz HTTP/1.1 more
`, wantErr: "at most 3 arguments", errLine: 8, haproxyRefuses: true},

		{name: "unmatched quote", cfg: preamble + `backend b
    option httpchk GET "/healthz
`, wantErr: "unmatched quote", errLine: 8, haproxyRefuses: true},

		{name: "bad hex escape", cfg: preamble + `backend b
    option httpchk GET /a\xZZ
`, wantErr: `\x`, errLine: 8, haproxyRefuses: true},

		{name: "unknown http-check send keyword", cfg: preamble + `backend b
    option httpchk
    http-check send path /healthz
`, wantErr: `unknown keyword "path"`, errLine: 9, haproxyRefuses: true},

		{name: "from an unknown defaults section", cfg: preamble + `backend b from nowhere
    server s {{SERVER}} check
`, wantErr: `defaults section "nowhere" not found`, errLine: 7, haproxyRefuses: true},

		{name: "a backend declared twice", cfg: preamble + `backend b
backend b
`, wantErr: "backend b declared twice (first at line 7)", errLine: 8, haproxyRefuses: true},

		{name: "a conditional block", cfg: preamble + `.if defined(HAPROXY_LOCALPEER)
backend b
.endif
`, wantErr: "conditional block (.if)", errLine: 7},
	}, repoCases(t)...)
}

// repoCases are the haproxy.cfg of the demo (examples/haproxy.cfg) and of
// the end-to-end tests (haproxyCfg in test/e2e/harness_test.go, read from
// there so that a change to it is tested here): every backend checks GET
// /healthz, expects status 200 and checks server app (default-server).
func repoCases(t *testing.T) []checkCase {
	root := testenv.ModuleRoot(t)
	demo, err := os.ReadFile(filepath.Join(root, "examples", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	app := map[string]bool{"app": true}
	healthz := httpCheck("GET", "/healthz", "", "status 200", app)
	healthz.Redispatch = true // option redispatch 1, in defaults
	return []checkCase{
		{name: "examples/haproxy.cfg", cfg: strings.NewReplacer("/tmp/bluegreen-demo", "{{DIR}}", "127.0.0.1:18080", "127.0.0.1:{{FRONT}}",
			"127.0.0.1:18081", "{{SERVER}}", "127.0.0.1:18082", "{{SERVER}}").Replace(string(demo)),
			want: map[string]HealthCheck{"web_blue": healthz, "web_green": healthz}},
		{name: "test/e2e haproxyCfg", cfg: strings.NewReplacer("{{SVC}}", "e2e", "{{BLUESERVERS}}", "server app {{SERVER}}",
			"{{GREENSERVERS}}", "server app {{SERVER}}", "{{RETRY}}", "", "{{CANARY}}", "").Replace(e2eConfig(t, filepath.Join(root, "test", "e2e", "harness_test.go"))),
			want: map[string]HealthCheck{"e2e_blue": healthz, "e2e_green": healthz}},
	}
}

// e2eConfig returns the constant haproxyCfg of the Go file at path.
func e2eConfig(t *testing.T, path string) string {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && n.Name == "haproxyCfg" {
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					return v
				}
			}
		}
	}
	t.Fatalf("no const haproxyCfg in %s", path)
	return ""
}

// render writes the cfg of c into dir as haproxy.cfg, its servers at
// server, and returns the file's path.
func (c checkCase) render(t *testing.T, dir, server string, front int) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "hosts.map"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("{{DIR}}", dir, "{{SERVER}}", server, "{{FRONT}}", strconv.Itoa(front)).Replace(c.cfg)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// shortDir is a new directory whose path HAProxy takes in a socket
// address: short (at most 107 bytes for a unix socket) and without a comma
// (which t.TempDir takes from a test's name).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// headerLine is the line of "backend NAME" or "listen NAME" in cfg.
func headerLine(cfg, name string) int {
	for i, l := range strings.Split(cfg, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "backend" || f[0] == "listen") && f[1] == name {
			return i + 1
		}
	}
	return 0
}

// wantChecks is c.want as read from path.
func (c checkCase) wantChecks(path string) map[string]HealthCheck {
	want := map[string]HealthCheck{}
	for name, hc := range c.want {
		hc.Backend, hc.File = name, path
		if hc.Line == 0 {
			hc.Line = headerLine(c.cfg, name)
		}
		want[name] = hc
	}
	return want
}

func TestReadHealthChecks(t *testing.T) {
	for _, c := range checkCases(t) {
		t.Run(c.name, func(t *testing.T) {
			path := c.render(t, shortDir(t), "127.0.0.1:9", 18080)
			got, err := ReadHealthChecks(path)
			if c.wantErr != "" {
				if err == nil {
					t.Fatalf("ReadHealthChecks = %v, want an error with %q", got, c.wantErr)
				}
				if at := fmt.Sprintf("%s:%d: ", path, c.errLine); !strings.Contains(err.Error(), at) || !strings.Contains(err.Error(), c.wantErr) {
					t.Errorf("error %q, want %q and %q", err, at, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := c.wantChecks(path)
			for name, w := range want {
				if g, ok := got[name]; !ok {
					t.Errorf("backend %s missing", name)
				} else if !equalChecks(g, w) {
					t.Errorf("backend %s:\n got %+v\nwant %+v", name, g, w)
				}
			}
			for name := range got {
				if _, ok := want[name]; !ok {
					t.Errorf("backend %s read, none expected", name)
				}
			}
		})
	}
}

func equalChecks(a, b HealthCheck) bool {
	return a.Backend == b.Backend && a.File == b.File && a.Line == b.Line && a.HTTP == b.HTTP &&
		a.Method == b.Method && a.URI == b.URI && a.Host == b.Host && a.Expect == b.Expect && maps.Equal(a.Servers, b.Servers) &&
		a.Redispatch == b.Redispatch
}

// TestHealthCheckCasesAreHAProxys: "haproxy -c" accepts every valid case
// and refuses those marked so.
func TestHealthCheckCasesAreHAProxys(t *testing.T) {
	bin := testenv.RequireBinary(t, "haproxy", "apt-get install -y haproxy")
	for _, c := range checkCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := shortDir(t)
			path := c.render(t, dir, "127.0.0.1:9", 18080)
			// A stats socket: HAProxy does not start without a listener.
			global := filepath.Join(dir, "global.cfg")
			if err := os.WriteFile(global, []byte(statsSocketCfg(dir)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-c", "-f", path, "-f", global).CombinedOutput()
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("haproxy -c refuses a case read as valid: %v\n%s", err, out)
			case c.haproxyRefuses && err == nil:
				t.Errorf("haproxy -c accepts a case marked as refused by HAProxy:\n%s", out)
			}
		})
	}
}

// statsSocketCfg is a global section with a stats socket in dir.
func statsSocketCfg(dir string) string {
	return "global\n    stats socket " + filepath.Join(dir, "s.sock") + " level admin\n"
}

func TestReadHealthChecksErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.cfg")
	_, err := ReadHealthChecks(missing)
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "read health checks of "+missing+": no such file or directory" {
		t.Errorf("missing file: %v, want fs.ErrNotExist with the path once", err)
	}
	big := filepath.Join(dir, "big.cfg")
	if err := os.WriteFile(big, []byte(strings.Repeat("# padding\n", maxConfigSize/10+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadHealthChecks(big); err == nil || !strings.Contains(err.Error(), big+": larger than 8 MiB") {
		t.Errorf("a file over 8 MiB: %v, want it refused", err)
	}
	if _, err := ReadHealthChecks(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("a directory: %v, want an error naming it", err)
	}
}

// TestReadRedispatch: whether a backend redispatches a retried connection
// ("option redispatch", in it or in the defaults it inherits; "no",
// "default" and an interval of 0 turn it off).
func TestReadRedispatch(t *testing.T) {
	backend := func(lines string) string {
		return "backend b\n" + lines + "    option httpchk GET /healthz\n    server s 127.0.0.1:9 check\n"
	}
	for _, c := range []struct {
		name, cfg string
		want      bool
	}{
		{"none", preamble + backend(""), false},
		{"in defaults, every retry", preamble + "    option redispatch 1\n" + backend(""), true},
		{"in defaults, the last retry", preamble + "    option redispatch\n" + backend(""), true},
		{"in the backend", preamble + backend("    option redispatch -1\n"), true},
		{"an interval of 0 turns it off", preamble + backend("    option redispatch 0\n"), false},
		{"no option in the backend", preamble + "    option redispatch 1\n" + backend("    no option redispatch\n"), false},
		{"default option in the backend", preamble + "    option redispatch 1\n" + backend("    default option redispatch\n"), false},
		{"a later defaults section without it", preamble + "    option redispatch 1\n" + preamble + backend(""), false},
		{"named defaults, from", "defaults with\n    mode http\n    option redispatch 1\n" + preamble +
			"backend b from with\n    option httpchk GET /healthz\n    server s 127.0.0.1:9 check\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			checks, err := parseHealthChecks("test.cfg", c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := checks["b"].Redispatch; got != c.want {
				t.Errorf("Redispatch = %t, want %t\n%s", got, c.want, c.cfg)
			}
		})
	}
}
