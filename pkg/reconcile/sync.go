package reconcile

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

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
func (l *Loop) observeAll(ctx context.Context, svcs []spec.Service, todo []int, observer *Deps) map[int]*observation {
	out := make(map[int]*observation, len(todo)) // not one per service: a pass of one among hundreds allocated them all
	for _, i := range todo {
		out[i] = &observation{}
	}
	sem := make(chan struct{}, maxParallelObserve)
	var wg sync.WaitGroup
	// The first service's reads are made at once, and fill the pass's
	// shared reads; the others find most of theirs made, and make them one
	// after the other (Deps.serialReads).
	serial := *observer
	serial.serialReads = true
	for k, i := range todo {
		s := &svcs[i]
		l.mu.Lock()
		st := l.Status.Service(s.Name) // status is read here, not in the goroutines
		prev, verification, checks, warmup, jobs := st.Remembered(), st.Verification, st.Checks, st.Warmup, slices.Clone(st.Jobs)
		switchedTo, switchedAt := st.Release.Switched()
		l.mu.Unlock()
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			now := l.Now()
			d := observer
			if k > 0 {
				d = &serial
			}
			o, err := d.Observe(ctx, s, prev, now)
			if err == nil {
				o.Jobs, err = d.ObserveJobs(ctx, s, jobs, now)
			}
			o.Verification, o.Checks, o.Warmup = verification, checks, warmup
			o.SwitchedTo, o.SwitchedAt = switchedTo, switchedAt
			*out[i] = observation{o: o, err: err, now: now}
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
	st.Target(s, now)
	if err != nil {
		l.unobserved(log, s.Name, st, err, now)
		return planner.Decision{Phase: planner.Degraded, Reason: errorReason(err), Message: err.Error()}, err
	}
	st.Observed(s, o)
	l.keepJobRecords(ctx, log, s, st, &o)
	d := planner.Plan(s, o, now)
	if d.Retry != "" {
		d = l.retry(log, s, st, d)
	}
	prevPhase, prevReason := st.Phase, conditionReason(st)
	st.Decided(d, now)
	l.keepRecord(log, s, st, o, d, now)
	served := o.Served
	view := ServiceView{Service: s.Name, Generation: s.Generation(), Served: served,
		Traffic: map[spec.Color]planner.Counters{spec.Blue: o.Blue.Backend, spec.Green: o.Green.Backend}}
	if sp, ok := planner.SplitOf(s, o); ok {
		// A canary's step: the previous color serves the rest.
		view.Canary, view.Served = &sp, sp.From
	}
	if served := view.Served; served != "" {
		// Up while HAProxy has a replica to send its requests to.
		for _, r := range o.Color(served).Replicas {
			view.ServedRestarts += r.Container.RestartCount
			view.ServedUp = view.ServedUp || r.Container.Running && r.Server.InService()
		}
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

// unobserved records that service name could not be observed: Degraded,
// its containers and servers unknown in status; the change of phase or
// reason is logged as a State line, as a decision's is. l.mu is held.
func (l *Loop) unobserved(log logr.Logger, name string, st *state.ServiceStatus, err error, now time.Time) {
	reason := errorReason(err)
	prevPhase, prevReason := st.Phase, conditionReason(st)
	st.Failed(reason, err, now)
	st.Unobserved()
	if prevPhase != planner.Degraded || prevReason != reason {
		log.Info("State", "phase", planner.Degraded, "reason", reason, "message", "cannot observe the service; what status shows of its containers and servers is unknown until it can: "+err.Error())
	}
	log.Error(err, "Cannot observe service; retrying with backoff")
	l.listener().ObserveFailed(name, reason, err, now)
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

func (l *Loop) logsOf(ctx context.Context, name string) string {
	out, err := l.Deps.Containers.Logs(ctx, name, logLines)
	if err != nil {
		return "(cannot read logs: " + err.Error() + ")"
	}
	return strings.TrimRight(out, "\n")
}

func conditionReason(st *state.ServiceStatus) planner.Reason {
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
		return planner.ReasonHAProxyUnreachable
	case errors.Is(err, docker.ErrUnreachable):
		return planner.ReasonDockerUnreachable
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return planner.ReasonTimeout
	}
	return planner.ReasonObserveFailed
}

// refused reports an error that retrying cannot mend: a name HAProxy
// would refuse, a container without the controller's labels, a pull
// forbidden on this host. Its service stalls (Failed) until the spec or
// the host changes, instead of being reported as a transient error.
func refused(err error) bool {
	return errors.Is(err, haproxy.ErrInvalidName) || errors.Is(err, docker.ErrNotManaged) || errors.Is(err, ErrPullForbidden)
}
