package planner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// stoppedByUs: the controller's record says it stopped this run.
func stoppedByUs(st *planner.ReplicaState) { st.Container.StoppedByController = true }

// restarting: the engine waits to start it again after its nth crash.
func restarting(n int) func(*planner.ReplicaState) {
	return func(st *planner.ReplicaState) {
		st.Container.Restarting = true
		st.Container.RestartCount = n
	}
}

func oomKilled(st *planner.ReplicaState) {
	st.Container.OOMKilled = true
	st.Container.ExitCode = 137
}

// TestPlanKeepsServedAlive is invariant 10: the served color is kept
// running, and whether the controller stopped a container comes from its
// record, never from an exit code.
func TestPlanKeepsServedAlive(t *testing.T) {
	v1Blue := func() *spec.Service { return plantest.Service(t, spec.Blue, "demo:v1") }
	v2Green := func() *spec.Service { return plantest.Service(t, spec.Green, "demo:v2") }
	tests := []struct {
		name    string
		world   func() *plantest.World
		want    plantest.Want
		message string // a part of the message, when a wait
	}{
		{"served color crashed (exit 2): started again", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Blue, plantest.Exited(2))
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}, ""},
		{"served color SIGKILLed (exit 137): started again", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Blue, plantest.Exited(137))
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}, ""},
		{"served color exited 0 by itself: started again", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Blue, plantest.Exited(0))
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}, ""},
		{"served color dies in the middle of a release: started before anything else", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(time.Second, "DOWN", 0)).Edit(spec.Blue, plantest.Exited(2))
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}, ""},
		{"served color the engine is restarting: CrashLoop, nothing forced", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Blue, plantest.Exited(2)).Edit(spec.Blue, restarting(4))
		}, plantest.Want{Phase: planner.Degraded, Reason: "CrashLoop"}, "restarted 4 times"},
		{"served color back but not UP after crashes: CrashLoop", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Edit(spec.Blue, plantest.StartedAgo(time.Second, "DOWN", 0)).Edit(spec.Blue, func(st *planner.ReplicaState) { st.Container.RestartCount = 3 })
		}, plantest.Want{Phase: planner.Degraded, Reason: "CrashLoop"}, "HAProxy says DOWN"},
		{"served color UP again after crashes: converged", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Edit(spec.Blue, func(st *planner.ReplicaState) { st.Container.RestartCount = 3 }).Disabled(spec.Green)
		}, plantest.Want{Phase: planner.Converged, Reason: "Converged"}, ""},
		{"a release goes on while the served color crash-loops", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Blue, plantest.Exited(2)).Edit(spec.Blue, restarting(5))
		}, plantest.Want{Action: planner.CreateContainer, Color: spec.Green, Target: "bg-web-green"}, ""},
		{"served color back from a crash, probed, HAProxy behind: marked UP", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Edit(spec.Blue, plantest.StartedAgo(time.Second, "DOWN 1/2", 2))
		}, plantest.Want{Action: planner.MarkServerUp, Color: spec.Blue, Target: "web_blue/app"}, ""},
		{"served color back from a crash at a new address, going down from a check of the old one: marked UP before a second failure takes it DOWN", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Edit(spec.Blue, plantest.StartedAgo(time.Second, "UP 1/2", 2)).Edit(spec.Blue, func(st *planner.ReplicaState) { st.Container.RestartCount = 2 })
		}, plantest.Want{Action: planner.MarkServerUp, Color: spec.Blue, Target: "web_blue/app"}, ""},
		{"served color going down, marked UP in this run already: HAProxy's checks have the last word", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Edit(spec.Blue, plantest.StartedAgo(time.Second, "UP 1/2", 2)).
				Edit(spec.Blue, func(st *planner.ReplicaState) { st.MarkedUp = st.Container.Run() })
		}, plantest.Want{Phase: planner.Progressing, Reason: "WaitingForReady"}, "HAProxy says UP 1/2"},
		{"served color back from a crash, probes not yet passed: an outage until they pass", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Edit(spec.Blue, plantest.StartedAgo(time.Second, "DOWN", 1))
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown}, ""},
		{"served color without the restart policy gets it", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Edit(spec.Blue, func(st *planner.ReplicaState) { st.Container.RestartPolicy = planner.RestartNo })
		}, plantest.Want{Action: planner.SetRestartPolicy, Color: spec.Blue, Target: "bg-web-blue"}, ""},
		{"idle color with the restart policy loses it before it is stopped", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Draining(0, time.Second)).
				Edit(spec.Blue, func(st *planner.ReplicaState) { st.Container.RestartPolicy = planner.RestartUnlessStopped })
		}, plantest.Want{Action: planner.SetRestartPolicy, Color: spec.Blue, Target: "bg-web-blue"}, ""},

		// Rollback to a color the controller stopped, whatever the app exits with.
		{"rollback: blue stopped by the controller, exit 2 (Go, no handler)", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.StartedAgo(time.Second, "DOWN", 0)).Edit(spec.Blue, plantest.Exited(2)).Edit(spec.Blue, stoppedByUs)
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}, ""},
		{"rollback: blue stopped by the controller, exit 1 (log.Fatal on shutdown)", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.StartedAgo(time.Second, "DOWN", 0)).Edit(spec.Blue, plantest.Exited(1)).Edit(spec.Blue, stoppedByUs)
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}, ""},
		{"rollback: warm blue died long after it started: started again", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Exited(2))
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}, ""},

		// A new color that dies at start fails the release, whatever its code.
		{"new color OOM-killed at start: Failed, OOMKilled", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(61*time.Second, "DOWN", 0)).Edit(spec.Green, plantest.Exited(137)).Edit(spec.Green, oomKilled)
		}, plantest.Want{Phase: planner.Failed, Reason: "OOMKilled"}, "OOMKilled"},
		{"new color exits 0 at start by itself: Failed, not started forever", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(61*time.Second, "DOWN", 0)).Edit(spec.Green, plantest.Exited(0))
		}, plantest.Want{Phase: planner.Failed, Reason: "ContainerExited"}, "exited with code 0"},
		{"new color killed by SIGKILL at start, not by the controller: Failed", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(61*time.Second, "DOWN", 0)).Edit(spec.Green, plantest.Exited(137))
		}, plantest.Want{Phase: planner.Failed, Reason: "ContainerExited"}, "exited with code 137"},
		{"new color stopped by the controller is started again", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(61*time.Second, "DOWN", 0)).Edit(spec.Green, plantest.Exited(137)).Edit(spec.Green, stoppedByUs)
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Green, Target: "bg-web-green"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world()
			d := planner.Plan(w.S, w.O, plantest.T0)
			plantest.Expect(t, d, tc.want)
			if tc.want.Action == "" && !strings.Contains(d.Message, tc.message) {
				t.Fatalf("message %q does not say %q", d.Message, tc.message)
			}
		})
	}
}

