package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server is an httptest server that counts handled requests and accepted
// connections.
type server struct {
	*httptest.Server
	handled atomic.Int64
	conns   atomic.Int64
}

func newServer(t *testing.T, h func(n int64, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(s.handled.Add(1), w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func answer(body string) func(int64, http.ResponseWriter, *http.Request) {
	return func(_ int64, w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, body) }
}

func checkSums(t *testing.T, res *Result) {
	t.Helper()
	if res.Sent != res.OK+res.Failed {
		t.Errorf("Sent %d != OK %d + Failed %d", res.Sent, res.OK, res.Failed)
	}
	if int64(len(res.Latencies)) != res.Sent {
		t.Errorf("%d latencies for %d requests", len(res.Latencies), res.Sent)
	}
	var ok, failed int64
	for _, b := range res.PerSecond() {
		ok += b.OK
		failed += b.Failed
	}
	if ok != res.OK || failed != res.Failed {
		t.Errorf("per-second buckets sum to ok=%d failed=%d, result says ok=%d failed=%d", ok, failed, res.OK, res.Failed)
	}
	if res.End.Before(res.Start) {
		t.Errorf("End %v before Start %v", res.End, res.Start)
	}
}

func TestCountsOKAndTotalExact(t *testing.T) {
	s := newServer(t, answer("green v2"))
	for _, c := range []int{1, 3, 8} {
		t.Run(fmt.Sprint("concurrency=", c), func(t *testing.T) {
			before := s.handled.Load()
			res := Start(context.Background(), Config{URL: s.URL + "/", Concurrency: c, Total: 301, KeepAlive: true}).Wait()
			t.Log(res.Summary())
			checkSums(t, res)
			if res.Sent != 301 || res.OK != 301 || res.Failed != 0 {
				t.Fatalf("want 301 sent and ok, got %s", res.Summary())
			}
			if got := s.handled.Load() - before; got != 301 {
				t.Fatalf("server handled %d requests, want exactly 301", got)
			}
			if res.Bodies["green v2"] != 301 || len(res.Bodies) != 1 {
				t.Fatalf("bodies = %v", res.Bodies)
			}
			if len(res.FailSamples) != 0 || len(res.Samples) != 0 {
				t.Fatalf("unexpected samples: %d fail, %d recorded", len(res.FailSamples), len(res.Samples))
			}
			if res.Err() != nil {
				t.Fatal(res.Err())
			}
		})
	}
}

func TestCounts500AsFailed(t *testing.T) {
	var fivehundreds atomic.Int64
	s := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n%3 == 0 {
			fivehundreds.Add(1)
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "blue v1")
	})
	res := Start(context.Background(), Config{URL: s.URL, Concurrency: 4, Total: 300, KeepAlive: true}).Wait()
	checkSums(t, res)
	if res.Sent != 300 || res.Failed != 100 || res.OK != 200 || fivehundreds.Load() != 100 {
		t.Fatalf("want 300 sent, 100 failed; got %s (server sent %d 500s)", res.Summary(), fivehundreds.Load())
	}
	if res.Bodies["boom"] != 100 || res.Bodies["blue v1"] != 200 {
		t.Fatalf("bodies = %v", res.Bodies)
	}
	if len(res.FailSamples) != MaxFailSamples {
		t.Fatalf("%d fail samples, want %d", len(res.FailSamples), MaxFailSamples)
	}
	for _, f := range res.FailSamples {
		if f.Status != 500 || !strings.Contains(f.Err, "500") || f.Body != "boom" {
			t.Fatalf("bad fail sample %+v", f)
		}
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "100 of 300") {
		t.Fatalf("Err() = %v", err)
	}
}

// A listener that accepts and immediately closes: every request fails with a
// transport error, none is retried into a success.
func TestCountsClosedConnectionsAsFailed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	for _, ka := range []bool{true, false} {
		res := Start(context.Background(), Config{URL: "http://" + ln.Addr().String() + "/", Concurrency: 3, Total: 60, KeepAlive: ka}).Wait()
		checkSums(t, res)
		if res.Sent != 60 || res.Failed != 60 || res.OK != 0 {
			t.Fatalf("keepalive=%v: want 60 failed, got %s", ka, res.Summary())
		}
		if res.FailSamples[0].Err == "" || res.FailSamples[0].Status != 0 {
			t.Fatalf("fail sample %+v", res.FailSamples[0])
		}
		t.Logf("keepalive=%v: %s; first error: %s", ka, res.Summary(), res.FailSamples[0].Err)
	}
}

// A server that drops every 4th request's connection without answering. New
// connection per request, so the client cannot retry them on another
// connection: the failures must match the drops exactly.
func TestCountsDroppedRequestsAsFailed(t *testing.T) {
	var dropped atomic.Int64
	s := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n%4 == 0 {
			dropped.Add(1)
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			c.Close()
			return
		}
		fmt.Fprintln(w, "ok")
	})
	res := Start(context.Background(), Config{URL: s.URL, Concurrency: 4, Total: 200}).Wait()
	checkSums(t, res)
	t.Log(res.Summary())
	if res.Sent != 200 || res.Failed != dropped.Load() || res.Failed != 50 {
		t.Fatalf("server dropped %d, client counted %s", dropped.Load(), res.Summary())
	}
}

