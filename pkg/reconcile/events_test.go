package reconcile

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/docker"
)

// fakeEvents hands out one scripted stream per subscription.
type fakeEvents struct {
	mu      sync.Mutex
	streams []func(chan<- docker.Event, chan<- error)
	subs    int
}

func (f *fakeEvents) Events(ctx context.Context) (<-chan docker.Event, <-chan error) {
	f.mu.Lock()
	i := f.subs
	f.subs++
	f.mu.Unlock()
	events, errs := make(chan docker.Event), make(chan error, 1)
	go func() {
		defer close(events)
		if i < len(f.streams) {
			f.streams[i](events, errs)
			return
		}
		<-ctx.Done()
		errs <- ctx.Err()
	}()
	return events, errs
}

func (f *fakeEvents) subscriptions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs
}

func waitNudge(t *testing.T, nudge <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-nudge:
	case <-time.After(5 * time.Second):
		t.Fatalf("no nudge %s", what)
	}
}

// TestWatchContainersNudgesAndResubscribes: every event nudges; a broken
// stream (the engine restarted) is subscribed to again and nudges once
// subscribed, since the events in between were lost.
func TestWatchContainersNudgesAndResubscribes(t *testing.T) {
	step := make(chan struct{})
	src := &fakeEvents{streams: []func(chan<- docker.Event, chan<- error){
		func(ev chan<- docker.Event, errs chan<- error) {
			ev <- docker.Event{Action: "die", Name: "bg-web-blue", ExitCode: "2"}
			<-step
			errs <- errors.New("unexpected EOF")
		},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nudge := make(chan struct{}, 1)
	WatchContainers(ctx, src, logr.Discard(), nudge)
	waitNudge(t, nudge, "for a die event")
	select {
	case <-nudge:
		t.Fatal("nudged without an event")
	case <-time.After(50 * time.Millisecond):
	}
	close(step) // the engine goes away
	waitNudge(t, nudge, "after subscribing again")
	if n := src.subscriptions(); n != 2 {
		t.Fatalf("%d subscriptions, want 2", n)
	}
	cancel()
}
