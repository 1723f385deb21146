package reconcile

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// gatedEngine holds each engine read until all n of them are in flight: if
// Observe made them one after the other, the first would never be let go.
type gatedEngine struct {
	fakeEngine
	arrived *sync.WaitGroup
	all     chan struct{}
}

func (g gatedEngine) gate() error {
	g.arrived.Done()
	select {
	case <-g.all:
		return nil
	case <-time.After(10 * time.Second): // a guard against a hang, not a timing goal
		return errors.New("engine reads were made one after the other")
	}
}

func (g gatedEngine) ImageID(ctx context.Context, ref string) (string, bool, error) {
	if err := g.gate(); err != nil {
		return "", false, err
	}
	return g.fakeEngine.ImageID(ctx, ref)
}

func (g gatedEngine) Inspect(ctx context.Context, name string) (docker.Container, bool, error) {
	if err := g.gate(); err != nil {
		return docker.Container{}, false, err
	}
	return g.fakeEngine.Inspect(ctx, name)
}

func TestObserveReadsAtOnce(t *testing.T) {
	w := newFakeWorld()
	w.images["demo:v1"] = "sha256:1"
	d := w.deps()
	g := gatedEngine{fakeEngine: fakeEngine{w}, arrived: &sync.WaitGroup{}, all: make(chan struct{})}
	g.arrived.Add(5) // the image, both containers and the slot after each color's last replica (none there)
	go func() { g.arrived.Wait(); close(g.all) }()
	d.Containers = g
	o, err := d.Observe(context.Background(), plantest.Service(t, spec.Blue, "demo:v1"), nil, plantest.T0)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Image.Found || o.Image.ID != "sha256:1" {
		t.Fatalf("image %+v", o.Image)
	}
}

// When several reads fail, the error reported is always the one of the
// first read in Observe's order (HAProxy's map before the engine), so a
// fault is reported the same way at every pass.
func TestObserveReportsTheFirstReadsError(t *testing.T) {
	w := newFakeWorld()
	w.failOn["get map"] = errors.New("HAProxy is away")
	w.failOn["image"] = errors.New("Docker is away")
	w.failOn["inspect"] = errors.New("Docker is away")
	for i := 0; i < 20; i++ {
		_, err := w.deps().Observe(context.Background(), plantest.Service(t, spec.Blue, "demo:v1"), nil, plantest.T0)
		if err == nil || !strings.Contains(err.Error(), "HAProxy is away") {
			t.Fatalf("observation %d: error %v, want HAProxy's", i, err)
		}
	}
}

// imageGate holds each image lookup until n are in flight.
type imageGate struct {
	fakeEngine
	arrived *sync.WaitGroup
	all     chan struct{}
}

func (g imageGate) ImageID(ctx context.Context, ref string) (string, bool, error) {
	g.arrived.Done()
	select {
	case <-g.all:
	case <-time.After(10 * time.Second): // a guard against a hang, not a timing goal
		return "", false, errors.New("services were observed one after the other")
	}
	return g.fakeEngine.ImageID(ctx, ref)
}

// A pass observes its services at once: each service's image lookup waits
// until the other's is in flight too.
func TestPassObservesServicesAtOnce(t *testing.T) {
	w := newFakeWorld()
	w.images["demo:v1"], w.images["demo:v2"] = "sha256:1", "sha256:2"
	web := plantest.Service(t, spec.Blue, "demo:v1")
	api := *plantest.Service(t, spec.Blue, "demo:v2") // another image: no shared lookup
	api.Name, api.HAProxy.MapKey = "api", "api"
	g := imageGate{fakeEngine: fakeEngine{w}, arrived: &sync.WaitGroup{}, all: make(chan struct{})}
	g.arrived.Add(2)
	go func() { g.arrived.Wait(); close(g.all) }()
	deps := w.deps()
	deps.Containers = g
	loop := &Loop{Deps: deps, Log: logr.Discard(), Now: func() time.Time { return plantest.T0 },
		Load: func() ([]spec.Service, error) { return []spec.Service{*web, api}, nil }}
	var err error
	if loop.Status, err = state.LoadStatus(filepath.Join(t.TempDir(), "status.json"), "d.yaml"); err != nil {
		t.Fatal(err)
	}
	if res := loop.Pass(context.Background()); len(res.Errors) > 0 {
		t.Fatalf("pass errors: %v", res.Errors)
	}
}

