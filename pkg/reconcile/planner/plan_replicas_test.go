package planner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestPlanReplicas: with spec.replicas each color is several containers,
// each behind its own server: a color is ready only when every replica
// is, the served color's replicas are each kept running and healed, and a
// replica that HAProxy takes down while the others serve is a partial
// outage, not a 503 for everyone.
func TestPlanReplicas(t *testing.T) {
	two := func(active spec.Color, image string, extra ...string) *spec.Service {
		return plantest.Service(t, active, image, append([]string{"  replicas: 2"}, extra...)...)
	}
	// blueServes: blue's two replicas run v1 and serve.
	blueServes := func(s *spec.Service) *plantest.World {
		return plantest.NewWorld(s, plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue)
	}
	release := func() *plantest.World {
		s := two(spec.Green, "demo:v2")
		return plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue)
	}
	greenRuns := func() *plantest.World {
		return release().Running(spec.Green, plantest.ImageV2).Serving(spec.Blue)
	}
	tests := []struct {
		name  string
		world func() *plantest.World
		want  plantest.Want
		says  []string
	}{
		{"a release creates the first replica of the new color", release,
			plantest.Want{Action: planner.CreateContainer, Color: spec.Green, Target: "bg-web-green"}, nil},
		{"then the second, once the first runs at its address", func() *plantest.World {
			w := release()
			w.EditColor(spec.Green, func(cs *planner.ColorState) {
				cs.Replicas[0] = plantest.RunningReplica(w.S, w.O, cs.Replicas[0].Slot, plantest.ImageV2)
			})
			return w
		}, plantest.Want{Action: planner.CreateContainer, Color: spec.Green, Target: "bg-web-green-2"}, nil},
		{"no switch while one replica is not UP yet", func() *plantest.World {
			return greenRuns().EditReplica(spec.Green, 1, plantest.StartedAgo(time.Second, "DOWN", 1))
		}, plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonWaitingForReady}, []string{"green replica 2"}},
		{"a replica that passed its probes is set UP, the other waits", func() *plantest.World {
			return greenRuns().EditReplica(spec.Green, 1, plantest.StartedAgo(time.Second, "DOWN", 2))
		}, plantest.Want{Action: planner.MarkServerUp, Color: spec.Green, Target: "web_green/app2"}, nil},
		{"the switch, once every replica is ready", greenRuns,
			plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"}, []string{"its 2 replicas are UP"}},
		{"a dead replica of the served color is started first", func() *plantest.World {
			w := blueServes(two(spec.Blue, "demo:v1")).EditReplica(spec.Blue, 1, plantest.Exited(2))
			return w.EditReplica(spec.Blue, 0, func(st *planner.ReplicaState) { st.Container.RestartPolicy = planner.RestartNo })
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue-2"}, []string{"blue replica 2 serves but exited with code 2"}},
		{"one replica DOWN while the other serves: a partial outage", func() *plantest.World {
			return blueServes(two(spec.Blue, "demo:v1")).
				EditReplica(spec.Blue, 1, checkFailed("503", "Service Unavailable")).EditReplica(spec.Blue, 1, probeFails(5*time.Second))
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonReplicaDown},
			[]string{"web_blue/app2 is DOWN", "to the 1 other replicas in service", "restarted at"}},
		{"it is restarted after restartAfter, alone", func() *plantest.World {
			return blueServes(two(spec.Blue, "demo:v1")).
				EditReplica(spec.Blue, 1, checkFailed("503", "Service Unavailable")).EditReplica(spec.Blue, 1, probeFails(2*time.Minute))
		}, plantest.Want{Action: planner.RestartContainer, Color: spec.Blue, Target: "bg-web-blue-2"}, nil},
		{"every replica DOWN: the outage", func() *plantest.World {
			return blueServes(two(spec.Blue, "demo:v1")).
				Edit(spec.Blue, checkFailed("503", "Service Unavailable")).Edit(spec.Blue, probeFails(5*time.Second))
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown}, []string{"requests for web get 503"}},
		{"a missing server names the server-template line", func() *plantest.World {
			return blueServes(two(spec.Blue, "demo:v1")).EditReplica(spec.Blue, 1, func(st *planner.ReplicaState) { st.Server.Found = false })
		}, plantest.Want{Phase: planner.Failed, Reason: planner.ReasonServerNotFound},
			[]string{"web_blue/app2", "server-template app 2 127.0.0.1:18081 check"}},
		{"the old color's replicas are drained one by one after the switch", func() *plantest.World {
			return greenRuns().Serving(spec.Green).EditReplica(spec.Blue, 0, plantest.Draining(0, time.Second))
		}, plantest.Want{Action: planner.DrainServer, Color: spec.Blue, Target: "web_blue/app2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.world()
			d := planner.Plan(w.S, w.O, plantest.T0)
			plantest.Expect(t, d, tt.want)
			for _, part := range tt.says {
				if !strings.Contains(d.String(), part) {
					t.Errorf("decision does not say %q: %s", part, d)
				}
			}
			if d.Step != nil && d.Step.Action == planner.SwitchMap && len(d.Step.Map.Ready) != 2 {
				t.Errorf("the switch carries the readiness of %d replicas, want 2", len(d.Step.Map.Ready))
			}
		})
	}
}

// TestPlanFewerReplicas: replicas beyond a lowered spec.replicas are
// drained, stopped and removed, the served color's only while another of
// its replicas takes the traffic, and the served color's own stay.
func TestPlanFewerReplicas(t *testing.T) {
	// blueServesTwo: blue serves with replicas 1 and 2 running, and the
	// spec now asks for one.
	blueServesTwo := func() *plantest.World {
		two := plantest.Service(t, spec.Blue, "demo:v1", "  replicas: 2")
		one := plantest.Service(t, spec.Blue, "demo:v1", "  replicas: 1")
		w := plantest.NewWorld(two, plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue)
		w.EditColor(spec.Blue, func(cs *planner.ColorState) {
			extra := cs.Replicas[1]
			extra.Slot = one.Replica(spec.Blue, 1)
			cs.Replicas[0].Slot = one.Replica(spec.Blue, 0)
			cs.Replicas[0].Server.Found = true
			cs.Replicas, cs.Surplus = cs.Replicas[:1], []planner.ReplicaState{extra}
		})
		w.EditColor(spec.Green, func(cs *planner.ColorState) {
			cs.Replicas = cs.Replicas[:1]
			cs.Replicas[0].Slot = one.Replica(spec.Green, 0)
		})
		w.S = one
		// The containers were created by the spec with two replicas: the
		// first one's hash is the one spec's too (the count is not in it).
		return w
	}
	tests := []struct {
		name  string
		world func() *plantest.World
		want  plantest.Want
	}{
		{"the replica beyond the count is drained first", blueServesTwo,
			plantest.Want{Action: planner.DrainServer, Color: spec.Blue, Target: "web_blue/app2"}},
		{"then stopped once empty", func() *plantest.World {
			return blueServesTwo().EditColor(spec.Blue, func(cs *planner.ColorState) {
				plantest.Draining(0, time.Second)(&cs.Surplus[0])
				cs.Surplus[0].Container.RestartPolicy = planner.RestartNo
			})
		}, plantest.Want{Action: planner.StopContainer, Color: spec.Blue, Target: "bg-web-blue-2"}},
		{"its restart policy is taken first", func() *plantest.World {
			return blueServesTwo().EditColor(spec.Blue, func(cs *planner.ColorState) { plantest.Draining(0, time.Second)(&cs.Surplus[0]) })
		}, plantest.Want{Action: planner.SetRestartPolicy, Color: spec.Blue, Target: "bg-web-blue-2"}},
		{"then removed", func() *plantest.World {
			return blueServesTwo().EditColor(spec.Blue, func(cs *planner.ColorState) {
				plantest.Exited(0)(&cs.Surplus[0])
				cs.Surplus[0].Container.RestartPolicy = planner.RestartNo
			})
		}, plantest.Want{Action: planner.RemoveContainer, Color: spec.Blue, Target: "bg-web-blue-2"}},
		{"of two beyond the count, the last goes first", func() *plantest.World {
			w := blueServesTwo()
			return w.EditColor(spec.Blue, func(cs *planner.ColorState) {
				third := cs.Surplus[0]
				third.Slot = w.S.Replica(spec.Blue, 2)
				third.Container.ID = "c-blue-3"
				cs.Surplus = append(cs.Surplus, third)
			})
		}, plantest.Want{Action: planner.DrainServer, Color: spec.Blue, Target: "web_blue/app3"}},
		{"not while the served color's own replica is down", func() *plantest.World {
			return blueServesTwo().EditReplica(spec.Blue, 0, plantest.StartedAgo(time.Second, "DOWN", 0))
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.world()
			d := planner.Plan(w.S, w.O, plantest.T0)
			plantest.Expect(t, d, tt.want)
			if d.Step != nil && d.Step.Container != nil && (d.Step.Action == planner.StopContainer || d.Step.Action == planner.RemoveContainer) &&
				(!d.Step.Container.Surplus || d.Step.Container.NotServed != nil) {
				t.Errorf("%s is not marked as a replica beyond spec.replicas: %+v", d, d.Step.Container)
			}
		})
	}
}
