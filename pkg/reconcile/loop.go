package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
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

// ErrWaitingForPromotion is returned by RunOnce when every service is at
// rest or has a release ready and waiting for an operator's approval.
var ErrWaitingForPromotion = errors.New("waiting for promotion")

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
	Status *StatusStore
	// Load reads the desired state afresh at every pass.
	Load func() ([]spec.Service, error)
	Now  func() time.Time
	// BeforeStep and AfterStep, when set, run around every step executed
	// (fault injection in tests: a crash at a chosen point of a release).
	// Steps of different services may run at once.
	BeforeStep func(planner.Step)
	AfterStep  func(planner.Step, error)
	// History, when set, records every release attempt.
	History *History
	// Approvals, when set, holds the promotions given at the host.
	Approvals *Approvals
	// StepTimeout bounds one step (a build, a container start or stop, a
	// runtime API command), so that an engine that hangs mid-step is
	// reported and retried instead of stalling its service; 0: no bound.
	StepTimeout time.Duration
	// Listener, when set, hears decisions, steps and releases (metrics,
	// notifications).
	Listener Listener

	// mu guards Status, which steps in flight update.
	mu       sync.Mutex
	failures map[string]int              // consecutive errors per service, for backoff only
	dueAt    map[string]time.Time        // when a service asked to be looked at again
	inFlight map[string]bool             // services with a step running
	last     map[string]planner.Decision // each service's latest decision
	done     chan stepDone
	runtimes []string // the HAProxy runtime API addresses of the desired state, guarded by mu
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
}

func (l *Loop) init() {
	if l.failures == nil {
		l.failures, l.dueAt = map[string]int{}, map[string]time.Time{}
		l.inFlight, l.last = map[string]bool{}, map[string]planner.Decision{}
		l.done = make(chan stepDone)
		l.Deps.stops() // set once, before observers share a copy of Deps
	}
}

// Pass reads the desired state, and for each service observes, plans and
// takes at most one step; it returns once every step has ended. Status is
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
	defer l.flush()
	defer func() { l.listener().PassEnded(res.SpecErr == nil && len(res.Errors) == 0, l.Now()) }()
	svcs, err := l.Load()
	l.mu.Lock()
	l.Status.SetSpecError(err)
	l.mu.Unlock()
	if err != nil {
		res.SpecErr = fmt.Errorf("%w:\n%w", ErrSpec, err)
		l.Log.Error(err, "Desired state refused; nothing is changed until it is fixed")
		return res
	}
	l.keepRuntimes(svcs)
	keep := map[string]bool{}
	res.Converged = true
	observer := *l.Deps
	observer.HAProxy = newPassCache(l.Deps.HAProxy).client
	observer.Containers = newPassImages(l.Deps.Containers)
	var todo []int
	for i := range svcs {
		keep[svcs[i].Name] = true
		if l.inFlight[svcs[i].Name] || due != nil && !due(svcs[i].Name) {
			continue
		}
		delete(l.dueAt, svcs[i].Name)
		todo = append(todo, i)
	}
	approved := map[string]string{}
	if l.Approvals != nil {
		if approved, err = l.Approvals.All(); err != nil {
			l.Log.Error(err, "Cannot read the approvals; releases waiting for one go on waiting")
		}
	}
	obs := l.observeAll(ctx, svcs, todo, &observer)
	for _, i := range todo {
		obs[i].o.Approved = approved[svcs[i].Name]
	}
	for _, i := range todo {
		s := &svcs[i]
		d, err := l.sync(ctx, s, obs[i])
		l.last[s.Name] = d
		switch {
		case err != nil:
			l.failed(s.Name, err, &res)
			continue
		case d.Step != nil:
			l.start(ctx, s, d, obs[i].o)
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
	for name := range l.dueAt {
		if !keep[name] {
			delete(l.dueAt, name)
		}
	}
	for name := range l.last {
		if !keep[name] {
			delete(l.last, name)
		}
	}
	l.mu.Lock()
	l.Status.Keep(keep)
	l.mu.Unlock()
	return res
}

// keepRuntimes records the HAProxy runtime API addresses svcs name.
func (l *Loop) keepRuntimes(svcs []spec.Service) {
	var addrs []string
	for i := range svcs {
		if a := svcs[i].HAProxy.Runtime; !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	l.mu.Lock()
	l.runtimes = addrs
	l.mu.Unlock()
}

// Runtimes returns the HAProxy runtime API addresses of the desired state
// last read (for WatchServers). It may be called from any goroutine.
func (l *Loop) Runtimes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.runtimes)
}

