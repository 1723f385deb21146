package haproxy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// testServer is one "server" line of a test backend.
type testServer struct {
	Name  string
	Addr  string // host:port
	Check bool   // health-check it every 100ms, rise 1 fall 1
}

type testBackend struct {
	Name    string
	Servers []testServer
}

// haproxyOptions describe the HAProxy a test starts.
type haproxyOptions struct {
	Backends []testBackend
	// Map is the content of hosts.map, which the frontend uses as
	// use_backend %[str(web),map(<dir>/hosts.map)].
	Map string
	// Global holds more lines for the global section.
	Global []string
}

// testHAProxy is a running HAProxy owned by one test.
type testHAProxy struct {
	Dir          string // holds haproxy.cfg and hosts.map
	MapPath      string
	AdminSock    string // stats socket, level admin
	UserSock     string // stats socket, level user
	TCPAddr      string // 127.0.0.1:port, level admin
	FrontendAddr string // 127.0.0.1:port, the HTTP frontend
	HAProxy      *testenv.HAProxy
}

func (h *testHAProxy) admin(t *testing.T) *Client { return newTestClient(t, "unix://"+h.AdminSock) }
func (h *testHAProxy) user(t *testing.T) *Client  { return newTestClient(t, "unix://"+h.UserSock) }
func (h *testHAProxy) tcp(t *testing.T) *Client   { return newTestClient(t, "tcp://"+h.TCPAddr) }

func newTestClient(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := New(addr, 2*time.Second)
	if err != nil {
		t.Fatalf("New(%q): %v", addr, err)
	}
	return c
}

// defaultBackends are two backends with one unchecked server each on a
// closed port: enough for map and state tests that send no traffic.
func defaultBackends() []testBackend {
	return []testBackend{
		{Name: "web_blue", Servers: []testServer{{Name: "s1", Addr: "127.0.0.1:9"}}},
		{Name: "web_green", Servers: []testServer{{Name: "s1", Addr: "127.0.0.1:9"}}},
	}
}

// startHAProxy starts HAProxy with a generated config in a temporary
// directory (testenv.StartHAProxy, the one launcher of the tests), waits
// until its admin socket answers, and stops it by PID when the test ends.
// It fails the test when haproxy is not installed.
func startHAProxy(t *testing.T, opts haproxyOptions) *testHAProxy {
	t.Helper()
	if opts.Backends == nil {
		opts.Backends = defaultBackends()
	}
	dir := t.TempDir()
	sockDir := dir
	if len(sockDir) > 80 { // unix socket paths are limited to 108 bytes
		var err error
		sockDir, err = os.MkdirTemp("", "hx")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(sockDir) })
	}
	h := &testHAProxy{
		Dir:       dir,
		MapPath:   filepath.Join(dir, "hosts.map"),
		AdminSock: filepath.Join(sockDir, "admin.sock"),
		UserSock:  filepath.Join(sockDir, "user.sock"),
	}
	if err := os.WriteFile(h.MapPath, []byte(opts.Map), 0o644); err != nil {
		t.Fatal(err)
	}
	h.TCPAddr, h.FrontendAddr = freeAddr(t), freeAddr(t)
	h.HAProxy = testenv.StartHAProxy(t, sockDir, h.config(opts), h.AdminSock)
	return h
}

func (h *testHAProxy) config(opts haproxyOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
  stats socket %s level admin
  stats socket %s level user
  stats socket ipv4@%s level admin
  stats timeout 10s
%sdefaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend fe_http
  bind %s
  use_backend %%[str(web),map(%s)]
  default_backend %s
`, h.AdminSock, h.UserSock, h.TCPAddr, globalLines(opts.Global), h.FrontendAddr, h.MapPath, opts.Backends[0].Name)
	for _, be := range opts.Backends {
		fmt.Fprintf(&b, "backend %s\n", be.Name)
		for _, s := range be.Servers {
			fmt.Fprintf(&b, "  server %s %s", s.Name, s.Addr)
			if s.Check {
				b.WriteString(" check inter 100ms fastinter 100ms downinter 100ms rise 1 fall 1")
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// freeAddr returns a loopback address whose port is reserved for this test
// (see testenv.FreePort).
func freeAddr(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
}

// waitFor polls cond until it holds (testenv.WaitUntil), and says the
// last state seen when it does not; the deadline only guards against a
// hang and is not a timing assertion.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	testenv.WaitUntil(t, 10*time.Second, what, func() bool {
		ok, state := cond()
		last = state
		return ok
	}, func() string { return "last seen: " + last })
}

func globalLines(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}
