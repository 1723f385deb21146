package reconcile

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Summaries lists the fake engine's containers, as the engine's list does.
func (f fakeEngine) Summaries(context.Context) ([]docker.Summary, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("list"); err != nil {
		return nil, err
	}
	var out []docker.Summary
	for name, c := range f.w.containers {
		out = append(out, docker.Summary{ID: c.ID, Name: name, State: c.State})
	}
	return out, nil
}

// cachedLoop is servingWorld's loop with a container cache whose event
// stream is followed (and silent).
func cachedLoop(t *testing.T) (*fakeWorld, *Loop) {
	w, loop := servingWorld(t)
	loop.Cache = NewContainerCache(fakeEngine{w})
	loop.Cache.Followed()
	return w, loop
}

// TestIdlePassesInspectNoContainer: with the events followed, a pass
// after the first reads no container from the engine, however many there
// are; an event (or a step) makes the next pass read its container again.
func TestIdlePassesInspectNoContainer(t *testing.T) {
	w, loop := cachedLoop(t)
	inspections := func() int {
		w.mu.Lock()
		defer w.mu.Unlock()
		n := 0
		for _, c := range w.calls {
			if strings.HasPrefix(c, "inspect ") {
				n++
			}
		}
		return n
	}
	loop.Pass(context.Background())
	first := inspections()
	if first == 0 {
		t.Fatal("the first pass inspected no container")
	}
	for range 3 {
		loop.Pass(context.Background())
	}
	if n := inspections(); n != first {
		t.Fatalf("3 idle passes inspected %d containers, want 0", n-first)
	}

	w.big.Lock()
	w.die("bg-web-blue", 2)
	w.big.Unlock()
	loop.Cache.Changed("bg-web-blue") // its die event
	loop.Pass(context.Background())
	if n := w.count("inspect bg-web-blue"); n != 2 {
		t.Fatalf("bg-web-blue inspected %d times after its event, want 2 (the first pass, then once)", n)
	}
	for range 3 {
		loop.Pass(context.Background())
	}
	if n := w.count("start bg-web-blue"); n != 2 { // w.run's, then the repair
		t.Fatalf("blue died and was started %d times, want once; calls %v", n-1, w.mutating())
	}
	if c := w.containers["bg-web-blue"]; !c.Running {
		t.Fatalf("blue is %s after the repair; calls %v", c.State, w.mutating())
	}
}

// blockingInspect is an engine whose Inspect waits for release.
type blockingInspect struct {
	Containers
	entered, release chan struct{}
}

func (b blockingInspect) Inspect(context.Context, string) (docker.Container, bool, error) {
	b.entered <- struct{}{}
	<-b.release
	return docker.Container{ID: "old", State: "running"}, true, nil
}

// TestAnswerReadDuringAChangeIsNotKept: an inspection that was under way
// when its container changed (an event, a step) is returned but not kept,
// so the next read asks the engine again; nor is one made while the event
// stream is not followed.
func TestAnswerReadDuringAChangeIsNotKept(t *testing.T) {
	for _, tc := range []struct {
		name   string
		during func(c *ContainerCache)
	}{
		{"an event of it", func(c *ContainerCache) { c.Changed("bg-web-blue") }},
		{"the stream lost", func(c *ContainerCache) { c.Lost() }},
		{"the stream followed again", func(c *ContainerCache) { c.Followed() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewContainerCache(nil)
			c.Followed()
			eng := blockingInspect{entered: make(chan struct{}), release: make(chan struct{})}
			done := make(chan struct{})
			go func() {
				defer close(done)
				if _, _, err := c.inspect(context.Background(), eng, "bg-web-blue"); err != nil {
					t.Error(err)
				}
			}()
			<-eng.entered
			tc.during(c)
			close(eng.release)
			<-done
			if _, kept := c.entries["bg-web-blue"]; kept {
				t.Fatal("an answer read while its container changed was kept")
			}
		})
	}
	c := NewContainerCache(nil) // never followed
	eng := blockingInspect{entered: make(chan struct{}, 1), release: make(chan struct{})}
	close(eng.release)
	if _, _, err := c.inspect(context.Background(), eng, "bg-web-blue"); err != nil {
		t.Fatal(err)
	}
	if len(c.entries) != 0 {
		t.Fatal("an answer was kept with the event stream not followed")
	}
}

