package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// liveService is service web at the runtime API sock and map mapFile.
func liveService(t *testing.T, sock, mapFile string) (*spec.Service, string) {
	t.Helper()
	d := spectest.Web()
	d.BluePort, d.GreenPort = 28081, 28082
	d.Runtime, d.MapFile = "unix://"+sock, mapFile
	svcs, err := specfile.Parse([]byte(d.YAML()), "desired.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &svcs[0], d.YAML()
}

// TestValidateLiveHAProxy: validate --haproxy reads the running HAProxy
// (a real one): a configuration without green's backend has it named with
// the lines to add, and exits 1; the complete one passes.
func TestValidateLiveHAProxy(t *testing.T) {
	dir, err := os.MkdirTemp("", "hx") // short: a unix socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, mapFile := filepath.Join(dir, "admin.sock"), filepath.Join(dir, "hosts.map")
	writeTemp(t, dir, "hosts.map", "web web_blue\n")
	s, desired := liveService(t, sock, mapFile)
	desiredFile := writeTemp(t, dir, "desired.yaml", desired)
	complete, err := haproxyConfig(s, nil, fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	noGreen, _, _ := strings.Cut(complete, "\nbackend web_green\n")

	ha := testenv.StartHAProxy(t, dir, noGreen, sock)
	code, out, errOut := runCmd("validate", "--haproxy", "-f", desiredFile, "--haproxy-config", ha.Config)
	want := "controller: service web: HAProxy at unix://" + sock + " has no backend web_green (spec.colors.green.backend); add to haproxy.cfg, then reload:\n" +
		"        backend web_green\n            option httpchk GET /healthz\n            http-check expect status 200\n" +
		"            server app 127.0.0.1:28082 check inter 1s fastinter 100ms downinter 250ms rise 2 fall 2\n"
	if code != exitNotConverged || !strings.Contains(errOut, want) {
		t.Errorf("green's backend missing: exit %d, want %d and\n%s\nstdout:\n%s\nstderr:\n%s", code, exitNotConverged, want, out, errOut)
	}
	if strings.Contains(errOut, "web_blue") {
		t.Errorf("blue's backend, which is there, is named:\n%s", errOut)
	}
	ha.Stop(t)

	ha = testenv.StartHAProxy(t, dir, complete, sock)
	code, out, errOut = runCmd("validate", "--haproxy", "-f", desiredFile, "--haproxy-config", ha.Config)
	if code != exitOK || errOut != "" || !strings.Contains(out, "  web: HAProxy at unix://"+sock+" has backends web_blue and web_green, each with its server checked, and map "+mapFile+" loaded\n") ||
		!strings.Contains(out, "the running HAProxy does not show the path its checks ask: --haproxy-config compares it") {
		t.Errorf("a complete configuration: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestLiveProblems: what validate --haproxy says of each thing the running
// HAProxy lacks, with the haproxy.cfg lines to add.
func TestLiveProblems(t *testing.T) {
	s, _ := liveService(t, "/run/haproxy/admin.sock", "/etc/haproxy/hosts.map")
	full := func() *liveHAProxy {
		return &liveHAProxy{addr: "unix:///run/haproxy/admin.sock", level: "admin",
			servers: map[string]map[string]string{"web_blue": {"app": "UP"}, "web_green": {"app": "DOWN"}},
			maps:    map[string]liveMap{"/etc/haproxy/hosts.map": {loaded: true, entries: []haproxy.MapEntry{{Key: "web", Value: "web_blue"}}}}}
	}
	for _, tc := range []struct {
		name     string
		change   func(h *liveHAProxy)
		problems []string
		notes    []string
	}{
		{"all there", func(*liveHAProxy) {}, nil, nil},
		{"no answer", func(h *liveHAProxy) { h.err = haproxy.ErrUnreachable }, []string{
			"cannot read HAProxy at unix:///run/haproxy/admin.sock (spec.haproxy.runtime): HAProxy runtime API unreachable\n" +
				"    nothing else was checked; HAProxy's section global needs:\n        stats socket /run/haproxy/admin.sock mode 600 level admin"}, nil},
		{"level operator", func(h *liveHAProxy) { h.level = "operator" }, []string{
			"the runtime API at unix:///run/haproxy/admin.sock answers at level \"operator\": the controller needs level admin to set server states; in section global of haproxy.cfg write:\n" +
				"        stats socket /run/haproxy/admin.sock mode 600 level admin"}, nil},
		{"no server", func(h *liveHAProxy) { h.servers["web_blue"] = map[string]string{"other": "UP"} }, []string{
			"backend web_blue at unix:///run/haproxy/admin.sock has no server app (spec.colors.blue.server); add to backend web_blue, then reload:\n" +
				"        server app 127.0.0.1:28081 check inter 1s fastinter 100ms downinter 250ms rise 2 fall 2"}, nil},
		{"a server not checked", func(h *liveHAProxy) { h.servers["web_green"]["app"] = "no check" }, []string{
			"server web_green/app at unix:///run/haproxy/admin.sock is not checked (HAProxy says \"no check\"): HAProxy would never take it DOWN; write its line in backend web_green so, then reload:\n" +
				"        server app 127.0.0.1:28082 check inter 1s fastinter 100ms downinter 250ms rise 2 fall 2"}, nil},
		{"the map not loaded", func(h *liveHAProxy) { h.maps["/etc/haproxy/hosts.map"] = liveMap{} }, []string{
			"HAProxy at unix:///run/haproxy/admin.sock has not loaded map file /etc/haproxy/hosts.map (spec.haproxy.mapFile): no line of its configuration names it, so switching the map would move no traffic; add to the frontend, then reload:\n" +
				"        use_backend %[str(web),map(/etc/haproxy/hosts.map)]"}, nil},
		{"the map unreadable", func(h *liveHAProxy) { h.maps["/etc/haproxy/hosts.map"] = liveMap{err: errors.New("boom")} }, []string{
			"cannot read map /etc/haproxy/hosts.map (spec.haproxy.mapFile) at unix:///run/haproxy/admin.sock: boom"}, nil},
		{"the key not in the map yet", func(h *liveHAProxy) { h.maps["/etc/haproxy/hosts.map"] = liveMap{loaded: true} }, nil, []string{
			"map /etc/haproxy/hosts.map has no key web yet: the controller adds it at its first pass"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := full()
			tc.change(h)
			problems, notes := liveProblems(s, h)
			if strings.Join(problems, "\n--\n") != strings.Join(tc.problems, "\n--\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n--\n"), strings.Join(tc.problems, "\n--\n"))
			}
			if strings.Join(notes, "\n") != strings.Join(tc.notes, "\n") {
				t.Errorf("notes %q, want %q", notes, tc.notes)
			}
		})
	}
	// With spec.replicas, one server per replica, named as server-template
	// names them: a backend with too few has each missing one named.
	three := *s
	three.Replicas, three.Colors.Green.HostPort = 3, 28091 // blue publishes 28081-28083
	h := full()
	h.servers = map[string]map[string]string{"web_blue": {"app1": "UP", "app2": "UP", "app3": "UP"}, "web_green": {"app1": "DOWN"}}
	problems, _ := liveProblems(&three, h)
	want := []string{
		"backend web_green at unix:///run/haproxy/admin.sock has no server app2, which green replica 2 needs (spec.replicas 3); add to backend web_green, then reload:\n" +
			"        server app2 127.0.0.1:28092 check inter 1s fastinter 100ms downinter 250ms rise 2 fall 2",
		"backend web_green at unix:///run/haproxy/admin.sock has no server app3, which green replica 3 needs (spec.replicas 3); add to backend web_green, then reload:\n" +
			"        server app3 127.0.0.1:28093 check inter 1s fastinter 100ms downinter 250ms rise 2 fall 2",
	}
	if strings.Join(problems, "\n--\n") != strings.Join(want, "\n--\n") {
		t.Errorf("too few servers for replicas 3:\n%s\nwant:\n%s", strings.Join(problems, "\n--\n"), strings.Join(want, "\n--\n"))
	}
}

// TestValidateLiveHAProxyCanary: the haproxy.cfg init writes for a canary
// loads in a real HAProxy, and validate --haproxy passes on it; without
// its canary backend, validate names it with the lines to add.
func TestValidateLiveHAProxyCanary(t *testing.T) {
	dir, err := os.MkdirTemp("", "hx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, mapFile := filepath.Join(dir, "admin.sock"), filepath.Join(dir, "hosts.map")
	writeTemp(t, dir, "hosts.map", "web web_blue\n")
	d := spectest.Web("  strategy: {type: Canary, steps: [{weight: 10, pause: 1m}]}")
	d.BluePort, d.GreenPort = 28081, 28082
	d.Runtime, d.MapFile = "unix://"+sock, mapFile
	svcs, err := specfile.Parse([]byte(d.YAML()), "desired.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	desiredFile := writeTemp(t, dir, "desired.yaml", d.YAML())
	complete, err := haproxyConfig(&svcs[0], nil, fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	want := "backend web_canary\n    cookie web_version insert indirect nocache httponly\n" +
		"    server blue 127.0.0.1:28081 track web_blue/app cookie blue weight 0 no-check\n" +
		"    server green 127.0.0.1:28082 track web_green/app cookie green weight 0 no-check\n"
	if !strings.Contains(complete, want) {
		t.Fatalf("the configuration for a canary lacks\n%s\nin:\n%s", want, complete)
	}
	ha := testenv.StartHAProxy(t, dir, complete, sock)
	code, out, errOut := runCmd("validate", "--haproxy", "-f", desiredFile, "--haproxy-config", ha.Config)
	if code != exitOK || errOut != "" {
		t.Errorf("a complete configuration for a canary: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	ha.Stop(t)

	noCanary, _, _ := strings.Cut(complete, "\n# The canary backend")
	ha = testenv.StartHAProxy(t, dir, noCanary, sock)
	code, _, errOut = runCmd("validate", "--haproxy", "-f", desiredFile, "--haproxy-config", ha.Config)
	if code != exitNotConverged || !strings.Contains(errOut, "has no canary backend web_canary (spec.strategy.backend) with servers blue and green; add to haproxy.cfg, then reload:\n        backend web_canary\n") {
		t.Errorf("the canary backend missing: exit %d\nstderr:\n%s", code, errOut)
	}
}
