package planner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// verifiedService: green/v2 with a 30 s window, 5 % of at least 20 requests.
func verifiedService(t *testing.T) *spec.Service {
	return plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 30s, maxErrorRate: 0.05, minRequests: 20}")
}

// switched: green/v2 serves since switchedAgo, blue/v1 is drained and warm,
// and the verification window opened then with green's counters at base.
func switched(s *spec.Service, switchedAgo time.Duration, base planner.Counters) *plantest.World {
	w := plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
		Edit(spec.Blue, plantest.Draining(0, switchedAgo))
	w.EditColor(spec.Green, func(cs *planner.ColorState) { cs.Backend = base })
	w.O.Verification = &planner.Verification{Generation: s.Generation(), From: spec.Blue, To: spec.Green, ToImage: s.Image,
		FromContainer: "c-blue", SwitchedAt: plantest.T0.Add(-switchedAgo), Baseline: base, Seen: base}
	return w
}

// ended is v as it ended at T0 with outcome and reason.
func ended(v *planner.Verification, outcome, reason string) *planner.Verification {
	e := *v
	e.Outcome, e.Reason, e.EndedAt = outcome, reason, &plantest.T0
	return &e
}

// expectSays fails t unless decision d's message, or the reason of the
// record it carries, says message.
func expectSays(t *testing.T, d planner.Decision, message string) {
	t.Helper()
	text := d.Message
	if d.Record != nil {
		text += " | " + d.Record.Reason
	}
	if !strings.Contains(text, message) {
		t.Fatalf("%q does not say %q", text, message)
	}
}

func traffic(c planner.Counters) func(*planner.ColorState) {
	return func(cs *planner.ColorState) { cs.Backend = c }
}

