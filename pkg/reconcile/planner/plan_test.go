package planner_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

func TestPlan(t *testing.T) {
	v1Blue := func() *spec.Service { return plantest.Service(t, spec.Blue, "demo:v1") }
	v2Green := func() *spec.Service { return plantest.Service(t, spec.Green, "demo:v2") }
	v1BlueRollback := v1Blue
	v2BlueDone := func() *spec.Service { return plantest.Service(t, spec.Blue, "demo:v2") }
	v3Blue := func() *spec.Service { return plantest.Service(t, spec.Blue, "demo:v3") }
	withBuild := func() *spec.Service {
		s := plantest.Service(t, spec.Blue, "demo:v1")
		s.Build = &spec.Build{Context: "/src/demo", Dockerfile: "Dockerfile"}
		return s
	}
	keepWarm := func() *spec.Service { return plantest.Service(t, spec.Green, "demo:v2", "  idle: {policy: KeepWarm}") }
	stopAfter := func() *spec.Service { return plantest.Service(t, spec.Green, "demo:v2", "  idle: {stopAfter: 1m}") }
	withEnv := func() *spec.Service { return plantest.Service(t, spec.Green, "demo:v2", "  env: {LOG_LEVEL: debug}") }

	tests := []struct {
		name  string
		world func() *plantest.World
		want  plantest.Want
	}{
		// First start from nothing.
		{"first start: image missing, build given", func() *plantest.World { return plantest.NewWorld(withBuild(), "") },
			plantest.Want{Action: planner.BuildImage, Target: "demo:v1"}},
		{"first start: image missing, no build", func() *plantest.World { return plantest.NewWorld(v1Blue(), "") },
			plantest.Want{Action: planner.PullImage, Target: "demo:v1"}},
		{"first start: image missing, no build, pulls forbidden", func() *plantest.World {
			return plantest.NewWorld(plantest.Service(t, spec.Blue, "demo:v1", "  pull: Never"), "")
		}, plantest.Want{Phase: planner.Failed, Reason: "ImageMissing"}},
		{"first start: create the active color", func() *plantest.World { return plantest.NewWorld(v1Blue(), plantest.ImageV1) },
			plantest.Want{Action: planner.CreateContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"first start: start the created container", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Edit(spec.Blue, func(st *planner.ReplicaState) {
				plantest.Exited(0)(st)
				st.Container.State = "created"
			})
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"first start: wait for health", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Edit(spec.Blue, plantest.StartedAgo(time.Second, "DOWN 1/2", 0))
		}, plantest.Want{Phase: planner.Progressing, Reason: "WaitingForReady"}},
		{"first start: map file names blue already, create blue directly", func() *plantest.World { return plantest.NewWorld(v1Blue(), plantest.ImageV1).Serving(spec.Blue) },
			plantest.Want{Action: planner.CreateContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"first start: switch the map once ready", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1)
		},
			plantest.Want{Action: planner.SwitchMap, Color: spec.Blue, Target: "web -> web_blue"}},
		{"map file behind the runtime map", func() *plantest.World {
			w := plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue)
			w.O.MapFile = planner.MapValue{Value: "web_green", Found: true}
			return w
		}, plantest.Want{Action: planner.WriteMapFile, Color: spec.Blue, Target: "/etc/haproxy/hosts.map"}},
		{"steady state: nothing to do", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Disabled(spec.Green)
		},
			plantest.Want{Phase: planner.Converged, Reason: "Converged"}},
		{"served, the other color never created: its server goes into maintenance", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue)
		},
			plantest.Want{Action: planner.DisableServer, Color: spec.Green, Target: "web_green/app"}},

		// Release: green gets v2, becomes ready, the map switches, blue drains and stops.
		{"release: create green on v2", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue)
		},
			plantest.Want{Action: planner.CreateContainer, Color: spec.Green, Target: "bg-web-green"}},
		{"release: green not yet ready", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(100*time.Millisecond, "UP", 1))
		}, plantest.Want{Phase: planner.Progressing, Reason: "WaitingForReady"}},
		{"release: switch to green", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2)
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"}},
		{"release: drain blue after the switch", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green)
		}, plantest.Want{Action: planner.DrainServer, Color: spec.Blue, Target: "web_blue/app"}},
		{"release: blue still has sessions", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Draining(3, 5*time.Second))
		}, plantest.Want{Phase: planner.Progressing, Reason: "Draining"}},
		{"release: stop blue once drained", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Draining(0, time.Second))
		}, plantest.Want{Action: planner.StopContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"release: drain timeout passed, stop blue anyway", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Draining(3, 31*time.Second))
		}, plantest.Want{Action: planner.StopContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"release: done, blue stopped", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Exited(0))
		}, plantest.Want{Phase: planner.Converged, Reason: "Converged"}},
		{"release: keep warm leaves blue drained and running", func() *plantest.World {
			return plantest.NewWorld(keepWarm(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Draining(0, time.Hour))
		}, plantest.Want{Phase: planner.Converged, Reason: "Converged"}},
		{"release: stopAfter not yet passed", func() *plantest.World {
			return plantest.NewWorld(stopAfter(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Draining(0, 10*time.Second))
		}, plantest.Want{Phase: planner.Converged, Reason: "Converged"}},
		{"release: stopAfter passed", func() *plantest.World {
			return plantest.NewWorld(stopAfter(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Draining(0, 61*time.Second))
		}, plantest.Want{Action: planner.StopContainer, Color: spec.Blue, Target: "bg-web-blue"}},

		// Rollback: blue still on v1 takes traffic straight back.
		{"rollback: undrain warm blue", func() *plantest.World {
			return plantest.NewWorld(v1BlueRollback(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Draining(0, time.Minute))
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}},
		{"rollback: start stopped blue (DOWN hides the drain) before it is undrained", func() *plantest.World {
			return plantest.NewWorld(v1BlueRollback(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Exited(0)).Edit(spec.Blue, func(st *planner.ReplicaState) { st.Server.AdminDrain = true })
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"rollback: undrain blue once it runs again", func() *plantest.World {
			return plantest.NewWorld(v1BlueRollback(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.StartedAgo(0, "DOWN", 0)).Edit(spec.Blue, func(st *planner.ReplicaState) { st.Server.AdminDrain = true })
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}},
		{"rollback: switch straight back to blue", func() *plantest.World {
			return plantest.NewWorld(v1BlueRollback(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green)
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Blue, Target: "web -> web_blue"}},
		{"rollback: restart stopped blue", func() *plantest.World {
			return plantest.NewWorld(v1BlueRollback(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Exited(0))
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"rollback: restart blue stopped by SIGTERM", func() *plantest.World {
			return plantest.NewWorld(v1BlueRollback(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Exited(143))
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}},

		// Done: blue is replaced by v2, traffic moves back, green drains.
		{"done: drain idle blue before replacing it", func() *plantest.World {
			return plantest.NewWorld(v2BlueDone(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green)
		}, plantest.Want{Action: planner.DrainServer, Color: spec.Blue, Target: "web_blue/app"}},
		{"done: stop drained blue to replace it", func() *plantest.World {
			return plantest.NewWorld(v2BlueDone(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Draining(0, time.Second))
		}, plantest.Want{Action: planner.StopContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"done: remove stopped blue", func() *plantest.World {
			return plantest.NewWorld(v2BlueDone(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Exited(0))
		}, plantest.Want{Action: planner.RemoveContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"done: create blue while its server is still drained", func() *plantest.World {
			return plantest.NewWorld(v2BlueDone(), plantest.ImageV2).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, func(st *planner.ReplicaState) { st.Server.Status = "DRAIN" })
		}, plantest.Want{Action: planner.CreateContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"done: create blue on v2", func() *plantest.World {
			return plantest.NewWorld(v2BlueDone(), plantest.ImageV2).Running(spec.Green, plantest.ImageV2).Serving(spec.Green)
		}, plantest.Want{Action: planner.CreateContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"done: switch back to blue", func() *plantest.World {
			return plantest.NewWorld(v2BlueDone(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV2).Running(spec.Green, plantest.ImageV2).Serving(spec.Green)
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Blue, Target: "web -> web_blue"}},
		{"done: drain green", func() *plantest.World {
			return plantest.NewWorld(v2BlueDone(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV2).Running(spec.Green, plantest.ImageV2).Serving(spec.Blue)
		}, plantest.Want{Action: planner.DrainServer, Color: spec.Green, Target: "web_green/app"}},

		// The active color must change image: go through the other color first.
		{"active image change: prepare green, never touch serving blue", func() *plantest.World {
			return plantest.NewWorld(v3Blue(), plantest.ImageV3).Running(spec.Blue, plantest.ImageV2).Serving(spec.Blue)
		}, plantest.Want{Action: planner.CreateContainer, Color: spec.Green, Target: "bg-web-green"}},
		{"active image change: replace green's old image first", func() *plantest.World {
			return plantest.NewWorld(v3Blue(), plantest.ImageV3).Running(spec.Blue, plantest.ImageV2).Serving(spec.Blue).Running(spec.Green, plantest.ImageV1).Edit(spec.Green, plantest.Exited(0))
		}, plantest.Want{Action: planner.RemoveContainer, Color: spec.Green, Target: "bg-web-green"}},
		{"active image change: move traffic to green", func() *plantest.World {
			return plantest.NewWorld(v3Blue(), plantest.ImageV3).Running(spec.Blue, plantest.ImageV2).Serving(spec.Blue).Running(spec.Green, plantest.ImageV3)
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"}},
		{"active image change: then drain blue to replace it", func() *plantest.World {
			return plantest.NewWorld(v3Blue(), plantest.ImageV3).Running(spec.Blue, plantest.ImageV2).Running(spec.Green, plantest.ImageV3).Serving(spec.Green)
		}, plantest.Want{Action: planner.DrainServer, Color: spec.Blue, Target: "web_blue/app"}},
		{"env drift on the idle color is replaced", func() *plantest.World {
			w := plantest.NewWorld(withEnv(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).Edit(spec.Green, plantest.Exited(0))
			return w.Edit(spec.Green, func(st *planner.ReplicaState) { st.Container.SpecHash = "stale" })
		}, plantest.Want{Action: planner.RemoveContainer, Color: spec.Green, Target: "bg-web-green"}},

		// Invariant 1: ready means UP after a passing check and two probes.
		{"UP just out of MAINT, before any check or probe, is not ready", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, func(st *planner.ReplicaState) {
					st.Server.CheckStatus, st.Server.CheckPassed = "INI", false
					st.Probes, st.ProbeError = 1, "connection reset by peer"
					st.Container.StartedAt = plantest.T0.Add(-time.Second)
				})
		}, plantest.Want{Phase: planner.Progressing, Reason: "WaitingForReady"}},
		{"probes passed, HAProxy's checks behind: mark it UP", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(time.Second, "DOWN", 2))
		}, plantest.Want{Action: planner.MarkServerUp, Color: spec.Green, Target: "web_green/app"}},
		{"probes passed, HAProxy half way up: mark it UP", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(time.Second, "DOWN 1/2", 2))
		}, plantest.Want{Action: planner.MarkServerUp, Color: spec.Green, Target: "web_green/app"}},
		{"probes passed but HAProxy checks another address: point it at the probed one", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(time.Second, "DOWN", 2)).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.Addr = "127.0.0.1:9999" })
		}, plantest.Want{Action: planner.SetServerAddr, Color: spec.Green, Target: "web_green/app addr 127.0.0.1:18082"}},
		{"UP but failing in HAProxy is not forced", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(time.Second, "UP 1/2", 2))
		}, plantest.Want{Phase: planner.Progressing, Reason: "WaitingForReady"}},
		{"probes passed but drained: undrain first", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(time.Second, "DOWN", 2)).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.AdminDrain = true })
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Green, Target: "web_green/app"}},
		{"UP in HAProxy but own probes fail is not ready", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, func(st *planner.ReplicaState) {
					st.Probes, st.ProbeError = 0, "connection refused"
					st.Container.StartedAt = plantest.T0.Add(-time.Second)
				})
		}, plantest.Want{Phase: planner.Progressing, Reason: "WaitingForReady"}},
		{"MAINT server of the new color leaves maintenance DOWN", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.Status = "MAINT" })
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Green, Target: "web_green/app health down"}},
		{"MAINT server of the served color is made ready", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Edit(spec.Blue, func(st *planner.ReplicaState) { st.Server.Status = "MAINT" })
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Blue, Target: "web_blue/app"}},

		// Faults that need a human.
		{"new container exits at start", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(65*time.Second, "DOWN", 0)).Edit(spec.Green, plantest.Exited(1))
		}, plantest.Want{Phase: planner.Failed, Reason: "ContainerExited"}},
		{"new color never becomes UP", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(61*time.Second, "DOWN", 0))
		}, plantest.Want{Phase: planner.Failed, Reason: "ReadyTimeout"}},
		{"serving color just started, HAProxy says DOWN: an outage, not a wait", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Blue, plantest.StartedAgo(time.Second, "DOWN", 0))
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown}},
		{"serving color unhealthy", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Blue, plantest.StartedAgo(time.Hour, "DOWN", 0))
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown}},
		{"serving color UP but failing (UP 1/2), past its ready timeout", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Blue, plantest.StartedAgo(time.Hour, "UP 1/2", 0))
		}, plantest.Want{Phase: planner.Degraded, Reason: "ActiveNotReady"}},
		{"backend missing in HAProxy", func() *plantest.World {
			w := plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue)
			delete(w.O.Backends, "web_green")
			return w
		}, plantest.Want{Phase: planner.Failed, Reason: "BackendNotFound"}},
		{"server missing in HAProxy", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Green, func(st *planner.ReplicaState) { st.Server = planner.Server{} })
		}, plantest.Want{Phase: planner.Failed, Reason: "ServerNotFound"}},
		{"container not owned by the controller is left alone", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV1).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Container.Managed = false })
		}, plantest.Want{Phase: planner.Failed, Reason: "ContainerNotOwned"}},
		{"container labelled managed for another service is left alone", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV1).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Container.Service = "api" })
		}, plantest.Want{Phase: planner.Failed, Reason: "ContainerNotOwned"}},
		{"container labelled managed for the other color is left alone", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV1).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Container.Color = "blue" })
		}, plantest.Want{Phase: planner.Failed, Reason: "ContainerNotOwned"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world()
			before := fmt.Sprintf("%+v", w.O)
			d := planner.Plan(w.S, w.O, plantest.T0)
			if after := fmt.Sprintf("%+v", w.O); after != before {
				t.Fatalf("Plan changed its input")
			}
			if tc.want.Action != "" {
				if d.Step == nil {
					t.Fatalf("got %s, want step %s %s", d, tc.want.Action, tc.want.Target)
				}
				got := plantest.Want{Action: d.Step.Action, Color: d.Step.Color, Target: d.Step.Target}
				exp := plantest.Want{Action: tc.want.Action, Color: tc.want.Color, Target: tc.want.Target}
				if got != exp {
					t.Fatalf("got step %+v (%s), want %+v", got, d, exp)
				}
				return
			}
			if d.Step != nil {
				t.Fatalf("got step %s, want %s (%s)", d.Step, tc.want.Phase, tc.want.Reason)
			}
			if d.Phase != tc.want.Phase || d.Reason != tc.want.Reason {
				t.Fatalf("got %s, want %s (%s)", d, tc.want.Phase, tc.want.Reason)
			}
		})
	}
}

