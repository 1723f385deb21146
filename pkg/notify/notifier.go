package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Notifier is a reconcile.Listener that posts release events to webhooks
// (see the package comment). Its methods may be called from several
// goroutines at once.
type Notifier struct {
	cfg       Config
	log       logr.Logger
	receivers []receiver
	secret    []byte

	// ctx ends when Close gives up: requests and waits are cut.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	seq       map[string]uint64    // per service, the last sequence number given
	crashSeen map[string]time.Time // per service, its last CrashLoop decision
	down      map[string]bool      // per service, whether its last decision was ServedColorDown
	canary    map[string]int       // per service, the canary step in force at its last decision (0: none)
	queues    map[queueKey]*queue
	stats     Stats
	// abandoned counts the events Close gave up on.
	abandoned uint64
}

// Stats counts events, each once per receiver.
type Stats struct {
	// Delivered were answered 2xx.
	Delivered uint64
	// Failed were given up after an error (retries spent, or an answer
	// not worth retrying).
	Failed uint64
	// Dropped never went: their queue was full, the Notifier was closed,
	// or Close gave up before their turn.
	Dropped uint64
	// Queued wait or are in flight now.
	Queued uint64
}

// queueKey names the queue of one service's events to one receiver.
type queueKey struct {
	receiver int
	service  string
}

// queue holds events in order; events[0] is in flight while running.
type queue struct {
	events  []*pending
	running bool
}

// pending is an event ready to go: its body and signature.
type pending struct {
	typ, service string
	seq          uint64
	id           string
	body         []byte
	signature    string // "" without a secret
}

var _ reconcile.Listener = (*Notifier)(nil)

// New checks cfg and returns a Notifier ready to take events: an error
// names the URL (without its path) or the secret file that is refused.
func New(cfg Config) (*Notifier, error) {
	rs, err := parseReceivers(cfg.URLs)
	if err != nil {
		return nil, err
	}
	var secret []byte
	if cfg.SecretFile != "" {
		if secret, err = readSecret(cfg.SecretFile); err != nil {
			return nil, err
		}
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Notifier{cfg: cfg, log: cfg.Log, receivers: rs, secret: secret, ctx: ctx, cancel: cancel,
		seq: map[string]uint64{}, crashSeen: map[string]time.Time{}, down: map[string]bool{}, canary: map[string]int{}, queues: map[queueKey]*queue{}}, nil
}

// ReleaseStarted posts a ReleaseStarted event.
func (n *Notifier) ReleaseStarted(s *spec.Service, from spec.Color, at time.Time) {
	n.post(startedEvent(s, from, at))
}

// ReleaseEnded posts an event of the release's outcome.
func (n *Notifier) ReleaseEnded(r state.Release) {
	n.post(endedEvent(r))
}

// Decided posts a CrashLoop event when a crash loop starts: the service's
// first CrashLoop decision, or the first after CrashLoopQuiet without one;
// and a ServedColorDown event when an outage starts: a ServedColorDown
// decision after one of another reason.
func (n *Notifier) Decided(v reconcile.ServiceView, d planner.Decision, at time.Time) {
	n.mu.Lock()
	wasDown := n.down[v.Service]
	n.down[v.Service] = d.Reason == planner.ReasonServedColorDown
	step := 0
	if v.Canary != nil {
		step = v.Canary.Step
	}
	wasStep := n.canary[v.Service]
	n.canary[v.Service] = step
	n.mu.Unlock()
	if d.Reason == planner.ReasonServedColorDown && !wasDown {
		n.post(servedDownEvent(v, d, at))
	}
	if step != 0 && step != wasStep {
		n.post(canaryStepEvent(v, at))
	}
	if d.Reason != planner.ReasonCrashLoop {
		return
	}
	n.mu.Lock()
	last, seen := n.crashSeen[v.Service]
	n.crashSeen[v.Service] = at
	n.mu.Unlock()
	if seen && at.Sub(last) < n.cfg.CrashLoopQuiet {
		return
	}
	n.post(crashLoopEvent(v, d, at))
}

// Stepped posts a ServedColorRestarted event for a restart of the served
// color for failing its health.
func (n *Notifier) Stepped(service string, st planner.Step, took time.Duration, err error) {
	if st.Action == planner.RestartContainer && err == nil {
		n.post(restartedEvent(service, st, time.Now()))
	}
}

// ObserveFailed and PassEnded post nothing.
func (n *Notifier) ObserveFailed(service string, reason planner.Reason, err error, at time.Time) {}
func (n *Notifier) PassEnded(ok bool, at time.Time)                                              {}

// Stats returns the counts so far.
func (n *Notifier) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// post numbers e, encodes and signs it, and queues it for every receiver.
// It never waits for the network.
func (n *Notifier) post(e Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.stats.Dropped += uint64(len(n.receivers))
		n.log.V(1).Info("Webhook notifier closed; event dropped", "service", e.Service, "event", e.Type)
		return
	}
	n.seq[e.Service]++
	e.Seq, e.ID = n.seq[e.Service], newID()
	body, err := json.Marshal(e)
	if err != nil { // a time out of JSON's range; nothing else can fail
		n.stats.Dropped += uint64(len(n.receivers))
		n.log.Error(fmt.Errorf("encode %s event %d of %s: %w", e.Type, e.Seq, e.Service, err), "Webhook event dropped")
		return
	}
	p := &pending{typ: e.Type, service: e.Service, seq: e.Seq, id: e.ID, body: body}
	if n.secret != nil {
		p.signature = Sign(n.secret, body)
	}
	for i := range n.receivers {
		n.enqueue(i, p)
	}
}