// The same with keep-alive: a drop on a reused connection is re-sent by
// net/http on a new connection (and usually succeeds); a drop on a fresh
// connection fails. Every drop is either a failure or a counted retry.
func TestKeepAliveDropsAreFailuresOrCountedRetries(t *testing.T) {
	var dropped atomic.Int64
	s := newServer(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n%4 == 0 {
			dropped.Add(1)
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			c.Close()
			return
		}
		fmt.Fprintln(w, "ok")
	})
	res := Start(context.Background(), Config{URL: s.URL, Concurrency: 4, Total: 200, KeepAlive: true, Record: true}).Wait()
	checkSums(t, res)
	t.Log(res.Summary())
	if res.Sent != 200 || res.Failed+res.Retries != dropped.Load() || res.Sent+res.Retries != s.handled.Load() {
		t.Fatalf("server dropped %d of %d, client counted %s", dropped.Load(), s.handled.Load(), res.Summary())
	}
	if res.Retries == 0 {
		t.Fatal("expected net/http to retry some drops on reused connections")
	}
	var attempts int64
	for _, smp := range res.Samples {
		attempts += int64(smp.Attempts)
	}
	if attempts != s.handled.Load() {
		t.Fatalf("samples count %d attempts, server handled %d", attempts, s.handled.Load())
	}
}

// With NoRetry every drop is a failure, keep-alive or not.
func TestNoRetryCountsEveryDrop(t *testing.T) {
	var dropped atomic.Int64
	var mu sync.Mutex
	var bad []string
	s := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 || len(r.TransferEncoding) != 0 {
			mu.Lock()
			bad = append(bad, fmt.Sprintf("length %d, encoding %v", r.ContentLength, r.TransferEncoding))
			mu.Unlock()
		}
		if n%4 == 0 {
			dropped.Add(1)
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			c.Close()
			return
		}
		fmt.Fprintln(w, "ok")
	})
	res := Start(context.Background(), Config{URL: s.URL, Concurrency: 4, Total: 200, KeepAlive: true, NoRetry: true}).Wait()
	checkSums(t, res)
	t.Log(res.Summary())
	if res.Sent != 200 || res.Retries != 0 || res.Failed != dropped.Load() || res.Failed != 50 || s.handled.Load() != 200 {
		t.Fatalf("server dropped %d of %d, client counted %s", dropped.Load(), s.handled.Load(), res.Summary())
	}
	if len(bad) > 0 {
		t.Fatalf("NoRetry requests carried a body: %v", bad[:1])
	}
	if c := s.conns.Load(); c > 4+50 {
		t.Fatalf("%d connections: keep-alive not kept", c)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res := Start(context.Background(), Config{URL: "http://" + addr + "/", Concurrency: 2, Total: 10, KeepAlive: true}).Wait()
	checkSums(t, res)
	if res.Failed != 10 || !strings.Contains(res.FailSamples[0].Err, "refused") {
		t.Fatalf("want 10 refused, got %s, %+v", res.Summary(), res.FailSamples)
	}
}

func TestTimeoutIsFailure(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release) // before s.Close (cleanup) so the handlers return
	res := Start(context.Background(), Config{URL: s.URL, Concurrency: 2, Total: 4, Timeout: 50 * time.Millisecond}).Wait()
	checkSums(t, res)
	if res.Failed != 4 || !strings.Contains(res.FailSamples[0].Err, "Timeout") {
		t.Fatalf("want 4 timeouts, got %s %+v", res.Summary(), res.FailSamples)
	}
}

func TestKeepAliveConnections(t *testing.T) {
	t.Run("keepalive", func(t *testing.T) {
		s := newServer(t, answer("x"))
		res := Start(context.Background(), Config{URL: s.URL, Concurrency: 4, Total: 400, KeepAlive: true}).Wait()
		checkSums(t, res)
		if res.OK != 400 {
			t.Fatal(res.Summary())
		}
		// One connection per worker (a worker that got no request opens none).
		if c := s.conns.Load(); c < 1 || c > 4 {
			t.Fatalf("%d connections for 4 keep-alive workers", c)
		}
		t.Logf("400 requests over %d connections", s.conns.Load())
	})
	t.Run("new connection per request", func(t *testing.T) {
		s := newServer(t, answer("x"))
		res := Start(context.Background(), Config{URL: s.URL, Concurrency: 4, Total: 400}).Wait()
		checkSums(t, res)
		if res.OK != 400 {
			t.Fatal(res.Summary())
		}
		if c := s.conns.Load(); c != 400 {
			t.Fatalf("%d connections for 400 requests without keep-alive", c)
		}
	})
}