func TestPlanVerification(t *testing.T) {
	base := planner.Counters{Responses: 1000, Status5xx: 3}
	tests := []struct {
		name    string
		world   func(s *spec.Service) *plantest.World
		want    plantest.Want
		outcome string // of the record the decision carries ("-": none)
		message string
	}{
		{"the switch opens the window, blue is the way back", func(s *spec.Service) *plantest.World {
			return plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2)
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"}, "", ""},
		{"during the window blue is drained first", func(s *spec.Service) *plantest.World {
			w := switched(s, time.Second, base)
			w.Edit(spec.Blue, func(st *planner.ReplicaState) { st.Server.Status, st.OutOfServiceSince = "UP", time.Time{} })
			return w
		}, plantest.Want{Action: planner.DrainServer, Color: spec.Blue, Target: "web_blue/app"}, "", ""},
		{"during the window blue is drained but kept running", func(s *spec.Service) *plantest.World {
			return switched(s, 10*time.Second, base).EditColor(spec.Green, traffic(planner.Counters{Responses: 1500, Status5xx: 5}))
		}, plantest.Want{Phase: planner.Progressing, Reason: "Verifying"}, "", "500 responses, 2 of them 5xx"},
		{"few requests, all 5xx: not judged by the rate yet", func(s *spec.Service) *plantest.World {
			return switched(s, 10*time.Second, base).EditColor(spec.Green, traffic(planner.Counters{Responses: 1010, Status5xx: 13}))
		}, plantest.Want{Phase: planner.Progressing, Reason: "Verifying"}, "", ""},
		{"the image was rebuilt under the same name during the window: blue stays warm", func(s *spec.Service) *plantest.World {
			w := switched(s, 10*time.Second, base)
			w.O.Image = planner.Image{ID: plantest.ImageV3, Found: true}
			return w
		}, plantest.Want{Phase: planner.Progressing, Reason: "Verifying"}, "", "now resolves to image 333333333333, not the 222222222222 that green runs"},
		{"the window passed: succeeded, blue settles", func(s *spec.Service) *plantest.World {
			return switched(s, 31*time.Second, base).EditColor(spec.Green, traffic(planner.Counters{Responses: 9000, Status5xx: 40}))
		}, plantest.Want{Action: planner.StopContainer, Color: spec.Blue, Target: "bg-web-blue"}, planner.OutcomeSucceeded, ""},
		{"5xx over the threshold: rolled back to warm blue", func(s *spec.Service) *plantest.World {
			return switched(s, 5*time.Second, base).EditColor(spec.Green, traffic(planner.Counters{Responses: 1100, Status5xx: 23}))
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}, planner.OutcomeRolledBack, "20 of 100 requests were 5xx"},
		{"5xx over the threshold, blue stopped and in maintenance: out of it DOWN first", func(s *spec.Service) *plantest.World {
			return switched(s, 5*time.Second, base).EditColor(spec.Green, traffic(planner.Counters{Responses: 1100, Status5xx: 23})).
				Edit(spec.Blue, plantest.Exited(2)).Edit(spec.Blue, func(st *planner.ReplicaState) { st.Server.Status, st.Server.AdminMaint = "MAINT", true })
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app health down"}, planner.OutcomeRolledBack, "20 of 100 requests were 5xx"},
		{"requests without a response count as failed", func(s *spec.Service) *plantest.World {
			return switched(s, 5*time.Second, base).EditColor(spec.Green, traffic(planner.Counters{Responses: 1050, Status5xx: 3, Failed: 50}))
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}, planner.OutcomeRolledBack, "50 of 100 requests"},
		{"an operator asked for the rollback of this release: rolled back to warm blue", func(s *spec.Service) *plantest.World {
			w := switched(s, 5*time.Second, base).EditColor(spec.Green, traffic(planner.Counters{Responses: 1100, Status5xx: 3}))
			w.O.RollbackAsked = s.Generation()
			return w
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}, planner.OutcomeRolledBack,
			"an operator asked for the rollback, after 100 responses, 0 of them 5xx"},
		{"a rollback asked for another release changes nothing", func(s *spec.Service) *plantest.World {
			w := switched(s, 10*time.Second, base).EditColor(spec.Green, traffic(planner.Counters{Responses: 1500, Status5xx: 5}))
			w.O.RollbackAsked = "0123456789ab"
			return w
		}, plantest.Want{Phase: planner.Progressing, Reason: "Verifying"}, "", "500 responses, 2 of them 5xx"},
		{"green went DOWN: rolled back", func(s *spec.Service) *plantest.World {
			return switched(s, 5*time.Second, base).Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.Status, st.Server.CheckStatus = "DOWN", "L7STS" })
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}, planner.OutcomeRolledBack, "HAProxy says green is DOWN"},
		{"green's container died: rolled back, not restarted", func(s *spec.Service) *plantest.World {
			return switched(s, 5*time.Second, base).Edit(spec.Green, plantest.Exited(2)).Edit(spec.Green, restarting(1))
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}, planner.OutcomeRolledBack, "exited with code 2"},
		{"HAProxy reloaded: counters start again, the count goes on", func(s *spec.Service) *plantest.World {
			w := switched(s, 5*time.Second, base)
			w.O.Verification.Seen = planner.Counters{Responses: 1090, Status5xx: 3} // 90 before the reload
			return w.EditColor(spec.Green, traffic(planner.Counters{Responses: 10}))
		}, plantest.Want{Phase: planner.Progressing, Reason: "Verifying"}, "", "100 responses, 0 of them 5xx"},
		{"HAProxy reloaded: 5xx after the reload still roll back", func(s *spec.Service) *plantest.World {
			w := switched(s, 5*time.Second, base)
			w.O.Verification.Seen = planner.Counters{Responses: 1090, Status5xx: 3}
			return w.EditColor(spec.Green, traffic(planner.Counters{Responses: 30, Status5xx: 30}))
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}, planner.OutcomeRolledBack, "30 of 120 requests"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := verifiedService(t)
			w := tc.world(s)
			d := planner.Plan(w.S, w.O, plantest.T0)
			plantest.Expect(t, d, tc.want)
			switch {
			case d.Record == nil && tc.want.Action == planner.SwitchMap:
				t.Fatalf("the switch carries no verification")
			case d.Record != nil && d.Record.Outcome != tc.outcome:
				t.Fatalf("record outcome %q, want %q", d.Record.Outcome, tc.outcome)
			case d.Record == nil && tc.outcome != "":
				t.Fatalf("no record, want outcome %q", tc.outcome)
			}
			if tc.want.Action == planner.SwitchMap && (d.Record.From != spec.Blue || d.Record.FromContainer != "c-blue" || !d.Record.SwitchedAt.Equal(plantest.T0)) {
				t.Fatalf("record %+v", d.Record)
			}
			expectSays(t, d, tc.message)
		})
	}
}

