package reconcile

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestWarmUpSendsEveryRequest: WarmUp sends exactly the requests asked,
// never more at once than the concurrency, reads each answer whatever its
// status, and fails only when none got an answer, naming the address.
func TestWarmUpSendsEveryRequest(t *testing.T) {
	var got, inFlight, most atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		got.Add(1)
		time.Sleep(2 * time.Millisecond) // a slow start, so that requests overlap
		if r.URL.Path != "/cold" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable) // counted, not judged
	}))
	defer srv.Close()
	p := NewHTTPProber(time.Second)
	if err := p.WarmUp(context.Background(), srv.URL, "/cold", 57, 4); err != nil {
		t.Fatalf("WarmUp: %v", err)
	}
	if got.Load() != 57 || most.Load() > 4 || most.Load() < 2 {
		t.Errorf("%d requests, at most %d at once; want 57, 2 to 4 at once", got.Load(), most.Load())
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	err = p.WarmUp(context.Background(), dead, "/", 3, 2)
	if err == nil || !strings.Contains(err.Error(), dead+"/") || !strings.Contains(err.Error(), "none of 3 requests got an answer") {
		t.Errorf("WarmUp of an address that does not answer: %v", err)
	}
}

// TestLoopWarmsUpOnceBeforeTheSwitch: a release with spec.warmup warms up
// the new color once, at its own address, after it is ready and before
// the map moves; the record in status keeps it from being warmed up
// again.
func TestLoopWarmsUpOnceBeforeTheSwitch(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2", "  warmup: {path: /, requests: 30}"))
	calls := h.converge()
	warm, switched := slices.Index(calls, "warm up http://172.17.0.2:8080/ 30 at 4"), slices.Index(calls, "set map /etc/haproxy/hosts.map web web_green")
	if warm < 0 || switched < 0 || warm > switched || slices.Index(calls, "start bg-web-green") > warm {
		t.Fatalf("want green started, warmed up once, then switched; calls %v", calls)
	}
	if n := w.count("warm up http://172.17.0.2:8080/ 30 at 4"); n != 1 {
		t.Errorf("warmed up %d times, want once", n)
	}
	if r := h.serviceStatus().Warmup; r == nil || r.Color != spec.Green || len(r.Runs) != 1 || r.Runs[0].Container != "id-bg-web-green" {
		t.Errorf("status warm-up record %+v", r)
	}
}
