package planner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// rolledBackAtRest: green/v2 failed its verification, traffic is back on
// blue/v1 and green is stopped: Failed, RolledBack, nothing left to do.
func rolledBackAtRest(s *spec.Service) *plantest.World {
	w := switched(s, 5*time.Second, planner.Counters{}).Serving(spec.Blue).Edit(spec.Green, plantest.Exited(2)).Edit(spec.Green, stoppedByUs)
	w.O.Verification = ended(w.O.Verification, planner.OutcomeRolledBack, "40 of 100 requests were 5xx")
	return w
}

// jobFailedAtRest: green/v2's job migrate exited 1; green is stopped and
// the job's container removed: Failed, JobFailed.
func jobFailedAtRest(s *spec.Service) *plantest.World {
	return readyGreen(s).JobRecorded("migrate", spec.Green, 1, "no such table: notes").Edit(spec.Green, plantest.Exited(2)).Edit(spec.Green, stoppedByUs)
}

// asked is w with a retry asked for generation gen.
func asked(w *plantest.World, gen string) *plantest.World {
	w.O.RetryAsked = gen
	return w
}

// TestPlanRetry: a retry asked at the host for the generation whose
// release was rolled back, or failed its checks or a job, is honoured
// once that release is at rest (the decision asks the loop to count it);
// not for another generation (the release moved on), not while the
// rollback or the clean-up goes on, not for a failure a new attempt would
// meet again as it is, and never when nothing failed.
func TestPlanRetry(t *testing.T) {
	verified, jobs := verifiedService(t), withJobs(t)
	checked := plantest.Service(t, spec.Green, "demo:v2", "  checks: [{path: /ping}]")
	for _, tc := range []struct {
		name  string
		s     *spec.Service
		world func(s *spec.Service) *plantest.World
		want  plantest.Want
		retry bool // the decision asks for the retry
	}{
		{"rolled back, no retry asked: it stays failed", verified, rolledBackAtRest,
			plantest.Want{Phase: planner.Failed, Reason: planner.ReasonRolledBack}, false},
		{"rolled back, a retry asked for it: tried again", verified, func(s *spec.Service) *plantest.World {
			return asked(rolledBackAtRest(s), s.Generation())
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonRetrying}, true},
		{"a retry asked for another generation: the release moved on, it stays failed", verified, func(s *spec.Service) *plantest.World {
			return asked(rolledBackAtRest(s), "0123456789ab")
		}, plantest.Want{Phase: planner.Failed, Reason: planner.ReasonRolledBack}, false},
		{"asked while traffic goes back: the rollback ends first", verified, func(s *spec.Service) *plantest.World {
			return asked(rolledBackAtRest(s).Edit(spec.Green, func(st *planner.ReplicaState) {
				st.Container.Running, st.Container.State, st.Server.Status = true, "running", "UP"
			}), s.Generation())
		}, plantest.Want{Action: planner.DrainServer, Color: spec.Green, Target: "web_green/app"}, false},
		{"a job failed, at rest, a retry asked: tried again", jobs, func(s *spec.Service) *plantest.World {
			return asked(jobFailedAtRest(s), s.Generation())
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonRetrying}, true},
		{"a job failed, a retry asked, but the served color is DOWN: the outage first, the retry waits", jobs, func(s *spec.Service) *plantest.World {
			return asked(jobFailedAtRest(s).Edit(spec.Blue, func(st *planner.ReplicaState) {
				st.Server.Status, st.MarkedUp = "DOWN", st.Container.Run() // HAProxy took it DOWN after the controller set it UP
			}), s.Generation())
		}, plantest.Want{Phase: planner.Failed, Reason: planner.ReasonJobFailed}, false},
		{"a job failed, its container not removed yet: removed first", jobs, func(s *spec.Service) *plantest.World {
			return asked(jobFailedAtRest(s).Job("migrate", spec.Green, "exited", 2*time.Minute, time.Second, 1), s.Generation())
		}, plantest.Want{Action: planner.RemoveJob, Color: spec.Green, Target: jobs.JobContainerName("migrate", jobs.Generation())}, false},
		{"pre-switch checks failed, a retry asked: tried again", checked, func(s *spec.Service) *plantest.World {
			w := readyGreen(s)
			ct := w.O.Green.First().Container
			w.O.Checks = &planner.CheckRecord{Generation: s.Generation(), Color: spec.Green, Container: ct.ID, StartedAt: ct.StartedAt,
				Failure: "GET /ping: 503", At: plantest.T0}
			return asked(w, s.Generation())
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonRetrying}, true},
		{"the new container exited before it was ready: a new attempt would find it so, not retried", jobs, func(s *spec.Service) *plantest.World {
			return asked(readyGreen(s).Edit(spec.Green, plantest.StartedAgo(65*time.Second, "DOWN", 0)).Edit(spec.Green, plantest.Exited(1)), s.Generation())
		}, plantest.Want{Phase: planner.Failed, Reason: planner.ReasonContainerExited}, false},
		{"nothing failed: a retry asked changes nothing", verified, func(s *spec.Service) *plantest.World {
			return asked(switched(s, 5*time.Second, planner.Counters{}), s.Generation())
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonVerifying}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world(tc.s)
			d := planner.Plan(w.S, w.O, plantest.T0)
			plantest.Expect(t, d, tc.want)
			switch {
			case tc.retry && (d.Retry != tc.s.Generation() || d.RequeueAfter <= 0 || !strings.Contains(d.Message, "attempted anew")):
				t.Fatalf("the decision asks to retry %q (requeue %s), want %s looked at again: %s", d.Retry, d.RequeueAfter, tc.s.Generation(), d)
			case !tc.retry && d.Retry != "":
				t.Fatalf("the decision asks to retry %s: %s", d.Retry, d)
			}
		})
	}
}

// TestPlanRetriedIsANewAttempt: once the loop counted the retry, the
// spec's generation is a new one, and the release is attempted as after
// an edit of spec.retry: the failed color is started again, and its jobs
// run again under the new generation.
func TestPlanRetriedIsANewAttempt(t *testing.T) {
	s := verifiedService(t)
	again := *s
	again.HostRetries = 1
	if again.Generation() == s.Generation() || again.WrittenGeneration() != s.Generation() {
		t.Fatalf("a retried spec has generation %s (written %s), the spec %s", again.Generation(), again.WrittenGeneration(), s.Generation())
	}
	w := rolledBackAtRest(s)
	w.S = &again
	plantest.Expect(t, planner.Plan(&again, w.O, plantest.T0), plantest.Want{Action: planner.StartContainer, Color: spec.Green, Target: "bg-web-green"})

	jobs := withJobs(t)
	retried := *jobs
	retried.HostRetries = 1
	w = jobFailedAtRest(jobs).Edit(spec.Green, func(st *planner.ReplicaState) { *st = readyGreen(jobs).O.Green.First() })
	w.S = &retried
	plantest.Expect(t, planner.Plan(&retried, w.O, plantest.T0),
		plantest.Want{Action: planner.CreateJob, Color: spec.Green, Target: retried.JobContainerName("migrate", retried.Generation())})

	// A new color whose container exited before it was ready: a new
	// attempt finds that very container, and fails at once (which is why
	// such a failure is not retried).
	w = readyGreen(jobs).Edit(spec.Green, plantest.StartedAgo(65*time.Second, "DOWN", 0)).Edit(spec.Green, plantest.Exited(1))
	w.S = &retried
	plantest.Expect(t, planner.Plan(&retried, w.O, plantest.T0), plantest.Want{Phase: planner.Failed, Reason: planner.ReasonContainerExited})
}
