package reconcile

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// stoppedByUs: the controller's record says it stopped this run.
func stoppedByUs(st *ColorState) { st.Container.StoppedByController = true }

// restarting: the engine waits to start it again after its nth crash.
func restarting(n int) func(*ColorState) {
	return func(st *ColorState) {
		st.Container.Restarting = true
		st.Container.RestartCount = n
	}
}

func oomKilled(st *ColorState) {
	st.Container.OOMKilled = true
	st.Container.ExitCode = 137
}

// TestPlanKeepsServedAlive is invariant 10: the served color is kept
// running, and whether the controller stopped a container comes from its
// record, never from an exit code.
func TestPlanKeepsServedAlive(t *testing.T) {
	v1Blue := func() *spec.Service { return testService(t, spec.Blue, "demo:v1") }
	v2Green := func() *spec.Service { return testService(t, spec.Green, "demo:v2") }
	tests := []struct {
		name    string
		world   func() *world
		want    want
		message string // a part of the message, when a wait
	}{
		{"served color crashed (exit 2): started again", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).edit(spec.Blue, exited(2))
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}, ""},
		{"served color SIGKILLed (exit 137): started again", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).edit(spec.Blue, exited(137))
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}, ""},
		{"served color exited 0 by itself: started again", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).edit(spec.Blue, exited(0))
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}, ""},
		{"served color dies in the middle of a release: started before anything else", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(time.Second, "DOWN", 0)).edit(spec.Blue, exited(2))
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}, ""},
		{"served color the engine is restarting: CrashLoop, nothing forced", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).edit(spec.Blue, exited(2)).edit(spec.Blue, restarting(4))
		}, want{phase: Degraded, reason: "CrashLoop"}, "restarted 4 times"},
		{"served color back but not UP after crashes: CrashLoop", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).
				edit(spec.Blue, startedAgo(time.Second, "DOWN", 0)).edit(spec.Blue, func(st *ColorState) { st.Container.RestartCount = 3 })
		}, want{phase: Degraded, reason: "CrashLoop"}, "HAProxy says DOWN"},
		{"served color UP again after crashes: converged", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).
				edit(spec.Blue, func(st *ColorState) { st.Container.RestartCount = 3 })
		}, want{phase: Converged, reason: "Converged"}, ""},
		{"a release goes on while the served color crash-loops", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).edit(spec.Blue, exited(2)).edit(spec.Blue, restarting(5))
		}, want{action: CreateContainer, color: spec.Green, target: "bg-web-green"}, ""},
		{"served color back from a crash, probed, HAProxy behind: marked UP", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).
				edit(spec.Blue, startedAgo(time.Second, "DOWN 1/2", 2))
		}, want{action: MarkServerUp, color: spec.Blue, target: "web_blue/app"}, ""},
		{"served color back from a crash, probes not yet passed: waits for them", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).
				edit(spec.Blue, startedAgo(time.Second, "DOWN", 1))
		}, want{phase: Progressing, reason: "WaitingForReady"}, ""},
		{"served color without the restart policy gets it", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).
				edit(spec.Blue, func(st *ColorState) { st.Container.RestartPolicy = docker.RestartNo })
		}, want{action: SetRestartPolicy, color: spec.Blue, target: "bg-web-blue"}, ""},
		{"idle color with the restart policy loses it before it is stopped", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, draining(0, time.Second)).
				edit(spec.Blue, func(st *ColorState) { st.Container.RestartPolicy = docker.RestartUnlessStopped })
		}, want{action: SetRestartPolicy, color: spec.Blue, target: "bg-web-blue"}, ""},

		// Rollback to a color the controller stopped, whatever the app exits with.
		{"rollback: blue stopped by the controller, exit 2 (Go, no handler)", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, startedAgo(time.Second, "DOWN", 0)).edit(spec.Blue, exited(2)).edit(spec.Blue, stoppedByUs)
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}, ""},
		{"rollback: blue stopped by the controller, exit 1 (log.Fatal on shutdown)", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, startedAgo(time.Second, "DOWN", 0)).edit(spec.Blue, exited(1)).edit(spec.Blue, stoppedByUs)
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}, ""},
		{"rollback: warm blue died long after it started: started again", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, exited(2))
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}, ""},

		// A new color that dies at start fails the release, whatever its code.
		{"new color OOM-killed at start: Failed, OOMKilled", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(61*time.Second, "DOWN", 0)).edit(spec.Green, exited(137)).edit(spec.Green, oomKilled)
		}, want{phase: Failed, reason: "OOMKilled"}, "OOMKilled"},
		{"new color exits 0 at start by itself: Failed, not started forever", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(61*time.Second, "DOWN", 0)).edit(spec.Green, exited(0))
		}, want{phase: Failed, reason: "ContainerExited"}, "exited with code 0"},
		{"new color killed by SIGKILL at start, not by the controller: Failed", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(61*time.Second, "DOWN", 0)).edit(spec.Green, exited(137))
		}, want{phase: Failed, reason: "ContainerExited"}, "exited with code 137"},
		{"new color stopped by the controller is started again", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(61*time.Second, "DOWN", 0)).edit(spec.Green, exited(137)).edit(spec.Green, stoppedByUs)
		}, want{action: StartContainer, color: spec.Green, target: "bg-web-green"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world()
			d := Plan(w.s, w.o, t0)
			checkDecision(t, d, tc.want)
			if tc.want.action == "" && !strings.Contains(d.Message, tc.message) {
				t.Fatalf("message %q does not say %q", d.Message, tc.message)
			}
		})
	}
}

// TestStoppedBy: a stop record accounts for an exit only of the same
// container, stopped during this run, at about the time it was asked.
func TestStoppedBy(t *testing.T) {
	ct := Container{ID: "c1", StartedAt: t0, FinishedAt: t0.Add(time.Hour + 2*time.Second)}
	asked := t0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		r    StopRecord
		ct   Container
		want bool
	}{
		{"stopped as asked", StopRecord{ID: "c1", At: asked}, ct, true},
		{"another container of the same name", StopRecord{ID: "c0", At: asked}, ct, false},
		{"asked before this run started", StopRecord{ID: "c1", At: t0.Add(-time.Minute)}, ct, false},
		{"exited long after the stop could have ended", StopRecord{ID: "c1", At: t0.Add(time.Minute)}, ct, false},
		{"exited before the stop was asked", StopRecord{ID: "c1", At: t0.Add(time.Hour + time.Minute)}, ct, false},
		{"never exited", StopRecord{ID: "c1", At: asked}, Container{ID: "c1", StartedAt: t0}, false},
	} {
		if got := stoppedBy(tc.r, tc.ct, 10*time.Second); got != tc.want {
			t.Errorf("%s: stoppedBy = %v, want %v", tc.name, got, tc.want)
		}
	}
}
