package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// The dependency tests put a testenv.SocketProxy between the controller and
// one of its dependencies (the Docker engine's socket, HAProxy's runtime API
// socket), converge blue v1 with load running, then break the dependency and
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

func TestDockerDown(t *testing.T) {
	e := newEnv(t)
	proxy := testenv.StartSocketProxy(t, filepath.Join(e.dir, "docker.sock"), "/var/run/docker.sock")
	e.ctlEnv = []string{"DOCKER_HOST=unix://" + proxy.Path}
	e.save(spec.Blue, "v1")
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	if proxy.Requests() == 0 {
		t.Fatalf("the controller converged without a Docker API call through %s: DOCKER_HOST not honoured", proxy.Path)
	}
	l := e.startLoad(20, 5)
	waitSent(t, l, 1000)
	before := e.worldSnapshot()

	proxy.Down()
	e.save(spec.Green, "v2")
	s := e.waitPhase(time.Minute, reconcile.Degraded, "DockerUnreachable")
	msg := readyMessage(s)
	t.Logf("status while Docker is down: %s %s: %s", s.Phase, readyReason(s), msg)
	if !strings.Contains(msg, proxy.Path) {
		t.Errorf("the Ready condition's message does not name the engine address %s: %q", proxy.Path, msg)
	}
	if !strings.Contains(s.LastError, proxy.Path) {
		t.Errorf("lastError does not name the engine address %s: %q", proxy.Path, s.LastError)
	}
	e.checkBackoff(ctl)
	e.assertWorldUnchanged(before, "while Docker is unreachable")

	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	e.waitConverged(2 * time.Minute)
	e.assertFrontend("green v2")
	waitSent(t, l, l.sent()+2000)
	e.stopLoadNoFailures(l)
	ctl.stop()
}

func TestHAProxySocketMissing(t *testing.T) {
	e := newEnv(t)
	proxy := testenv.StartSocketProxy(t, filepath.Join(e.dir, "runtime.sock"), e.sock)
	e.specSock = proxy.Path
	e.save(spec.Blue, "v1")
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	if proxy.Accepted() == 0 {
		t.Fatalf("the controller converged without a runtime API command through %s", proxy.Path)
	}
	l := e.startLoad(20, 5)
	waitSent(t, l, 1000)
	before := e.worldSnapshot()

	proxy.Down()
	e.save(spec.Green, "v2")
	s := e.waitPhase(time.Minute, reconcile.Degraded, "HAProxyUnreachable")
	msg := readyMessage(s)
	t.Logf("status while the runtime API socket is missing: %s %s: %s", s.Phase, readyReason(s), msg)
	if addr := "unix://" + proxy.Path; !strings.Contains(msg, addr) || !strings.Contains(s.LastError, addr) {
		t.Errorf("the status does not name the runtime API address %s: message %q, lastError %q", addr, msg, s.LastError)
	}
	e.checkBackoff(ctl)
	e.assertWorldUnchanged(before, "while the HAProxy runtime API socket is missing")

	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	e.waitConverged(2 * time.Minute)
	e.assertFrontend("green v2")
	waitSent(t, l, l.sent()+2000)
	e.stopLoadNoFailures(l)
	ctl.stop()
}

func TestHAProxySlow(t *testing.T) {
	e := newEnv(t)
	proxy := testenv.StartSocketProxy(t, filepath.Join(e.dir, "runtime.sock"), e.sock)
	e.specSock = proxy.Path
	e.save(spec.Blue, "v1")
	ctl := e.start("--haproxy-timeout", "200ms")
	e.waitConverged(2 * time.Minute)
	if proxy.Accepted() == 0 {
		t.Fatalf("the controller converged without a runtime API command through %s", proxy.Path)
	}
	l := e.startLoad(20, 5)
	waitSent(t, l, 1000)
	before := e.worldSnapshot()

	proxy.SetDelay(time.Second)
	e.save(spec.Green, "v2")
	s := e.waitPhase(time.Minute, reconcile.Degraded, "Timeout")
	msg := readyMessage(s)
	t.Logf("status while the runtime API answers after 1s: %s %s: %s", s.Phase, readyReason(s), msg)
	if addr := "unix://" + proxy.Path; !strings.Contains(msg, addr) || !strings.Contains(s.LastError, addr) {
		t.Errorf("the status does not name the runtime API address %s: message %q, lastError %q", addr, msg, s.LastError)
	}
	// The answer missed the deadline: the message says so and names it.
	if !regexp.MustCompile(`(?i)deadline|time ?out|timed out|within`).MatchString(msg) || !strings.Contains(msg, "200ms") {
		t.Errorf("the status does not say that the runtime API missed its 200ms deadline: %q", msg)
	}
	e.checkBackoff(ctl)
	e.assertWorldUnchanged(before, "while the HAProxy runtime API is slow")

	proxy.SetDelay(0)
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
	if s := e.serviceStatus(); s.Phase != reconcile.Degraded {
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
