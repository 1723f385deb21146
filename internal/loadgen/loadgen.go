// Package loadgen is a small HTTP load generator for end-to-end tests and
// benchmarks. It counts every request it completes and every failure: a
// transport error, a timeout, or a status other than 200.
//
// In keep-alive mode net/http transparently re-sends a GET that failed on a
// reused connection before any byte of answer came back (the server closed
// the idle connection as the request left, as an HAProxy worker does after a
// reload). Such a request counts once, by its final outcome; Result.Retries
// counts the extra attempts, so the masking is visible.
//
// Requests already in flight when the run is stopped (Stop, or the context
// given to Start is done) are allowed to finish, bounded by Config.Timeout, so
// that stopping the generator never manufactures failures.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one load run.
type Config struct {
	URL         string        // e.g. http://127.0.0.1:8080/
	Host        string        // optional Host header
	Concurrency int           // workers (>=1)
	Total       int           // stop after this many requests in all (0 = until ctx done or Stop)
	Rate        int           // optional max requests/s in all (0 = unlimited)
	KeepAlive   bool          // true: each worker reuses its connection; false: new TCP connection per request
	Timeout     time.Duration // per request, default 10s
	Record      bool          // keep every Sample
	// NoRetry stops net/http from transparently re-sending a request that
	// failed on a reused keep-alive connection: every attempt then counts.
	// (The request is sent as a GET without body all the same.)
	NoRetry bool
}

// Sample is one completed request.
type Sample struct {
	Start, End time.Time
	Status     int    // 0 when no response was received
	Body       string // trimmed body (at most MaxBodyKey bytes)
	Err        string // transport error, or "status N" for a non-200 answer
	Attempts   int    // connections used: 1, more when net/http retried, 0 when none was obtained
}

// Latency is End - Start.
func (s Sample) Latency() time.Duration { return s.End.Sub(s.Start) }

// Failed reports whether the sample counts as a failure.
func (s Sample) Failed() bool { return s.Err != "" || s.Status != http.StatusOK }

// Bucket counts the requests that completed during one second of the run.
type Bucket struct {
	Start      time.Time
	OK, Failed int64
}

// MaxBodyKey bounds the body text kept per request (Bodies keys, Sample.Body).
const MaxBodyKey = 256

// MaxFailSamples is how many failures Result.FailSamples keeps.
const MaxFailSamples = 20

// Result is the merged outcome of a run.
type Result struct {
	Sent, OK, Failed int64            // Sent = OK + Failed = completed requests
	Retries          int64            // extra attempts net/http made on a new connection (see package doc)
	Bodies           map[string]int64 // count per trimmed body (e.g. "green v2"), 200 answers and others alike
	FailSamples      []Sample         // first MaxFailSamples failures, by completion time
	Samples          []Sample         // every request, by start time, when Config.Record
	Latencies        []time.Duration  // every request, in completion order per worker
	Start, End       time.Time        // run start; last completion (or the stop time when none)

	buckets []Bucket // per second since Start
	sorted  []time.Duration
}

// Duration is End - Start.
func (r *Result) Duration() time.Duration { return r.End.Sub(r.Start) }

// RPS is completed requests per second over the run.
func (r *Result) RPS() float64 {
	d := r.Duration().Seconds()
	if d <= 0 {
		return 0
	}
	return float64(r.Sent) / d
}

// Percentile returns the p-th percentile latency (p in 0..100, nearest rank)
// over all requests, failed ones included. It returns 0 when there are none.
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	if len(r.sorted) != len(r.Latencies) {
		r.sorted = append([]time.Duration(nil), r.Latencies...)
		sort.Slice(r.sorted, func(i, j int) bool { return r.sorted[i] < r.sorted[j] })
	}
	n := len(r.sorted)
	switch {
	case p <= 0 || math.IsNaN(p):
		return r.sorted[0]
	case p >= 100:
		return r.sorted[n-1]
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	return r.sorted[rank-1]
}

// PerSecond returns one bucket per second from Start to the last completion,
// counting requests by completion time. Seconds without completions are
// present with zero counts.
func (r *Result) PerSecond() []Bucket {
	out := make([]Bucket, len(r.buckets))
	copy(out, r.buckets)
	for i := range out {
		out[i].Start = r.Start.Add(time.Duration(i) * time.Second)
	}
	return out
}

