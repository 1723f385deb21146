package reconcile

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestExecuteRefusesToStopTheServedColor: a step planned from a stale
// snapshot must not take down the color the live map points at.
func TestExecuteRefusesToStopTheServedColor(t *testing.T) {
	s := plantest.Service(t, spec.Blue, "demo:v1")
	for _, a := range []planner.Action{planner.StopContainer, planner.RemoveContainer} {
		w := newFakeWorld()
		w.runtimeMap["web"] = "web_blue"
		err := w.deps().Execute(context.Background(), planner.Step{Action: a, Service: "web", Color: spec.Blue, Target: "bg-web-blue",
			Container: &planner.ContainerRef{Name: "bg-web-blue", NotServed: mapEntry(s, "web_blue")}})
		if !errors.Is(err, ErrServed) {
			t.Fatalf("%s on the served color: got %v, want ErrServed", a, err)
		}
		if got := w.mutating(); len(got) != 0 {
			t.Fatalf("%s on the served color made changes: %v", a, got)
		}
	}
}

// mapEntry is s's map key set to value.
func mapEntry(s *spec.Service, value string) *planner.MapEntry {
	return &planner.MapEntry{Runtime: s.HAProxy.Runtime, File: s.HAProxy.MapFile, Key: s.HAProxy.MapKey, Value: value}
}

// server is color c's server of s.
func server(s *spec.Service, c spec.Color) *planner.ServerRef {
	return &planner.ServerRef{Runtime: s.HAProxy.Runtime, Backend: s.Color(c).Backend, Server: s.Color(c).Server}
}

// readiness is what a switch to green of s is planned on, as observed of
// the fake world's container.
func readiness(s *spec.Service, w *fakeWorld, c spec.Color) []planner.Readiness {
	ct := fromDocker(*w.containers[s.ContainerName(c)], s.Network)
	return []planner.Readiness{{Name: s.ContainerName(c), Container: ct.ID, StartedAt: ct.StartedAt, ImageID: ct.ImageID,
		Network: string(s.Network), IP: ct.IP, Server: *server(s, c), Addr: planner.ServerAddr(s, s.Replica(c, 0), ct)}}
}

// TestExecuteCalls: each step is the exact calls expected, made from the
// values the step carries alone, and a switch writes the runtime map and
// then the map file.
func TestExecuteCalls(t *testing.T) {
	s := withBuild(plantest.Service(t, spec.Green, "demo:v2"))
	green := planner.ContainerSpecOf(s, s.Replica(spec.Green, 0), plantest.ImageV2)
	const m = "/etc/haproxy/hosts.map"
	tests := []struct {
		step planner.Step
		want []string
	}{
		{planner.Step{Action: planner.BuildImage, Target: "demo:v2", Image: &planner.ImageRef{Ref: "demo:v2", Build: &planner.BuildArgs{ContextDir: "/src/demo", Dockerfile: "Dockerfile"}}}, []string{"build demo:v2"}},
		{planner.Step{Action: planner.PullImage, Target: "demo:v2", Image: &planner.ImageRef{Ref: "demo:v2"}}, []string{"pull demo:v2"}},
		{planner.Step{Action: planner.CreateContainer, Color: spec.Green, Target: "bg-web-green", Container: &planner.ContainerRef{Name: "bg-web-green", Create: green}}, []string{"create bg-web-green"}},
		{planner.Step{Action: planner.SetServerReady, Color: spec.Green, Server: server(s, spec.Green)}, []string{"set server web_green/app state ready"}},
		{planner.Step{Action: planner.DrainServer, Color: spec.Blue, Server: server(s, spec.Blue)}, []string{"set server web_blue/app state drain"}},
		{planner.Step{Action: planner.SwitchMap, Color: spec.Green, Map: mapEntry(s, "web_green")}, []string{"set map " + m + " web web_green", "write " + m + " web web_green"}},
		{planner.Step{Action: planner.WriteMapFile, Color: spec.Green, Map: mapEntry(s, "web_green")}, []string{"write " + m + " web web_green"}},
		{planner.Step{Action: planner.StopContainer, Color: spec.Blue, Target: "bg-web-blue", Container: &planner.ContainerRef{Name: "bg-web-blue", NotServed: mapEntry(s, "web_blue")}}, []string{"stop bg-web-blue"}},
	}
	for _, tc := range tests {
		w := newFakeWorld()
		w.runtimeMap["web"] = "web_green"
		if tc.step.Action == planner.SwitchMap { // the switch checks green afresh: it still runs, UP
			if _, err := (fakeEngine{w}).Create(context.Background(), createSpec(green)); err != nil {
				t.Fatal(err)
			}
			if err := (fakeEngine{w}).Start(context.Background(), "bg-web-green"); err != nil {
				t.Fatal(err)
			}
			tc.step.Map.Ready = readiness(s, w, spec.Green)
			w.servers["web_green/app"].Addr = tc.step.Map.Ready[0].Addr
			w.calls = nil
		}
		if tc.step.Action == planner.StopContainer {
			if _, err := (fakeEngine{w}).Create(context.Background(), createSpec(planner.ContainerSpecOf(s, s.Replica(spec.Blue, 0), plantest.ImageV1))); err != nil {
				t.Fatal(err)
			}
			w.calls = nil
		}
		if err := w.deps().Execute(context.Background(), tc.step); err != nil {
			t.Fatalf("%s: %v", tc.step.Action, err)
		}
		if got := w.mutating(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: calls %v, want %v", tc.step.Action, got, tc.want)
		}
	}
	// The container is created from the resolved image ID with the labels
	// that make it the controller's.
	w := newFakeWorld()
	if err := w.deps().Execute(context.Background(), planner.Step{Action: planner.CreateContainer, Color: spec.Green, Container: &planner.ContainerRef{Name: "bg-web-green", Create: green}}); err != nil {
		t.Fatal(err)
	}
	c := w.containers["bg-web-green"]
	if c.ImageID != plantest.ImageV2 || !c.Managed || c.Labels["io.bluegreen.spec-hash"] != planner.ContainerHash(s, s.Replica(spec.Green, 0), plantest.ImageV2) {
		t.Fatalf("created container: %+v", c)
	}
	// A step without the value of its action is refused, not guessed.
	if err := w.deps().Execute(context.Background(), planner.Step{Action: planner.SwitchMap, Color: spec.Green}); !errors.Is(err, errNoValue) {
		t.Fatalf("SwitchMap without its map entry = %v, want errNoValue", err)
	}
}

