package planner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// canaryService: green/v2, three canary steps (10 % for 1m, 50 % until
// promoted, 80 % for 1m), a 30 s window after the last.
func canaryService(t *testing.T) *spec.Service {
	return plantest.Service(t, spec.Green, "demo:v2",
		"  verify: {window: 30s, maxErrorRate: 0.05, minRequests: 20}",
		"  strategy: {type: Canary, steps: [{weight: 10, pause: 1m}, {weight: 50}, {weight: 80, pause: 1m}]}")
}

// ready: blue/v1 serves, green/v2 is ready; the canary backend exists with
// weights blue, green.
func ready(s *spec.Service, blue, green int) *plantest.World {
	w := plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2)
	w.O.Backends["web_canary"] = true
	w.O.Canary = planner.CanaryState{Found: true, Blue: blue, Green: green}
	return w
}

// inStep: the map points at the canary backend, step (from 0) began
// sinceAgo, with the weights it sets; green's counters at base when the
// canary began.
func inStep(s *spec.Service, step int, sinceAgo time.Duration, base planner.Counters) *plantest.World {
	weights := []int{10, 50, 80}
	w := ready(s, 100-weights[step], weights[step])
	w.O.MapRuntime = planner.MapValue{Value: "web_canary", Found: true}
	w.O.Served = ""
	w.EditColor(spec.Green, traffic(base))
	w.O.Verification = &planner.Verification{Generation: s.Generation(), From: spec.Blue, To: spec.Green, ToImage: s.Image,
		FromContainer: "c-blue", SwitchedAt: plantest.T0.Add(-10 * time.Minute), Baseline: base, Seen: base,
		Canary: true, Step: step, StepSince: plantest.T0.Add(-sinceAgo)}
	return w
}

