package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
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
type Loop struct {
	Deps   *Deps
	Log    logr.Logger
	Status *StatusStore
	// Load reads the desired state afresh at every pass.
	Load func() ([]spec.Service, error)
	Now  func() time.Time
	// BeforeStep and AfterStep, when set, run around every step executed
	// (fault injection in tests: a crash at a chosen point of a release).
	BeforeStep func(Step)
	AfterStep  func(Step, error)
	// StepTimeout bounds one step (a build, a container start or stop, a
	// runtime API command), so that an engine that hangs mid-step is
	// reported and retried instead of stalling every service; 0: no bound.
	StepTimeout time.Duration

	failures map[string]int       // consecutive errors per service, for backoff only
	dueAt    map[string]time.Time // when a service asked to be looked at again
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
}

// Pass reads the desired state, and for each service observes, plans and
// takes at most one step. Status is written once, at the end.
func (l *Loop) Pass(ctx context.Context) PassResult { return l.pass(ctx, nil) }

// pass is Pass over the services for which due says yes (all when nil): a
// service waiting for a gate is looked at again without the others.
func (l *Loop) pass(ctx context.Context, due func(name string) bool) (res PassResult) {
	if l.failures == nil {
		l.failures, l.dueAt = map[string]int{}, map[string]time.Time{}
	}
	defer func() {
		if err := l.Status.Flush(); err != nil {
			l.Log.Error(err, "Cannot write status")
		}
	}()
	svcs, err := l.Load()
	l.Status.SetSpecError(err)
	if err != nil {
		res.SpecErr = fmt.Errorf("%w:\n%w", ErrSpec, err)
		l.Log.Error(err, "Desired state refused; nothing is changed until it is fixed")
		return res
	}
	keep := map[string]bool{}
	res.Converged = true
	l.Deps.stops() // set once, before the observers share a copy of Deps
	observer := *l.Deps
	observer.HAProxy = newPassCache(l.Deps.HAProxy).client
	observer.Containers = newPassImages(l.Deps.Containers)
	var todo []int
	for i := range svcs {
		keep[svcs[i].Name] = true
		if due != nil && !due(svcs[i].Name) {
			continue
		}
		delete(l.dueAt, svcs[i].Name)
		todo = append(todo, i)
	}
	obs := l.observeAll(ctx, svcs, todo, &observer)
	for _, i := range todo {
		s := &svcs[i]
		d, err := l.sync(ctx, s, obs[i])
		switch {
		case err != nil:
			res.Converged = false
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", s.Name, err))
			wait := l.backoff(s.Name)
			res.RequeueAfter = minPositive(res.RequeueAfter, wait)
			l.dueAt[s.Name] = l.Now().Add(wait)
			continue
		case d.Step != nil:
			res.Immediate = true
			l.dueAt[s.Name] = l.Now()
		case d.Phase == Failed:
			res.Stalled = append(res.Stalled, fmt.Sprintf("%s: %s: %s", s.Name, d.Reason, d.Message))
		}
		delete(l.failures, s.Name)
		if !d.Converged() {
			res.Converged = false
		}
		if d.RequeueAfter > 0 {
			res.RequeueAfter = minPositive(res.RequeueAfter, d.RequeueAfter)
			l.dueAt[s.Name] = l.Now().Add(d.RequeueAfter)
		}
	}
	for name := range l.dueAt {
		if !keep[name] {
			delete(l.dueAt, name)
		}
	}
	l.Status.Keep(keep)
	return res
}

// maxParallelObserve bounds how many services are observed at once.
const maxParallelObserve = 8

// observation is one service's snapshot, taken at now.
type observation struct {
	o   Observed
	err error
	now time.Time
}

