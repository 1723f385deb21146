package reconcile

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// The engine's outages as the loop sees them (issue 24): status says what
// is not known while the engine is down, nothing is started while it shuts
// down, an event lost while its stream was down is caught by the resync on
// subscribing again, and a change made behind the controller's back with
// no event is caught by the periodic resync.

// engineDown makes every call to the engine fail as when it does not answer.
func (w *fakeWorld) engineDown(down bool) {
	w.big.Lock()
	defer w.big.Unlock()
	for _, call := range []string{"inspect ", "image ", "start ", "create ", "stop ", "dial engine"} {
		if down {
			w.failOn[call] = fmt.Errorf("inspect on the Docker engine at unix:///x.sock: %w: dial unix /x.sock: connect: no such file or directory", docker.ErrUnreachable)
		} else {
			delete(w.failOn, call)
		}
	}
}

// TestStatusSaysUnknownWhileTheEngineIsDown: while the engine does not
// answer, status says Degraded (DockerUnreachable) and the containers and
// servers unknown, not the running and UP last seen; the change is logged
// once as a State line; once the engine answers, status says what is.
func TestStatusSaysUnknownWhileTheEngineIsDown(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, plantest.Service(t, spec.Blue, "demo:v1"))
	w.images["demo:v1"] = plantest.ImageV1
	var logs keptLog
	h.loop.Log = logs.logger()
	h.converge()
	if c := h.serviceStatus().Colors[spec.Blue]; c.Container != "running" || c.HAProxy != "UP" {
		t.Fatalf("converged, blue is %s and %s in status, want running and UP", c.Container, c.HAProxy)
	}
	kept := h.serviceStatus().Remembered()
	w.engineDown(true)
	for range 3 {
		h.now = h.now.Add(time.Second)
		h.loop.Pass(context.Background())
	}
	s := h.serviceStatus()
	blue := s.Colors[spec.Blue]
	if s.Phase != planner.Degraded || conditionReason(s) != planner.ReasonDockerUnreachable {
		t.Fatalf("status %s (%s) with the engine down, want Degraded (DockerUnreachable)", s.Phase, conditionReason(s))
	}
	if blue.Container != state.Unknown || blue.HAProxy != state.Unknown || blue.ImageID != "" || blue.Addr != "" {
		t.Fatalf("status says blue's container is %q, image %q, HAProxy %q at %q with the engine down, want all unknown", blue.Container, blue.ImageID, blue.HAProxy, blue.Addr)
	}
	if got := s.Remembered(); !reflect.DeepEqual(got, kept) {
		t.Fatalf("what status remembers for the next observation changed while the engine was down: %+v, was %+v", got, kept)
	}
	if n := logs.count(`"phase"="Degraded" "reason"="DockerUnreachable"`); n != 1 {
		t.Fatalf("the Degraded transition was logged %d times over 3 failed passes, want once:\n%s", n, &logs)
	}
	w.engineDown(false)
	h.converge()
	if c := h.serviceStatus().Colors[spec.Blue]; c.Container != "running" || c.HAProxy != "UP" {
		t.Fatalf("the engine answers again, blue is %s and %s in status, want running and UP", c.Container, c.HAProxy)
	}
}

// TestNoStartWhileTheEngineStops: the served color dies while the engine
// shuts down (it refuses new connections, answers on those open): the
// controller does not start it (the engine's restart policy brings it
// back) and says why; a crash with the engine up is started again as
// always. An engine is dialed only when a container died.
func TestNoStartWhileTheEngineStops(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, plantest.Service(t, spec.Blue, "demo:v1"))
	w.images["demo:v1"] = plantest.ImageV1
	h.converge()
	if n := w.count("dial engine"); n != 0 {
		t.Fatalf("the engine was dialed %d times with every container running", n)
	}
	w.stopping = true
	w.die("bg-web-blue", 2)
	w.calls = nil
	for range 3 {
		h.now = h.now.Add(time.Second)
		h.loop.Pass(context.Background())
	}
	if got := w.mutating(); len(got) != 0 {
		t.Fatalf("changes made while the engine stops: %v", got)
	}
	s := h.serviceStatus()
	if s.Phase != planner.Degraded || conditionReason(s) != planner.ReasonEngineStopping {
		t.Fatalf("status %s (%s) while the engine stops, want Degraded (EngineStopping)", s.Phase, conditionReason(s))
	}
	w.stopping = false // a crash, the engine up: started again
	for range 3 {
		h.loop.Pass(context.Background())
	}
	if n := w.count("start bg-web-blue"); n != 1 {
		t.Fatalf("blue died with the engine up and was started %d times, want once; calls %v", n, w.mutating())
	}
}

