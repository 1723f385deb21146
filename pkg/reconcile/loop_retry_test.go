package reconcile

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestLoopRetryAskedAtTheHost: a release of green/v2 is rolled back; a
// retry asked at the host for its generation (controller retry, the
// dashboard) makes exactly one new attempt under a new generation, even
// though the controller was killed between the request and its next
// pass. The new attempt rolled back too stays failed until another
// request; a request a controller killed mid-retry left behind is not
// honoured again; a request for the new generation makes a third attempt.
func TestLoopRetryAskedAtTheHost(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	dir := t.TempDir()
	retries := state.NewRetries(filepath.Join(dir, "retries.json"))
	history := state.NewHistory(filepath.Join(dir, "history.jsonl"))
	restart := func() { // as a new process: the stop records, too, are read again
		h.restart()
		stops, err := state.LoadStopRecords(filepath.Join(dir, "stopped.json"))
		if err != nil {
			t.Fatal(err)
		}
		h.loop.Deps.Stops, h.loop.Retries, h.loop.History = stops, retries, history
	}
	restart()
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 30s}"))
	first := h.rollOutAndFail(planner.Counters{Responses: 200, Status5xx: 120})
	h.expectAtRest("the rolled back release")

	// Asked for the generation that failed; the controller is killed
	// before it looks again.
	if err := state.AskRetry(retries, history, state.Request{Service: "web", Generation: first, By: "alice", Via: "test", At: h.now}); err != nil {
		t.Fatal(err)
	}
	restart()
	second := h.rollOutAndFail(planner.Counters{Responses: 400, Status5xx: 320})
	if second == first {
		t.Fatalf("the retry was attempted under the generation that failed, %s", first)
	}
	if n := w.count("start bg-web-green"); n != 1 {
		t.Fatalf("green started %d times for the retry, want once; calls %v", n, w.mutating())
	}
	if s := h.serviceStatus(); s.Retried == nil || s.Retried.Spec != first || s.Retried.Count != 1 {
		t.Fatalf("status counts the retries %+v, want 1 of %s", s.Retried, first)
	}
	if asked, err := retries.All(); err != nil || len(asked) != 0 {
		t.Fatalf("retry requests after the retry: %v (%v), want none", asked, err)
	}
	h.expectAtRest("the retried release, rolled back again")

	// A request left behind by a controller killed after it counted the
	// retry, before it dropped the request: not honoured again.
	if err := retries.Ask("web", first); err != nil {
		t.Fatal(err)
	}
	restart()
	h.expectAtRest("a request for the generation retried already")
	if asked, _ := retries.All(); len(asked) != 0 {
		t.Fatalf("the stale request is kept: %v", asked)
	}

	// Another request, for the generation that failed now: a third attempt.
	if err := retries.Ask("web", second); err != nil {
		t.Fatal(err)
	}
	third := h.rollOutAndFail(planner.Counters{Responses: 600, Status5xx: 520})
	if third == first || third == second {
		t.Fatalf("the third attempt has generation %s, as an earlier one (%s, %s)", third, first, second)
	}
	rs, err := state.ReadHistory(filepath.Join(dir, "history.jsonl"), "web")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Outcome+" "+r.Generation+" "+r.By)
	}
	want := []string{"RolledBack " + first + " ", "RetryRequested " + first + " alice", "RolledBack " + second + " ", "RolledBack " + third + " "}
	if !slices.Equal(got, want) {
		t.Fatalf("history %q, want %q", got, want)
	}

	// An edit of the spec starts afresh: the count of retries goes with
	// the spec it was for.
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 30s}", `  retry: "by hand"`))
	h.loop.Pass(context.Background())
	if s := h.serviceStatus(); s.Retried != nil || s.ObservedGeneration != h.svc.Generation() {
		t.Fatalf("after an edit: status counts %+v retries, generation %s; want none, %s", s.Retried, s.ObservedGeneration, h.svc.Generation())
	}
}

// rollOutAndFail runs passes until green serves, then, with green's
// counters at bad, until the release is rolled back; it returns the
// generation status shows. One switch to green is made.
func (h *harness) rollOutAndFail(bad planner.Counters) string {
	h.t.Helper()
	w := h.w
	w.calls = nil
	for i := 0; i < 30 && w.runtimeMap["web"] != "web_green"; i++ {
		h.loop.Pass(context.Background())
		h.now = h.now.Add(10 * time.Millisecond)
	}
	if n := w.count("set map /etc/haproxy/hosts.map web web_green"); w.runtimeMap["web"] != "web_green" || n != 1 {
		h.t.Fatalf("switched to green %d times, want once: %v", n, w.mutating())
	}
	w.counters["web_green"] = bad
	for i := 0; i < 30 && h.serviceStatus().Phase != planner.Failed; i++ {
		h.loop.Pass(context.Background())
		h.now = h.now.Add(10 * time.Millisecond)
	}
	s := h.serviceStatus()
	if s.Phase != planner.Failed || conditionReason(s) != planner.ReasonRolledBack || w.runtimeMap["web"] != "web_blue" {
		h.t.Fatalf("status %s %s, map %s: want rolled back to blue", s.Phase, conditionReason(s), w.runtimeMap["web"])
	}
	return s.ObservedGeneration
}

// expectAtRest: passes take no step, and the release stays failed.
func (h *harness) expectAtRest(what string) {
	h.t.Helper()
	h.w.calls = nil
	for i := 0; i < 5; i++ {
		if res := h.loop.Pass(context.Background()); len(res.Stalled) != 1 {
			h.t.Fatalf("%s: pass %d: stalled %v, want the rollback", what, i, res.Stalled)
		}
		h.now = h.now.Add(10 * time.Millisecond)
	}
	if got := h.w.mutating(); len(got) != 0 {
		h.t.Fatalf("%s was tried again: %v", what, got)
	}
}