// Observe knows which of the service's backends HAProxy has from the
// stats it reads of them, in a pass over one service (a read per backend)
// and in a pass over several (one read shared): a backend taken out of
// haproxy.cfg is missing, the others are there.
func TestObserveKnowsTheBackendsHAProxyHas(t *testing.T) {
	for _, services := range []int{1, 2} {
		w := newFakeWorld()
		w.backends = []string{"web_blue"}
		d := w.deps()
		cache := newPassCache(d.HAProxy, services)
		d.HAProxy = cache.client
		o, err := d.Observe(context.Background(), plantest.Service(t, spec.Blue, "demo:v1"), nil, plantest.T0)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]bool{"web_blue": true}; !maps.Equal(o.Backends, want) {
			t.Errorf("pass over %d services: backends %v, want %v", services, o.Backends, want)
		}
	}
}

// overlap records how many reads were ever in flight at once. With n > 0
// each read is held until n are in flight (or a second passed); else it
// lasts a millisecond, room for another read to overlap.
type overlap struct {
	n         int
	mu        sync.Mutex
	now, most int
	all       chan struct{} // closed when n are in
	closed    bool
}

func newOverlap(n int) *overlap { return &overlap{n: n, all: make(chan struct{})} }

// enter records a read in flight; the function it returns ends it.
func (o *overlap) enter() (leave func()) {
	o.mu.Lock()
	o.now++
	o.most = max(o.most, o.now)
	if o.now == o.n && !o.closed {
		close(o.all)
		o.closed = true
	}
	o.mu.Unlock()
	if o.n > 0 {
		select {
		case <-o.all:
		case <-time.After(time.Second):
		}
	} else {
		time.Sleep(time.Millisecond)
	}
	return func() {
		o.mu.Lock()
		o.now--
		o.mu.Unlock()
	}
}

// overlapEngine counts the engine's reads in flight.
type overlapEngine struct {
	fakeEngine
	*overlap
}

func (e overlapEngine) ImageID(ctx context.Context, ref string) (string, bool, error) {
	defer e.enter()()
	return e.fakeEngine.ImageID(ctx, ref)
}

func (e overlapEngine) Inspect(ctx context.Context, name string) (docker.Container, bool, error) {
	defer e.enter()()
	return e.fakeEngine.Inspect(ctx, name)
}

// overlapHAProxy counts the backend reads in flight.
type overlapHAProxy struct {
	fakeHAProxy
	*overlap
}

func (h overlapHAProxy) StatOf(ctx context.Context, backend string) ([]haproxy.StatRow, error) {
	defer h.enter()()
	return h.fakeHAProxy.StatOf(ctx, backend)
}

func (h overlapHAProxy) ServersStateOf(ctx context.Context, backend string) ([]haproxy.ServerState, error) {
	defer h.enter()()
	return h.fakeHAProxy.ServersStateOf(ctx, backend)
}

// TestReadsInFlight: with serialReads (every observation of a pass over
// many services but its first), Observe makes its reads one after the
// other; otherwise at once, also the stats and server states of both
// colors' backends in a pass of one service (a step ended, a gate): four
// commands, not one color after the other.
func TestReadsInFlight(t *testing.T) {
	for _, tc := range []struct {
		name   string
		serial bool
		want   int // the most reads in flight at once
		count  func(d *Deps, w *fakeWorld, o *overlap)
	}{
		{"serial engine reads", true, 1, func(d *Deps, w *fakeWorld, o *overlap) {
			d.Containers = overlapEngine{fakeEngine: fakeEngine{w}, overlap: o}
		}},
		{"backend reads of a pass of one service", false, 4, func(d *Deps, w *fakeWorld, o *overlap) {
			h := overlapHAProxy{fakeHAProxy: fakeHAProxy{w}, overlap: o}
			d.HAProxy = newPassCache(func(string) (HAProxy, error) { return h, nil }, 1).client
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFakeWorld()
			w.images["demo:v1"] = "sha256:1"
			d := w.deps()
			d.serialReads = tc.serial
			o := newOverlap(0)
			if !tc.serial {
				o = newOverlap(tc.want) // held until all are in: their order cannot matter
			}
			tc.count(d, w, o)
			if _, err := d.Observe(context.Background(), plantest.Service(t, spec.Blue, "demo:v1"), nil, plantest.T0); err != nil {
				t.Fatal(err)
			}
			if o.most != tc.want {
				t.Fatalf("%d reads in flight at once, want %d", o.most, tc.want)
			}
		})
	}
}