// Summary is one line: sent/ok/failed/rps/p50/p99 and the bodies seen.
func (r *Result) Summary() string {
	keys := make([]string, 0, len(r.Bodies))
	for k := range r.Bodies {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q:%d", k, r.Bodies[k])
	}
	retries := ""
	if r.Retries > 0 {
		retries = fmt.Sprintf(" retries=%d", r.Retries)
	}
	return fmt.Sprintf("sent=%d ok=%d failed=%d%s rps=%.1f p50=%s p99=%s max=%s dur=%s bodies={%s}",
		r.Sent, r.OK, r.Failed, retries, r.RPS(),
		r.Percentile(50).Round(time.Microsecond), r.Percentile(99).Round(time.Microsecond),
		r.Percentile(100).Round(time.Microsecond), r.Duration().Round(time.Millisecond), b.String())
}

// Runner is a load run in progress.
type Runner struct {
	cfg   Config
	start time.Time
	stop  chan struct{}
	once  sync.Once // closes stop
	wg    sync.WaitGroup
	done  chan struct{} // closed when every worker returned
	ctx   context.Context

	claimed atomic.Int64 // requests handed to workers (Total accounting)
	sent    atomic.Int64 // completed
	ok      atomic.Int64
	failed  atomic.Int64

	paceMu sync.Mutex
	next   time.Time // next free slot when Rate > 0

	workers []*worker

	resOnce sync.Once
	res     *Result
}

type worker struct {
	client    *http.Client
	latencies []time.Duration
	bodies    map[string]int64
	fails     []Sample // up to MaxFailSamples
	samples   []Sample
	buckets   []Bucket
	ok, fail  int64
	retries   int64
	lastEnd   time.Time
}

// Start begins a run. Configuration errors (bad URL, ...) show up as failed
// requests, so a run never silently does nothing.
func Start(ctx context.Context, cfg Config) *Runner {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	r := &Runner{
		cfg:   cfg,
		start: time.Now(),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		ctx:   ctx,
	}
	r.next = r.start
	for i := 0; i < cfg.Concurrency; i++ {
		w := &worker{client: newClient(cfg), bodies: map[string]int64{}}
		r.workers = append(r.workers, w)
	}
	r.wg.Add(len(r.workers))
	for _, w := range r.workers {
		go r.run(w)
	}
	go func() {
		r.wg.Wait()
		close(r.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			r.signalStop()
		case <-r.done:
		}
	}()
	return r
}

func newClient(cfg Config) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               nil, // never an environment proxy: tests talk to 127.0.0.1
		DialContext:         dialer.DialContext,
		DisableKeepAlives:   !cfg.KeepAlive,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1, // one connection per worker: Concurrency = connections
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer, not followed
		},
	}
}

func (r *Runner) signalStop() { r.once.Do(func() { close(r.stop) }) }

func (r *Runner) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// pace blocks until the next request slot when Rate is set. It returns false
// when the run was stopped meanwhile.
func (r *Runner) pace() bool {
	if r.cfg.Rate <= 0 {
		return true
	}
	interval := time.Second / time.Duration(r.cfg.Rate)
	r.paceMu.Lock()
	now := time.Now()
	if r.next.Before(now) {
		r.next = now // no bursts to catch up after a stall
	}
	slot := r.next
	r.next = r.next.Add(interval)
	r.paceMu.Unlock()
	d := time.Until(slot)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.stop:
		return false
	}
}

func (r *Runner) run(w *worker) {
	defer r.wg.Done()
	defer w.client.CloseIdleConnections()
	total := int64(r.cfg.Total)
	for {
		if r.stopped() || r.ctx.Err() != nil {
			return
		}
		if total > 0 {
			if n := r.claimed.Add(1); n > total {
				return // the others finish the requests they claimed
			}
		}
		if !r.pace() {
			return
		}
		s := r.do(w)
		r.record(w, s)
		if total > 0 && r.sent.Load() >= total {
			r.signalStop()
		}
	}
}

func (r *Runner) do(w *worker) Sample {
	s := Sample{Start: time.Now()}
	// Deliberately not derived from the run's context: stopping the run must
	// not turn requests in flight into failures. Config.Timeout bounds them.
	ctx := httptrace.WithClientTrace(context.WithoutCancel(r.ctx), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { s.Attempts++ },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.URL, nil)
	if err != nil {
		s.End = time.Now()
		s.Err = err.Error()
		return s
	}
	if r.cfg.Host != "" {
		req.Host = r.cfg.Host
	}
	if r.cfg.NoRetry {
		// net/http retries only replayable requests: a body without GetBody
		// makes the GET non-replayable. The body is empty, so the transport
		// probes it and sends no body (no Transfer-Encoding).
		req.Body = io.NopCloser(strings.NewReader(""))
		req.GetBody = nil
	}
	resp, err := w.client.Do(req)
	if err != nil {
		s.End = time.Now()
		s.Err = err.Error()
		return s
	}
	body, err := io.ReadAll(resp.Body) // read to EOF so the connection is reused
	resp.Body.Close()
	s.End = time.Now()
	s.Status = resp.StatusCode
	s.Body = trimBody(body)
	switch {
	case err != nil:
		s.Err = "reading body: " + err.Error()
	case resp.StatusCode != http.StatusOK:
		s.Err = "status " + resp.Status
	}
	return s
}

func trimBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > MaxBodyKey {
		s = s[:MaxBodyKey]
	}
	return s
}

func (r *Runner) record(w *worker, s Sample) {
	failed := s.Failed()
	if s.Attempts > 1 {
		w.retries += int64(s.Attempts - 1)
	}
	if s.End.After(w.lastEnd) {
		w.lastEnd = s.End
	}
	w.latencies = append(w.latencies, s.Latency())
	if s.Status != 0 {
		w.bodies[s.Body]++
	}
	if failed {
		w.fail++
		if len(w.fails) < MaxFailSamples {
			w.fails = append(w.fails, s)
		}
	} else {
		w.ok++
	}
	if r.cfg.Record {
		w.samples = append(w.samples, s)
	}
	sec := int(s.End.Sub(r.start) / time.Second)
	if sec < 0 {
		sec = 0
	}
	for len(w.buckets) <= sec {
		w.buckets = append(w.buckets, Bucket{})
	}
	if failed {
		w.buckets[sec].Failed++
		r.failed.Add(1)
	} else {
		w.buckets[sec].OK++
		r.ok.Add(1)
	}
	r.sent.Add(1)
}

// Sent is the live count of completed requests (OK + failed).
func (r *Runner) Sent() int64 { return r.sent.Load() }

// OK is the live count of requests answered 200.
func (r *Runner) OK() int64 { return r.ok.Load() }

// Failed is the live count of failed requests.
func (r *Runner) Failed() int64 { return r.failed.Load() }

// Stop stops the workers (requests in flight finish), waits for them and
// returns the merged result. It may be called more than once, and after Wait.
func (r *Runner) Stop() *Result {
	r.signalStop()
	return r.Wait()
}

// Wait waits until Total requests completed, the context is done or Stop is
// called, and returns the merged result. With Total = 0 and a context that
// never ends, only a concurrent Stop makes it return.
func (r *Runner) Wait() *Result {
	<-r.done
	r.resOnce.Do(func() { r.res = r.merge() })
	return r.res
}

func (r *Runner) merge() *Result {
	res := &Result{Bodies: map[string]int64{}, Start: r.start}
	var fails []Sample
	for _, w := range r.workers {
		res.OK += w.ok
		res.Failed += w.fail
		res.Retries += w.retries
		res.Latencies = append(res.Latencies, w.latencies...)
		for k, v := range w.bodies {
			res.Bodies[k] += v
		}
		fails = append(fails, w.fails...)
		res.Samples = append(res.Samples, w.samples...)
		for len(res.buckets) < len(w.buckets) {
			res.buckets = append(res.buckets, Bucket{})
		}
		for i, b := range w.buckets {
			res.buckets[i].OK += b.OK
			res.buckets[i].Failed += b.Failed
		}
		if w.lastEnd.After(res.End) {
			res.End = w.lastEnd
		}
	}
	res.Sent = res.OK + res.Failed
	sort.SliceStable(fails, func(i, j int) bool { return fails[i].End.Before(fails[j].End) })
	if len(fails) > MaxFailSamples {
		fails = fails[:MaxFailSamples]
	}
	res.FailSamples = fails
	sort.SliceStable(res.Samples, func(i, j int) bool { return res.Samples[i].Start.Before(res.Samples[j].Start) })
	if res.End.IsZero() {
		res.End = time.Now()
	}
	return res
}

// Err returns nil when no request failed, else an error naming the count and
// the first failures.
func (r *Result) Err() error {
	if r.Failed == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d requests failed", r.Failed, r.Sent)
	for i, s := range r.FailSamples {
		if i == 5 {
			b.WriteString("; ...")
			break
		}
		fmt.Fprintf(&b, "; at +%s: %s", s.Start.Sub(r.Start).Round(time.Millisecond), s.Err)
	}
	return errors.New(b.String())
}
