package reconcile

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// passUntil runs passes until done says so, at most n, and returns the
// mutating calls made.
func (h *harness) passUntil(n int, done func(PassResult) bool) []string {
	h.t.Helper()
	h.w.calls = nil
	for i := 0; i < n; i++ {
		res := h.loop.Pass(context.Background())
		if done(res) {
			return h.w.mutating()
		}
		h.now = h.now.Add(10 * time.Millisecond)
	}
	h.t.Fatalf("not done after %d passes; calls %v", n, h.w.mutating())
	return nil
}

func jobSpec(t *testing.T) *spec.Service {
	return withBuild(plantest.Service(t, spec.Green, "demo:v2", "  jobs: [{name: migrate, command: [migrate], timeout: 1m}]"))
}

// TestLoopJobRunsOnceBeforeTheSwitch: the release's job is created and
// started once, after green is ready and before the map moves; a
// controller restarted while it runs waits for it rather than run it
// again; once it exited 0 the map switches, and its container is removed
// once its end is in status.
func TestLoopJobRunsOnceBeforeTheSwitch(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	h.svc = jobSpec(t)
	job := h.svc.JobContainerName("migrate", h.svc.Generation())
	var calls []string
	calls = append(calls, h.passUntil(50, func(PassResult) bool { return w.containers[job] != nil && w.containers[job].Running })...)
	for i := 0; i < 3; i++ { // killed and started again while the job runs
		h.restart()
		calls = append(calls, h.passUntil(1, func(PassResult) bool { return true })...)
		if st := h.serviceStatus(); readyReason(st) != planner.ReasonRunningJob {
			t.Fatalf("while the job runs: %s", readyReason(st))
		}
	}
	w.die(job, 0)
	calls = append(calls, h.converge()...)
	count := func(c string) int {
		n := 0
		for _, x := range calls {
			if x == c {
				n++
			}
		}
		return n
	}
	if count("create "+job) != 1 || count("start "+job) != 1 {
		t.Fatalf("the job was created %d and started %d times, want once: %v", count("create "+job), count("start "+job), calls)
	}
	start, sw, rm := slices.Index(calls, "start "+job), slices.Index(calls, "set map /etc/haproxy/hosts.map web web_green"), slices.Index(calls, "remove "+job)
	if start < 0 || sw < start || rm < sw {
		t.Fatalf("want the job started, then the switch, then the job removed; calls %v", calls)
	}
	if got := h.serviceStatus().JobsOf(h.svc.Generation()); len(got) != 1 || got[0].Outcome != planner.JobSucceeded || got[0].ExitCode != 0 {
		t.Fatalf("job records %+v", got)
	}
	// Converged and removed: nothing runs again.
	if again := h.converge(); len(again) != 0 {
		t.Fatalf("a converged release with its job done acted again: %v", again)
	}
}

// TestLoopJobFailedStopsNewColor: a job that exits 1 fails the release
// with JobFailed, its last log lines in status; the new color is drained
// and stopped, the map never moves, the job's container is removed once
// its end is recorded, and it is not run again.
func TestLoopJobFailedStopsNewColor(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	h.svc = jobSpec(t)
	job := h.svc.JobContainerName("migrate", h.svc.Generation())
	h.passUntil(50, func(PassResult) bool { return w.containers[job] != nil && w.containers[job].Running })
	w.die(job, 1)
	calls := h.passUntil(50, func(r PassResult) bool { return len(r.Stalled) > 0 && w.containers[job] == nil })
	for _, c := range calls {
		if strings.HasPrefix(c, "set map ") || c == "create "+job || c == "start "+job {
			t.Fatalf("after the job failed: %s (calls %v)", c, calls)
		}
	}
	if slices.Index(calls, "set server web_green/app state drain") < 0 || slices.Index(calls, "stop bg-web-green") < 0 {
		t.Fatalf("green was not drained and stopped: %v", calls)
	}
	st := h.serviceStatus()
	msg := readyMessage(st)
	if st.Phase != planner.Failed || readyReason(st) != planner.ReasonJobFailed ||
		!strings.Contains(msg, "job migrate") || !strings.Contains(msg, "exited with code 1") || !strings.Contains(msg, "boom: cannot open config") {
		t.Fatalf("status %s (%s): %s", st.Phase, readyReason(st), msg)
	}
	if w.runtimeMap["web"] != "web_blue" {
		t.Fatalf("map moved to %s", w.runtimeMap["web"])
	}
	again := h.passUntil(5, func(r PassResult) bool { return len(r.Stalled) > 0 })
	if len(again) != 0 {
		t.Fatalf("a failed release acted again: %v", again)
	}
}

// TestExecuteStartJobOnlyOnce: the executor checks live that a job's
// container is freshly created before it starts it: one that ran is
// never started again, whatever the step says; a running one is not
// removed.
func TestExecuteStartJobOnlyOnce(t *testing.T) {
	w := newFakeWorld()
	s := jobSpec(t)
	d := w.deps()
	ctx := context.Background()
	create := planner.Plan(s, plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).O, plantest.T0)
	if create.Step == nil || create.Step.Action != planner.CreateJob {
		t.Fatalf("got %s, want CreateJob", create)
	}
	if err := d.Execute(ctx, *create.Step); err != nil {
		t.Fatal(err)
	}
	ref := *create.Step.Job
	ref.Create = nil
	start := planner.Step{Action: planner.StartJob, Service: "web", Color: spec.Green, Target: ref.Name, Cause: "test", Job: &ref}
	if err := d.Execute(ctx, start); err != nil {
		t.Fatal(err)
	}
	remove := start
	remove.Action = planner.RemoveJob
	if err := d.Execute(ctx, remove); err == nil || w.containers[ref.Name] == nil {
		t.Fatalf("a running job container was removed (err %v)", err)
	}
	w.die(ref.Name, 0)
	w.calls = nil
	err := d.Execute(ctx, start)
	if !errors.Is(err, ErrJobRan) || !strings.Contains(err.Error(), "start job container "+ref.Name) {
		t.Fatalf("second start: %v, want ErrJobRan naming the container", err)
	}
	if slices.Contains(w.mutating(), "start "+ref.Name) {
		t.Fatalf("the job was started again: %v", w.mutating())
	}
}