func TestHostHeaderAndRecord(t *testing.T) {
	var mu sync.Mutex
	hosts := map[string]int{}
	s := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts[r.Host]++
		mu.Unlock()
		fmt.Fprintf(w, "  body %d  \n", n%2)
	})
	res := Start(context.Background(), Config{URL: s.URL, Host: "app.example", Concurrency: 3, Total: 30, KeepAlive: true, Record: true}).Wait()
	checkSums(t, res)
	if hosts["app.example"] != 30 || len(hosts) != 1 {
		t.Fatalf("hosts seen: %v", hosts)
	}
	if len(res.Samples) != 30 {
		t.Fatalf("%d samples recorded", len(res.Samples))
	}
	for i, smp := range res.Samples {
		if i > 0 && smp.Start.Before(res.Samples[i-1].Start) {
			t.Fatal("samples not sorted by start")
		}
		if smp.Status != 200 || smp.Err != "" || (smp.Body != "body 0" && smp.Body != "body 1") || smp.End.Before(smp.Start) {
			t.Fatalf("bad sample %+v", smp)
		}
	}
	if res.Bodies["body 0"]+res.Bodies["body 1"] != 30 {
		t.Fatalf("bodies %v", res.Bodies)
	}
}

func TestStopAndContextLetInFlightFinish(t *testing.T) {
	s := newServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		time.Sleep(2 * time.Millisecond)
		fmt.Fprintln(w, "ok")
	})
	t.Run("Stop", func(t *testing.T) {
		before := s.handled.Load()
		r := Start(context.Background(), Config{URL: s.URL, Concurrency: 8, KeepAlive: true})
		for r.Sent() < 100 {
			time.Sleep(time.Millisecond)
		}
		res := r.Stop()
		checkSums(t, res)
		if res.Failed != 0 || res.Sent < 100 || res.Sent != s.handled.Load()-before {
			t.Fatalf("server handled %d, %s", s.handled.Load()-before, res.Summary())
		}
		if again := r.Stop(); again != res || r.Wait() != res {
			t.Fatal("Stop/Wait after Stop must return the same result")
		}
		if r.Sent() != res.Sent || r.OK() != res.OK || r.Failed() != 0 {
			t.Fatal("live counters disagree with the result")
		}
	})
	t.Run("context", func(t *testing.T) {
		before := s.handled.Load()
		ctx, cancel := context.WithCancel(context.Background())
		r := Start(ctx, Config{URL: s.URL, Concurrency: 8})
		for r.Sent() < 100 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		res := r.Wait()
		checkSums(t, res)
		if res.Failed != 0 || res.Sent != s.handled.Load()-before {
			t.Fatalf("server handled %d, %s", s.handled.Load()-before, res.Summary())
		}
	})
}

func TestRate(t *testing.T) {
	s := newServer(t, answer("ok"))
	res := Start(context.Background(), Config{URL: s.URL, Concurrency: 4, Total: 40, Rate: 400, KeepAlive: true}).Wait()
	checkSums(t, res)
	if res.OK != 40 {
		t.Fatal(res.Summary())
	}
	// Informational only: 40 requests at 400/s are paced over >= 97.5ms.
	t.Logf("40 requests at Rate=400 took %s", res.Duration())
}

func TestPercentileAndPerSecond(t *testing.T) {
	r := &Result{}
	if r.Percentile(50) != 0 {
		t.Fatal("empty result must give 0")
	}
	for i := 100; i >= 1; i-- { // unsorted on purpose
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]int{0: 1, 1: 1, 50: 50, 90: 90, 99: 99, 99.5: 100, 100: 100, 150: 100} {
		if got := r.Percentile(p); got != time.Duration(want)*time.Millisecond {
			t.Errorf("p%v = %v, want %dms", p, got, want)
		}
	}
	r.Latencies = append(r.Latencies, time.Second) // cache invalidated by length
	if got := r.Percentile(100); got != time.Second {
		t.Errorf("p100 after append = %v", got)
	}
	one := &Result{Latencies: []time.Duration{7}}
	if one.Percentile(1) != 7 || one.Percentile(99) != 7 {
		t.Error("single latency")
	}

	start := time.Unix(1000, 0)
	r = &Result{Start: start, End: start.Add(2500 * time.Millisecond), Sent: 6, OK: 5, Failed: 1,
		buckets: []Bucket{{OK: 2}, {}, {OK: 3, Failed: 1}}}
	b := r.PerSecond()
	if len(b) != 3 || !b[2].Start.Equal(start.Add(2*time.Second)) || b[1].OK != 0 || b[2].Failed != 1 {
		t.Fatalf("PerSecond = %+v", b)
	}
	if got := fmt.Sprintf("%.1f", r.RPS()); got != "2.4" {
		t.Errorf("RPS = %s", got)
	}
	if s := r.Summary(); !strings.Contains(s, "sent=6 ok=5 failed=1") || !strings.Contains(s, "p50=") || !strings.Contains(s, "p99=") {
		t.Errorf("Summary = %q", s)
	}
}

func TestBadURLCountsAsFailed(t *testing.T) {
	res := Start(context.Background(), Config{URL: "http://[::1", Total: 3}).Wait()
	if res.Failed != 3 {
		t.Fatal(res.Summary())
	}
}