// TestPlanRollback: after a failed verification, traffic goes back to the
// very container that served before; the failed color is drained and
// stopped; the same spec is not tried again.
func TestPlanRollback(t *testing.T) {
	rolledBack := func(s *spec.Service, served spec.Color) *plantest.World {
		w := switched(s, 5*time.Second, planner.Counters{})
		if served == spec.Blue {
			w.Serving(spec.Blue)
		}
		w.O.Verification = ended(w.O.Verification, planner.OutcomeRolledBack, "40 of 100 requests were 5xx")
		return w
	}
	tests := []struct {
		name  string
		world func(s *spec.Service) *plantest.World
		want  plantest.Want
	}{
		{"blue ready: switch back", func(s *spec.Service) *plantest.World {
			return rolledBack(s, spec.Green).Edit(spec.Blue, func(st *planner.ReplicaState) { st.Server.Status, st.OutOfServiceSince = "UP", time.Time{} })
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Blue, Target: "web -> web_blue"}},
		{"blue probed, HAProxy behind: mark it UP", func(s *spec.Service) *plantest.World {
			return rolledBack(s, spec.Green).Edit(spec.Blue, func(st *planner.ReplicaState) { st.Server.Status, st.OutOfServiceSince = "DOWN", time.Time{} })
		}, plantest.Want{Action: planner.MarkServerUp, Color: spec.Blue, Target: "web_blue/app"}},
		{"blue died while warm: start it", func(s *spec.Service) *plantest.World {
			return rolledBack(s, spec.Green).Edit(spec.Blue, plantest.Exited(2))
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"back on blue: drain green", func(s *spec.Service) *plantest.World {
			return rolledBack(s, spec.Blue).Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.Status = "UP" })
		}, plantest.Want{Action: planner.DrainServer, Color: spec.Green, Target: "web_green/app"}},
		{"green drained: it loses its restart policy", func(s *spec.Service) *plantest.World {
			return rolledBack(s, spec.Blue).Edit(spec.Green, plantest.Draining(0, time.Second)).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Container.RestartPolicy = "unless-stopped" })
		}, plantest.Want{Action: planner.SetRestartPolicy, Color: spec.Green, Target: "bg-web-green"}},
		{"green drained: stopped", func(s *spec.Service) *plantest.World {
			return rolledBack(s, spec.Blue).Edit(spec.Green, plantest.Draining(0, time.Second)).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Container.RestartPolicy = "no" })
		}, plantest.Want{Action: planner.StopContainer, Color: spec.Green, Target: "bg-web-green"}},
		{"all done: Failed, RolledBack, nothing retried", func(s *spec.Service) *plantest.World {
			return rolledBack(s, spec.Blue).Edit(spec.Green, plantest.Exited(2)).Edit(spec.Green, stoppedByUs)
		}, plantest.Want{Phase: planner.Failed, Reason: "RolledBack"}},
		{"blue's container was replaced: no way back", func(s *spec.Service) *plantest.World {
			return rolledBack(s, spec.Green).Edit(spec.Blue, func(st *planner.ReplicaState) { st.Container.ID = "c-other" })
		}, plantest.Want{Phase: planner.Failed, Reason: "RollbackImpossible"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := verifiedService(t)
			w := tc.world(s)
			plantest.Expect(t, planner.Plan(w.S, w.O, plantest.T0), tc.want)
		})
	}
	// A changed spec is a new attempt: the rollback no longer holds it back.
	s := plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 30s}", "  retry: again")
	w := rolledBack(verifiedService(t), spec.Blue)
	w.S = s
	w.Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.Status = "UP" })
	if d := planner.Plan(s, w.O, plantest.T0); d.Step == nil || d.Step.Action != planner.SwitchMap || d.Step.Color != spec.Green {
		t.Fatalf("a new retry: got %s, want the switch to green", d)
	}
}

func TestPlanVerificationSuperseded(t *testing.T) {
	s := verifiedService(t)
	w := switched(s, 5*time.Second, planner.Counters{})
	back := plantest.Service(t, spec.Blue, "demo:v1", "  verify: {window: 30s}")
	w.S = back
	d := planner.Plan(back, w.O, plantest.T0)
	if d.Record == nil || d.Record.Outcome != planner.OutcomeSuperseded {
		t.Fatalf("record %+v, want Superseded", d.Record)
	}
}

