package planner_test

import (
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestPlanWarmup: with spec.warmup, a ready new color is warmed up, each
// replica at the address its probes passed at, after its checks and before
// the switch; a container restarted since is warmed up again.
func TestPlanWarmup(t *testing.T) {
	ready := func(extra ...string) *plantest.World {
		s := plantest.Service(t, spec.Green, "demo:v2", append([]string{"  warmup: {path: /, requests: 50, concurrency: 5}"}, extra...)...)
		return plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Blue)
	}
	warmed := func(w *plantest.World) *planner.WarmupRecord {
		r := &planner.WarmupRecord{Generation: w.S.Generation(), Color: spec.Green, Requests: 50, At: plantest.T0}
		for _, st := range w.O.Green.Replicas {
			r.Runs = append(r.Runs, st.Container.Run())
		}
		return r
	}
	tests := []struct {
		name  string
		world func() *plantest.World
		want  plantest.Want
	}{
		{"ready, not warmed up: warm it up", func() *plantest.World { return ready() },
			plantest.Want{Action: planner.WarmUp, Color: spec.Green, Target: "green /"}},
		{"every replica", func() *plantest.World { return ready("  replicas: 2") },
			plantest.Want{Action: planner.WarmUp, Color: spec.Green, Target: "green /"}},
		{"warmed up as it runs: the switch", func() *plantest.World {
			w := ready()
			w.O.Warmup = warmed(w)
			return w
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"}},
		{"restarted since: warmed up again", func() *plantest.World {
			w := ready()
			w.O.Warmup = warmed(w)
			return w.Edit(spec.Green, plantest.StartedAgo(time.Minute, "UP", 2))
		}, plantest.Want{Action: planner.WarmUp, Color: spec.Green, Target: "green /"}},
		{"checks first", func() *plantest.World { return ready("  checks: [{path: /ping}]") },
			plantest.Want{Action: planner.RunChecks, Color: spec.Green, Target: "bg-web-green"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.world()
			d := planner.Plan(w.S, w.O, plantest.T0)
			plantest.Expect(t, d, tt.want)
			if d.Step == nil || d.Step.Action != planner.WarmUp {
				return
			}
			r := d.Step.Warmup
			if r.Path != "/" || r.Requests != 50 || r.Concurrency != 5 || len(r.Targets) != w.S.ReplicaCount() {
				t.Fatalf("warm-up %+v, want / 50 at 5 to each of %d replicas", r, w.S.ReplicaCount())
			}
			for i, tg := range r.Targets {
				st := w.O.Green.Replicas[i]
				if tg.Base != "http://"+st.ProbedAddr || !tg.Run.Is(st.Container.Run()) {
					t.Errorf("target %d: %+v, want %s and the run %v", i, tg, st.ProbedAddr, st.Container.Run())
				}
			}
		})
	}
}
