package planner_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// withJobs is the release of v2 to green with two jobs (migrate, then
// seed), migrate bounded by a 1m timeout.
func withJobs(t *testing.T, extra ...string) *spec.Service {
	return plantest.Service(t, spec.Green, "demo:v2", append([]string{
		"  jobs:",
		"    - {name: migrate, command: [migrate, --to, \"2\"], timeout: 1m}",
		"    - {name: seed, command: [seed]}",
	}, extra...)...)
}

// readyGreen: blue serves v1, green runs v2 and is ready for the switch.
func readyGreen(s *spec.Service) *plantest.World {
	return plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2)
}

// TestPlanJobs: the release jobs run in order, once each, in containers
// of the new image, between the new color being ready and the switch; a
// failed or timed-out job stops the new color and fails the release with
// nothing moved; the containers are removed once their end is recorded
// and the release is at rest.
func TestPlanJobs(t *testing.T) {
	s := withJobs(t)
	migrate, seed := s.JobContainerName("migrate", s.Generation()), s.JobContainerName("seed", s.Generation())
	for _, tc := range []struct {
		name  string
		world func() *plantest.World
		want  plantest.Want
		says  string // a part of the message
	}{
		{"green not ready yet: no job", func() *plantest.World {
			return readyGreen(s).Edit(spec.Green, plantest.StartedAgo(time.Second, "DOWN", 0))
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonWaitingForReady}, ""},
		{"green ready: create the first job's container", func() *plantest.World { return readyGreen(s) },
			plantest.Want{Action: planner.CreateJob, Color: spec.Green, Target: migrate}, "job 1 of 2, migrate"},
		{"created, not started (a controller killed in between): start it", func() *plantest.World {
			return readyGreen(s).Job("migrate", spec.Green, "created", 0, 0, 0)
		}, plantest.Want{Action: planner.StartJob, Color: spec.Green, Target: migrate}, ""},
		{"running within its timeout: wait, no second container", func() *plantest.World {
			return readyGreen(s).Job("migrate", spec.Green, "running", 30*time.Second, 0, 0)
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonRunningJob}, "timeout in 30s"},
		{"running past its timeout: stop it", func() *plantest.World {
			return readyGreen(s).Job("migrate", spec.Green, "running", 61*time.Second, 0, 0)
		}, plantest.Want{Action: planner.StopJob, Color: spec.Green, Target: migrate}, "past its timeout 1m0s"},
		{"first job succeeded: the second one is created", func() *plantest.World {
			return readyGreen(s).Job("migrate", spec.Green, "exited", 2*time.Minute, time.Second, 0)
		}, plantest.Want{Action: planner.CreateJob, Color: spec.Green, Target: seed}, "job 2 of 2, seed"},
		{"both succeeded: switch", func() *plantest.World {
			return readyGreen(s).Job("migrate", spec.Green, "exited", 2*time.Minute, time.Second, 0).Job("seed", spec.Green, "exited", time.Minute, time.Second, 0)
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"}, ""},
		{"succeeded, its container removed: recorded, not run again", func() *plantest.World {
			return readyGreen(s).JobRecorded("migrate", spec.Green, 0, "").JobRecorded("seed", spec.Green, 0, "")
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"}, ""},
		{"a job exited 1: the new color is drained", func() *plantest.World {
			return readyGreen(s).Job("migrate", spec.Green, "exited", 2*time.Minute, time.Second, 1)
		}, plantest.Want{Action: planner.DrainServer, Color: spec.Green, Target: "web_green/app"}, ""},
		{"a job exited 1: the new color, drained, is stopped", func() *plantest.World {
			return readyGreen(s).Job("migrate", spec.Green, "exited", 2*time.Minute, time.Second, 1).Edit(spec.Green, plantest.Draining(0, time.Second))
		}, plantest.Want{Action: planner.StopContainer, Color: spec.Green, Target: "bg-web-green"}, "exited with code 1"},
		{"a job outlived its timeout and was stopped: the new color, drained, is stopped", func() *plantest.World {
			return readyGreen(s).Job("migrate", spec.Green, "exited", 2*time.Minute, 61*time.Second, 137).Edit(spec.Green, plantest.Draining(0, time.Second))
		}, plantest.Want{Action: planner.StopContainer, Color: spec.Green, Target: "bg-web-green"}, "outlived its timeout 1m0s"},
		{"a job failed, green stopped: Failed, JobFailed", func() *plantest.World {
			return readyGreen(s).Job("migrate", spec.Green, "exited", 2*time.Minute, time.Second, 1).Edit(spec.Green, plantest.Exited(2)).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Container.StoppedByController = true })
		}, plantest.Want{Phase: planner.Failed, Reason: planner.ReasonJobFailed}, "blue serves on"},
		{"a failed job recorded: its container is removed", func() *plantest.World {
			return readyGreen(s).Job("migrate", spec.Green, "exited", 2*time.Minute, time.Second, 1).JobRecorded("migrate", spec.Green, 1, "boom").
				Edit(spec.Green, plantest.Exited(2)).Edit(spec.Green, func(st *planner.ReplicaState) { st.Container.StoppedByController = true })
		}, plantest.Want{Action: planner.RemoveJob, Color: spec.Green, Target: migrate}, ""},
		{"a failed job removed: Failed with its last log lines, nothing run again", func() *plantest.World {
			return readyGreen(s).JobRecorded("migrate", spec.Green, 1, "no such table: notes").Edit(spec.Green, plantest.Exited(2)).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Container.StoppedByController = true })
		}, plantest.Want{Phase: planner.Failed, Reason: planner.ReasonJobFailed}, "no such table: notes"},
		{"released: the recorded job containers are removed", func() *plantest.World {
			return plantest.NewWorld(s, plantest.ImageV2).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).Disabled(spec.Blue).
				Job("migrate", spec.Green, "exited", 2*time.Minute, time.Second, 0).JobRecorded("migrate", spec.Green, 0, "")
		}, plantest.Want{Action: planner.RemoveJob, Color: spec.Green, Target: migrate}, ""},
		{"rolled back: the recorded job containers are removed", func() *plantest.World {
			w := plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Job("migrate", spec.Green, "exited", 2*time.Minute, time.Second, 0).JobRecorded("migrate", spec.Green, 0, "")
			w.O.Verification = &planner.Verification{Generation: s.Generation(), From: spec.Blue, To: spec.Green, ToImage: s.Image,
				FromContainer: "c-blue", SwitchedAt: plantest.T0.Add(-time.Minute), Outcome: planner.OutcomeRolledBack, Reason: "5xx"}
			return w
		}, plantest.Want{Action: planner.RemoveJob, Color: spec.Green, Target: migrate}, ""},
		{"released: an ended job not yet recorded is kept", func() *plantest.World {
			return plantest.NewWorld(s, plantest.ImageV2).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).Disabled(spec.Blue).
				Job("migrate", spec.Green, "exited", 2*time.Minute, time.Second, 0)
		}, plantest.Want{Phase: planner.Converged, Reason: planner.ReasonConverged}, ""},
		{"first start, the map on green, no container: the job runs first", func() *plantest.World {
			return plantest.NewWorld(s, plantest.ImageV2).Serving(spec.Green)
		}, plantest.Want{Action: planner.CreateJob, Color: spec.Green, Target: migrate}, ""},
		{"first start, the job succeeded: green is created", func() *plantest.World {
			return plantest.NewWorld(s, plantest.ImageV2).Serving(spec.Green).JobRecorded("migrate", spec.Green, 0, "").JobRecorded("seed", spec.Green, 0, "")
		}, plantest.Want{Action: planner.CreateContainer, Color: spec.Green, Target: "bg-web-green"}, ""},
		{"first start, the job failed: Failed, nothing created", func() *plantest.World {
			return plantest.NewWorld(s, plantest.ImageV2).Serving(spec.Green).JobRecorded("migrate", spec.Green, 1, "")
		}, plantest.Want{Phase: planner.Failed, Reason: planner.ReasonJobFailed}, "exited with code 1 after 1m0s; no traffic moved. Fix"},
		{"a job of an earlier release still runs: wait for it", func() *plantest.World {
			w := readyGreen(s)
			w.O.Jobs = append(w.O.Jobs, planner.JobState{Generation: "0123456789ab", Job: "migrate", Name: "bg-web-job-migrate-0123456789ab",
				Container: planner.Container{Exists: true, Managed: true, Running: true, State: "running", StartedAt: plantest.T0.Add(-time.Minute)}})
			return w
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonWaitingForJob}, "0123456789ab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := planner.Plan(s, tc.world().O, plantest.T0)
			plantest.Expect(t, d, tc.want)
			if !strings.Contains(d.Message, tc.says) {
				t.Errorf("message %q does not say %q", d.Message, tc.says)
			}
		})
	}
}

