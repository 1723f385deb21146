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

// overlapEngine records how many engine reads were ever in flight at once.
type overlapEngine struct {
	fakeEngine
	mu        *sync.Mutex
	now, most *int
}

func (e overlapEngine) enter() {
	e.mu.Lock()
	*e.now++
	*e.most = max(*e.most, *e.now)
	e.mu.Unlock()
	time.Sleep(time.Millisecond) // room for another read to overlap
}

func (e overlapEngine) leave() {
	e.mu.Lock()
	*e.now--
	e.mu.Unlock()
}

func (e overlapEngine) ImageID(ctx context.Context, ref string) (string, bool, error) {
	e.enter()
	defer e.leave()
	return e.fakeEngine.ImageID(ctx, ref)
}

func (e overlapEngine) Inspect(ctx context.Context, name string) (docker.Container, bool, error) {
	e.enter()
	defer e.leave()
	return e.fakeEngine.Inspect(ctx, name)
}

// With serialReads (every observation of a pass over many services but
// its first), Observe makes its reads one after the other.
func TestSerialReadsAreMadeOneAfterTheOther(t *testing.T) {
	w := newFakeWorld()
	w.images["demo:v1"] = "sha256:1"
	d := w.deps()
	var now, most int
	d.Containers = overlapEngine{fakeEngine: fakeEngine{w}, mu: &sync.Mutex{}, now: &now, most: &most}
	d.serialReads = true
	if _, err := d.Observe(context.Background(), plantest.Service(t, spec.Blue, "demo:v1"), nil, plantest.T0); err != nil {
		t.Fatal(err)
	}
	if most != 1 {
		t.Fatalf("%d engine reads in flight at once, want 1", most)
	}
}

// barrierHAProxy holds each backend read until n of them are in flight
// (or a second passed), and records the most ever in flight at once.
type barrierHAProxy struct {
	fakeHAProxy
	n         int
	mu        *sync.Mutex
	now, most *int
	all       chan struct{} // closed when n are in
}

func (h barrierHAProxy) read() func() {
	h.mu.Lock()
	*h.now++
	*h.most = max(*h.most, *h.now)
	if *h.now == h.n {
		close(h.all)
	}
	h.mu.Unlock()
	select {
	case <-h.all:
	case <-time.After(time.Second):
	}
	return func() {
		h.mu.Lock()
		*h.now--
		h.mu.Unlock()
	}
}

func (h barrierHAProxy) StatOf(ctx context.Context, backend string) ([]haproxy.StatRow, error) {
	defer h.read()()
	return h.fakeHAProxy.StatOf(ctx, backend)
}

func (h barrierHAProxy) ServersStateOf(ctx context.Context, backend string) ([]haproxy.ServerState, error) {
	defer h.read()()
	return h.fakeHAProxy.ServersStateOf(ctx, backend)
}

// TestEachBackendIsReadAtOnce: in a pass of one service (a step ended, a
// gate), the stats and server states of both colors' backends are four
// commands, made at once rather than one color after the other.
func TestEachBackendIsReadAtOnce(t *testing.T) {
	w := newFakeWorld()
	w.images["demo:v1"] = "sha256:1"
	d := w.deps()
	var now, most int
	h := barrierHAProxy{fakeHAProxy: fakeHAProxy{w}, n: 4, mu: &sync.Mutex{}, now: &now, most: &most, all: make(chan struct{})}
	d.HAProxy = newPassCache(func(string) (HAProxy, error) { return h, nil }, 1).client
	if _, err := d.Observe(context.Background(), plantest.Service(t, spec.Blue, "demo:v1"), nil, plantest.T0); err != nil {
		t.Fatal(err)
	}
	if most != 4 {
		t.Fatalf("%d backend reads in flight at once, want 4 (show stat and show servers state of each color)", most)
	}
}