// TestPlanTakesNoStepWhileTheEngineStops: containers killed by an engine
// that shuts down died without the controller stopping them, yet nothing
// is started, rolled back or failed: the engine's restart policy brings
// the served color back, and the controller looks again once it answers.
func TestPlanTakesNoStepWhileTheEngineStops(t *testing.T) {
	v1Blue := func() *spec.Service { return plantest.Service(t, spec.Blue, "demo:v1") }
	v2Green := func() *spec.Service { return plantest.Service(t, spec.Green, "demo:v2") }
	worlds := map[string]func() *plantest.World{
		"served color exited 2": func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Blue, plantest.Exited(2))
		},
		"new color exited before it was ready (a release would fail)": func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(time.Second, "DOWN", 0)).Edit(spec.Green, plantest.Exited(2))
		},
		"warm blue exited (a rollback would start it)": func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
				Edit(spec.Blue, plantest.Exited(2))
		},
	}
	for name, world := range worlds {
		t.Run(name, func(t *testing.T) {
			w := world()
			if d := planner.Plan(w.S, w.O, plantest.T0); d.Step == nil && d.Phase != planner.Failed {
				t.Fatalf("with the engine answering: %s, want a step or a failed release (the case proves nothing)", d)
			}
			w.O.EngineStopping = true
			d := planner.Plan(w.S, w.O, plantest.T0)
			plantest.Expect(t, d, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonEngineStopping})
			if !strings.Contains(d.Message, "shutting down") || d.RequeueAfter <= 0 {
				t.Fatalf("decision %s (requeue %s), want a message saying the engine is shutting down and a requeue", d, d.RequeueAfter)
			}
		})
	}
}

