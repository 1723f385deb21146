package reconcile

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const (
	idV1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	idV2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	idV3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

// testService parses a spec the way an operator writes it; extra lines are
// appended under spec:.
//
// Verification after the switch is off unless an extra line sets verify:
// most tests are about what comes before and after it.
func testService(t testing.TB, active spec.Color, image string, extra ...string) *spec.Service {
	t.Helper()
	if !strings.Contains(strings.Join(extra, "\n"), "  verify:") {
		extra = append(extra, "  verify: {window: 0s}")
	}
	y := fmt.Sprintf(`apiVersion: bluegreen.dev/v1
kind: Service
metadata: {name: web}
spec:
  activeColor: %s
  image: %s
  colors:
    blue: {hostPort: 18081}
    green: {hostPort: 18082}
  haproxy:
    runtime: unix:///run/haproxy/admin.sock
    mapFile: /etc/haproxy/hosts.map
  readyTimeout: 60s
  drainTimeout: 30s
%s`, active, image, strings.Join(extra, "\n"))
	svcs, err := spec.Parse([]byte(y), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatalf("parse test spec: %v", err)
	}
	return &svcs[0]
}

// world builds an Observed snapshot for the tests.
type world struct {
	s *spec.Service
	o Observed
}

func newWorld(s *spec.Service, imageID string) *world {
	w := &world{s: s}
	w.o.Backends = map[string]bool{"web_blue": true, "web_green": true}
	w.o.Image = Image{ID: imageID, Found: imageID != ""}
	for _, c := range spec.Colors {
		w.o.SetColor(c, ColorState{Server: Server{Found: true, Status: "DOWN", CheckStatus: "L4CON", Addr: fallbackAddr(s, c)}})
	}
	return w
}

// serving: the runtime map and the map file point at color c.
func (w *world) serving(c spec.Color) *world {
	b := w.s.Color(c).Backend
	w.o.MapRuntime = MapValue{Value: b, Found: true}
	w.o.MapFile = MapValue{Value: b, Found: true}
	for _, cc := range spec.Colors {
		w.edit(cc, func(st *ColorState) {
			if st.Container.Exists {
				st.Container.RestartPolicy = wantRestartPolicy(w.s, w.o, cc)
			}
		})
	}
	return w
}

// running: color c runs imageID, healthy, UP, with passing probes.
func (w *world) running(c spec.Color, imageID string) *world {
	w.o.SetColor(c, ColorState{
		Server: Server{Found: true, Status: "UP", CheckStatus: "L7OK", CheckPassed: true, Addr: fallbackAddr(w.s, c)},
		Container: Container{Exists: true, Managed: true, Service: w.s.Name, Color: string(c), Running: true, ID: "c-" + string(c), ImageID: imageID,
			SpecHash: ContainerHash(w.s, c, imageID), State: "running", StartedAt: t0.Add(-10 * time.Minute),
			RestartPolicy: wantRestartPolicy(w.s, w.o, c)},
		Probes: 2, ProbedAddr: fallbackAddr(w.s, c), FallbackOK: true,
	})
	return w
}

func (w *world) edit(c spec.Color, f func(*ColorState)) *world {
	st := w.o.Color(c)
	f(&st)
	w.o.SetColor(c, st)
	return w
}

func draining(sessions int, since time.Duration) func(*ColorState) {
	return func(st *ColorState) {
		st.Server.Status = "DRAIN"
		st.Server.Sessions = sessions
		st.DrainingSince = t0.Add(-since)
	}
}

func exited(code int) func(*ColorState) {
	return func(st *ColorState) {
		st.Container.Running = false
		st.Container.State = "exited"
		st.Container.ExitCode = code
		st.Container.FinishedAt = t0.Add(-time.Minute)
		st.Server = Server{Found: true, Status: "DOWN", CheckStatus: "L4CON", Addr: st.Server.Addr}
		st.Container.IP = ""
		st.Probes, st.ProbedAddr = 0, ""
	}
}

func startedAgo(d time.Duration, status string, probes int) func(*ColorState) {
	return func(st *ColorState) {
		st.Container.StartedAt = t0.Add(-d)
		st.Server.Status = status
		st.Server.CheckPassed = status == "UP"
		st.Probes = probes
	}
}

// want is the expected outcome: a step (action, color, target) or a phase and reason.
type want struct {
	action Action
	color  spec.Color
	target string
	phase  Phase
	reason string
}

func TestPlan(t *testing.T) {
	v1Blue := func() *spec.Service { return testService(t, spec.Blue, "demo:v1") }
	v2Green := func() *spec.Service { return testService(t, spec.Green, "demo:v2") }
	v1BlueRollback := v1Blue
	v2BlueDone := func() *spec.Service { return testService(t, spec.Blue, "demo:v2") }
	v3Blue := func() *spec.Service { return testService(t, spec.Blue, "demo:v3") }
	withBuild := func() *spec.Service {
		s := testService(t, spec.Blue, "demo:v1")
		s.Build = &spec.Build{Context: "/src/demo", Dockerfile: "Dockerfile"}
		return s
	}
	keepWarm := func() *spec.Service { return testService(t, spec.Green, "demo:v2", "  idle: {policy: KeepWarm}") }
	stopAfter := func() *spec.Service { return testService(t, spec.Green, "demo:v2", "  idle: {stopAfter: 1m}") }
	withEnv := func() *spec.Service { return testService(t, spec.Green, "demo:v2", "  env: {LOG_LEVEL: debug}") }

	tests := []struct {
		name  string
		world func() *world
		want  want
	}{
		// First start from nothing.
		{"first start: image missing, build given", func() *world { return newWorld(withBuild(), "") },
			want{action: BuildImage, target: "demo:v1"}},
		{"first start: image missing, no build", func() *world { return newWorld(v1Blue(), "") },
			want{action: PullImage, target: "demo:v1"}},
		{"first start: image missing, no build, pulls forbidden", func() *world {
			return newWorld(testService(t, spec.Blue, "demo:v1", "  pull: Never"), "")
		}, want{phase: Failed, reason: "ImageMissing"}},
		{"first start: create the active color", func() *world { return newWorld(v1Blue(), idV1) },
			want{action: CreateContainer, color: spec.Blue, target: "bg-web-blue"}},
		{"first start: start the created container", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).edit(spec.Blue, func(st *ColorState) {
				exited(0)(st)
				st.Container.State = "created"
			})
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}},
		{"first start: wait for health", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).edit(spec.Blue, startedAgo(time.Second, "DOWN 1/2", 0))
		}, want{phase: Progressing, reason: "WaitingForReady"}},
		{"first start: map file names blue already, create blue directly", func() *world { return newWorld(v1Blue(), idV1).serving(spec.Blue) },
			want{action: CreateContainer, color: spec.Blue, target: "bg-web-blue"}},
		{"first start: switch the map once ready", func() *world { return newWorld(v1Blue(), idV1).running(spec.Blue, idV1) },
			want{action: SwitchMap, color: spec.Blue, target: "web -> web_blue"}},
		{"map file behind the runtime map", func() *world {
			w := newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue)
			w.o.MapFile = MapValue{Value: "web_green", Found: true}
			return w
		}, want{action: WriteMapFile, color: spec.Blue, target: "/etc/haproxy/hosts.map"}},
		{"steady state: nothing to do", func() *world { return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue) },
			want{phase: Converged, reason: "Converged"}},

		// Release: green gets v2, becomes ready, the map switches, blue drains and stops.
		{"release: create green on v2", func() *world { return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue) },
			want{action: CreateContainer, color: spec.Green, target: "bg-web-green"}},
		{"release: green not yet ready", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(100*time.Millisecond, "UP", 1))
		}, want{phase: Progressing, reason: "WaitingForReady"}},
		{"release: switch to green", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2)
		}, want{action: SwitchMap, color: spec.Green, target: "web -> web_green"}},
		{"release: drain blue after the switch", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green)
		}, want{action: DrainServer, color: spec.Blue, target: "web_blue/app"}},
		{"release: blue still has sessions", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, draining(3, 5*time.Second))
		}, want{phase: Progressing, reason: "Draining"}},
		{"release: stop blue once drained", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, draining(0, time.Second))
		}, want{action: StopContainer, color: spec.Blue, target: "bg-web-blue"}},
		{"release: drain timeout passed, stop blue anyway", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, draining(3, 31*time.Second))
		}, want{action: StopContainer, color: spec.Blue, target: "bg-web-blue"}},
		{"release: done, blue stopped", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, exited(0))
		}, want{phase: Converged, reason: "Converged"}},
		{"release: keep warm leaves blue drained and running", func() *world {
			return newWorld(keepWarm(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, draining(0, time.Hour))
		}, want{phase: Converged, reason: "Converged"}},
		{"release: stopAfter not yet passed", func() *world {
			return newWorld(stopAfter(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, draining(0, 10*time.Second))
		}, want{phase: Converged, reason: "Converged"}},
		{"release: stopAfter passed", func() *world {
			return newWorld(stopAfter(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, draining(0, 61*time.Second))
		}, want{action: StopContainer, color: spec.Blue, target: "bg-web-blue"}},

		// Rollback: blue still on v1 takes traffic straight back.
		{"rollback: undrain warm blue", func() *world {
			return newWorld(v1BlueRollback(), idV1).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, draining(0, time.Minute))
		}, want{action: SetServerReady, color: spec.Blue, target: "web_blue/app"}},
		{"rollback: undrain stopped blue (DOWN hides the drain) before it starts", func() *world {
			return newWorld(v1BlueRollback(), idV1).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, exited(0)).edit(spec.Blue, func(st *ColorState) { st.Server.AdminDrain = true })
		}, want{action: SetServerReady, color: spec.Blue, target: "web_blue/app"}},
		{"rollback: switch straight back to blue", func() *world {
			return newWorld(v1BlueRollback(), idV1).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green)
		}, want{action: SwitchMap, color: spec.Blue, target: "web -> web_blue"}},
		{"rollback: restart stopped blue", func() *world {
			return newWorld(v1BlueRollback(), idV1).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, exited(0))
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}},
		{"rollback: restart blue stopped by SIGTERM", func() *world {
			return newWorld(v1BlueRollback(), idV1).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, exited(143))
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}},

		// Done: blue is replaced by v2, traffic moves back, green drains.
		{"done: drain idle blue before replacing it", func() *world {
			return newWorld(v2BlueDone(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green)
		}, want{action: DrainServer, color: spec.Blue, target: "web_blue/app"}},
		{"done: stop drained blue to replace it", func() *world {
			return newWorld(v2BlueDone(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, draining(0, time.Second))
		}, want{action: StopContainer, color: spec.Blue, target: "bg-web-blue"}},
		{"done: remove stopped blue", func() *world {
			return newWorld(v2BlueDone(), idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, exited(0))
		}, want{action: RemoveContainer, color: spec.Blue, target: "bg-web-blue"}},
		{"done: undrain blue's server before it starts", func() *world {
			return newWorld(v2BlueDone(), idV2).running(spec.Green, idV2).serving(spec.Green).
				edit(spec.Blue, func(st *ColorState) { st.Server.Status = "DRAIN" })
		}, want{action: SetServerReady, color: spec.Blue, target: "web_blue/app"}},
		{"done: create blue on v2", func() *world {
			return newWorld(v2BlueDone(), idV2).running(spec.Green, idV2).serving(spec.Green)
		}, want{action: CreateContainer, color: spec.Blue, target: "bg-web-blue"}},
		{"done: switch back to blue", func() *world {
			return newWorld(v2BlueDone(), idV2).running(spec.Blue, idV2).running(spec.Green, idV2).serving(spec.Green)
		}, want{action: SwitchMap, color: spec.Blue, target: "web -> web_blue"}},
		{"done: drain green", func() *world {
			return newWorld(v2BlueDone(), idV2).running(spec.Blue, idV2).running(spec.Green, idV2).serving(spec.Blue)
		}, want{action: DrainServer, color: spec.Green, target: "web_green/app"}},

		// The active color must change image: go through the other color first.
		{"active image change: prepare green, never touch serving blue", func() *world {
			return newWorld(v3Blue(), idV3).running(spec.Blue, idV2).serving(spec.Blue)
		}, want{action: CreateContainer, color: spec.Green, target: "bg-web-green"}},
		{"active image change: replace green's old image first", func() *world {
			return newWorld(v3Blue(), idV3).running(spec.Blue, idV2).serving(spec.Blue).running(spec.Green, idV1).edit(spec.Green, exited(0))
		}, want{action: RemoveContainer, color: spec.Green, target: "bg-web-green"}},
		{"active image change: move traffic to green", func() *world {
			return newWorld(v3Blue(), idV3).running(spec.Blue, idV2).serving(spec.Blue).running(spec.Green, idV3)
		}, want{action: SwitchMap, color: spec.Green, target: "web -> web_green"}},
		{"active image change: then drain blue to replace it", func() *world {
			return newWorld(v3Blue(), idV3).running(spec.Blue, idV2).running(spec.Green, idV3).serving(spec.Green)
		}, want{action: DrainServer, color: spec.Blue, target: "web_blue/app"}},
		{"env drift on the idle color is replaced", func() *world {
			w := newWorld(withEnv(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).edit(spec.Green, exited(0))
			return w.edit(spec.Green, func(st *ColorState) { st.Container.SpecHash = "stale" })
		}, want{action: RemoveContainer, color: spec.Green, target: "bg-web-green"}},

		// Invariant 1: ready means UP after a passing check and two probes.
		{"UP just out of MAINT, before any check or probe, is not ready", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, func(st *ColorState) {
					st.Server.CheckStatus, st.Server.CheckPassed = "INI", false
					st.Probes, st.ProbeError = 1, "connection reset by peer"
					st.Container.StartedAt = t0.Add(-time.Second)
				})
		}, want{phase: Progressing, reason: "WaitingForReady"}},
		{"probes passed, HAProxy's checks behind: mark it UP", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(time.Second, "DOWN", 2))
		}, want{action: MarkServerUp, color: spec.Green, target: "web_green/app"}},
		{"probes passed, HAProxy half way up: mark it UP", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(time.Second, "DOWN 1/2", 2))
		}, want{action: MarkServerUp, color: spec.Green, target: "web_green/app"}},
		{"probes passed but HAProxy checks another address: point it at the probed one", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(time.Second, "DOWN", 2)).
				edit(spec.Green, func(st *ColorState) { st.Server.Addr = "127.0.0.1:9999" })
		}, want{action: SetServerAddr, color: spec.Green, target: "web_green/app addr 127.0.0.1:18082"}},
		{"UP but failing in HAProxy is not forced", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(time.Second, "UP 1/2", 2))
		}, want{phase: Progressing, reason: "WaitingForReady"}},
		{"probes passed but drained: undrain first", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(time.Second, "DOWN", 2)).
				edit(spec.Green, func(st *ColorState) { st.Server.AdminDrain = true })
		}, want{action: SetServerReady, color: spec.Green, target: "web_green/app"}},
		{"UP in HAProxy but own probes fail is not ready", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, func(st *ColorState) {
					st.Probes, st.ProbeError = 0, "connection refused"
					st.Container.StartedAt = t0.Add(-time.Second)
				})
		}, want{phase: Progressing, reason: "WaitingForReady"}},
		{"MAINT server is made ready", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, func(st *ColorState) { st.Server.Status = "MAINT" })
		}, want{action: SetServerReady, color: spec.Green, target: "web_green/app"}},

		// Faults that need a human.
		{"new container exits at start", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(65*time.Second, "DOWN", 0)).edit(spec.Green, exited(1))
		}, want{phase: Failed, reason: "ContainerExited"}},
		{"new color never becomes UP", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
				edit(spec.Green, startedAgo(61*time.Second, "DOWN", 0))
		}, want{phase: Failed, reason: "ReadyTimeout"}},
		{"serving color just started: waiting, not degraded", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).edit(spec.Blue, startedAgo(time.Second, "DOWN", 0))
		}, want{phase: Progressing, reason: "WaitingForReady"}},
		{"serving color unhealthy", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).edit(spec.Blue, startedAgo(time.Hour, "DOWN", 0))
		}, want{phase: Degraded, reason: "ActiveNotReady"}},
		{"backend missing in HAProxy", func() *world {
			w := newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue)
			delete(w.o.Backends, "web_green")
			return w
		}, want{phase: Failed, reason: "BackendNotFound"}},
		{"server missing in HAProxy", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).edit(spec.Green, func(st *ColorState) { st.Server = Server{} })
		}, want{phase: Failed, reason: "ServerNotFound"}},
		{"container not owned by the controller is left alone", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV1).
				edit(spec.Green, func(st *ColorState) { st.Container.Managed = false })
		}, want{phase: Failed, reason: "ContainerNotOwned"}},
		{"container labelled managed for another service is left alone", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV1).
				edit(spec.Green, func(st *ColorState) { st.Container.Service = "api" })
		}, want{phase: Failed, reason: "ContainerNotOwned"}},
		{"container labelled managed for the other color is left alone", func() *world {
			return newWorld(v2Green(), idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV1).
				edit(spec.Green, func(st *ColorState) { st.Container.Color = "blue" })
		}, want{phase: Failed, reason: "ContainerNotOwned"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world()
			before := fmt.Sprintf("%+v", w.o)
			d := Plan(w.s, w.o, t0)
			if after := fmt.Sprintf("%+v", w.o); after != before {
				t.Fatalf("Plan changed its input")
			}
			if tc.want.action != "" {
				if d.Step == nil {
					t.Fatalf("got %s, want step %s %s", d, tc.want.action, tc.want.target)
				}
				got := want{action: d.Step.Action, color: d.Step.Color, target: d.Step.Target}
				exp := want{action: tc.want.action, color: tc.want.color, target: tc.want.target}
				if got != exp {
					t.Fatalf("got step %+v (%s), want %+v", got, d, exp)
				}
				return
			}
			if d.Step != nil {
				t.Fatalf("got step %s, want %s (%s)", d.Step, tc.want.phase, tc.want.reason)
			}
			if d.Phase != tc.want.phase || d.Reason != tc.want.reason {
				t.Fatalf("got %s, want %s (%s)", d, tc.want.phase, tc.want.reason)
			}
		})
	}
}

