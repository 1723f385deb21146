package reconcile

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestExecuteRefusesToStopTheServedColor: a step planned from a stale
// snapshot must not take down the color the live map points at.
func TestExecuteRefusesToStopTheServedColor(t *testing.T) {
	s := testService(t, spec.Blue, "demo:v1")
	for _, a := range []Action{StopContainer, RemoveContainer} {
		w := newFakeWorld()
		w.runtimeMap["web"] = "web_blue"
		err := w.deps().Execute(context.Background(), s, Step{Action: a, Service: "web", Color: spec.Blue, Target: "bg-web-blue"}, Observed{})
		if !errors.Is(err, ErrServed) {
			t.Fatalf("%s on the served color: got %v, want ErrServed", a, err)
		}
		if got := w.mutating(); len(got) != 0 {
			t.Fatalf("%s on the served color made changes: %v", a, got)
		}
	}
}

// TestExecuteCalls: each step is the exact calls expected, and a switch
// writes the runtime map and then the map file.
func TestExecuteCalls(t *testing.T) {
	s := withBuild(testService(t, spec.Green, "demo:v2"))
	o := Observed{Image: Image{ID: idV2, Found: true}}
	const m = "/etc/haproxy/hosts.map"
	tests := []struct {
		step Step
		want []string
	}{
		{Step{Action: BuildImage, Target: "demo:v2"}, []string{"build demo:v2"}},
		{Step{Action: PullImage, Target: "demo:v2"}, []string{"pull demo:v2"}},
		{Step{Action: CreateContainer, Color: spec.Green, Target: "bg-web-green"}, []string{"create bg-web-green"}},
		{Step{Action: SetServerReady, Color: spec.Green}, []string{"set server web_green/app state ready"}},
		{Step{Action: DrainServer, Color: spec.Blue}, []string{"set server web_blue/app state drain"}},
		{Step{Action: SwitchMap, Color: spec.Green}, []string{"set map " + m + " web web_green", "write " + m + " web web_green"}},
		{Step{Action: WriteMapFile, Color: spec.Green}, []string{"write " + m + " web web_green"}},
		{Step{Action: StopContainer, Color: spec.Blue, Target: "bg-web-blue"}, []string{"stop bg-web-blue"}},
	}
	for _, tc := range tests {
		w := newFakeWorld()
		w.runtimeMap["web"] = "web_green"
		if tc.step.Action == SwitchMap { // the switch checks green afresh: it still runs, UP
			if _, err := (fakeEngine{w}).Create(context.Background(), containerSpec(s, spec.Green, idV2)); err != nil {
				t.Fatal(err)
			}
			if err := (fakeEngine{w}).Start(context.Background(), "bg-web-green"); err != nil {
				t.Fatal(err)
			}
			o.Green.Container = fromDocker(*w.containers["bg-web-green"])
			w.calls = nil
		}
		if tc.step.Action == StopContainer {
			if _, err := (fakeEngine{w}).Create(context.Background(), containerSpec(s, spec.Blue, idV1)); err != nil {
				t.Fatal(err)
			}
			w.calls = nil
		}
		if err := w.deps().Execute(context.Background(), s, tc.step, o); err != nil {
			t.Fatalf("%s: %v", tc.step.Action, err)
		}
		if got := w.mutating(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: calls %v, want %v", tc.step.Action, got, tc.want)
		}
	}
	// The container is created from the resolved image ID with the labels
	// that make it the controller's.
	w := newFakeWorld()
	if err := w.deps().Execute(context.Background(), s, Step{Action: CreateContainer, Color: spec.Green}, o); err != nil {
		t.Fatal(err)
	}
	c := w.containers["bg-web-green"]
	if c.ImageID != idV2 || !c.Managed || c.Labels["io.bluegreen.spec-hash"] != ContainerHash(s, spec.Green, idV2) {
		t.Fatalf("created container: %+v", c)
	}
}