// observeAll observes the services svcs[i], i in todo, through observer,
// which shares the pass's HAProxy reads and image lookups. Observing only
// reads, so the services are observed at once (up to maxParallelObserve):
// a pass over many services waits for the slowest few, not for their sum.
// Their steps are then taken one after the other, in file order; a step
// whose effect another service's snapshot may have missed (an image built
// for both) is checked again by the executor before it acts.
func (l *Loop) observeAll(ctx context.Context, svcs []spec.Service, todo []int, observer *Deps) []observation {
	out := make([]observation, len(svcs))
	sem := make(chan struct{}, maxParallelObserve)
	var wg sync.WaitGroup
	for _, i := range todo {
		s := &svcs[i]
		prev := l.Status.Service(s.Name).DrainingSince() // status is read here, not in the goroutines
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			now := l.Now()
			o, err := observer.Observe(ctx, s, prev, now)
			out[i] = observation{o: o, err: err, now: now}
		}()
	}
	wg.Wait()
	return out
}

// sync takes one service one step further from its observation, acting
// through l.Deps.
func (l *Loop) sync(ctx context.Context, s *spec.Service, ob observation) (Decision, error) {
	log := l.Log.WithValues("service", s.Name)
	st := l.Status.Service(s.Name)
	st.target(s)
	o, err, now := ob.o, ob.err, ob.now
	if err != nil {
		st.failed(errorReason(err), err, now)
		log.Error(err, "Cannot observe service; retrying with backoff")
		return Decision{}, err
	}
	st.observed(s, o)
	d := Plan(s, o, now)
	prevPhase, prevReason := st.Phase, conditionReason(st)
	st.decided(d, now)
	if d.Step != nil {
		if err := l.execute(ctx, log, st, s, *d.Step, o); err != nil {
			return d, err
		}
		if d.Step.Action == MarkServerUp {
			return l.switchAfterMarkUp(ctx, log, st, s, d, o)
		}
		return d, nil
	}
	if d.LogsOf != "" {
		st.Logs = l.logsOf(ctx, d.LogsOf)
	}
	if d.Phase != prevPhase || d.Reason != prevReason {
		if d.Phase == Failed {
			log.Error(errors.New(d.Message), "Service needs attention", "reason", d.Reason)
		} else {
			log.Info("State", "phase", d.Phase, "reason", d.Reason, "message", d.Message)
		}
	} else {
		log.V(1).Info("State", "phase", d.Phase, "reason", d.Reason, "message", d.Message)
	}
	return d, nil
}

// execute takes one step, logged, recorded in status and offered to the
// fault-injection hooks.
func (l *Loop) execute(ctx context.Context, log logr.Logger, st *ServiceStatus, s *spec.Service, step Step, o Observed) error {
	log.Info("Step", "step", step.Action, "color", step.Color, "target", step.Target, "cause", step.Cause)
	if l.BeforeStep != nil {
		l.BeforeStep(step)
	}
	err := l.executeBounded(ctx, s, step, o)
	if l.AfterStep != nil {
		l.AfterStep(step, err)
	}
	st.stepped(step, err, l.Now())
	if err != nil {
		log.Error(err, "Step failed; retrying with backoff", "step", step.Action, "color", step.Color)
	}
	return err
}

// executeBounded executes step under StepTimeout; a step cut by it says so.
func (l *Loop) executeBounded(ctx context.Context, s *spec.Service, step Step, o Observed) error {
	if l.StepTimeout <= 0 {
		return l.Deps.Execute(ctx, s, step, o)
	}
	sctx, cancel := context.WithTimeout(ctx, l.StepTimeout)
	defer cancel()
	err := l.Deps.Execute(sctx, s, step, o)
	if err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("%s %s did not finish within the step timeout %s (its outcome is observed at the next pass): %w",
			step.Action, step.Target, l.StepTimeout, err)
	}
	return err
}

