package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// hanging is a receiver that never answers: each request waits until the
// client gives up on it (or the test ends), and says when it was cut.
type hanging struct {
	release chan struct{}
	cut     chan time.Duration
	started atomic.Int64
}

func newHanging(t *testing.T) (*hanging, string) {
	h := &hanging{release: make(chan struct{}), cut: make(chan time.Duration, 10000)}
	rec := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		h.started.Add(1)
		began := time.Now()
		select {
		case <-r.Context().Done():
			h.cut <- time.Since(began)
		case <-h.release:
		}
	})
	t.Cleanup(func() { close(h.release) }) // runs before the server's Close
	return h, rec.srv.URL
}

// TestHangingReceiverDoesNotBlockTheLoop: with a receiver that never
// answers, a burst of Listener calls still returns at once, and the
// receiver's requests are cut by the request timeout.
func TestHangingReceiverDoesNotBlockTheLoop(t *testing.T) {
	h, url := newHanging(t)
	n := newNotifier(t, Config{URLs: []string{url}, Timeout: 100 * time.Millisecond, MaxAttempts: 2,
		Backoff: 10 * time.Millisecond, QueueSize: 8})

	const services, perService = 10, 20
	began := time.Now()
	var wg sync.WaitGroup
	for s := range services { // the loop calls from several goroutines
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := service(t, fmt.Sprintf("svc%d", s), spec.Green, "demo:v2")
			for i := range perService {
				n.ReleaseStarted(svc, spec.Blue, t0)
				n.ReleaseEnded(state.Release{Service: svc.Name, To: spec.Green, ToImage: "demo:v2", Start: t0, End: t0.Add(time.Duration(i) * time.Second), Outcome: planner.OutcomeSucceeded})
				n.Decided(reconcile.ServiceView{Service: svc.Name, Served: spec.Blue}, planner.Decision{Reason: "CrashLoop"}, t0.Add(time.Duration(i)*time.Hour))
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	t.Logf("%d Listener calls with a hanging receiver took %s", services*perService*3, took)
	if took > time.Second {
		t.Fatalf("%d Listener calls with a hanging receiver took %s, want well under 1s", services*perService*3, took)
	}

	// The receiver's requests are cut by the timeout (100ms), not left
	// hanging: the first is cut in well under the bound asserted here.
	select {
	case d := <-h.cut:
		t.Logf("the first request to the hanging receiver was cut after %s (timeout 100ms)", d)
		if d > 5*time.Second {
			t.Errorf("a request to the hanging receiver was cut after %s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no request to the hanging receiver was cut within 10s")
	}
	deadline := time.Now().Add(10 * time.Second)
	for n.Stats().Failed == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s := n.Stats()
	if s.Failed == 0 {
		t.Fatalf("stats %+v: no event given up within 10s", s)
	}
	if total := uint64(services * perService * 3); s.Dropped == 0 || s.Delivered != 0 || s.Dropped+s.Queued+s.Failed != total {
		t.Errorf("stats %+v: want some of the %d events dropped, the others queued or given up, none delivered", s, total)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = n.Close(ctx)
}

// TestQueueBoundDropsAndCounts: a queue holds QueueSize events, the one
// in flight included; the next ones are dropped, each logged and counted,
// and the ones kept are delivered in order once the receiver answers.
func TestQueueBoundDropsAndCounts(t *testing.T) {
	gate := make(chan struct{})
	rec := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
		}
	})
	var mu sync.Mutex
	var logged []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, args)
	}, funcr.Options{})
	n := newNotifier(t, Config{URLs: []string{rec.srv.URL}, QueueSize: 3, Timeout: 30 * time.Second, Log: log})
	svc := service(t, "web", spec.Green, "demo:v2")
	for range 10 {
		n.ReleaseStarted(svc, spec.Blue, t0)
	}
	n.ReleaseStarted(service(t, "api", spec.Green, "api:v2"), spec.Blue, t0) // another service has its own queue
	if s := n.Stats(); s.Dropped != 7 || s.Queued != 4 {
		t.Fatalf("stats %+v: want 7 dropped and 4 queued", s)
	}
	mu.Lock()
	var drops int
	for _, l := range logged {
		if strings.Contains(l, `"msg"="Webhook queue full; event dropped"`) && strings.Contains(l, `"service"="web"`) {
			drops++
		}
	}
	mu.Unlock()
	if drops != 7 {
		t.Errorf("%d drops logged, want 7:\n%s", drops, strings.Join(logged, "\n"))
	}
	close(gate)
	closeNow(t, n)
	var seqs []uint64
	for _, e := range rec.of("web") {
		seqs = append(seqs, e.Seq)
	}
	if want := []uint64{1, 2, 3}; !equal(seqs, want) {
		t.Errorf("receiver got seqs %v, want %v", seqs, want)
	}
	if got := rec.of("api"); len(got) != 1 {
		t.Errorf("api: %d events, want 1", len(got))
	}
	if s := n.Stats(); s != (Stats{Delivered: 4, Dropped: 7}) {
		t.Errorf("stats %+v, want 4 delivered and 7 dropped", s)
	}
}

// TestCloseGivesUpAtTheDeadline: Close with a receiver that hangs returns
// once its context ends, cutting the request in flight, and says how
// many events were not delivered; events after Close are dropped.
func TestCloseGivesUpAtTheDeadline(t *testing.T) {
	h, url := newHanging(t)
	n := newNotifier(t, Config{URLs: []string{url}, Timeout: time.Minute})
	svc := service(t, "web", spec.Green, "demo:v2")
	for range 3 {
		n.ReleaseStarted(svc, spec.Blue, t0)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.started.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := n.Close(ctx)
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Close took %s with a 100ms deadline", took)
	}
	if err == nil || !strings.Contains(err.Error(), "close webhook notifier: gave up on 3 events not delivered yet: context deadline exceeded") {
		t.Fatalf("Close: %v", err)
	}
	n.ReleaseStarted(svc, spec.Blue, t0)
	if s := n.Stats(); s != (Stats{Dropped: 4}) {
		t.Errorf("stats %+v, want 4 dropped", s)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}