// TestPlanJobCreateSpec: a job's container is the new color's container
// spec, with the job's command, its own name and labels, no published
// port, and the job and the release in its env.
func TestPlanJobCreateSpec(t *testing.T) {
	s := withJobs(t, "  volumes: [\"data:/data\"]", "  user: \"10001\"", "  env: {DB: /data/db}", "  command: [serve]")
	d := planner.Plan(s, readyGreen(s).O, plantest.T0)
	if d.Step == nil || d.Step.Job == nil || d.Step.Job.Create == nil {
		t.Fatalf("got %s, want CreateJob with a container spec", d)
	}
	got := *d.Step.Job.Create
	want := *planner.ContainerSpecOf(s, s.Replica(spec.Green, 0), plantest.ImageV2)
	if got.Name != s.JobContainerName("migrate", s.Generation()) || strings.Join(got.Command, " ") != "migrate --to 2" ||
		got.Job != "migrate" || got.Generation != s.Generation() || got.HostPort != 0 {
		t.Fatalf("job container spec %+v", got)
	}
	if env := strings.Join(got.Env, " "); !strings.Contains(env, "BLUEGREEN_JOB=migrate") || !strings.Contains(env, "BLUEGREEN_GENERATION="+s.Generation()) {
		t.Errorf("job env %q lacks BLUEGREEN_JOB and BLUEGREEN_GENERATION", env)
	}
	got.Name, got.Command, got.Job, got.Generation, got.HostPort, got.Env = want.Name, want.Command, "", "", want.HostPort, got.Env[:len(got.Env)-2]
	if !equalJSON(t, got, want) {
		t.Errorf("beyond name, command, labels and port, the job's container spec differs from green's")
	}
}

