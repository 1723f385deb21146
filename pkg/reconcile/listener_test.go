package reconcile

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// recorder is an Listener that writes down what it hears.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) Decided(v ServiceView, d planner.Decision, at time.Time) {}
func (r *recorder) ReleaseStarted(s *spec.Service, from spec.Color, at time.Time) {
	r.add("started %s %s->%s %s", s.Name, from, s.ActiveColor, s.Image)
}
func (r *recorder) Stepped(service string, st planner.Step, took time.Duration, err error) {
	r.add("step %s %s %s", service, st.Action, st.Color)
}
func (r *recorder) ReleaseEnded(rel state.Release) {
	r.add("ended %s %s->%s %s %s, switched: %v", rel.Service, rel.From, rel.To, rel.ToImage, rel.Outcome, rel.SwitchedAt != nil)
}
func (r *recorder) ObserveFailed(service string, reason planner.Reason, err error, at time.Time) {}
func (r *recorder) PassEnded(ok bool, at time.Time)                                              {}

// TestObserverHearsARelease: a release is reported started once, before
// its first step, each step is reported, and its end (here, with no
// verification window, when the service converges); a restart of the
// controller mid-release does not report it started again.
func TestObserverHearsARelease(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1", "  verify: {window: 0s}")))
	h.converge()
	rec := &recorder{}
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 0s}"))
	h.loop.Listener = rec
	h.loop.Pass(t.Context()) // the build
	h.restart()
	h.loop.Listener = rec
	h.converge()
	want := []string{
		"started web blue->green demo:v2",
		"step web BuildImage ",
		"step web CreateContainer green",
		"step web StartContainer green",
		// Put in maintenance at the first start, as it had no container:
		// out of it DOWN, then UP once probed.
		"step web SetServerReady green",
		"step web SetServerAddr green",
		"step web MarkServerUp green",
		"step web SwitchMap green",
		"step web DrainServer blue",
		"step web SetRestartPolicy blue",
		"step web StopContainer blue",
		"step web SetServerAddr blue",
		"step web DisableServer blue",
		"step web SetRestartPolicy green",
		"ended web blue->green demo:v2 Succeeded, switched: true",
	}
	if !reflect.DeepEqual(rec.events, want) {
		t.Fatalf("events\n  %v\nwant\n  %v", rec.events, want)
	}
}

// TestObserverHearsASupersededRelease: a spec changed before its release
// ended ends that release as Superseded, and starts the new one.
func TestObserverHearsASupersededRelease(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1", "  verify: {window: 0s}")))
	h.converge()
	rec := &recorder{}
	h.loop.Listener = rec
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 0s}"))
	h.loop.Pass(t.Context())
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v3", "  verify: {window: 0s}"))
	h.loop.Pass(t.Context())
	want := []string{
		"started web blue->green demo:v2",
		"step web BuildImage ",
		"ended web blue->green demo:v2 Superseded, switched: false",
		"started web blue->green demo:v3",
		"step web BuildImage ",
	}
	if !reflect.DeepEqual(rec.events, want) {
		t.Fatalf("events\n  %v\nwant\n  %v", rec.events, want)
	}
}