func TestPlanCanary(t *testing.T) {
	base := planner.Counters{Responses: 1000}
	tests := []struct {
		name    string
		world   func(s *spec.Service) *plantest.World
		want    plantest.Want
		step    int    // the record's step, when it has one
		outcome string // the record's outcome
		message string // a part of the message or of the record's reason
	}{
		{"ready: the first step's weights are set before any traffic moves", func(s *spec.Service) *plantest.World {
			return ready(s, 0, 0)
		}, plantest.Want{Action: planner.SetCanaryWeights, Color: spec.Green, Target: "web_canary green=10 blue=90"}, -1, "", "10 %"},
		{"weights set: the key points at the canary backend, at runtime only, and the rollout begins", func(s *spec.Service) *plantest.World {
			return ready(s, 90, 10)
		}, plantest.Want{Action: planner.SplitTraffic, Color: spec.Green, Target: "web -> web_canary"}, 0, "", ""},
		{"the canary backend is not in HAProxy: the release fails, blue keeps all traffic", func(s *spec.Service) *plantest.World {
			w := ready(s, 0, 0)
			w.O.Canary = planner.CanaryState{}
			return w
		}, plantest.Want{Phase: planner.Failed, Reason: planner.ReasonBackendNotFound}, -1, "", `canary backend "web_canary"`},
		{"blue's published port does not answer: the canary backend would send its share there", func(s *spec.Service) *plantest.World {
			return ready(s, 90, 10).Edit(spec.Blue, func(st *planner.ReplicaState) { st.FallbackOK, st.FallbackError = false, "connection refused" })
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonWaitingForFallback}, -1, "", "connection refused"},
		{"in the first step's pause: judged, waits", func(s *spec.Service) *plantest.World {
			return inStep(s, 0, 10*time.Second, base).EditColor(spec.Green, traffic(planner.Counters{Responses: 1100, Status5xx: 1}))
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonCanary}, 0, "", "canary step 1 of 3: green (demo:v2) gets 10 % of new users"},
		{"weights lost (HAProxy reloaded weights but kept the key): set again for the step", func(s *spec.Service) *plantest.World {
			w := inStep(s, 0, 10*time.Second, base)
			w.O.Canary = planner.CanaryState{Found: true}
			return w
		}, plantest.Want{Action: planner.SetCanaryWeights, Color: spec.Green, Target: "web_canary green=10 blue=90"}, 0, "", ""},
		{"the first pause passed: the second step's weights", func(s *spec.Service) *plantest.World {
			return inStep(s, 0, time.Minute, base)
		}, plantest.Want{Action: planner.SetCanaryWeights, Color: spec.Green, Target: "web_canary green=50 blue=50"}, 1, "", "step 1 of 3 passed"},
		{"a step without a pause waits for controller promote", func(s *spec.Service) *plantest.World {
			return inStep(s, 1, time.Hour, base)
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonWaitingForPromotion}, 1, "", "run controller promote web"},
		{"the release's own promotion does not move a step", func(s *spec.Service) *plantest.World {
			w := inStep(s, 1, time.Hour, base)
			w.O.Approved = s.Generation()
			return w
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonWaitingForPromotion}, 1, "", ""},
		{"promoted at the step: the next step", func(s *spec.Service) *plantest.World {
			w := inStep(s, 1, time.Second, base)
			w.O.Approved = planner.CanaryApproval(s.Generation(), 1)
			return w
		}, plantest.Want{Action: planner.SetCanaryWeights, Color: spec.Green, Target: "web_canary green=80 blue=20"}, 2, "", ""},
		{"the last step passed: the map switches to green, the window begins", func(s *spec.Service) *plantest.World {
			return inStep(s, 2, time.Minute, base)
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"}, 3, "", "the 3 canary steps passed"},
		{"5xx over the threshold at the first step: the key goes back to blue at once", func(s *spec.Service) *plantest.World {
			return inStep(s, 0, 5*time.Second, base).EditColor(spec.Green, traffic(planner.Counters{Responses: 1040, Status5xx: 30}))
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Blue, Target: "web -> web_blue"}, 0, planner.OutcomeRolledBack, "at canary step 1 of 3 (10 % of new users): 30 of 40 requests were 5xx"},
		{"green went DOWN during a step: rolled back", func(s *spec.Service) *plantest.World {
			return inStep(s, 1, 5*time.Second, base).Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.Status, st.Server.CheckStatus = "DOWN", "L7STS" })
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Blue, Target: "web -> web_blue"}, 1, planner.OutcomeRolledBack, "HAProxy says green is DOWN"},
		{"an operator asked for the rollback: the key goes back to blue", func(s *spec.Service) *plantest.World {
			w := inStep(s, 0, 5*time.Second, base)
			w.O.RollbackAsked = s.Generation()
			return w
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Blue, Target: "web -> web_blue"}, 0, planner.OutcomeRolledBack, "an operator asked for the rollback"},
		{"blue died during a step: started again first", func(s *spec.Service) *plantest.World {
			return inStep(s, 0, 5*time.Second, base).Edit(spec.Blue, plantest.Exited(137))
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}, -1, "", ""},
		{"HAProxy reloaded during step 2 (the key is back on blue): resumed at step 2, its weights first", func(s *spec.Service) *plantest.World {
			w := inStep(s, 1, 5*time.Second, base).Serving(spec.Blue)
			w.O.Canary = planner.CanaryState{Found: true}
			return w
		}, plantest.Want{Action: planner.SetCanaryWeights, Color: spec.Green, Target: "web_canary green=50 blue=50"}, -1, "", ""},
		{"HAProxy reloaded during step 2, weights set again: split again at step 2", func(s *spec.Service) *plantest.World {
			w := inStep(s, 1, 5*time.Second, base).Serving(spec.Blue)
			return w
		}, plantest.Want{Action: planner.SplitTraffic, Color: spec.Green, Target: "web -> web_canary"}, 1, "", ""},
		{"the spec changed during the canary: all traffic back to blue, the canary superseded", func(s *spec.Service) *plantest.World {
			w := inStep(s, 1, 5*time.Second, base)
			w.O.Verification.Generation = "0123456789ab"
			return w
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Blue, Target: "web -> web_blue"}, 1, planner.OutcomeSuperseded, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := canaryService(t)
			w := tc.world(s)
			d := planner.Plan(w.S, w.O, plantest.T0)
			plantest.Expect(t, d, tc.want)
			if tc.step >= 0 {
				switch {
				case d.Record == nil:
					t.Fatalf("no record, want one at step %d", tc.step)
				case !d.Record.Canary || d.Record.Step != tc.step || d.Record.Outcome != tc.outcome:
					t.Fatalf("record canary %t step %d outcome %q, want step %d outcome %q", d.Record.Canary, d.Record.Step, d.Record.Outcome, tc.step, tc.outcome)
				}
			}
			expectSays(t, d, tc.message)
		})
	}
}

