package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// history runs "controller history <svc> --json".
func (e *env) history() []state.Release {
	e.t.Helper()
	out, err := e.command("history", e.svc, "--json").Output()
	if err != nil {
		e.t.Fatalf("controller history: %v", err)
	}
	var rs []state.Release
	if err := json.Unmarshal(out, &rs); err != nil {
		e.t.Fatalf("controller history: %v\n%s", err, out)
	}
	return rs
}

// rollbackCase releases a bad green/v2 under load and checks what a
// rollback must do: traffic back on the very blue container that served
// before (never stopped, never restarted), green stopped, status and
// history saying RolledBack with figures, no new attempt of the same spec.
// between runs after the window opened (a crash of the controller, a
// reload of HAProxy); it gets the running controller and returns the one
// that goes on.
func rollbackCase(t *testing.T, mode, verify string, between func(e *env, ctl *controller) *controller) {
	e := rudeEnv(t)
	e.modes = map[string]string{"v2": mode}
	e.verify = verify
	e.save(spec.Blue, "v1")
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	blueID := e.inspect(spec.Blue, "{{.Id}} {{.State.StartedAt}}")
	l := e.startLoad(10, 2)
	waitSent(t, l, 500)
	e.save(spec.Green, "v2")
	if between != nil {
		e.waitPhase(time.Minute, planner.Progressing, "Verifying")
		ctl = between(e, ctl)
	}
	s := e.waitPhase(time.Minute, planner.Failed, "RolledBack")
	waitSent(t, l, l.sent()+1000)
	sent, failed, _, fails := l.stop()
	msg := readyMessage(s)
	t.Logf("%d requests, %d failed while green/v2 served; status: %s", sent, failed, msg)
	if mode == "fail500" {
		// Every failure is the bad version's own answer: the switch there
		// and back lost nothing.
		for _, f := range fails {
			if f.Status != 500 || f.Body != "internal error" {
				t.Errorf("a request failed otherwise than by green/v2's 500: %+v", f)
			}
		}
	}
	if !strings.Contains(msg, "rolled back") || !strings.Contains(msg, "after the switch") {
		t.Fatalf("status message lacks the figures: %q", msg)
	}
	if got, err := e.get("/"); err != nil || got != "blue v1" {
		t.Fatalf("after the rollback the frontend answers %q (%v)", got, err)
	}
	if got := e.inspect(spec.Blue, "{{.Id}} {{.State.StartedAt}}"); got != blueID {
		t.Fatalf("blue is not the container that served before (no cold start wanted): %s, was %s", got, blueID)
	}
	if v, f := e.maps(); v != e.svc+"_blue" || f != e.svc+"_blue" {
		t.Fatalf("map: runtime %s, file %s", v, f)
	}
	testenv.WaitFor(t, 30*time.Second, "green stopped", func() bool {
		st, _ := e.container(spec.Green)
		return st == "exited"
	})
	rs := e.history()
	if len(rs) == 0 || rs[len(rs)-1].Outcome != planner.OutcomeRolledBack || !strings.Contains(rs[len(rs)-1].Reason, "after the switch") {
		t.Fatalf("history: %+v", rs)
	}
	// The same spec is not tried again.
	time.Sleep(3 * time.Second)
	if v, _ := e.maps(); v != e.svc+"_blue" {
		t.Fatalf("the rolled back spec was tried again: the map says %s", v)
	}
	if st, _ := e.container(spec.Green); st != "exited" {
		t.Fatalf("green is %s again", st)
	}
	ctl.stop()
	if code, out := e.once("--timeout", "20s"); code != 1 || !strings.Contains(out, "RolledBack") {
		t.Fatalf("--once after the rollback: exit %d, want 1 with RolledBack:\n%s", code, out)
	}
}

// TestRollbackWhenNewVersionAnswers5xx: /healthz says 200, / says 500.
func TestRollbackWhenNewVersionAnswers5xx(t *testing.T) {
	rollbackCase(t, "fail500", "{window: 20s, maxErrorRate: 0.05, minRequests: 20}", nil)
}

// TestRollbackWhenNewVersionTurnsUnhealthy: it passes its probes, takes the
// traffic, then its health check fails and HAProxy takes it DOWN.
func TestRollbackWhenNewVersionTurnsUnhealthy(t *testing.T) {
	rollbackCase(t, "flap=3s", "{window: 20s, maxErrorRate: 0.05, minRequests: 20}", nil)
}

// TestVerificationSurvivesCrashAndReload: the controller is killed in the
// middle of the window and HAProxy reloaded (its counters start again from
// zero); a bad version is still rolled back. The rate is judged only after
// 20,000 requests, a few seconds of the test's load, so that the window is
// still open when the controller dies.
func TestVerificationSurvivesCrashAndReload(t *testing.T) {
	rollbackCase(t, "fail500", "{window: 60s, maxErrorRate: 0.05, minRequests: 20000}", func(e *env, ctl *controller) *controller {
		ctl.kill()
		e.ha.Reload(e.t)
		return e.start()
	})
}

// TestGoodReleaseVerifiedAcrossCrashAndReload: a good version still
// completes when the controller is killed mid-window and HAProxy reloaded:
// blue is kept warm until the verdict, then stopped; no request fails.
func TestGoodReleaseVerifiedAcrossCrashAndReload(t *testing.T) {
	e := rudeEnv(t)
	e.verify = "{window: 8s}"
	e.save(spec.Blue, "v1")
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	l := e.startLoadAcrossReloads(10, 2)
	waitSent(t, l, 500)
	e.save(spec.Green, "v2")
	e.waitPhase(time.Minute, planner.Progressing, "Verifying")
	if st, _ := e.container(spec.Blue); st != "running" {
		t.Fatalf("blue is %s during the window, want running (warm)", st)
	}
	ctl.kill()
	e.ha.Reload(t)
	ctl = e.start()
	e.waitConverged(time.Minute)
	sent, failed, _, fails := l.stop()
	t.Logf("%d requests, %d failed", sent, failed)
	if failed != 0 {
		t.Fatalf("%d requests failed: %+v", failed, fails[:min(3, len(fails))])
	}
	if st, _ := e.container(spec.Blue); st != "exited" {
		t.Fatalf("blue is %s after the verdict, want exited", st)
	}
	rs := e.history()
	if len(rs) == 0 || rs[len(rs)-1].Outcome != planner.OutcomeSucceeded {
		t.Fatalf("history: %+v", rs)
	}
	ctl.stop()
}