// TestSwitchRefusesAnAddressNotProbed: just before the map is switched,
// HAProxy's server and the container are asked afresh; the switch is
// refused when HAProxy sends the color's traffic anywhere but the address
// that was probed (a reload put back the published port, the server still
// has the address of a container that was recreated) or when the container
// answers at another address now.
func TestSwitchRefusesAnAddressNotProbed(t *testing.T) {
	s := plantest.Service(t, spec.Green, "demo:v2")
	for _, tc := range []struct {
		name string
		edit func(w *fakeWorld)
		want string
	}{
		{"HAProxy at the published port", func(w *fakeWorld) { w.servers["web_green/app"].Addr = "127.0.0.1:18082" },
			"sends web_green/app's traffic to 127.0.0.1:18082, not to the probed 172.17.0.1:8080"},
		{"HAProxy at a recreated container's old address", func(w *fakeWorld) { w.servers["web_green/app"].Addr = "172.17.0.7:8080" },
			"sends web_green/app's traffic to 172.17.0.7:8080, not to the probed 172.17.0.1:8080"},
		{"the container moved", func(w *fakeWorld) { w.containers["bg-web-green"].IPs["bridge"] = "172.17.0.8" },
			"has address 172.17.0.8 on network bridge now, not the probed 172.17.0.1"},
		{"HAProxy says DOWN", func(w *fakeWorld) { w.servers["web_green/app"].Status = "DOWN" },
			"HAProxy says web_green/app is DOWN"},
		{"the server is gone", func(w *fakeWorld) { delete(w.servers, "web_green/app") },
			"server web_green/app is not in HAProxy's stats"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, m := greenReadyToSwitch(t, s)
			tc.edit(w)
			w.calls = nil
			err := w.deps().Execute(context.Background(), planner.Step{Action: planner.SwitchMap, Color: spec.Green, Map: m})
			if !errors.Is(err, ErrNoLongerReady) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SwitchMap = %v, want ErrNoLongerReady saying %q", err, tc.want)
			}
			if got := w.mutating(); len(got) != 0 {
				t.Errorf("calls %v, want none that change anything", got)
			}
		})
	}
}