// switchAfterMarkUp follows a MarkServerUp step: the new color's container
// and its two probes were observed in this pass, and HAProxy is asked
// afresh whether the server is UP now. If the plan on that observation is
// the switch, it is taken at once rather than one pass later (a whole pass
// is most of the delay between "the app is ready" and "traffic moves").
// Anything else waits for the next pass, which comes at once.
func (l *Loop) switchAfterMarkUp(ctx context.Context, log logr.Logger, st *ServiceStatus, s *spec.Service, marked Decision, o Observed) (Decision, error) {
	o, err := l.Deps.RefreshServer(ctx, s, o, marked.Step.Color)
	if err != nil {
		return marked, nil // the next pass observes everything again
	}
	d := Plan(s, o, l.Now())
	if d.Step == nil || d.Step.Action != SwitchMap {
		return marked, nil
	}
	st.observed(s, o)
	st.decided(d, l.Now())
	return d, l.execute(ctx, log, st, s, *d.Step, o)
}

func (l *Loop) logsOf(ctx context.Context, name string) string {
	out, err := l.Deps.Containers.Logs(ctx, name, logLines)
	if err != nil {
		return "(cannot read logs: " + err.Error() + ")"
	}
	return strings.TrimRight(out, "\n")
}

func (l *Loop) backoff(name string) time.Duration {
	n := l.failures[name]
	l.failures[name] = n + 1
	d := BackoffFirst << min(n, 10)
	return min(d, BackoffMax)
}

func conditionReason(st *ServiceStatus) string {
	for _, c := range st.Conditions {
		if c.Type == "Ready" {
			return c.Reason
		}
	}
	return ""
}

func errorReason(err error) string {
	switch {
	case errors.Is(err, haproxy.ErrUnreachable):
		return "HAProxyUnreachable"
	case errors.Is(err, docker.ErrUnreachable):
		return "DockerUnreachable"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "Timeout"
	}
	return "ObserveFailed"
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// Run reconciles until ctx ends: a pass over every service at start, after
// every nudge (file saved) and every resync; in between, a service that
// asked to be looked at again (a step taken, a gate not yet met, an error
// to retry) is looked at alone when its time comes.
func (l *Loop) Run(ctx context.Context, nudge <-chan struct{}, resync time.Duration) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var nextFull time.Time // zero: a full pass is due
	for {
		select {
		case <-ctx.Done():
			return
		case <-nudge:
			nextFull = time.Time{}
		case <-timer.C:
		}
		now := l.Now()
		if now.Before(nextFull) {
			l.pass(ctx, func(name string) bool {
				at, ok := l.dueAt[name]
				return ok && !at.After(now)
			})
		} else {
			l.pass(ctx, nil)
			nextFull = now.Add(resync)
		}
		next := nextFull.Sub(l.Now())
		for _, at := range l.dueAt {
			next = min(next, at.Sub(l.Now()))
		}
		next = max(next, 0)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// RunOnce reconciles until every service is converged (nil), a service
// needs a human or the desired state is refused (error), or ctx ends (error
// with what was still pending).
func (l *Loop) RunOnce(ctx context.Context) error {
	for {
		res := l.Pass(ctx)
		switch {
		case res.SpecErr != nil:
			return res.SpecErr
		case len(res.Stalled) > 0:
			return fmt.Errorf("not converged, needs attention:\n  %s", strings.Join(res.Stalled, "\n  "))
		case res.Converged:
			return nil
		}
		wait := time.Duration(0)
		if !res.Immediate {
			wait = res.RequeueAfter
			if wait <= 0 {
				wait = BackoffFirst
			}
		}
		select {
		case <-ctx.Done():
			pending := append(res.Errors, l.pending()...)
			return fmt.Errorf("not converged before the deadline:\n  %s", strings.Join(pending, "\n  "))
		case <-time.After(wait):
		}
	}
}

func (l *Loop) pending() []string {
	var out []string
	for name, s := range l.Status.Snapshot().Services {
		if s.Phase != Converged {
			msg := ""
			for _, c := range s.Conditions {
				if c.Type == "Ready" {
					msg = c.Reason + ": " + c.Message
				}
			}
			out = append(out, fmt.Sprintf("%s: %s %s", name, s.Phase, msg))
		}
	}
	return out
}
