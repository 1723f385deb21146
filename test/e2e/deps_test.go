package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// The dependency tests put a testenv.SocketProxy between the controller and
// one of its dependencies (the Docker engine's socket, HAProxy's runtime API
// socket), converge blue v1 with load running, then break the dependency (no
// socket, or answers held back past the controller's deadline) and
// save a release of green v2. The controller must say what is wrong (status
// Degraded, an error naming the address), retry with backoff rather than in a
// hot loop, tear nothing down while it cannot see the world, and complete the
// release once the dependency is back, without a failed request.

// maxObserveErrors bounds the "Cannot observe" log lines in the backoff
// window: backoff from 100 ms doubling gives about 6 in 5 s, a hot loop
// thousands.
const (
	backoffWindow    = 5 * time.Second
	maxObserveErrors = 30
)

// fault is one broken dependency: how to route the controller through a
// proxy, how to break and mend it, and what status must say meanwhile.
type fault struct {
	reason planner.Reason // Ready reason while broken
	args   []string       // controller flags
	// route puts a SocketProxy between the controller and the dependency.
	route             func(e *env) *testenv.SocketProxy
	used              func(p *testenv.SocketProxy) int64 // traffic through the proxy
	addr              func(p *testenv.SocketProxy) string
	msgPattern        string // the message must also match this
	breakDep, mendDep func(t *testing.T, p *testenv.SocketProxy)
}

func dockerProxy(e *env) *testenv.SocketProxy {
	p := testenv.StartSocketProxy(e.t, filepath.Join(e.dir, "docker.sock"), "/var/run/docker.sock")
	e.ctlEnv = []string{"DOCKER_HOST=unix://" + p.Path}
	return p
}

func runtimeProxy(e *env) *testenv.SocketProxy {
	p := testenv.StartSocketProxy(e.t, filepath.Join(e.dir, "runtime.sock"), e.sock)
	e.specSock = p.Path
	return p
}

func down(t *testing.T, p *testenv.SocketProxy) { p.Down() }
func up(t *testing.T, p *testenv.SocketProxy) {
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
}

func TestDockerDown(t *testing.T) {
	testFault(t, fault{reason: "DockerUnreachable", route: dockerProxy,
		used: (*testenv.SocketProxy).Requests, addr: func(p *testenv.SocketProxy) string { return p.Path },
		breakDep: down, mendDep: up})
}

func TestHAProxySocketMissing(t *testing.T) {
	testFault(t, fault{reason: "HAProxyUnreachable", route: runtimeProxy,
		used: (*testenv.SocketProxy).Accepted, addr: func(p *testenv.SocketProxy) string { return "unix://" + p.Path },
		breakDep: down, mendDep: up})
}

func TestHAProxySlow(t *testing.T) {
	testFault(t, fault{reason: "Timeout", args: []string{"--haproxy-timeout", "200ms"}, route: runtimeProxy,
		used: (*testenv.SocketProxy).Accepted, addr: func(p *testenv.SocketProxy) string { return "unix://" + p.Path },
		// The answer missed the deadline: the message says so and names it.
		msgPattern: `(?i)(deadline|time ?out|timed out|within).*200ms|200ms.*(deadline|time ?out|timed out|within)`,
		breakDep:   func(t *testing.T, p *testenv.SocketProxy) { p.SetDelay(time.Second) },
		mendDep:    func(t *testing.T, p *testenv.SocketProxy) { p.SetDelay(0) }})
}

func TestDockerSlow(t *testing.T) {
	testFault(t, fault{reason: "Timeout", args: []string{"--docker-timeout", "200ms"}, route: dockerProxy,
		used: (*testenv.SocketProxy).Requests, addr: func(p *testenv.SocketProxy) string { return p.Path },
		msgPattern: `did not answer within 200ms`,
		breakDep:   func(t *testing.T, p *testenv.SocketProxy) { p.SetDelay(time.Second) },
		mendDep:    func(t *testing.T, p *testenv.SocketProxy) { p.SetDelay(0) }})
}

