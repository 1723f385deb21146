package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestServedPublishedPortProbedOncePerRun: the served color's published
// port, once it answered, is not probed again in the same run of its
// container; a new run, or a port that did not answer, is probed at the
// next pass.
func TestServedPublishedPortProbedOncePerRun(t *testing.T) {
	w, loop := servingWorld(t)
	svcs, err := loop.Load()
	if err != nil {
		t.Fatal(err)
	}
	probe := "probe http://" + planner.FallbackAddr(svcs[0].Replica(spec.Blue, 0)) + svcs[0].HealthPath
	passes := func(n int) {
		t.Helper()
		for range n {
			if res := loop.Pass(context.Background()); len(res.Errors) > 0 || res.SpecErr != nil {
				t.Fatalf("pass: %+v", res)
			}
		}
	}
	passes(4)
	if n := w.count(probe); n != 1 {
		t.Fatalf("4 passes of a served color in one run probed its published port %d times, want 1", n)
	}

	w.big.Lock()
	w.containers["bg-web-blue"].StartedAt = time.Now() // restarted by the engine
	port := w.hostPorts["bg-web-blue"]
	w.hostPorts["bg-web-blue"] = 1 // its forwarder does not answer
	w.big.Unlock()
	passes(2)
	if n := w.count(probe); n != 3 {
		t.Fatalf("a new run whose published port does not answer was probed %d times in 2 passes, want 2", n-1)
	}

	w.big.Lock()
	w.hostPorts["bg-web-blue"] = port
	w.big.Unlock()
	passes(3)
	if n := w.count(probe); n != 4 {
		t.Fatalf("the port answered again and was probed %d times in 3 passes, want once", n-3)
	}
}

// TestPreparedPublishedPortProbedOncePerRun: the color being prepared is
// probed at its own address at every pass, and at its published port
// until that answered once in its container's run: each pass of a release
// waited for that second probe too.
func TestPreparedPublishedPortProbedOncePerRun(t *testing.T) {
	w, loop := servingWorld(t)
	svcs, err := loop.Load()
	if err != nil {
		t.Fatal(err)
	}
	s := &svcs[0]
	w.images["demo:v2"] = plantest.ImageV2
	w.run(t, s, spec.Green, plantest.ImageV2) // HAProxy says DOWN: green is prepared
	published := "probe http://" + planner.FallbackAddr(s.Replica(spec.Green, 0)) + s.HealthPath
	loop.init()
	d := loop.Deps
	observe := func(n int) {
		t.Helper()
		for range n {
			o, err := d.Observe(context.Background(), s, nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if g := o.Green.First(); g.Probes != planner.ProbesNeeded || !g.FallbackOK {
				t.Fatalf("green: %d probes passed, published port answered %v; want %d and true", g.Probes, g.FallbackOK, planner.ProbesNeeded)
			}
		}
	}
	observe(3)
	if n := w.count(published); n != 1 {
		t.Fatalf("3 observations of the color being prepared probed its published port %d times, want once", n)
	}

	w.big.Lock()
	w.containers["bg-web-green"].StartedAt = time.Now().Add(time.Second) // started again
	w.big.Unlock()
	observe(2)
	if n := w.count(published); n != 2 {
		t.Fatalf("a new run was probed at its published port %d times in 2 observations, want once", n-1)
	}
}