// enqueue puts p on the queue of receiver i for its service, and starts
// the queue's goroutine if it has none. n.mu is held.
func (n *Notifier) enqueue(i int, p *pending) {
	key := queueKey{i, p.service}
	q := n.queues[key]
	if q == nil {
		q = &queue{}
		n.queues[key] = q
	}
	if len(q.events) >= n.cfg.QueueSize {
		n.stats.Dropped++
		n.log.Info("Webhook queue full; event dropped", "service", p.service, "event", p.typ, "seq", p.seq,
			"receiver", n.receivers[i].name, "queueSize", n.cfg.QueueSize)
		return
	}
	q.events = append(q.events, p)
	n.stats.Queued++
	if !q.running {
		q.running = true
		n.wg.Add(1)
		go n.drain(key, q)
	}
}

// drain sends q's events in order, one at a time, until q is empty; then
// the queue is removed.
func (n *Notifier) drain(key queueKey, q *queue) {
	defer n.wg.Done()
	r := n.receivers[key.receiver]
	for {
		n.mu.Lock()
		if len(q.events) == 0 {
			q.running = false
			delete(n.queues, key)
			n.mu.Unlock()
			return
		}
		p := q.events[0]
		n.mu.Unlock()
		result := n.deliver(r, p)
		n.mu.Lock()
		q.events[0] = nil
		q.events = q.events[1:]
		n.stats.Queued--
		switch result {
		case delivered:
			n.stats.Delivered++
		case failed:
			n.stats.Failed++
		default:
			n.stats.Dropped++
			n.abandoned++
		}
		n.mu.Unlock()
	}
}

// Close stops taking events and waits for the queues to empty, or for ctx
// to end: then requests in flight are cut and the events left are
// dropped, and the error says how many. Calls after the first return nil.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	defer n.closeConnections()
	select {
	case <-done:
		n.cancel()
		return nil
	case <-ctx.Done():
	}
	n.cancel()
	<-done
	n.mu.Lock()
	left := n.abandoned
	n.mu.Unlock()
	if left == 0 {
		return nil
	}
	return fmt.Errorf("close webhook notifier: gave up on %d events not delivered yet: %w", left, ctx.Err())
}

// closeConnections closes the idle connections of the Notifier's own client.
func (n *Notifier) closeConnections() {
	if n.cfg.ownClient {
		n.cfg.Client.CloseIdleConnections()
	}
}