// TestPlanCanaryNotForAFirstStart: with nothing serving, the first color
// takes all traffic at once: there is no previous version to split with.
func TestPlanCanaryNotForAFirstStart(t *testing.T) {
	s := canaryService(t)
	w := plantest.NewWorld(s, plantest.ImageV2).Running(spec.Green, plantest.ImageV2)
	w.O.Canary = planner.CanaryState{Found: true}
	plantest.Expect(t, planner.Plan(w.S, w.O, plantest.T0), plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"})
}

// TestPlanCanaryLatency: during a step, the new color's server in the
// canary backend is judged against the previous color's there.
func TestPlanCanaryLatency(t *testing.T) {
	s := plantest.Service(t, spec.Green, "demo:v2",
		"  verify: {window: 30s, minRequests: 20, maxLatencyRatio: 2}",
		"  strategy: {type: Canary, steps: [{weight: 10, pause: 1m}, {weight: 50}, {weight: 80, pause: 1m}]}")
	w := inStep(s, 0, 5*time.Second, planner.Counters{Responses: 1000}).EditColor(spec.Green, traffic(planner.Counters{Responses: 1030}))
	w.EditColor(spec.Blue, traffic(planner.Counters{Responses: 300}))
	w.O.Canary.GreenTime, w.O.Canary.BlueTime = 1503*time.Millisecond, 2*time.Millisecond
	d := planner.Plan(w.S, w.O, plantest.T0)
	plantest.Expect(t, d, plantest.Want{Action: planner.SwitchMap, Color: spec.Blue, Target: "web -> web_blue"})
	if want := "at canary step 1 of 3 (10 % of new users): green's average response time is 1.503s, blue's 2ms (HAProxy's rtime): 751.5 times, above verify.maxLatencyRatio 2"; d.Record == nil || !strings.Contains(d.Record.Reason, want) {
		t.Fatalf("record %+v does not say %q", d.Record, want)
	}
	w.O.Canary.GreenTime = 3 * time.Millisecond
	plantest.Expect(t, planner.Plan(w.S, w.O, plantest.T0), plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonCanary})
}

// TestPlanCanaryWithoutWindow: verify.window 0s turns the window after the
// switch off, not the canary: its steps are still taken and judged.
func TestPlanCanaryWithoutWindow(t *testing.T) {
	s := plantest.Service(t, spec.Green, "demo:v2", "  strategy: {type: Canary, steps: [{weight: 10, pause: 1m}]}")
	d := planner.Plan(s, ready(s, 90, 10).O, plantest.T0)
	plantest.Expect(t, d, plantest.Want{Action: planner.SplitTraffic, Color: spec.Green, Target: "web -> web_canary"})
	if d.Record == nil || !d.Record.Canary {
		t.Fatalf("the split carries no canary record: %+v", d.Record)
	}
}

// TestCanaryPauseCountsFromItsWeights: a step recorded by a controller
// that was killed before it set the step's weights (HAProxy still has the
// step before's) has them set now, and its pause counts from now, not
// from when it was recorded: no step lasts less than its pause.
func TestCanaryPauseCountsFromItsWeights(t *testing.T) {
	s := canaryService(t)
	w := inStep(s, 2, 400*time.Millisecond, planner.Counters{})
	w.O.Canary = planner.CanaryState{Found: true, Blue: 50, Green: 50} // step 2's (index 1) weights, not step 3's
	d := planner.Plan(s, w.O, plantest.T0)
	plantest.Expect(t, d, plantest.Want{Action: planner.SetCanaryWeights, Color: spec.Green, Target: "web_canary green=80 blue=20"})
	if d.Record == nil || d.Record.Step != 2 || !d.Record.StepSince.Equal(plantest.T0) {
		t.Fatalf("record %+v, want step 2 (from 0) beginning now, %s", d.Record, plantest.T0)
	}
}