func TestPlanWaitsAreRequeued(t *testing.T) {
	s := plantest.Service(t, spec.Green, "demo:v2")
	w := plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
		Edit(spec.Green, plantest.StartedAgo(time.Second, "DOWN 1/2", 1))
	if d := planner.Plan(s, w.O, plantest.T0); d.RequeueAfter != planner.ReadyPoll {
		t.Errorf("waiting for ready: RequeueAfter = %s, want %s", d.RequeueAfter, planner.ReadyPoll)
	}
	s = plantest.Service(t, spec.Green, "demo:v2", "  idle: {stopAfter: 1m}")
	w = plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).Edit(spec.Blue, plantest.Draining(0, 10*time.Second))
	if d := planner.Plan(s, w.O, plantest.T0); d.RequeueAfter != 50*time.Second {
		t.Errorf("kept warm: RequeueAfter = %s, want 50s", d.RequeueAfter)
	}
	s = plantest.Service(t, spec.Blue, "demo:v1")
	w = plantest.NewWorld(s, plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Disabled(spec.Green)
	if d := planner.Plan(s, w.O, plantest.T0); d.RequeueAfter != 0 || !d.Converged() {
		t.Errorf("steady state: got %s requeue %s, want converged with no requeue", d, d.RequeueAfter)
	}
}