// start takes service s's step on a goroutine of its own.
func (l *Loop) start(ctx context.Context, s *spec.Service, d planner.Decision, o planner.Observed) {
	l.inFlight[s.Name] = true
	go func() {
		d, err := l.takeStep(ctx, s, d, o)
		l.done <- stepDone{name: s.Name, d: d, err: err}
	}()
}

// finish records the end of a step: the service is looked at again at
// once, or after a backoff if the step failed.
func (l *Loop) finish(r stepDone, res *PassResult) {
	delete(l.inFlight, r.name)
	res.Converged = false
	if r.err != nil {
		l.last[r.name] = planner.Decision{Phase: planner.Degraded, Reason: ReasonStepFailed, Message: r.err.Error()}
		if refused(r.err) {
			l.last[r.name] = planner.Decision{Phase: planner.Failed, Reason: ReasonStepRefused, Message: r.err.Error()}
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

// flush writes the status if it changed.
func (l *Loop) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.Status.Flush(); err != nil {
		l.Log.Error(err, "Cannot write status")
	}
}

// maxParallelObserve bounds how many services are observed at once.
const maxParallelObserve = 8

// observation is one service's snapshot, taken at now.
type observation struct {
	o   planner.Observed
	err error
	now time.Time
}

// observeAll observes the services svcs[i], i in todo, through observer,
// which shares the pass's HAProxy reads and image lookups. Observing only
// reads, so the services are observed at once (up to maxParallelObserve):
// a pass over many services waits for the slowest few, not for their sum.
// Their steps are then started, each on its own goroutine; a step whose
// effect another service's snapshot may have missed (an image built for
// both) is checked again by the executor before it acts, and the switch
// checks its color afresh.
func (l *Loop) observeAll(ctx context.Context, svcs []spec.Service, todo []int, observer *Deps) []observation {
	out := make([]observation, len(svcs))
	sem := make(chan struct{}, maxParallelObserve)
	var wg sync.WaitGroup
	for _, i := range todo {
		s := &svcs[i]
		l.mu.Lock()
		st := l.Status.Service(s.Name) // status is read here, not in the goroutines
		prev, verification, checks := st.Remembered(), st.Verification, st.Checks
		l.mu.Unlock()
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			now := l.Now()
			o, err := observer.Observe(ctx, s, prev, now)
			o.Verification, o.Checks = verification, checks
			out[i] = observation{o: o, err: err, now: now}
		}()
	}
	wg.Wait()
	return out
}

// sync plans one service's next step from its observation and records the
// decision in status; the caller starts the step, if any.
func (l *Loop) sync(ctx context.Context, s *spec.Service, ob observation) (planner.Decision, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	log := l.logFor(s)
	st := l.Status.Service(s.Name)
	o, err, now := ob.o, ob.err, ob.now
	st.target(s, now)
	if err != nil {
		st.failed(errorReason(err), err, now)
		log.Error(err, "Cannot observe service; retrying with backoff")
		l.listener().ObserveFailed(s.Name, errorReason(err), err, now)
		return planner.Decision{Phase: planner.Degraded, Reason: errorReason(err), Message: err.Error()}, err
	}
	st.observed(s, o)
	d := planner.Plan(s, o, now)
	prevPhase, prevReason := st.Phase, conditionReason(st)
	st.decided(d, now)
	l.keepRecord(log, s, st, o, d, now)
	served := planner.ServedColor(s, o.MapRuntime)
	view := ServiceView{Service: s.Name, Generation: s.Generation(), Served: served}
	if served != "" {
		view.ServedRestarts = o.Color(served).Container.RestartCount
		view.ServedUp = o.Color(served).Container.Running && o.Color(served).Server.InService()
	}
	l.listener().Decided(view, d, now)
	l.trackRelease(log, s, st, o, d, served, now)
	if d.Step != nil {
		return d, nil
	}
	if d.LogsOf != "" {
		st.Logs = l.logsOf(ctx, d.LogsOf)
	}
	if d.Phase != prevPhase || d.Reason != prevReason {
		if d.Phase == planner.Failed {
			log.Error(errors.New(d.Message), "Service needs attention", "reason", d.Reason)
		} else {
			log.Info("State", "phase", d.Phase, "reason", d.Reason, "message", d.Message)
		}
	} else {
		log.V(1).Info("State", "phase", d.Phase, "reason", d.Reason, "message", d.Message)
	}
	return d, nil
}

// takeStep takes the step of decision d, planned from o. Once it is done,
// the service is observed again at once (finish): after a MarkServerUp,
// that next pass takes the switch.
func (l *Loop) takeStep(ctx context.Context, s *spec.Service, d planner.Decision, o planner.Observed) (planner.Decision, error) {
	l.mu.Lock()
	log := l.logFor(s)
	l.mu.Unlock()
	err := l.execute(ctx, log, s, *d.Step)
	if d.Step.Action == planner.RunChecks {
		err = l.recordChecks(log, s, *d.Step, err)
	}
	if err != nil {
		return d, err
	}
	l.rememberStep(s, *d.Step, o)
	return d, nil
}

// rememberStep keeps in status what a step that succeeded leaves behind
// and the world does not show: the container run marked UP (never marked
// again), a restart for failing health.
func (l *Loop) rememberStep(s *spec.Service, step planner.Step, o planner.Observed) {
	st := o.Color(step.Color)
	switch step.Action {
	case planner.MarkServerUp:
		st.MarkedUp = st.Container.Run()
	case planner.RestartContainer:
		if st.HealthRestarted != st.Container.ID {
			st.HealthRestarts = 0
		}
		st.HealthRestarts, st.HealthRestarted = st.HealthRestarts+1, st.Container.ID
		st.UnhealthySince = time.Time{}
	default:
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if cs := l.Status.Service(s.Name).Colors[step.Color]; cs != nil {
		cs.remember(st.Remembered)
	}
}

// execute takes one step, logged, recorded in status and offered to the
// fault-injection hooks.
func (l *Loop) execute(ctx context.Context, log logr.Logger, s *spec.Service, step planner.Step) error {
	log.Info("Step", "step", step.Action, "color", step.Color, "target", step.Target, "cause", step.Cause)
	if l.BeforeStep != nil {
		l.BeforeStep(step)
	}
	began := time.Now()
	err := l.executeBounded(ctx, step)
	l.listener().Stepped(s.Name, step, time.Since(began), err)
	if l.AfterStep != nil {
		l.AfterStep(step, err)
	}
	l.mu.Lock()
	st := l.Status.Service(s.Name)
	st.stepped(step, err, l.Now())
	if r := st.Release; err == nil && step.Action == planner.SwitchMap && r != nil && step.Color == r.To && r.SwitchedAt == nil {
		at := l.Now()
		r.SwitchedAt = &at
	}
	l.mu.Unlock()
	if err != nil {
		log.Error(err, "Step failed; retrying with backoff", "step", step.Action, "color", step.Color)
	}
	return err
}

// executeBounded executes step under StepTimeout; a step cut by it says so.
func (l *Loop) executeBounded(ctx context.Context, step planner.Step) error {
	if l.StepTimeout <= 0 {
		return l.Deps.Execute(ctx, step)
	}
	sctx, cancel := context.WithTimeout(ctx, l.StepTimeout)
	defer cancel()
	err := l.Deps.Execute(sctx, step)
	if err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("%s %s did not finish within the step timeout %s (its outcome is observed at the next pass): %w",
			step.Action, step.Target, l.StepTimeout, err)
	}
	return err
}

// recordChecks keeps the outcome of the pre-switch checks of step in
// status: a check that failed is the release's failure (the planner says
// so), not an error of the step; an error of another kind is retried.
func (l *Loop) recordChecks(log logr.Logger, s *spec.Service, step planner.Step, err error) error {
	var cf *CheckFailedError
	if err != nil && !errors.As(err, &cf) {
		return err
	}
	c := step.Color
	r := &planner.CheckRecord{Generation: s.Generation(), Color: c, Container: step.Checks.Container, StartedAt: step.Checks.StartedAt, Passed: err == nil, At: l.Now()}
	if cf != nil {
		r.Failure = cf.Error()
		log.Info("Pre-switch check failed", "color", c, "failure", r.Failure)
	}
	l.mu.Lock()
	l.Status.Service(s.Name).Checks = r
	l.mu.Unlock()
	return nil
}

// keepRecord persists the verification a decision carries and adds the
// release attempts that ended to the history. A new or ended verification
// is written to disk at once, before the decision's step: a controller
// killed right after a switch must know the window is open, and one killed
// during a rollback must not release the failed version again. Counters
// seen during the window are written with the pass. A release that failed
// before any traffic moved is recorded in the history as Failed. l.mu is
// held.
func (l *Loop) keepRecord(log logr.Logger, s *spec.Service, st *ServiceStatus, o planner.Observed, d planner.Decision, now time.Time) {
	prev := st.Verification
	if r := d.Record; r != nil {
		st.Verification = r
		if prev == nil || prev.Generation != r.Generation || !prev.SwitchedAt.Equal(r.SwitchedAt) || prev.Outcome != r.Outcome {
			if err := l.Status.Flush(); err != nil {
				log.Error(err, "Cannot write status")
			}
		}
		// A release that succeeded may still be rolled back later, when it
		// turns unhealthy while the previous color is warm (heal).
		if r.Outcome != "" && (prev == nil || prev.Generation != r.Generation || prev.Outcome != r.Outcome) {
			log.Info("Release ended", "outcome", r.Outcome, "reason", r.Reason)
			l.appendHistory(log, releaseOf(s.Name, r, since(st)))
			if st.Release != nil && st.Release.Generation == r.Generation {
				st.Release = nil
			}
		}
	}
	if d.Phase == planner.Failed && d.Step == nil && d.Reason.FailsRelease() && !st.historyHas(s.Generation(), d.Reason) {
		served := planner.ServedColor(s, o.MapRuntime)
		r := Release{Service: s.Name, Generation: s.Generation(), From: served, To: s.ActiveColor,
			ToImage: s.Image, ToImageID: o.Image.ID, Start: since(st), End: now, Outcome: planner.OutcomeFailed, Reason: string(d.Reason) + ": " + d.Message}
		if served != "" {
			r.FromImage, r.FromImageID = o.Color(served).Container.Image, o.Color(served).Container.ImageID
		}
		st.FailedReason = s.Generation() + "/" + string(d.Reason)
		st.Release = nil
		l.appendHistory(log, r)
	}
}

// trackRelease reports a release started at the first step towards a
// generation the served color does not meet yet, and, for a release with
// no verification window, ended (Succeeded) when the service converges; a
// release whose generation is replaced before it ended is Superseded.
// Verified releases and those that fail before traffic moves end in
// keepRecord. l.mu is held.
func (l *Loop) trackRelease(log logr.Logger, s *spec.Service, st *ServiceStatus, o planner.Observed, d planner.Decision, served spec.Color, now time.Time) {
	gen := s.Generation()
	cur := st.Release
	switch {
	case d.Step != nil && (cur == nil || cur.Generation != gen) && !st.releaseEnded(gen) && !(served == s.ActiveColor && planner.RunsDesired(s, o, served)):
		if cur != nil {
			cur.End, cur.Outcome, cur.Reason = now, planner.OutcomeSuperseded, "the spec changed before the release ended"
			l.appendHistory(log, *cur)
		}
		r := Release{Service: s.Name, Generation: gen, Commit: l.commit(), From: served, To: s.ActiveColor, ToImage: s.Image, ToImageID: o.Image.ID, Start: now}
		if served != "" {
			r.FromImage, r.FromImageID = o.Color(served).Container.Image, o.Color(served).Container.ImageID
		}
		st.Release = &r
		l.listener().ReleaseStarted(s, served, now)
	case d.Converged() && cur != nil && cur.Generation == gen:
		cur.End, cur.Outcome = now, planner.OutcomeSucceeded
		cur.Reason = fmt.Sprintf("%s serves %s; no verification window", s.ActiveColor, s.Image)
		st.Release = nil
		l.appendHistory(log, *cur)
	}
}

func (l *Loop) appendHistory(log logr.Logger, r Release) {
	if r.Commit == "" {
		r.Commit = l.commit()
	}
	l.listener().ReleaseEnded(r)
	if l.History == nil {
		return
	}
	if err := l.History.Append(r); err != nil {
		log.Error(err, "Cannot record the release in the history")
	}
}

// SetSource records the git commit the desired state comes from, in status
// and in the releases and log lines that follow. It may be called from
// Load.
func (l *Loop) SetSource(s *SourceStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Status.SetSource(s)
}

// commit is the commit of the desired state in force ("" when it does not
// come from git). l.mu is held.
func (l *Loop) commit() string {
	if src := l.Status.cur.Source; src != nil {
		return src.Commit
	}
	return ""
}

// logFor is the log of service s: its lines carry the service, the
// generation and, with a git source, the commit. l.mu is held.
func (l *Loop) logFor(s *spec.Service) logr.Logger {
	log := l.Log.WithValues("service", s.Name, "generation", s.Generation())
	if c := l.commit(); c != "" {
		log = log.WithValues("commit", c)
	}
	return log
}

// listener is l.Listener, or one that hears nothing.
func (l *Loop) listener() Listener {
	if l.Listener == nil {
		return Listeners{}
	}
	return l.Listener
}

func since(st *ServiceStatus) time.Time {
	if st.Since == nil {
		return time.Time{}
	}
	return *st.Since
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

func conditionReason(st *ServiceStatus) planner.Reason {
	for _, c := range st.Conditions {
		if c.Type == "Ready" {
			return c.Reason
		}
	}
	return ""
}

func errorReason(err error) planner.Reason {
	switch {
	case errors.Is(err, haproxy.ErrUnreachable):
		return ReasonHAProxyUnreachable
	case errors.Is(err, docker.ErrUnreachable):
		return ReasonDockerUnreachable
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	}
	return ReasonObserveFailed
}

// refused reports an error that retrying cannot mend: a name HAProxy
// would refuse, a container without the controller's labels, a pull
// forbidden on this host. Its service stalls (Failed) until the spec or
// the host changes, instead of being reported as a transient error.
func refused(err error) bool {
	return errors.Is(err, haproxy.ErrInvalidName) || errors.Is(err, docker.ErrNotManaged) || errors.Is(err, ErrPullForbidden)
}

// Run reconciles until ctx ends: a pass over every service at start, after
// every nudge (file saved, container event) and every resync; in between,
// a service that asked to be looked at again (a step ended, a gate not yet
// met, an error to retry) is looked at alone when its time comes. Steps in
// flight when ctx ends are waited for (they end with ctx).
func (l *Loop) Run(ctx context.Context, nudge <-chan struct{}, resync time.Duration) {
	l.init()
	defer l.waitInFlight()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var nextFull time.Time // zero: a full pass is due
	var res PassResult
	for {
		select {
		case <-ctx.Done():
			return
		case <-nudge:
			nextFull = time.Time{}
		case r := <-l.done:
			l.finish(r, &res)
		case <-timer.C:
		}
		now := l.Now()
		if now.Before(nextFull) {
			l.pass(ctx, l.due(now))
		} else {
			l.pass(ctx, nil)
			nextFull = now.Add(resync)
		}
		next := nextFull.Sub(l.Now())
		for _, at := range l.dueAt {
			next = min(next, at.Sub(l.Now()))
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

// RunOnce reconciles until every service is converged (nil), a service
// needs a human or the desired state is refused (error), or ctx ends (error
// with what was still pending). Services go at their own pace, as in Run;
// it returns only once no step is in flight.
func (l *Loop) RunOnce(ctx context.Context) error {
	l.init()
	defer l.waitInFlight()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var errs []string
	for first := true; ; first = false {
		var res PassResult
		if first {
			res = l.pass(ctx, nil)
		} else {
			res = l.pass(ctx, l.due(l.Now()))
		}
		errs = append(errs[:0], res.Errors...)
		if res.SpecErr != nil {
			return res.SpecErr
		}
		if len(l.inFlight) == 0 {
			if stalled := l.stalled(); len(stalled) > 0 {
				return fmt.Errorf("not converged, needs attention:\n  %s", strings.Join(stalled, "\n  "))
			}
			if waiting := l.waitingForPromotion(); len(waiting) > 0 {
				return fmt.Errorf("%w:\n  %s", ErrWaitingForPromotion, strings.Join(waiting, "\n  "))
			}
			if l.allConverged() {
				return nil
			}
		}
		next := BackoffMax
		for _, at := range l.dueAt {
			next = min(next, at.Sub(l.Now()))
		}
		resetTimer(timer, max(next, 0))
		select {
		case <-ctx.Done():
			pending := append(errs, l.pending()...)
			return fmt.Errorf("not converged before the deadline:\n  %s", strings.Join(pending, "\n  "))
		case r := <-l.done:
			l.finish(r, &res)
		case <-timer.C:
		}
	}
}

// stalled lists the services whose latest decision needs a human.
func (l *Loop) stalled() []string {
	var out []string
	for name, d := range l.last {
		if d.Step == nil && d.Phase == planner.Failed {
			out = append(out, fmt.Sprintf("%s: %s: %s", name, d.Reason, d.Message))
		}
	}
	sort.Strings(out)
	return out
}

// waitingForPromotion lists the services waiting for an approval, when
// every other service is at rest (nil otherwise).
func (l *Loop) waitingForPromotion() []string {
	var out []string
	for name, d := range l.last {
		switch {
		case d.Step == nil && d.Reason == planner.ReasonWaitingForPromotion:
			out = append(out, fmt.Sprintf("%s: %s", name, d.Message))
		case !d.Converged():
			return nil
		}
	}
	sort.Strings(out)
	return out
}

func (l *Loop) allConverged() bool {
	for _, d := range l.last {
		if !d.Converged() {
			return false
		}
	}
	return true
}

func (l *Loop) pending() []string {
	l.mu.Lock()
	snap := l.Status.Snapshot()
	l.mu.Unlock()
	var out []string
	for name, s := range snap.Services {
		if s.Phase != planner.Converged {
			msg := ""
			for _, c := range s.Conditions {
				if c.Type == "Ready" {
					msg = string(c.Reason) + ": " + c.Message
				}
			}
			out = append(out, fmt.Sprintf("%s: %s %s", name, s.Phase, msg))
		}
	}
	sort.Strings(out)
	return out
}