// TestSwitchReadsItsColorsStatsOnly: the switch asks HAProxy afresh about
// the servers of the color it switches to, and only about them: a whole
// "show stat" grows with every service behind the same HAProxy.
func TestSwitchReadsItsColorsStatsOnly(t *testing.T) {
	w, m := greenReadyToSwitch(t, plantest.Service(t, spec.Green, "demo:v2"))
	w.calls = nil
	if err := w.deps().Execute(context.Background(), planner.Step{Action: planner.SwitchMap, Color: spec.Green, Map: m}); err != nil {
		t.Fatal(err)
	}
	var stats []string
	for _, c := range w.calls {
		if strings.HasPrefix(c, "show stat") {
			stats = append(stats, c)
		}
	}
	if want := []string{"show stat web_green 6 -1"}; !reflect.DeepEqual(stats, want) {
		t.Errorf("stats read by the switch: %q, want %q", stats, want)
	}
}

// greenReadyToSwitch is a world where s's green runs v2, UP in HAProxy at
// its probed address, and the map entry of a switch to it.
func greenReadyToSwitch(t *testing.T, s *spec.Service) (*fakeWorld, *planner.MapEntry) {
	w := newFakeWorld()
	w.images["demo:v2"] = plantest.ImageV2
	w.run(t, s, spec.Green, plantest.ImageV2)
	m := mapEntry(s, "web_green")
	m.Ready = readiness(s, w, spec.Green)
	w.servers["web_green/app"].Status = "UP"
	return w, m
}

// TestNoPullForbidsPulls: with --no-pull a pull step is refused before it
// reaches the engine.
func TestNoPullForbidsPulls(t *testing.T) {
	w := newFakeWorld()
	d := w.deps()
	d.NoPull = true
	err := d.Execute(context.Background(), planner.Step{Action: planner.PullImage, Target: "demo:v1", Image: &planner.ImageRef{Ref: "demo:v1"}})
	if !errors.Is(err, ErrPullForbidden) {
		t.Fatalf("PullImage with NoPull = %v, want ErrPullForbidden", err)
	}
	if got := w.mutating(); len(got) != 0 {
		t.Fatalf("calls %v, want none", got)
	}
}

// TestStepActsOnlyOnceItsRecordIsWritten: a step whose decision changed a
// release's record (the verification a switch opens) acts only once that
// record is written: a switch checks its color live meanwhile and changes
// the map after; any other step writes it first. It is written even when
// the step does not act.
func TestStepActsOnlyOnceItsRecordIsWritten(t *testing.T) {
	s := plantest.Service(t, spec.Green, "demo:v2")
	drain := planner.Step{Action: planner.DrainServer, Color: spec.Blue,
		Server: &planner.ServerRef{Runtime: s.HAProxy.Runtime, Backend: "web_blue", Server: "app"}}
	for _, tc := range []struct {
		name string
		edit func(w *fakeWorld)
		step func(m *planner.MapEntry) planner.Step
		want []string
	}{
		{"a switch", nil, func(m *planner.MapEntry) planner.Step {
			return planner.Step{Action: planner.SwitchMap, Color: spec.Green, Map: m}
		}, []string{"write status", "set map /etc/haproxy/hosts.map web web_green", "write /etc/haproxy/hosts.map web web_green"}},
		{"a switch refused live", func(w *fakeWorld) { w.servers["web_green/app"].Status = "DOWN" }, func(m *planner.MapEntry) planner.Step {
			return planner.Step{Action: planner.SwitchMap, Color: spec.Green, Map: m}
		}, []string{"write status"}},
		{"a switch without its readiness", nil, func(m *planner.MapEntry) planner.Step {
			m.Ready = nil
			return planner.Step{Action: planner.SwitchMap, Color: spec.Green, Map: m}
		}, []string{"write status"}},
		{"a drain", nil, func(*planner.MapEntry) planner.Step { return drain }, []string{"write status", "set server web_blue/app state drain"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, m := greenReadyToSwitch(t, s)
			if tc.edit != nil {
				tc.edit(w)
			}
			w.calls = nil
			writes := 0
			record := func() {
				writes++
				_ = w.record("write status")
			}
			_ = w.deps().execute(context.Background(), tc.step(m), record)
			if got := w.mutating(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("calls %q, want %q", got, tc.want)
			}
			if writes != 1 {
				t.Errorf("the record was written %d times, want once", writes)
			}
		})
	}
}
