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
				Edit(spec.Blue, func(st *planner.ReplicaState) { st.Container.RestartCount = 3 })
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
