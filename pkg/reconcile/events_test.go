package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/bluegreen-host/controller/pkg/docker"
)

// fakeEvents hands out one scripted stream per subscription; while down
// says so, subscriptions are refused, as by an engine that is not there.
type fakeEvents struct {
	mu      sync.Mutex
	streams []func(chan<- docker.Event, chan<- error)
	subs    int
	down    bool
	tries   []time.Time // every subscription asked for, refused or not
}

func (f *fakeEvents) Events(ctx context.Context) (<-chan docker.Event, <-chan error, error) {
	f.mu.Lock()
	f.tries = append(f.tries, time.Now())
	if f.down {
		f.mu.Unlock()
		return nil, nil, fmt.Errorf("subscribe to the container events of the Docker engine at unix:///x.sock: %w", docker.ErrUnreachable)
	}
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
	return events, errs, nil
}

func (f *fakeEvents) subscriptions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs
}

func (f *fakeEvents) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeEvents) triesSince(t time.Time) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for _, at := range f.tries {
		if !at.Before(t) {
			out = append(out, at)
		}
	}
	return out
}

func waitNudge(t *testing.T, nudge <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-nudge:
	case <-time.After(5 * time.Second):
		t.Fatalf("no nudge %s", what)
	}
}

func noNudge(t *testing.T, nudge <-chan struct{}, within time.Duration, what string) {
	t.Helper()
	select {
	case <-nudge:
		t.Fatalf("nudged %s", what)
	case <-time.After(within):
	}
}

// keptLog is a logger that keeps its lines, for tests that read them.
type keptLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *keptLog) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, args)
	}, funcr.Options{})
}

func (l *keptLog) count(part string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, part) {
			n++
		}
	}
	return n
}

func (l *keptLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestWatchContainersNudgesAndResubscribes: every event nudges its
// service's pass, once the cache has forgotten its container; a broken
// stream (the engine restarted) nudges every service at once, is
// subscribed to again and nudges every service once subscribed, since the
// events in between were lost.
func TestWatchContainersNudgesAndResubscribes(t *testing.T) {
	step := make(chan struct{})
	src := &fakeEvents{streams: []func(chan<- docker.Event, chan<- error){
		func(ev chan<- docker.Event, errs chan<- error) {
			ev <- docker.Event{Action: "die", Name: "bg-web-blue", ExitCode: "2", Service: "web"}
			<-step
			errs <- errors.New("unexpected EOF")
		},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nudges, cache := NewNudges(), NewContainerCache(nil)
	cache.Followed()
	cache.entries["bg-web-blue"] = inspected{found: true}
	WatchContainers(ctx, src, logr.Discard(), nudges, cache)
	waitNudge(t, nudges.c, "for a die event")
	if all, svcs, _ := nudges.take(); all || !slices.Equal(svcs, []string{"web"}) {
		t.Fatalf("a die event of web asked for all=%v services %v, want web only", all, svcs)
	}
	cache.mu.Lock()
	_, kept := cache.entries["bg-web-blue"]
	cache.mu.Unlock()
	if kept {
		t.Fatal("the cache still holds bg-web-blue after its die event")
	}
	noNudge(t, nudges.c, 50*time.Millisecond, "without an event")
	close(step) // the engine goes away
	waitNudge(t, nudges.c, "when the stream broke, or after subscribing again")
	if all, _, _ := nudges.take(); !all {
		t.Fatal("a broken stream did not ask for a pass over every service")
	}
	deadline := time.Now().Add(5 * time.Second)
	for src.subscriptions() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := src.subscriptions(); n != 2 {
		t.Fatalf("%d subscriptions, want 2", n)
	}
	cancel()
}

// TestWatchContainersRetriesAtAFixedInterval: while the engine is down the
// subscription is tried again every EventsRetry, not at a growing
// backoff; the first try that the engine answers is logged and nudges a
// pass over every service (the resync that catches events missed in
// between) within a retry of the engine's return, however long it was
// down.
func TestWatchContainersRetriesAtAFixedInterval(t *testing.T) {
	broke := make(chan struct{})
	src := &fakeEvents{streams: []func(chan<- docker.Event, chan<- error){
		func(ev chan<- docker.Event, errs chan<- error) {
			<-broke
			errs <- errors.New("unexpected EOF")
		},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs keptLog
	nudges := NewNudges()
	nudge := nudges.c
	WatchContainers(ctx, src, logs.logger(), nudges, nil)
	noNudge(t, nudge, 20*time.Millisecond, "with the stream working and no event")

	src.setDown(true)
	downAt := time.Now()
	close(broke)
	waitNudge(t, nudge, "when the stream broke")
	noNudge(t, nudge, 1500*time.Millisecond, "while the engine is down")
	tries := src.triesSince(downAt)
	// A doubling backoff from 100ms would try 4 times in 1.5s; a fixed
	// 50ms about 30.
	if len(tries) < 15 {
		t.Fatalf("%d subscriptions tried in 1.5s with the engine down, want one every %s", len(tries), EventsRetry)
	}
	for i := 1; i < len(tries); i++ {
		if gap := tries[i].Sub(tries[i-1]); gap > 4*EventsRetry {
			t.Fatalf("%s between tries %d and %d with the engine down, want about %s: %v", gap, i-1, i, EventsRetry, tries)
		}
	}
	if n := logs.count(`"error"=`); n != 1 {
		t.Fatalf("the outage was logged as an error %d times, want once (the stream's end, not every try):\n%s", n, &logs)
	}

	src.setDown(false)
	back := time.Now()
	waitNudge(t, nudge, "once subscribed again")
	if took := time.Since(back); took > 4*EventsRetry {
		t.Fatalf("nudged %s after the engine answered again, want within about %s", took, EventsRetry)
	}
	if n := logs.count(`"msg"="Container events followed again; looking at every service afresh"`); n != 1 {
		t.Fatalf("the new subscription was logged %d times, want once:\n%s", n, &logs)
	}
	noNudge(t, nudge, 100*time.Millisecond, "again without an event")
}