// TestPlanJobsManualPromotion: the jobs run before the promotion gate: an
// approval is asked for once they succeeded.
func TestPlanJobsManualPromotion(t *testing.T) {
	s := withJobs(t, "  promotion: {mode: Manual}")
	plantest.Expect(t, planner.Plan(s, readyGreen(s).O, plantest.T0), plantest.Want{Action: planner.CreateJob, Color: spec.Green, Target: s.JobContainerName("migrate", s.Generation())})
	w := readyGreen(s).JobRecorded("migrate", spec.Green, 0, "").JobRecorded("seed", spec.Green, 0, "")
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonWaitingForPromotion})
}

// TestPlanNoJobWithoutRelease: a spec whose active color already serves
// its image runs no job.
func TestPlanNoJobWithoutRelease(t *testing.T) {
	s := withJobs(t)
	w := plantest.NewWorld(s, plantest.ImageV2).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).Disabled(spec.Blue)
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Phase: planner.Converged, Reason: planner.ReasonConverged})
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// TestPlanHeldAfterIrreversibleJob: a release that fails its verification
// after a job marked reversible: false succeeded is held, not rolled back:
// traffic stays on green, blue stays warm, until an operator asks for the
// rollback; with reversible jobs only, it is rolled back on its own.
func TestPlanHeldAfterIrreversibleJob(t *testing.T) {
	base := planner.Counters{Responses: 1000}
	bad := traffic(planner.Counters{Responses: 1100, Status5xx: 100})
	for _, tc := range []struct {
		name     string
		reversal string // the job's reversible field
		world    func(s *spec.Service, w *plantest.World)
		want     plantest.Want
		outcome  string
		says     string
	}{
		{"reversible job, 5xx: rolled back to warm blue", "true", func(*spec.Service, *plantest.World) {},
			plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}, planner.OutcomeRolledBack, ""},
		{"irreversible job, 5xx: held on green, blue warm", "false", func(*spec.Service, *plantest.World) {},
			plantest.Want{Phase: planner.Failed, Reason: planner.ReasonHeldAfterIrreversibleJob}, planner.OutcomeHeld, "job migrate ran and cannot be undone"},
		{"held: nothing moves, blue is not stopped", "false", func(s *spec.Service, w *plantest.World) {
			w.O.Verification = ended(w.O.Verification, planner.OutcomeHeld, "20 of 100 requests were 5xx")
		}, plantest.Want{Phase: planner.Failed, Reason: planner.ReasonHeldAfterIrreversibleJob}, planner.OutcomeHeld, "run controller rollback web"},
		{"held, green's container dies: started again, not switched back", "false", func(s *spec.Service, w *plantest.World) {
			w.O.Verification = ended(w.O.Verification, planner.OutcomeHeld, "20 of 100 requests were 5xx")
			w.Edit(spec.Green, plantest.Exited(2))
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Green, Target: "bg-web-green"}, planner.OutcomeHeld, ""},
		{"held, an operator asked for the rollback: back to warm blue", "false", func(s *spec.Service, w *plantest.World) {
			w.O.Verification = ended(w.O.Verification, planner.OutcomeHeld, "20 of 100 requests were 5xx")
			w.O.RollbackAsked = s.Generation()
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}, planner.OutcomeRolledBack, ""},
		{"held, a rollback asked for another release: still held", "false", func(s *spec.Service, w *plantest.World) {
			w.O.Verification = ended(w.O.Verification, planner.OutcomeHeld, "20 of 100 requests were 5xx")
			w.O.RollbackAsked = "0123456789ab"
		}, plantest.Want{Phase: planner.Failed, Reason: planner.ReasonHeldAfterIrreversibleJob}, planner.OutcomeHeld, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 30s, maxErrorRate: 0.05, minRequests: 20}",
				"  jobs: [{name: migrate, command: [migrate], reversible: "+tc.reversal+"}]")
			w := switched(s, 5*time.Second, base).EditColor(spec.Green, bad).JobRecorded("migrate", spec.Green, 0, "")
			tc.world(s, w)
			d := planner.Plan(s, w.O, plantest.T0)
			plantest.Expect(t, d, tc.want)
			if d.Record == nil || d.Record.Outcome != tc.outcome {
				t.Fatalf("record %+v, want outcome %s", d.Record, tc.outcome)
			}
			if !strings.Contains(d.Message, tc.says) && !strings.Contains(d.Record.Reason, tc.says) {
				t.Errorf("%s does not say %q (record: %s)", d.Message, tc.says, d.Record.Reason)
			}
		})
	}
}

