package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Backoff after an error: doubles from the first to the last.
const (
	BackoffFirst = 100 * time.Millisecond
	BackoffMax   = 10 * time.Second
	logLines     = 20
)

// ErrSpec marks a refused desired state: nothing is acted on until it changes.
var ErrSpec = errors.New("desired state refused")

// Loop runs reconcile passes over every service of the desired state.
//
// Each service's step runs on its own goroutine, so that one service's long
// step (an image build, a slow stop) never delays another service's
// switch, rollback or repair: a service with a step in flight is not looked
// at until that step ends, and is then observed afresh (one step at a time
// per service). Everything else of the Loop is used by one goroutine: the
// one calling Pass, Run or RunOnce.
type Loop struct {
	Deps   *Deps
	Log    logr.Logger
	Status *state.StatusStore
	// Load reads the desired state afresh at every pass over every
	// service; a pass of some services only (a step ended, a gate, a
	// nudge of theirs) reuses what the last one read: the desired state
	// changes with its file (or commit), whose change asks for a pass
	// over every service, and is read again at every resync.
	Load func() ([]spec.Service, error)
	Now  func() time.Time
	// BeforeStep and AfterStep, when set, run around every step executed
	// (fault injection in tests: a crash at a chosen point of a release).
	// Steps of different services may run at once.
	BeforeStep func(planner.Step)
	AfterStep  func(planner.Step, error)
	// state.History, when set, records every release attempt.
	History *state.History
	// state.Approvals, when set, holds the promotions given at the host.
	Approvals *state.Approvals
	// Rollbacks, when set, holds the rollbacks asked for at the host.
	Rollbacks *state.Rollbacks
	// Retries, when set, holds the retries asked for at the host.
	Retries *state.Retries
	// StepTimeout bounds one step (a build, a container start or stop, a
	// runtime API command), so that an engine that hangs mid-step is
	// reported and retried instead of stalling its service; 0: no bound.
	StepTimeout time.Duration
	// Listener, when set, hears decisions, steps and releases (metrics,
	// notifications).
	Listener Listener
	// Nudges, when set, are the asks for a pass of some services only (or
	// of all), from the watchers of containers and servers (Run).
	Nudges *Nudges
	// Cache, when set, keeps the engine's answers about the controller's
	// containers between passes (ContainerCache); the watcher of container
	// events must be told of it, or nothing is kept. Run resyncs it at
	// every resync.
	Cache *ContainerCache

	// mu guards state.Status, which steps in flight update.
	mu       sync.Mutex
	failures map[string]int              // consecutive errors per service, for backoff only
	dueAt    map[string]time.Time        // when a service asked to be looked at again
	inFlight map[string]bool             // services with a step running
	last     map[string]planner.Decision // each service's latest decision
	// unwritten is, per service, the write of a status its step must not
	// act before (keepVerification).
	unwritten map[string]func()
	done      chan stepDone
	runtimes  []string // the HAProxy runtime API addresses of the desired state, guarded by mu
	// lastValid is each service's last spec that was not refused, in the
	// order first seen (validOrder): a service whose document is refused
	// runs on at it.
	lastValid  map[string]spec.Service
	validOrder []string
	// refusedLogged is the refusal last logged.
	refusedLogged string
	// backendOwner is the service of each backend of the desired state
	// last read, for the nudges that name a backend.
	backendOwner map[string]string
	// loaded is the desired state the last pass over every service read.
	loaded *loadedState
}

// loadedState is the desired state as desired returned it.
type loadedState struct {
	svcs  []spec.Service
	names map[string]bool // of svcs
	held  map[string]string
	err   error
}

// stepDone is the end of one service's step.
type stepDone struct {
	name string
	d    planner.Decision
	err  error
}

// PassResult sums up one pass.
type PassResult struct {
	// Converged is true when every service is at rest.
	Converged bool
	// Immediate asks for the next pass at once (a step was taken).
	Immediate bool
	// RequeueAfter is the soonest a service asked to be looked at again (0: none).
	RequeueAfter time.Duration
	// Stalled lists services that need a human (Failed), with why.
	Stalled []string
	// Errors lists services whose pass failed (retried with backoff).
	Errors []string
	// SpecErr is set when the desired state was refused.
	SpecErr error
	// Refused is set when some documents of it were refused: their
	// services are held, the others went on (spec.PartlyRefused).
	Refused error
}