// TestPlanManualPromotion: with promotion Manual, a ready new color waits
// for an approval from the file or from controller promote.
func TestPlanManualPromotion(t *testing.T) {
	s := plantest.Service(t, spec.Green, "demo:v2", "  promotion: {mode: Manual}")
	ready := func() *plantest.World {
		return plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2)
	}
	d := planner.Plan(s, ready().O, plantest.T0)
	plantest.Expect(t, d, plantest.Want{Phase: planner.Progressing, Reason: "WaitingForPromotion"})
	if !strings.Contains(d.Message, "controller promote web") || !strings.Contains(d.Message, s.Generation()) || d.RequeueAfter != planner.PromotionPoll {
		t.Fatalf("waiting message %q, requeue %s", d.Message, d.RequeueAfter)
	}
	// Before it is ready, it is prepared as usual.
	notYet := plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue)
	plantest.Expect(t, planner.Plan(s, notYet.O, plantest.T0), plantest.Want{Action: planner.CreateContainer, Color: spec.Green, Target: "bg-web-green"})
	// Approved at the host for this generation.
	w := ready()
	w.O.Approved = s.Generation()
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"})
	// An approval of another generation does not count.
	w.O.Approved = "0123456789ab"
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Phase: planner.Progressing, Reason: "WaitingForPromotion"})
	// Approved in the file: the approval is not part of the generation.
	approved := plantest.Service(t, spec.Green, "demo:v2", "  promotion: {mode: Manual, approved: \""+s.Generation()+"\"}")
	if approved.Generation() != s.Generation() {
		t.Fatalf("approving changed the generation: %s, was %s", approved.Generation(), s.Generation())
	}
	plantest.Expect(t, planner.Plan(approved, ready().O, plantest.T0), plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"})
}

// TestPlanVerificationLatency: with verify.maxResponseTime or
// maxLatencyRatio, a new color whose average response time (HAProxy's
// rtime) is too slow, alone or against the previous color's, is rolled
// back once it has minRequests responses, its status naming both times;
// a difference under 10 ms is not judged.
func TestPlanVerificationLatency(t *testing.T) {
	base := planner.Counters{Responses: 1000}
	served := planner.Counters{Responses: 1200}
	times := func(green, blue time.Duration) func(s *spec.Service) *plantest.World {
		return func(s *spec.Service) *plantest.World {
			w := switched(s, 5*time.Second, base).EditColor(spec.Green, traffic(served))
			w.EditColor(spec.Green, func(cs *planner.ColorState) { cs.ResponseTime = green })
			w.EditColor(spec.Blue, func(cs *planner.ColorState) { cs.ResponseTime, cs.Backend = blue, planner.Counters{Responses: 5000} })
			return w
		}
	}
	for _, tc := range []struct {
		name, verify string
		world        func(s *spec.Service) *plantest.World
		rolledBack   bool
		message      string
	}{
		{"1.5 s slower, ratio 2: rolled back", "maxLatencyRatio: 2", times(1501*time.Millisecond, time.Millisecond), true,
			"green's average response time is 1.501s, blue's 1ms (HAProxy's rtime): 1501.0 times, above verify.maxLatencyRatio 2"},
		{"twice as slow, ratio 2.5: verified", "maxLatencyRatio: 2.5", times(400*time.Millisecond, 200*time.Millisecond), false, ""},
		{"8 ms against 1 ms, under the 10 ms gap: not judged", "maxLatencyRatio: 1.5", times(8*time.Millisecond, time.Millisecond), false, ""},
		{"above maxResponseTime: rolled back", "maxResponseTime: 500ms", times(600*time.Millisecond, 10*time.Millisecond), true,
			"green's average response time is 600ms, blue's 10ms (HAProxy's rtime): above verify.maxResponseTime 500ms"},
		{"too few responses yet: not judged", "maxResponseTime: 500ms, minRequests: 500", times(600*time.Millisecond, 10*time.Millisecond), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 30s, "+tc.verify+"}")
			d := planner.Plan(s, tc.world(s).O, plantest.T0)
			switch {
			case tc.rolledBack && (d.Record == nil || d.Record.Outcome != planner.OutcomeRolledBack):
				t.Fatalf("not rolled back: %s (record %+v)", d, d.Record)
			case tc.rolledBack && !strings.Contains(d.Record.Reason, tc.message):
				t.Fatalf("%q does not say %q", d.Record.Reason, tc.message)
			case !tc.rolledBack && d.Reason != planner.ReasonVerifying:
				t.Fatalf("got %s, want Verifying", d)
			}
		})
	}
}