// runLoop runs loop.Run until the test ends.
func runLoop(t *testing.T, loop *Loop, nudge <-chan struct{}, resync time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx, nudge, resync); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitCall waits up to within for call to have been made n times and
// returns how long it took.
func waitCall(t *testing.T, w *fakeWorld, call string, n int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for w.count(call) < n {
		if time.Since(start) > within {
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("%q not made %d times within %s; calls: %v", call, n, within, w.calls)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// servingWorld is a fake world where blue v1 serves, converged.
func servingWorld(t *testing.T) (*fakeWorld, *Loop) {
	w := newFakeWorld()
	s := plantest.Service(t, spec.Blue, "demo:v1")
	w.images["demo:v1"] = plantest.ImageV1
	w.run(t, s, spec.Blue, plantest.ImageV1)
	w.containers["bg-web-blue"].RestartPolicy = docker.RestartUnlessStopped
	w.runtimeMap["web"], w.fileMap["web"] = "web_blue", "web_blue"
	loop := &Loop{Deps: w.deps(), Log: (&keptLog{}).logger(), Now: time.Now,
		Load: func() ([]spec.Service, error) { return []spec.Service{*s}, nil }}
	var err error
	if loop.Status, err = state.LoadStatus(filepath.Join(t.TempDir(), "status.json"), "d.yaml"); err != nil {
		t.Fatal(err)
	}
	return w, loop
}

// TestMissedEventIsActedOnAfterResubscribing: the engine's event stream
// breaks, blue dies meanwhile (its event is lost), and the stream comes
// back: the pass nudged by the new subscription sees blue dead and starts
// it, long before the periodic resync (an hour here).
func TestMissedEventIsActedOnAfterResubscribing(t *testing.T) {
	w, loop := servingWorld(t)
	broke := make(chan struct{})
	src := &fakeEvents{streams: []func(chan<- docker.Event, chan<- error){
		func(ev chan<- docker.Event, errs chan<- error) {
			<-broke
			errs <- errors.New("unexpected EOF")
		},
	}}
	loop.Nudges = NewNudges()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	WatchContainers(ctx, src, loop.Log, loop.Nudges, nil)
	runLoop(t, loop, nil, time.Hour)
	waitCall(t, w, "inspect bg-web-blue", 1, 5*time.Second) // the first full pass

	src.setDown(true)
	close(broke)
	time.Sleep(100 * time.Millisecond) // the passes nudged by the break are done
	w.big.Lock()
	w.die("bg-web-blue", 2) // no event: no one listens
	w.big.Unlock()
	time.Sleep(200 * time.Millisecond)
	if n := w.count("start bg-web-blue"); n != 1 { // the start of w.run
		t.Fatalf("blue was started %d times with the stream down and no nudge, want 1 (by the test)", n)
	}
	src.setDown(false)
	took := waitCall(t, w, "start bg-web-blue", 2, 2*time.Second)
	t.Logf("blue started again %s after the engine's stream came back", took)
}

// TestChangeBehindTheBackIsSeenWithinOneResync: with no event at all (no
// stream; or the stream followed, the containers kept between passes, and
// no event sent), a served container removed (docker rm -f) or stopped
// (docker stop) behind the controller's back is seen and repaired at the
// next periodic resync: with the cache, through the engine's list.
func TestChangeBehindTheBackIsSeenWithinOneResync(t *testing.T) {
	const resync = 300 * time.Millisecond
	for _, tc := range []struct {
		name  string
		world func(*testing.T) (*fakeWorld, *Loop)
	}{
		{"no event stream", servingWorld},
		{"events followed, none sent", cachedLoop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, loop := tc.world(t)
			runLoop(t, loop, nil, resync)
			waitCall(t, w, "inspect bg-web-blue", 1, 5*time.Second)
			w.big.Lock()
			w.die("bg-web-blue", 143) // docker stop: no record of the controller's
			w.big.Unlock()
			took := waitCall(t, w, "start bg-web-blue", 2, 3*resync)
			t.Logf("docker stop: started again %s after, resync %s", took, resync)

			w.big.Lock()
			delete(w.containers, "bg-web-blue") // docker rm -f
			w.servers["web_blue/app"].Status = "DOWN"
			w.big.Unlock()
			took = waitCall(t, w, "create bg-web-blue", 2, 3*resync) // the first by w.run
			t.Logf("docker rm -f: created again %s after, resync %s", took, resync)
			if !strings.Contains(fmt.Sprint(w.mutating()), "start bg-web-blue") {
				t.Fatalf("blue recreated but not started: %v", w.mutating())
			}
		})
	}
}
