package reconcile

import (
	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// requests are what operators asked for at the host, per service: the
// generations promoted (controller promote), to roll back (controller
// rollback) and to try again (controller retry).
type requests struct {
	approved, rollbacks, retries map[string]string
}

// hostRequests reads the requests. A store that cannot be read asks for
// nothing.
func (l *Loop) hostRequests() requests {
	r := requests{approved: map[string]string{}, rollbacks: map[string]string{}, retries: map[string]string{}}
	var err error
	if l.Approvals != nil {
		if r.approved, err = l.Approvals.All(); err != nil {
			l.Log.Error(err, "Cannot read the approvals; releases waiting for one go on waiting")
		}
	}
	if l.Rollbacks != nil {
		if r.rollbacks, err = l.Rollbacks.All(); err != nil {
			l.Log.Error(err, "Cannot read the rollback requests; releases being verified go on, those held after an irreversible job stay held")
		}
	}
	if l.Retries != nil {
		if r.retries, err = l.Retries.All(); err != nil {
			l.Log.Error(err, "Cannot read the retry requests; releases that failed stay failed")
		}
	}
	return r
}

// giveRequests hands the services svcs[i], i in todo, what operators
// asked for them, in their observations. A retry asked for a generation
// that is no longer the service's is dropped: the release moved on (the
// spec changed, or the retry was honoured by a controller killed before
// it could drop the request).
func (l *Loop) giveRequests(svcs []spec.Service, todo []int, obs map[int]*observation, r requests) {
	for _, i := range todo {
		s := &svcs[i]
		obs[i].o.Approved = r.approved[s.Name]
		obs[i].o.RollbackAsked = r.rollbacks[s.Name]
		asked := r.retries[s.Name]
		if asked == "" || asked == s.Generation() {
			obs[i].o.RetryAsked = asked
			continue
		}
		log := l.Log.WithValues("service", s.Name, "generation", s.Generation())
		log.Info("Retry request dropped: the release moved on", "asked", asked)
		if err := l.Retries.Done(s.Name, asked); err != nil {
			log.Error(err, "Cannot drop the retry request; it is dropped at the next pass")
		}
	}
}

// countRetries gives each service svcs[i] of todo the retries asked for
// at the host that its spec, as written, has had: its generation is that
// of the current attempt. The count of a spec that changed since is
// forgotten.
func (l *Loop) countRetries(svcs []spec.Service, todo []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, i := range todo {
		s := &svcs[i]
		st := l.Status.Service(s.Name)
		if s.HostRetries = st.RetriesOf(s.WrittenGeneration()); s.HostRetries == 0 {
			st.Retried = nil
		}
	}
}

// retry honours decision d, a retry of the release of s's generation
// that an operator asked for: status counts one more retry of s's spec,
// so that the next pass works on its next generation, a new attempt.
// The count is written to disk before the request is dropped: a
// controller killed in between finds a request for a generation that is
// no longer the service's, and drops it (giveRequests), so a request is
// honoured once. When status cannot be written, nothing is counted and
// the request stays, to be honoured at a later pass. l.mu is held.
func (l *Loop) retry(log logr.Logger, s *spec.Service, st *state.ServiceStatus, d planner.Decision) planner.Decision {
	prev := st.Retried
	st.Retried = &state.Retried{Spec: s.WrittenGeneration(), Count: s.HostRetries + 1}
	if err := l.Status.Flush(); err != nil {
		st.Retried = prev
		log.Error(err, "Cannot write status; the retry is made at a later pass")
		return planner.Decision{Phase: planner.Degraded, Reason: planner.ReasonRetrying, Message: "the retry cannot be recorded: " + err.Error(),
			RequeueAfter: BackoffFirst}
	}
	next := *s
	next.HostRetries++
	log.Info("Release retried at an operator's request", "retried", d.Retry, "attempt", next.HostRetries+1, "next", next.Generation())
	if l.Retries == nil {
		return d
	}
	if err := l.Retries.Done(s.Name, d.Retry); err != nil {
		log.Error(err, "Cannot drop the honoured retry request; it is dropped at the next pass, as it names an earlier generation")
	}
	return d
}