// TestPlanRestartPolicyAfterTheSwitchSecond: the served color gets its
// restart policy RestartPolicyDelay after the later of its container's
// start and the switch to it, so that the engine's update does not fall in
// the second around the switch. Until then the release goes on, status
// does not say Converged, and the next look comes when the policy is due.
func TestPlanRestartPolicyAfterTheSwitchSecond(t *testing.T) {
	policyNo := func(startedAgo time.Duration) func(*planner.ReplicaState) {
		return func(st *planner.ReplicaState) {
			st.Container.StartedAt = plantest.T0.Add(-startedAgo)
			st.Container.RestartPolicy = planner.RestartNo
		}
	}
	switched := func(w *plantest.World, to spec.Color, ago time.Duration) *plantest.World {
		w.O.SwitchedTo, w.O.SwitchedAt = to, plantest.T0.Add(-ago)
		return w
	}
	blue := func(startedAgo time.Duration) *plantest.World {
		return plantest.NewWorld(plantest.Service(t, spec.Blue, "demo:v1"), plantest.ImageV1).
			Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Blue, policyNo(startedAgo)).Disabled(spec.Green)
	}
	setPolicy := plantest.Want{Action: planner.SetRestartPolicy, Color: spec.Blue, Target: "bg-web-blue"}
	for _, tc := range []struct {
		name    string
		world   *plantest.World
		want    plantest.Want
		requeue time.Duration // the next look, when a wait
	}{
		{"just switched to, started 300ms ago: it waits", switched(blue(300*time.Millisecond), spec.Blue, 100*time.Millisecond),
			plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonSettling}, 1900 * time.Millisecond},
		{"switched to 500ms ago after a long wait for promotion: it waits from the switch", switched(blue(10*time.Minute), spec.Blue, 500*time.Millisecond),
			plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonSettling}, 1500 * time.Millisecond},
		{"switched to RestartPolicyDelay ago: it gets it", switched(blue(10*time.Minute), spec.Blue, planner.RestartPolicyDelay), setPolicy, 0},
		{"a switch to the other color is not one to this color", switched(blue(10*time.Minute), spec.Green, 100*time.Millisecond), setPolicy, 0},
		{"a first start, no switch recorded, started 1s ago: it waits", blue(time.Second),
			plantest.Want{Phase: planner.Progressing, Reason: planner.ReasonSettling}, time.Second},
		{"a first start, started RestartPolicyDelay ago: it gets it", blue(planner.RestartPolicyDelay), setPolicy, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := planner.Plan(tc.world.S, tc.world.O, plantest.T0)
			plantest.Expect(t, d, tc.want)
			if tc.requeue != 0 && d.RequeueAfter != tc.requeue {
				t.Errorf("next look in %s, want %s (%s)", d.RequeueAfter, tc.requeue, d)
			}
			if tc.requeue != 0 && !strings.Contains(d.Message, "blue gets its restart policy unless-stopped at ") {
				t.Errorf("message %q does not say when the policy comes", d.Message)
			}
		})
	}

	// The old color drains meanwhile: the release goes on, and its wait
	// ends no later than the policy is due.
	w := plantest.NewWorld(plantest.Service(t, spec.Green, "demo:v2"), plantest.ImageV2).
		Running(spec.Blue, plantest.ImageV1).Running(spec.Green, plantest.ImageV2).Serving(spec.Green).
		Edit(spec.Blue, plantest.Draining(3, 100*time.Millisecond)).Edit(spec.Green, policyNo(300*time.Millisecond))
	w.S.DrainTimeout.Duration = time.Minute
	d := planner.Plan(w.S, switched(w, spec.Green, 100*time.Millisecond).O, plantest.T0)
	if d.Step != nil || d.Converged() || d.RequeueAfter <= 0 || d.RequeueAfter > 1900*time.Millisecond {
		t.Fatalf("green switched to 100ms ago while blue drains: %s, next look in %s; want a wait, no later than the policy is due (1.9s)", d, d.RequeueAfter)
	}
}
