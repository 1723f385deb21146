// Package plantest builds specs and observed snapshots for tests of the
// planner and of the reconcile loop around it. Only tests import it.
package plantest

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// T0 is the tests' "now".
var T0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Image IDs the tests' containers run.
const (
	ImageV1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	ImageV2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	ImageV3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

// Service parses a spec the way an operator writes it, service "web" with
// backends web_blue and web_green; extra lines are appended under spec:.
//
// Verification after the switch is off unless an extra line sets verify:
// most tests are about what comes before and after it.
func Service(t testing.TB, active spec.Color, image string, extra ...string) *spec.Service {
	t.Helper()
	if !strings.Contains(strings.Join(extra, "\n"), "  verify:") {
		extra = append(extra, "  verify: {window: 0s}")
	}
	d := spectest.Web(append([]string{"  readyTimeout: 60s", "  drainTimeout: 30s"}, extra...)...)
	d.Active, d.Image = string(active), image
	if strings.Contains(strings.Join(extra, "\n"), "  replicas:") {
		d.GreenPort = d.BluePort + 100 // each color publishes a port per replica
	}
	svcs, err := specfile.Parse([]byte(d.YAML()), "test.yaml", t.TempDir())
	if err != nil {
		t.Fatalf("parse test spec: %v", err)
	}
	return &svcs[0]
}

// World builds an Observed snapshot of service S: each method changes O
// and returns the world, so that a state reads as one chain.
type World struct {
	S *spec.Service
	O planner.Observed
}

// NewWorld: both backends and servers exist in HAProxy, DOWN at their
// published ports; no container; the desired image resolves to imageID
// ("" for not found).
func NewWorld(s *spec.Service, imageID string) *World {
	w := &World{S: s}
	w.O.Backends = map[string]bool{s.Colors.Blue.Backend: true, s.Colors.Green.Backend: true}
	w.O.Image = planner.Image{ID: imageID, Found: imageID != ""}
	for _, c := range spec.Colors() {
		var cs planner.ColorState
		for _, r := range s.ReplicasOf(c) {
			cs.Replicas = append(cs.Replicas, planner.ReplicaState{Slot: r,
				Server: planner.Server{Found: true, Status: "DOWN", CheckStatus: "L4CON", Addr: planner.FallbackAddr(r)}})
		}
		w.O.SetColor(c, cs)
	}
	return w
}

// Serving: the runtime map and the map file point at color c, and every
// container has the restart policy the planner wants for it then.
func (w *World) Serving(c spec.Color) *World {
	b := w.S.Color(c).Backend
	w.O.MapRuntime = planner.MapValue{Value: b, Found: true}
	w.O.Served = c
	w.O.MapFile = planner.MapValue{Value: b, Found: true}
	for _, cc := range spec.Colors() {
		w.Edit(cc, func(st *planner.ReplicaState) {
			if st.Container.Exists {
				st.Container.RestartPolicy = planner.WantRestartPolicy(w.S, w.O, cc)
			}
		})
	}
	return w
}

// Running: every replica of color c runs imageID, started ten minutes
// ago, UP in HAProxy, with passing probes at its published port.
func (w *World) Running(c spec.Color, imageID string) *World {
	cs := w.O.Color(c)
	cs.Replicas = nil
	for _, r := range w.S.ReplicasOf(c) {
		cs.Replicas = append(cs.Replicas, RunningReplica(w.S, w.O, r, imageID))
	}
	w.O.SetColor(c, cs)
	return w
}

// RunningReplica is replica r running imageID, started ten minutes ago, UP
// in HAProxy, with passing probes at its published port.
func RunningReplica(s *spec.Service, o planner.Observed, r spec.Replica, imageID string) planner.ReplicaState {
	return planner.ReplicaState{Slot: r,
		Server: planner.Server{Found: true, Status: "UP", CheckStatus: "L7OK", CheckPassed: true, Addr: planner.FallbackAddr(r)},
		Container: planner.Container{Exists: true, Managed: true, Service: s.Name, Color: string(r.Color), Replica: r.Number(), Running: true,
			ID: "c-" + strings.TrimPrefix(r.Container, "bg-"+s.Name+"-"), ImageID: imageID,
			SpecHash: planner.ContainerHash(s, r, imageID), State: "running", StartedAt: T0.Add(-10 * time.Minute),
			RestartPolicy: planner.WantRestartPolicy(s, o, r.Color)},
		Probes: planner.ProbesNeeded, ProbedAddr: planner.FallbackAddr(r), FallbackOK: true,
	}
}

// Edit changes the state of each replica of color c with f.
func (w *World) Edit(c spec.Color, f func(*planner.ReplicaState)) *World {
	cs := w.O.Color(c)
	for i := range cs.Replicas {
		f(&cs.Replicas[i])
	}
	w.O.SetColor(c, cs)
	return w
}

// Disabled: the servers of color c, which has no container, are in
// maintenance, as the controller leaves them (DisableServer).
func (w *World) Disabled(c spec.Color) *World {
	return w.Edit(c, func(st *planner.ReplicaState) {
		st.Server.Status, st.Server.AdminMaint, st.Server.CheckStatus = "MAINT", true, ""
	})
}

// EditColor changes color c's state with f.
func (w *World) EditColor(c spec.Color, f func(*planner.ColorState)) *World {
	cs := w.O.Color(c)
	f(&cs)
	w.O.SetColor(c, cs)
	return w
}

// EditReplica changes the state of replica i (from 0) of color c with f.
func (w *World) EditReplica(c spec.Color, i int, f func(*planner.ReplicaState)) *World {
	cs := w.O.Color(c)
	f(&cs.Replicas[i])
	w.O.SetColor(c, cs)
	return w
}

// Draining: the server is in DRAIN since the given time before T0, with
// sessions still open.
func Draining(sessions int, since time.Duration) func(*planner.ReplicaState) {
	return func(st *planner.ReplicaState) {
		st.Server.Status = "DRAIN"
		st.Server.Sessions = sessions
		st.OutOfServiceSince = T0.Add(-since)
	}
}

// Exited: the container exited with code a minute before T0, and HAProxy
// finds its server DOWN.
func Exited(code int) func(*planner.ReplicaState) {
	return func(st *planner.ReplicaState) {
		st.Container.Running = false
		st.Container.State = "exited"
		st.Container.ExitCode = code
		st.Container.FinishedAt = T0.Add(-time.Minute)
		st.Server = planner.Server{Found: true, Status: "DOWN", CheckStatus: "L4CON", Addr: st.Server.Addr}
		st.Container.IP = ""
		st.Probes, st.ProbedAddr = 0, ""
	}
}

// StartedAgo: the container started d before T0; HAProxy says status and
// the controller's probes passed probes times.
func StartedAgo(d time.Duration, status string, probes int) func(*planner.ReplicaState) {
	return func(st *planner.ReplicaState) {
		st.Container.StartedAt = T0.Add(-d)
		st.Server.Status = status
		st.Server.CheckPassed = status == "UP"
		st.Probes = probes
	}
}

// Want is an expected decision: a step (Action, Color, Target), or no step
// and a Phase with its Reason.
type Want struct {
	Action planner.Action
	Color  spec.Color
	Target string
	Phase  planner.Phase
	Reason planner.Reason
}

// Expect fails t unless d is what w says.
func Expect(t testing.TB, d planner.Decision, w Want) {
	t.Helper()
	if w.Action != "" {
		if d.Step == nil {
			t.Fatalf("got %s, want step %s %s", d, w.Action, w.Target)
		}
		got := Want{Action: d.Step.Action, Color: d.Step.Color, Target: d.Step.Target}
		exp := Want{Action: w.Action, Color: w.Color, Target: w.Target}
		if got != exp {
			t.Fatalf("got step %+v (%s), want %+v", got, d, exp)
		}
		return
	}
	if d.Step != nil || d.Phase != w.Phase || d.Reason != w.Reason {
		t.Fatalf("got %s, want %s (%s)", d, w.Phase, w.Reason)
	}
}

// Job adds the container of job of this generation, made for color c, in
// state ("created", "running" or "exited"), started startedAgo before T0
// (not for "created") and, when exited, ended with code ranFor after it
// started.
func (w *World) Job(job string, c spec.Color, state string, startedAgo, ranFor time.Duration, code int) *World {
	name := w.S.JobContainerName(job, w.S.Generation())
	ct := planner.Container{Exists: true, Managed: true, Service: w.S.Name, Color: string(c), ID: "job-" + job, ImageID: w.O.Image.ID, State: state}
	switch state {
	case "running":
		ct.Running, ct.StartedAt = true, T0.Add(-startedAgo)
	case "exited":
		ct.StartedAt, ct.FinishedAt, ct.ExitCode = T0.Add(-startedAgo), T0.Add(-startedAgo+ranFor), code
	}
	for i, js := range w.O.Jobs {
		if js.Name == name {
			w.O.Jobs[i].Container = ct
			return w
		}
	}
	w.O.Jobs = append(w.O.Jobs, planner.JobState{Generation: w.S.Generation(), Job: job, Name: name, Container: ct})
	return w
}

// JobRecorded gives job of this generation the record the loop keeps once
// it ended: outcome Succeeded (code 0) or Failed (code), with logs. Its
// container, if Job added one, is the one recorded.
func (w *World) JobRecorded(job string, c spec.Color, code int, logs string) *World {
	name := w.S.JobContainerName(job, w.S.Generation())
	r := planner.JobRecord{Generation: w.S.Generation(), Job: job, Container: name, Color: c, ID: "job-" + job,
		StartedAt: T0.Add(-2 * time.Minute), FinishedAt: T0.Add(-time.Minute), ExitCode: code, Logs: logs}
	r = planner.EndJob(r, planner.Container{ID: r.ID, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, ExitCode: code}, time.Hour)
	for i, js := range w.O.Jobs {
		if js.Name == name {
			w.O.Jobs[i].Record = &r
			return w
		}
	}
	w.O.Jobs = append(w.O.Jobs, planner.JobState{Generation: w.S.Generation(), Job: job, Name: name, Record: &r})
	return w
}