func TestPlanWaitsAreRequeued(t *testing.T) {
	s := testService(t, spec.Green, "demo:v2")
	w := newWorld(s, idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2).
		edit(spec.Green, startedAgo(time.Second, "DOWN 1/2", 1))
	if d := Plan(s, w.o, t0); d.RequeueAfter != ReadyPoll {
		t.Errorf("waiting for ready: RequeueAfter = %s, want %s", d.RequeueAfter, ReadyPoll)
	}
	s = testService(t, spec.Green, "demo:v2", "  idle: {stopAfter: 1m}")
	w = newWorld(s, idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).edit(spec.Blue, draining(0, 10*time.Second))
	if d := Plan(s, w.o, t0); d.RequeueAfter != 50*time.Second {
		t.Errorf("kept warm: RequeueAfter = %s, want 50s", d.RequeueAfter)
	}
	s = testService(t, spec.Blue, "demo:v1")
	w = newWorld(s, idV1).running(spec.Blue, idV1).serving(spec.Blue)
	if d := Plan(s, w.o, t0); d.RequeueAfter != 0 || !d.Converged() {
		t.Errorf("steady state: got %s requeue %s, want converged with no requeue", d, d.RequeueAfter)
	}
}

// TestPlanSafetyInvariants drives the planner through many random observed
// states and checks invariants 1 to 3, 10 and 11 on every decision.
func TestPlanSafetyInvariants(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	statuses := []string{"UP", "DOWN", "UP 1/2", "DOWN 1/2", "DRAIN", "MAINT", "NOLB"}
	images := []string{idV1, idV2, idV3}
	for i := 0; i < 20000; i++ {
		active := spec.Colors[rng.Intn(2)]
		s := testServiceCached(t, active, []string{"demo:v1", "demo:v2"}[rng.Intn(2)])
		w := newWorld(s, images[rng.Intn(3)])
		for _, c := range spec.Colors {
			if rng.Intn(4) == 0 {
				continue
			}
			w.running(c, images[rng.Intn(3)])
			w.edit(c, func(st *ColorState) {
				st.Server.Status = statuses[rng.Intn(len(statuses))]
				st.Server.CheckPassed = rng.Intn(3) > 0
				st.Server.Sessions = rng.Intn(3)
				st.Server.AdminDrain = rng.Intn(3) == 0
				st.Probes = rng.Intn(3)
				st.DrainingSince = t0.Add(-time.Duration(rng.Intn(60)) * time.Second)
				st.Container.StartedAt = t0.Add(-time.Duration(rng.Intn(120)) * time.Second)
				if rng.Intn(4) == 0 {
					exited([]int{0, 1, 2, 137, 143}[rng.Intn(5)])(st)
					st.Container.StoppedByController = rng.Intn(2) == 0
					st.Container.Restarting = rng.Intn(4) == 0
					st.Container.OOMKilled = rng.Intn(4) == 0
				}
				st.Container.RestartCount = rng.Intn(3)
				st.Container.RestartPolicy = []string{"no", "unless-stopped"}[rng.Intn(2)]
				// Its address on the bridge, if it runs; HAProxy's server
				// at the published port, at that address, or at a stale
				// one (the container was recreated, or another took it).
				if st.Container.Running && rng.Intn(3) > 0 {
					st.Container.IP = []string{"172.17.0.2", "172.17.0.3"}[rng.Intn(2)]
				}
				st.Server.Addr = []string{fallbackAddr(s, c), "172.17.0.2:8080", "172.17.0.3:8080", serverAddr(s, c, st.Container)}[rng.Intn(4)]
				st.ProbedAddr = ""
				if st.Probes > 0 || rng.Intn(2) == 0 {
					st.ProbedAddr = serverAddr(s, c, st.Container) // where Observe probes
				}
				st.FallbackOK = rng.Intn(4) > 0
			})
		}
		served := spec.Colors[rng.Intn(2)]
		if rng.Intn(5) > 0 {
			w.serving(served)
		} else {
			served = ""
		}
		// A window is opened only by a switch to the active color, once it
		// runs the desired image.
		if served != "" && served == active && runsDesired(s, w.o, served) && rng.Intn(3) == 0 {
			from := served.Other()
			w.o.Verification = &Verification{Generation: s.Generation(), From: from, To: served,
				FromContainer: w.o.Color(from).Container.ID, SwitchedAt: t0.Add(-time.Duration(rng.Intn(60)) * time.Second)}
			vs := *s
			vs.Verify.Window = &spec.Duration{Duration: 30 * time.Second}
			w.s = &vs
			w.o.Verification.Generation = vs.Generation()
		}
		d := Plan(w.s, w.o, t0)
		if v := w.o.Verification; v.active(w.s) && served == v.To && d.Step != nil &&
			(d.Step.Action == StopContainer || d.Step.Action == RemoveContainer) && d.Step.Color == v.From &&
			(d.Record == nil || d.Record.Outcome != OutcomeSucceeded) {
			t.Fatalf("invariant 11 broken: %s while %s is verified (switched %s ago)", d.Step, v.To, t0.Sub(v.SwitchedAt))
		}
		// A release that failed verification goes back to the warm previous
		// color instead of restarting the failed one.
		rollingBack := d.Record != nil && d.Record.Outcome == OutcomeRolledBack
		// (Pointing HAProxy back at its published port may come first.)
		if sc := w.o.Color(served).Container; served != "" && sc.Exists && sc.Managed && !sc.Running && !sc.Restarting && !rollingBack &&
			w.o.Backends[s.Color(served).Backend] && (d.Step == nil || d.Step.Color != served ||
			d.Step.Action != StartContainer && (d.Step.Action != SetServerAddr || w.o.Color(served).Server.Addr == fallbackAddr(s, served))) {
			t.Fatalf("invariant 10 broken: the served color %s is down (%s) and the plan is %s", served, sc.Exit(), d)
		}
		if d.Step == nil {
			continue
		}
		st := d.Step
		// runsExpected: the desired image, or, going back after a failed
		// verification, the very container that served before.
		runsExpected := func(c spec.Color) bool {
			if rollingBack && c == d.Record.From {
				return w.o.Color(c).Container.ID == d.Record.FromContainer
			}
			return runsDesired(s, w.o, c)
		}
		switch st.Action {
		case StopContainer, RemoveContainer:
			if st.Color == served {
				t.Fatalf("invariant 2 broken: %s on the served color %s in %+v", st, served, w.o)
			}
			srv := w.o.Color(st.Color).Server
			timedOut := t0.Sub(w.o.Color(st.Color).DrainingSince) >= s.DrainTimeout.Duration
			if w.o.Color(st.Color).Container.Running && srv.Sessions > 0 && !timedOut {
				t.Fatalf("invariant 3 broken: %s with %d sessions before the drain timeout", st, srv.Sessions)
			}
			if w.o.Color(st.Color).Container.Running && !srv.Draining() && !srv.Maint() {
				t.Fatalf("invariant 3 broken: %s while its server is %s, not drained", st, srv.Status)
			}
		case SwitchMap:
			cs := w.o.Color(st.Color)
			if !ready(cs, false) || !runsExpected(st.Color) {
				t.Fatalf("invariant 1 broken: %s while %+v", st, cs)
			}
			// HAProxy sends the traffic where the probes went, and that
			// is where the container answers now; the address a reload
			// puts back answers too.
			if cs.Server.Addr != cs.ProbedAddr || cs.ProbedAddr != serverAddr(s, st.Color, cs.Container) || !cs.FallbackOK {
				t.Fatalf("invariant 1 broken: %s with HAProxy's server at %s, probes at %q, the container at %s",
					st, cs.Server.Addr, cs.ProbedAddr, serverAddr(s, st.Color, cs.Container))
			}
		case SetServerAddr:
			// A served color is pointed only at an address its probes
			// passed at, or back at its published port.
			cs := w.o.Color(st.Color)
			if want := serverAddr(s, st.Color, cs.Container); st.Color == served && want != fallbackAddr(s, st.Color) &&
				(cs.Probes < 2 || cs.ProbedAddr != want) {
				t.Fatalf("%s points the served color at %s without two probes there (%d at %q)", st, want, cs.Probes, cs.ProbedAddr)
			}
		case MarkServerUp:
			cs := w.o.Color(st.Color)
			// The served color back from a crash is marked UP on its
			// probes too; whatever it runs, it already serves.
			if cs.Probes < 2 || !cs.Container.Running || st.Color != served && !runsExpected(st.Color) || cs.ProbedAddr == "" || cs.Server.Addr != cs.ProbedAddr {
				t.Fatalf("invariant 1 broken: %s without two probes of its address while %+v", st, cs)
			}
		case DrainServer:
			if st.Color == served {
				t.Fatalf("invariant 3 broken: %s drains the served color", st)
			}
		}
	}
}

var cachedServices = map[string]*spec.Service{}

func testServiceCached(t testing.TB, c spec.Color, image string) *spec.Service {
	k := string(c) + image
	if s, ok := cachedServices[k]; ok {
		cp := *s
		return &cp
	}
	s := testService(t, c, image)
	cachedServices[k] = s
	cp := *s
	return &cp
}
