package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestLoopMarksARunUpOnce: the controller sets a served server UP at most
// once per container run, even across a restart of the controller (the
// run is remembered in status); HAProxy's own failed check then stands, and
// status says ServedColorDown. A new run may be marked UP once again.
func TestLoopMarksARunUpOnce(t *testing.T) {
	const up = "set server web_blue/app health up"
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	// HAProxy's check of another path fails, while the probes pass.
	checkFails := func() {
		r := w.servers["web_blue/app"]
		r.Status, r.CheckStatus, r.CheckCode, r.LastChk = "DOWN", "L7STS", "404", "Not Found"
	}
	passes := func(n int) {
		for range n {
			checkFails()
			h.loop.Pass(context.Background())
			h.now = h.now.Add(time.Second)
		}
	}
	w.calls = nil
	passes(5)
	h.restart()
	passes(5)
	if n := w.count(up); n != 1 {
		t.Fatalf("the served run was set UP %d times in 10 passes and a restart of the controller, want once; calls %v", n, w.mutating())
	}
	st := h.serviceStatus()
	if st.Phase != planner.Degraded || readyReason(st) != planner.ReasonServedColorDown {
		t.Fatalf("status %s (%s), want Degraded (ServedColorDown)", st.Phase, readyReason(st))
	}
	for _, want := range []string{"L7STS, HTTP 404", "probably uses another path", "option httpchk GET /healthz"} {
		if !strings.Contains(readyMessage(st), want) {
			t.Errorf("status message %q does not say %q", readyMessage(st), want)
		}
	}

	// A new run of the container: its first checks may be got ahead of once.
	if err := (fakeEngine{w}).Start(context.Background(), "bg-web-blue"); err != nil {
		t.Fatal(err)
	}
	passes(5)
	if n := w.count(up); n != 2 {
		t.Fatalf("set UP %d times after a new run, want 2 in all", n)
	}
}

// TestLoopRestartsAServedColorThatStaysUnhealthy: HAProxy's check and the
// controller's probe both fail; once that has lasted restartAfter, the
// container is restarted (once), and status counts it.
func TestLoopRestartsAServedColorThatStaysUnhealthy(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1", "  health: {restartAfter: 10s}")))
	h.converge()
	w.containers["bg-web-blue"].StartedAt = h.now.Add(-time.Hour) // the fake engine's clock is the real one
	w.calls = nil
	for range 15 {
		r := w.servers["web_blue/app"]
		r.Status, r.CheckStatus, r.CheckCode = "DOWN", "L7STS", "503"
		w.failOn["probe http://"] = errors.New("answered 503 Service Unavailable")
		h.loop.Pass(context.Background())
		h.now = h.now.Add(time.Second)
	}
	if n := w.count("restart bg-web-blue"); n != 1 {
		t.Fatalf("restarted %d times in 15 s of failing health with restartAfter 10s, want once; calls %v", n, w.mutating())
	}
	if got := h.serviceStatus().Colors[spec.Blue].HealthRestarts; got != 1 {
		t.Fatalf("status counts %d health restarts, want 1", got)
	}
}

func readyReason(st *state.ServiceStatus) planner.Reason { return conditionReason(st) }

func readyMessage(st *state.ServiceStatus) string {
	for _, c := range st.Conditions {
		if c.Type == state.ConditionReady {
			return c.Message
		}
	}
	return ""
}

// TestServedGoingDownIsProbedAndSetUp: the served color came back from a
// crash at a new address and HAProxy has it going down ("UP 1/2": a check
// of the old address failed, another may be in flight there). The pass
// probes its address and sets it UP, before a second failed check takes
// it DOWN and fails its requests (CI saw 182 such 503s in 13 ms).
func TestServedGoingDownIsProbedAndSetUp(t *testing.T) {
	w, loop := servingWorld(t)
	for range 2 {
		if res := loop.Pass(context.Background()); len(res.Errors) > 0 || res.SpecErr != nil {
			t.Fatalf("pass: %+v", res)
		}
	}
	w.big.Lock()
	w.containers["bg-web-blue"].StartedAt = time.Now() // restarted by the engine
	w.containers["bg-web-blue"].RestartCount = 1
	w.servers["web_blue/app"].Status, w.servers["web_blue/app"].CheckStatus = "UP 1/2", "L4CON"
	w.big.Unlock()
	if res := loop.Pass(context.Background()); len(res.Errors) > 0 || res.SpecErr != nil {
		t.Fatalf("pass: %+v", res)
	}
	if n := w.count("set server web_blue/app health up"); n != 1 {
		t.Fatalf("served blue going down after a crash, its address answering: set UP %d times, want 1; calls: %q", n, w.calls)
	}
}
