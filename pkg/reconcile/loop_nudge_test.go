package reconcile

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// passCounter counts the passes that ended.
type passCounter struct {
	Listeners
	n *atomic.Int32
}

func (p passCounter) PassEnded(bool, time.Time) { p.n.Add(1) }

// TestNudgeDuringAStepWaitsForIt: a service nudged while its step is in
// flight (the engine's start event comes before the start call returns)
// is looked at once the step has ended; meanwhile the loop waits, rather
// than making pass after pass that skip the service (it spun for as long
// as the step took, a second per release on a slow engine).
func TestNudgeDuringAStepWaitsForIt(t *testing.T) {
	w, loop := servingWorld(t)
	w.images["demo:v2"] = plantest.ImageV2
	green := plantest.Service(t, spec.Green, "demo:v2")
	loop.Load = func() ([]spec.Service, error) { return []spec.Service{*green}, nil }
	loop.Nudges = NewNudges()
	var passes atomic.Int32
	loop.Listener = passCounter{n: &passes}
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	loop.BeforeStep = func(st planner.Step) {
		if st.Action == planner.StartContainer {
			once.Do(func() { close(started); <-release })
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx, nil, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()

	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatalf("green was never started; calls %v", w.mutating())
	}
	loop.Nudges.Service("web") // its container's start event
	before := passes.Load()
	time.Sleep(300 * time.Millisecond)
	spun := passes.Load() - before
	close(release)
	if spun > 2 {
		t.Errorf("%d passes while web's step was in flight, want none (the nudge waits for the step)", spun)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		w.big.Lock()
		served := w.runtimeMap["web"]
		w.big.Unlock()
		if served == "web_green" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the step the release did not go on: map on %q; calls %v", served, w.mutating())
		}
	}
}

// TestNudgeOfAnotherServiceIsIgnored: an event of a container of a
// service the desired state does not name (one removed from it, or
// another controller's on the same engine) asks for nothing: the loop
// rests. It made the loop spin until the next full pass, since no pass
// looked at that service and its due time stayed in the past (15 s of a
// core in a minute, while another controller's 200 containers were
// removed).
func TestNudgeOfAnotherServiceIsIgnored(t *testing.T) {
	_, loop := servingWorld(t)
	loop.Nudges = NewNudges()
	var passes atomic.Int32
	loop.Listener = passCounter{n: &passes}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx, nil, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(300 * time.Millisecond) // web converges
	before := passes.Load()
	loop.Nudges.Service("gone")
	time.Sleep(300 * time.Millisecond)
	if n := passes.Load() - before; n > 1 {
		t.Errorf("%d passes after a nudge of a service not in the desired state, want at most one", n)
	}
}