func (l *Loop) init() {
	if l.failures == nil {
		l.failures, l.dueAt = map[string]int{}, map[string]time.Time{}
		l.inFlight, l.last = map[string]bool{}, map[string]planner.Decision{}
		l.unwritten = map[string]func(){}
		l.done = make(chan stepDone)
		l.Deps.stops() // set once, before observers share a copy of Deps
		l.Deps.now = l.Now
		if l.Deps.checks == nil {
			l.Deps.checks = &lastChecks{}
		}
		if l.Deps.published == nil {
			l.Deps.published = &publishedAnswers{}
		}
		if l.Cache != nil { // steps forget what they change
			l.Deps.Containers = l.Cache.executor(l.Deps.Containers)
		}
	}
}

// Pass reads the desired state, and for each service observes, plans and
// takes at most one step; it returns once every step has ended. state.Status is
// written once, at the end.
func (l *Loop) Pass(ctx context.Context) PassResult {
	res := l.pass(ctx, nil)
	for len(l.inFlight) > 0 {
		r := <-l.done
		l.finish(r, &res)
	}
	l.flush()
	return res
}

// pass looks at the services for which due says yes (all when nil) and
// that have no step in flight: a service waiting for a gate is looked at
// again without the others. Steps are started, not waited for; each one's
// end comes on l.done, for finish.
func (l *Loop) pass(ctx context.Context, due func(name string) bool) (res PassResult) {
	l.init()
	defer l.flushSoon()
	defer func() {
		l.listener().PassEnded(res.SpecErr == nil && res.Refused == nil && len(res.Errors) == 0, l.Now())
	}()
	reload := due == nil || l.loaded == nil
	if reload {
		l.load()
	}
	svcs, held, err := l.loaded.svcs, l.loaded.held, l.loaded.err
	l.mu.Lock()
	l.Status.SetSpecError(err)
	l.mu.Unlock()
	switch {
	case err != nil && len(svcs) == 0:
		res.SpecErr = fmt.Errorf("%w:\n%w", ErrSpec, err)
		l.Log.Error(err, "Desired state refused; nothing is changed until it is fixed")
		return res
	case err != nil:
		res.Refused = fmt.Errorf("%w:\n%w", ErrSpec, err)
		l.logRefused(err, held)
	}
	res.Converged = true
	var todo []int
	for i := range svcs {
		if l.inFlight[svcs[i].Name] || due != nil && !due(svcs[i].Name) {
			continue
		}
		delete(l.dueAt, svcs[i].Name)
		todo = append(todo, i)
	}
	l.countRetries(svcs, todo)
	observer := *l.Deps
	observer.HAProxy = newPassCache(l.Deps.HAProxy, len(todo)).client
	observer.Containers = newPassImages(l.observed())
	observer.MapFiles = newPassMapFiles(l.Deps.MapFiles)
	asked := l.hostRequests()
	obs := l.observeAll(ctx, svcs, todo, &observer)
	l.giveRequests(svcs, todo, obs, asked)
	for _, i := range todo {
		s := &svcs[i]
		d, err := l.sync(ctx, s, *obs[i])
		record := l.unwritten[s.Name]
		delete(l.unwritten, s.Name)
		if record != nil && (err != nil || d.Step == nil) {
			record()
		}
		if why, ok := held[s.Name]; ok {
			l.mu.Lock()
			l.Status.Service(s.Name).Hold(why, l.Now())
			l.mu.Unlock()
		}
		l.last[s.Name] = d
		switch {
		case err != nil:
			l.failed(s.Name, err, &res)
			continue
		case d.Step != nil:
			l.start(ctx, s, d, obs[i].o, record)
			res.Converged = false
			continue // failures are forgotten once the step succeeds
		case d.Phase == planner.Failed:
			res.Stalled = append(res.Stalled, fmt.Sprintf("%s: %s: %s", s.Name, d.Reason, d.Message))
		}
		delete(l.failures, s.Name)
		if !d.Converged() {
			res.Converged = false
		}
		if d.RequeueAfter > 0 {
			res.RequeueAfter = planner.Sooner(res.RequeueAfter, d.RequeueAfter)
			l.dueAt[s.Name] = l.Now().Add(d.RequeueAfter)
		}
	}
	if reload { // the services read: the others are forgotten
		l.keep(svcs)
	}
	return res
}