// TestPlanAfterSwitchJobs: an AfterSwitch job runs once the map moved,
// during the verification window, which does not pass before the job
// succeeded; its failure fails the verification: back to warm blue.
func TestPlanAfterSwitchJobs(t *testing.T) {
	s := plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 30s, maxErrorRate: 0.05, minRequests: 20}",
		"  jobs: [{name: warm, command: [warm-cache], when: AfterSwitch}]")
	warm := s.JobContainerName("warm", s.Generation())
	base := planner.Counters{Responses: 1000}
	good := traffic(planner.Counters{Responses: 1500})
	for _, tc := range []struct {
		name    string
		world   func() *plantest.World
		want    plantest.Want
		outcome string // of the record the decision carries ("" for none ended)
		says    string
	}{
		{"before the switch: no AfterSwitch job, the map moves", func() *plantest.World { return readyGreen(s) },
			plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"}, "", ""},
		{"in the window: the job is created for green", func() *plantest.World { return switched(s, 2*time.Second, base) },
			plantest.Want{Action: planner.CreateJob, Color: spec.Green, Target: warm}, "", "during the verification window"},
		{"the window passed, the job runs: still verifying, blue warm", func() *plantest.World {
			return switched(s, 31*time.Second, base).EditColor(spec.Green, good).Job("warm", spec.Green, "running", 10*time.Second, 0, 0)
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonVerifying}, "", "waits for its AfterSwitch jobs"},
		{"the window passed, the job succeeded: verified, blue settles", func() *plantest.World {
			return switched(s, 31*time.Second, base).EditColor(spec.Green, good).Job("warm", spec.Green, "exited", 20*time.Second, time.Second, 0)
		}, plantest.Want{Action: planner.StopContainer, Color: spec.Blue, Target: "bg-web-blue"}, planner.OutcomeSucceeded, ""},
		{"the job failed: the verification fails, back to warm blue", func() *plantest.World {
			return switched(s, 5*time.Second, base).EditColor(spec.Green, good).Job("warm", spec.Green, "exited", 4*time.Second, time.Second, 3)
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}, planner.OutcomeRolledBack, "AfterSwitch job warm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := planner.Plan(s, tc.world().O, plantest.T0)
			plantest.Expect(t, d, tc.want)
			if tc.outcome != "" && (d.Record == nil || d.Record.Outcome != tc.outcome) {
				t.Fatalf("record %+v, want outcome %s", d.Record, tc.outcome)
			}
			msg := d.Message
			if d.Record != nil {
				msg += " " + d.Record.Reason
			}
			if !strings.Contains(msg, tc.says) {
				t.Errorf("%q does not say %q", msg, tc.says)
			}
		})
	}
}
