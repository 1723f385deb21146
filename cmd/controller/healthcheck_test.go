package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

const demoHAProxyConfig = "../../examples/haproxy.cfg"

// apiHealthDesired is a service whose app answers /api/health.
var apiHealthDesired = spectest.Web("  healthPath: /api/health").YAML()

// backendsCfg is a haproxy.cfg with backends web_blue and web_green whose
// lines are check.
func backendsCfg(check string) string {
	return "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n    option redispatch 1\n" +
		"backend web_blue\n" + check + "    server app 127.0.0.1:18081\n" +
		"backend web_green\n" + check + "    server app 127.0.0.1:18082\n"
}

func writeTemp(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// lineOf is the number of the line of the file at path that is text.
func lineOf(t *testing.T, path, text string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if l == text {
			return strconv.Itoa(i + 1)
		}
	}
	t.Fatalf("%s has no line %q", path, text)
	return ""
}

// TestValidateHealthChecks: validate compares the health check of each
// color's backend in --haproxy-config with spec.healthPath.
func TestValidateHealthChecks(t *testing.T) {
	dir := t.TempDir()
	api := writeTemp(t, dir, "desired.yaml", apiHealthDesired)
	matching := writeTemp(t, dir, "matching.cfg", backendsCfg("    option httpchk GET /api/health\n    http-check expect status 200\n    default-server check\n"))
	unchecked := writeTemp(t, dir, "unchecked.cfg", backendsCfg("    option httpchk GET /api/health\n"))
	blueOnly := writeTemp(t, dir, "blue-only.cfg", "backend web_blue\n    option redispatch 1\n    option httpchk GET /api/health\n    server app 127.0.0.1:18081 check\n")
	broken := writeTemp(t, dir, "broken.cfg", "backend web_blue\n    option httpchk GET \"/api/health\n")
	missing := filepath.Join(dir, "missing.cfg")
	noRedispatch := writeTemp(t, dir, "no-redispatch.cfg", strings.Replace(backendsCfg("    option httpchk GET /api/health\n    http-check expect status 200\n    default-server check\n"),
		"    option redispatch 1\n", "", 1))
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		out    []string // parts of stdout
		errOut []string // parts of stderr
	}{
		{"the demo's desired state and haproxy.cfg agree", []string{"validate", "-f", demoFile, "--haproxy-config", demoHAProxyConfig}, nil, exitOK,
			[]string{"1 service(s) valid\n", demoHAProxyConfig + ": the health checks of 2 backend(s) agree with spec.healthPath\n"}, nil},
		{"another path than spec.healthPath", []string{"validate", "-f", api, "--haproxy-config", demoHAProxyConfig}, nil, exitNotConverged,
			[]string{"1 service(s) valid\n"},
			[]string{
				"controller: service web: backend web_blue at " + demoHAProxyConfig + ":" + lineOf(t, demoHAProxyConfig, "backend web_blue") + " checks GET /healthz, not spec.healthPath /api/health; its check lines should be:\n" +
					"    option httpchk GET /api/health\n    http-check expect status 200\n",
				"controller: service web: backend web_green at " + demoHAProxyConfig + ":" + lineOf(t, demoHAProxyConfig, "backend web_green") + " checks GET /healthz, not spec.healthPath /api/health",
			}},
		{"the same path", []string{"validate", "-f", api, "--haproxy-config", matching}, nil, exitOK,
			[]string{matching + ": the health checks of 2 backend(s) agree"}, nil},
		{"a server without check", []string{"validate", "-f", api, "--haproxy-config", unchecked}, nil, exitNotConverged, nil,
			[]string{"controller: service web: server web_blue/app has no check: HAProxy would never take it DOWN; add \"check\" to its line in backend web_blue at " + unchecked + ":" + lineOf(t, unchecked, "backend web_blue"),
				"server web_green/app has no check"}},
		{"a backend that does not redispatch a retried connection", []string{"validate", "-f", api, "--haproxy-config", noRedispatch}, nil, exitNotConverged, nil,
			[]string{"controller: service web: backend web_blue at " + noRedispatch + ":" + lineOf(t, noRedispatch, "backend web_blue") +
				" does not redispatch a retried connection: add \"option redispatch 1\" to it or to its defaults section.",
				"backend web_green at " + noRedispatch + ":" + lineOf(t, noRedispatch, "backend web_green") + " does not redispatch"}},
		{"a backend absent from haproxy.cfg", []string{"validate", "-f", api, "--haproxy-config", blueOnly}, nil, exitOK,
			[]string{"  web: backend web_green is not in " + blueOnly + ": its health check is not compared\n", "the health checks of 1 backend(s) agree"}, nil},
		{"--haproxy-config names a missing file", []string{"validate", "-f", api, "--haproxy-config", missing}, nil, exitNotConverged,
			[]string{"1 service(s) valid\n"}, []string{"controller: read health checks of " + missing + ": no such file or directory\n"}},
		{"BLUEGREEN_HAPROXY_CONFIG names a missing file", []string{"validate", "-f", api}, map[string]string{"BLUEGREEN_HAPROXY_CONFIG": missing}, exitNotConverged,
			nil, []string{"controller: read health checks of " + missing + ": "}},
		{"a file HAProxy cannot read either", []string{"validate", "-f", api, "--haproxy-config", broken}, nil, exitNotConverged,
			nil, []string{"controller: read health checks of " + broken + ":2: unmatched quote\n"}},
		{"a refused desired state is not compared", []string{"validate", "-f", missing, "--haproxy-config", demoHAProxyConfig}, nil, exitUsage,
			nil, []string{"desired state refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCmd(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, want := range tc.out {
				if !strings.Contains(out, want) {
					t.Errorf("stdout does not hold %q:\n%s", want, out)
				}
			}
			for _, want := range tc.errOut {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr does not hold %q:\n%s", want, errOut)
				}
			}
			if len(tc.errOut) == 0 && errOut != "" {
				t.Errorf("stderr, none expected:\n%s", errOut)
			}
		})
	}
}

