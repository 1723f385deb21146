package haproxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/internal/testenv"
)

func TestMismatch(t *testing.T) {
	get := func(uri, expect string) HealthCheck { return httpCheck("GET", uri, "", expect, checked) }
	for _, tt := range []struct {
		name string
		hc   HealthCheck
		path string
		want string
	}{
		{"the same probe", get("/healthz", ""), "/healthz", ""},
		{"status 200 is among 2xx and 3xx", get("/healthz", "status 200"), "/healthz", ""},
		{"a list within 2xx and 3xx", get("/healthz", "status 200-299,301"), "/healthz", ""},
		{"a regex within 2xx and 3xx", get("/healthz", "rstatus ^[23]"), "/healthz", ""},
		{"a rule on the body", get("/healthz", "string ok"), "/healthz", ""},
		{"options around the match", get("/healthz", `min-recv 10 comment "a b" status 200 on-error failed`), "/healthz", ""},
		{"another host is not compared", httpCheck("GET", "/healthz", "www.example", "", checked), "/healthz", ""},
		{"another path", get("/healthz", "status 200"), "/api/health", "checks GET /healthz, not spec.healthPath /api/health"},
		{"another method", httpCheck("HEAD", "/api/health", "", "", checked), "/api/health", "checks HEAD /api/health, not GET"},
		{"methods are case-sensitive", httpCheck("get", "/api/health", "", "", checked), "/api/health", "checks get /api/health, not GET"},
		{"HAProxy's default method and path", httpCheck("OPTIONS", "/", "", "", checked), "/api/health",
			"checks OPTIONS /, not GET spec.healthPath /api/health"},
		{"a status outside 2xx and 3xx", get("/healthz", "status 200,404"), "/healthz",
			"expects status 200,404, which passes status 404, outside 2xx/3xx"},
		{"no 2xx or 3xx", get("/healthz", "status 404"), "/healthz", "expects status 404, which no 2xx or 3xx status passes"},
		{"a regex on 5xx", get("/healthz", "rstatus ^5"), "/healthz", "expects rstatus ^5, which no 2xx or 3xx status passes"},
		{"negated", get("/healthz", "! status 500"), "/healthz", "expects ! status 500, which passes status 400, outside 2xx/3xx"},
		{"negated after an option", get("/healthz", "ok-status L7OK !status 200"), "/healthz",
			"expects ok-status L7OK !status 200, which passes status 400, outside 2xx/3xx"},
		{"every rule must pass", get("/healthz", "status 200-499; status 100-399"), "/healthz", ""},
		{"path and status", get("/healthz", "status 500"), "/api/health",
			"checks GET /healthz, not spec.healthPath /api/health; expects status 500, which no 2xx or 3xx status passes"},
		{"no HTTP check", HealthCheck{Servers: checked}, "/api/health",
			`has no HTTP check (no "option httpchk" in it or its defaults section): HAProxy never asks GET /api/health (spec.healthPath)`},
		{"no request", httpCheck("", "", "", "status 200", checked), "/api/health",
			`sends no HTTP request: its http-check rules replace the request of the inherited "option httpchk" and none is "http-check send", so HAProxy never asks GET /api/health (spec.healthPath)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.hc.Mismatch(tt.path); got != tt.want {
				t.Errorf("Mismatch(%q) =\n %q\nwant\n %q", tt.path, got, tt.want)
			}
		})
	}
}

// TestCheckLines: the lines read back as the controller's probe of the
// path, even one with characters haproxy.cfg quotes, and HAProxy takes
// them.
func TestCheckLines(t *testing.T) {
	if got, want := CheckLines("/api/health"), "option httpchk GET /api/health\nhttp-check expect status 200"; got != want {
		t.Errorf("CheckLines = %q, want %q", got, want)
	}
	bin := testenv.RequireBinary(t, "haproxy", "apt-get install -y haproxy")
	for _, path := range []string{"/api/health", "/a#b", "/it's", `/q"x`, `/back\slash`, "/$HOME", "/${HOME}", "/tab\there"} {
		dir := shortDir(t)
		lines := "    " + strings.ReplaceAll(CheckLines(path), "\n", "\n    ")
		cfg := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(cfg, []byte(preamble+"backend b\n"+lines+"\n    server s 127.0.0.1:9 check\n"+statsSocketCfg(dir)), 0o644); err != nil {
			t.Fatal(err)
		}
		checks, err := ReadHealthChecks(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if hc := checks["b"]; hc.URI != path || hc.Mismatch(path) != "" {
			t.Errorf("CheckLines(%q) reads back as %s %s, mismatch %q", path, hc.Method, hc.URI, hc.Mismatch(path))
		}
		if out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
			t.Errorf("haproxy -c refuses CheckLines(%q): %v\n%s", path, err, out)
		}
	}
}