func testFault(t *testing.T, f fault) {
	e := newEnv(t)
	proxy := f.route(e)
	e.save(spec.Blue, "v1")
	ctl := e.start(f.args...)
	e.waitConverged(2 * time.Minute)
	if f.used(proxy) == 0 {
		t.Fatalf("the controller converged without a call through %s: the route is not honoured", proxy.Path)
	}
	l := e.startLoad(20, 5)
	waitSent(t, l, 1000)
	before := e.worldSnapshot()

	f.breakDep(t, proxy)
	e.save(spec.Green, "v2")
	s := e.waitPhase(time.Minute, planner.Degraded, f.reason)
	msg := readyMessage(s)
	t.Logf("status while broken: %s %s: %s", s.Phase, readyReason(s), msg)
	if addr := f.addr(proxy); !strings.Contains(msg, addr) || !strings.Contains(s.LastError, addr) {
		t.Errorf("the status does not name the address %s: message %q, lastError %q", addr, msg, s.LastError)
	}
	if f.msgPattern != "" && !regexp.MustCompile(f.msgPattern).MatchString(msg) {
		t.Errorf("the status message %q does not match %s", msg, f.msgPattern)
	}
	e.checkBackoff(ctl)
	e.assertWorldUnchanged(before, "while the dependency is broken")

	f.mendDep(t, proxy)
	e.waitConverged(2 * time.Minute)
	e.assertFrontend("green v2")
	waitSent(t, l, l.sent()+2000)
	e.stopLoadNoFailures(l)
	ctl.stop()
}

// checkBackoff counts the controller's "Cannot observe" log lines over a
// window while the dependency stays broken: a bound on a count, so that a
// hot loop fails the test.
func (e *env) checkBackoff(ctl *controller) {
	e.t.Helper()
	n0 := strings.Count(ctl.output(), "Cannot observe")
	time.Sleep(backoffWindow)
	n := strings.Count(ctl.output(), "Cannot observe") - n0
	e.t.Logf("%d \"Cannot observe\" log lines in %s", n, backoffWindow)
	if n < 1 || n >= maxObserveErrors {
		e.t.Errorf("%d \"Cannot observe\" log lines in %s while the dependency is broken, want 1 to %d (retries with backoff)",
			n, backoffWindow, maxObserveErrors-1)
	}
	if s := e.serviceStatus(); s.Phase != planner.Degraded {
		e.t.Errorf("status left Degraded while the dependency is still broken: %s %s", s.Phase, readyReason(s))
	}
}

// faultWorld is what must not change while the controller cannot act: the map at
// runtime and on disk, and both slots' containers.
type faultWorld struct {
	mapRuntime, mapFile string
	blue, green         string
}

func (e *env) worldSnapshot() faultWorld {
	e.t.Helper()
	rt, file := e.maps()
	return faultWorld{mapRuntime: rt, mapFile: file, blue: e.slotDescription(spec.Blue), green: e.slotDescription(spec.Green)}
}

// slotDescription describes a color's container by ID, state and start/finish times
// ("absent" when there is none).
func (e *env) slotDescription(c spec.Color) string {
	return inspectSlotContainer("bg-" + e.svc + "-" + string(c))
}

func inspectSlotContainer(name string) string {
	out, err := exec.Command("docker", "inspect", "-f",
		`{{.Id}} {{.State.Status}} {{.State.StartedAt}} {{.State.FinishedAt}} {{index .Config.Labels "io.bluegreen.image"}}`, name).Output()
	if err != nil {
		return "absent"
	}
	return strings.TrimSpace(string(out))
}

// assertWorldUnchanged checks that the world is as before and that blue v1 still serves.
func (e *env) assertWorldUnchanged(before faultWorld, when string) {
	e.t.Helper()
	if now := e.worldSnapshot(); now != before {
		e.t.Fatalf("%s the controller changed the running system:\nbefore %+v\nnow    %+v", when, before, now)
	}
	if before.mapRuntime != e.svc+"_blue" || !strings.Contains(before.blue, " running ") {
		e.t.Fatalf("before the fault blue was not serving: %+v", before)
	}
	e.assertFrontend("blue v1")
}

// assertFrontend asks the frontend on a new connection.
func (e *env) assertFrontend(want string) {
	e.t.Helper()
	if got, err := e.get("/"); err != nil || got != want {
		e.t.Fatalf("the frontend answers %q (%v), want %q", got, err, want)
	}
}

// stopLoadNoFailures stops the load and fails the test on any failed request.
func (e *env) stopLoadNoFailures(l *load) {
	e.t.Helper()
	sent, failed, _, fails := l.stop()
	e.t.Logf("load: %d requests, %d failed", sent, failed)
	if failed != 0 {
		if len(fails) > 5 {
			fails = fails[:5]
		}
		e.t.Fatalf("%d of %d requests failed; first failures: %+v", failed, sent, fails)
	}
}