// TestValidateDefaultHAProxyConfig: when --haproxy-config is left at its
// default, a file that is absent or cannot be read is not compared, and
// validate says so.
func TestValidateDefaultHAProxyConfig(t *testing.T) {
	dir := t.TempDir()
	api := writeTemp(t, dir, "desired.yaml", apiHealthDesired)
	conditional := writeTemp(t, dir, "conditional.cfg", ".if defined(X)\n.endif\n")
	for _, tc := range []struct {
		name, file, out string
	}{
		{"absent", filepath.Join(dir, "haproxy.cfg"), "health checks not compared: " + filepath.Join(dir, "haproxy.cfg") +
			" does not exist (name HAProxy's configuration with --haproxy-config)\n"},
		{"not read", conditional, "health checks not compared: read health checks of " + conditional + ":1: conditional block (.if)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := validate(options{file: api, haproxyConfig: tc.file}, &out, &errOut)
			if code != exitOK || !strings.Contains(out.String(), tc.out) || errOut.Len() > 0 {
				t.Errorf("exit %d, want 0 and a line %q\nstdout:\n%s\nstderr:\n%s", code, tc.out, out.String(), errOut.String())
			}
		})
	}
}

// TestHAProxyConfigFlag: validate, plan and run take --haproxy-config,
// with its default.
func TestHAProxyConfigFlag(t *testing.T) {
	for _, verb := range []string{"validate", "plan", "run"} {
		code, out, _ := runCmd(verb, "--help")
		if code != exitOK || !strings.Contains(out, "--haproxy-config string") || !strings.Contains(out, `(default "/etc/haproxy/haproxy.cfg")`) {
			t.Errorf("%s --help (exit %d) does not show --haproxy-config and its default:\n%s", verb, code, out)
		}
	}
}

// TestCheckConfigsFollowTheFile: run and plan see what the configuration
// says of a backend's check, and see it again once the file changes.
func TestCheckConfigsFollowTheFile(t *testing.T) {
	dir := t.TempDir()
	writeTemp(t, dir, "desired.yaml", apiHealthDesired)
	svcs, err := specfile.Load(filepath.Join(dir, "desired.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := &svcs[0]
	cfg := writeTemp(t, dir, "haproxy.cfg", backendsCfg("    option httpchk GET /healthz\n    default-server check\n"))
	cc := &checkConfigs{path: cfg}
	got := cc.of(s, spec.Blue)
	at := cfg + ":" + lineOf(t, cfg, "backend web_blue")
	if got == nil || got.Where != at || !strings.Contains(got.Mismatch, "/healthz") || !strings.Contains(got.Mismatch, "/api/health") {
		t.Fatalf("of(web, blue) = %+v, want the mismatch of GET /healthz at %s", got, at)
	}
	// Fixed: a different size, so seen whatever the clock's resolution.
	writeTemp(t, dir, "haproxy.cfg", backendsCfg("    option httpchk GET /api/health\n    http-check expect status 200\n    default-server check\n"))
	if got := cc.of(s, spec.Green); got == nil || got.Mismatch != "" {
		t.Fatalf("after the fix of(web, green) = %+v, want no mismatch", got)
	}
	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	if got := cc.of(s, spec.Blue); got != nil {
		t.Fatalf("with no file of(web, blue) = %+v, want nil", got)
	}
}