// fakeLister lists the given containers, or fails.
type fakeLister struct {
	list []docker.Summary
	err  error
}

func (f fakeLister) Summaries(context.Context) ([]docker.Summary, error) { return f.list, f.err }

// TestResyncForgetsWhatTheListShowsOtherwise: Resync keeps an entry the
// engine's list agrees with, and forgets one it shows with another ID or
// state, one it lacks, and a "no such container" it shows; everything when
// the list fails.
func TestResyncForgetsWhatTheListShowsOtherwise(t *testing.T) {
	entries := map[string]inspected{
		"same":      {ct: docker.Container{ID: "a", State: "running"}, found: true},
		"restarted": {ct: docker.Container{ID: "b", State: "running"}, found: true},
		"stopped":   {ct: docker.Container{ID: "c", State: "running"}, found: true},
		"removed":   {ct: docker.Container{ID: "d", State: "exited"}, found: true},
		"created":   {found: false},
		"none":      {found: false},
	}
	list := []docker.Summary{{ID: "a", Name: "same", State: "running"}, {ID: "b2", Name: "restarted", State: "running"},
		{ID: "c", Name: "stopped", State: "exited"}, {ID: "e", Name: "created", State: "created"}}
	c := NewContainerCache(fakeLister{list: list})
	c.Followed()
	for k, v := range entries {
		c.entries[k] = v
	}
	if n := c.Resync(context.Background()); n != 4 {
		t.Fatalf("Resync forgot %d containers, want 4", n)
	}
	for _, name := range []string{"same", "none"} {
		if _, ok := c.entries[name]; !ok {
			t.Errorf("%s was forgotten, the list agrees with it", name)
		}
	}
	if len(c.entries) != 2 {
		t.Fatalf("kept %v, want same and none", c.entries)
	}
	c.lister = fakeLister{err: errors.New("engine down")}
	c.Resync(context.Background())
	if len(c.entries) != 0 {
		t.Fatalf("kept %v after a failed list, want nothing", c.entries)
	}
}

// TestNudgeLooksAtItsServiceOnly: a nudge naming a service (a container
// event) or a backend (a server's status) has that service observed and no
// other, on the desired state already read; a nudge for all has every one
// observed, and the desired state read again.
func TestNudgeLooksAtItsServiceOnly(t *testing.T) {
	w, web, api := twoServices(t)
	loop := newTestLoop(t, w.deps(), api, web)
	loop.Nudges = NewNudges()
	var loads atomic.Int32
	load := loop.Load
	loop.Load = func() ([]spec.Service, error) { loads.Add(1); return load() }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx, nil, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()
	settle := func() {
		t.Helper()
		for last, deadline := -1, time.Now().Add(10*time.Second); ; time.Sleep(100 * time.Millisecond) {
			w.mu.Lock()
			n := len(w.calls)
			w.mu.Unlock()
			if n == last {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the loop never came to rest; calls %v", w.mutating())
			}
			last = n
		}
	}
	settle()
	for _, tc := range []struct {
		name     string
		nudge    func()
		web, api bool
	}{
		{"service api", func() { loop.Nudges.Service("api") }, false, true},
		{"backend web_green", func() { loop.Nudges.Backend("web_green") }, true, false},
		{"backend web_canary (its servers track the colors')", func() { loop.Nudges.Backend("web_canary") }, true, false},
		{"all", loop.Nudges.All, true, true},
		{"a backend of no service", func() { loop.Nudges.Backend("other_blue") }, true, true},
	} {
		webBefore, apiBefore, loadsBefore := w.count("inspect bg-web-green"), w.count("inspect bg-api-blue"), loads.Load()
		tc.nudge()
		settle()
		webSeen, apiSeen := w.count("inspect bg-web-green") > webBefore, w.count("inspect bg-api-blue") > apiBefore
		if webSeen != tc.web || apiSeen != tc.api {
			t.Errorf("nudge of %s: web observed %v, api %v; want %v, %v", tc.name, webSeen, apiSeen, tc.web, tc.api)
		}
		if read := loads.Load() - loadsBefore; (read > 0) != (tc.web && tc.api) {
			t.Errorf("nudge of %s: the desired state read %d times", tc.name, read)
		}
	}
}