// start takes service s's step on a goroutine of its own, once record
// (nil: none) has written what the step must not act before.
func (l *Loop) start(ctx context.Context, s *spec.Service, d planner.Decision, o planner.Observed, record func()) {
	l.inFlight[s.Name] = true
	go func() {
		d, err := l.takeStep(ctx, s, d, o, record)
		l.done <- stepDone{name: s.Name, d: d, err: err}
	}()
}

// finish records the end of a step: the service is looked at again at
// once, or after a backoff if the step failed.
func (l *Loop) finish(r stepDone, res *PassResult) {
	delete(l.inFlight, r.name)
	res.Converged = false
	if r.err != nil {
		l.last[r.name] = planner.Decision{Phase: planner.Degraded, Reason: planner.ReasonStepFailed, Message: r.err.Error()}
		if refused(r.err) {
			l.last[r.name] = planner.Decision{Phase: planner.Failed, Reason: planner.ReasonStepRefused, Message: r.err.Error()}
		}
		l.failed(r.name, r.err, res)
		return
	}
	l.last[r.name] = r.d
	delete(l.failures, r.name)
	res.Immediate = true
	l.dueAt[r.name] = l.Now()
}

// failed schedules service name again after a backoff.
func (l *Loop) failed(name string, err error, res *PassResult) {
	res.Converged = false
	res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", name, err))
	wait := l.backoff(name)
	res.RequeueAfter = planner.Sooner(res.RequeueAfter, wait)
	l.dueAt[name] = l.Now().Add(wait)
}

func (l *Loop) backoff(name string) time.Duration {
	n := l.failures[name]
	l.failures[name] = n + 1
	d := BackoffFirst << min(n, 10)
	return min(d, BackoffMax)
}

// Run reconciles until ctx ends: a pass over every service at start, after
// every nudge (file saved) and every resync; a service that asked to be
// looked at again (a step ended, a gate not yet met, an error to retry) or
// that l.Nudges name (one of its containers or servers changed) is looked
// at alone. At every resync the container cache, if any, is checked
// against the engine's list. Steps in flight when ctx ends are waited for
// (they end with ctx).
func (l *Loop) Run(ctx context.Context, nudge <-chan struct{}, resync time.Duration) {
	l.init()
	defer l.waitInFlight()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var asked <-chan struct{}
	if l.Nudges != nil {
		asked = l.Nudges.c
	}
	var nextFull, nextResync time.Time // zero: due
	var res PassResult
	for {
		select {
		case <-ctx.Done():
			return
		case <-nudge:
			nextFull = time.Time{}
		case <-asked:
			if l.nudged() {
				nextFull = time.Time{}
			}
		case r := <-l.done:
			l.finish(r, &res)
		case <-timer.C:
		}
		now := l.Now()
		if l.Cache != nil && !now.Before(nextResync) {
			if n := l.Cache.Resync(ctx); n > 0 {
				l.Log.Info("Containers changed with no event seen; looking at them again", "containers", n)
			}
			nextResync, nextFull = now.Add(resync), time.Time{}
		}
		if now.Before(nextFull) {
			l.pass(ctx, l.due(now))
		} else {
			l.pass(ctx, nil)
			nextFull = now.Add(resync)
		}
		next := nextFull.Sub(l.Now())
		if l.Cache != nil {
			next = min(next, nextResync.Sub(l.Now()))
		}
		for name, at := range l.dueAt {
			if !l.inFlight[name] { // its step's end comes on l.done
				next = min(next, at.Sub(l.Now()))
			}
		}
		resetTimer(timer, max(next, 0))
	}
}

// due says which services asked to be looked at by now.
func (l *Loop) due(now time.Time) func(string) bool {
	return func(name string) bool {
		at, ok := l.dueAt[name]
		return ok && !at.After(now)
	}
}

// waitInFlight waits for the steps in flight to end.
func (l *Loop) waitInFlight() {
	var res PassResult
	for len(l.inFlight) > 0 {
		l.finish(<-l.done, &res)
	}
	l.flush()
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}
