package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
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
