package reconcile

import (
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// keepRecord keeps what decision d says of the service's release: its
// verification (keepVerification) and a failure before traffic moved
// (recordFailure). l.mu is held.
func (l *Loop) keepRecord(log logr.Logger, s *spec.Service, st *state.ServiceStatus, o planner.Observed, d planner.Decision, now time.Time) {
	if d.Record != nil {
		l.keepVerification(log, s, st, d.Record)
	}
	if d.Phase == planner.Failed && d.Step == nil && d.Reason.FailsRelease() && !st.HistoryHas(s.Generation(), d.Reason) {
		l.recordFailure(log, s, st, o, d, now)
	}
}

// keepVerification persists verification r in status and, when it ended,
// adds the release to the history. A new or ended verification is written
// to disk before the decision's step acts (l.unwritten; a switch checks
// its color live meanwhile), or at once when there is no step: a
// controller killed right after a switch must know the window is open,
// one killed during a rollback must not release the failed version
// again, and one killed as a canary's weights change must not take them
// back a step. Counters seen during the window are written with the pass.
// l.mu is held.
func (l *Loop) keepVerification(log logr.Logger, s *spec.Service, st *state.ServiceStatus, r *planner.Verification) {
	prev := st.Verification
	st.Verification = r
	if prev == nil || prev.Generation != r.Generation || !prev.SwitchedAt.Equal(r.SwitchedAt) || prev.Outcome != r.Outcome ||
		prev.Canary != r.Canary || prev.Step != r.Step {
		write, err := l.Status.FlushLater()
		if err != nil {
			log.Error(err, "Cannot write status")
		} else {
			l.unwritten[s.Name] = func() {
				if err := write(); err != nil {
					log.Error(err, "Cannot write status")
				}
			}
		}
	}
	// A release that succeeded may still be rolled back later, when it
	// turns unhealthy while the previous color is warm (heal).
	if r.Outcome != "" && (prev == nil || prev.Generation != r.Generation || prev.Outcome != r.Outcome) {
		log.Info("Release ended", "outcome", r.Outcome, "reason", r.Reason)
		l.appendHistory(log, state.ReleaseOf(s.Name, r, since(st)))
		if st.Release != nil && st.Release.Generation == r.Generation {
			st.Release = nil
		}
	}
}

// recordFailure records in the history, once, a release that failed before
// any traffic moved (decision d, Failed). l.mu is held.
func (l *Loop) recordFailure(log logr.Logger, s *spec.Service, st *state.ServiceStatus, o planner.Observed, d planner.Decision, now time.Time) {
	served := o.Served
	r := state.Release{Service: s.Name, Generation: s.Generation(), From: served, To: s.ActiveColor,
		ToImage: s.Image, ToImageID: o.Image.ID, Start: since(st), End: now, Outcome: planner.OutcomeFailed, Reason: string(d.Reason) + ": " + d.Message}
	if served != "" {
		r.FromImage, r.FromImageID = o.Color(served).First().Container.Image, o.Color(served).First().Container.ImageID
	}
	st.FailedReason = s.Generation() + "/" + string(d.Reason)
	st.Release = nil
	l.appendHistory(log, r)
}

// trackRelease reports a release started at the first step towards a
// generation the served color does not meet yet, and, for a release with
// no verification window, ended (Succeeded) when the service converges; a
// release whose generation is replaced before it ended is Superseded.
// Verified releases and those that fail before traffic moves end in
// keepRecord. l.mu is held.
func (l *Loop) trackRelease(log logr.Logger, s *spec.Service, st *state.ServiceStatus, o planner.Observed, d planner.Decision, served spec.Color, now time.Time) {
	gen := s.Generation()
	cur := st.Release
	switch {
	case d.Step != nil && (cur == nil || cur.Generation != gen) && !st.ReleaseEnded(gen) && !(served == s.ActiveColor && planner.RunsDesired(s, o, served)):
		if cur != nil {
			cur.End, cur.Outcome, cur.Reason = now, planner.OutcomeSuperseded, "the spec changed before the release ended"
			l.appendHistory(log, *cur)
		}
		r := state.Release{Service: s.Name, Generation: gen, Commit: l.commit(), From: served, To: s.ActiveColor, ToImage: s.Image, ToImageID: o.Image.ID, Start: now}
		if served != "" {
			r.FromImage, r.FromImageID = o.Color(served).First().Container.Image, o.Color(served).First().Container.ImageID
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

func (l *Loop) appendHistory(log logr.Logger, r state.Release) {
	if r.Commit == "" {
		r.Commit = l.commit()
	}
	if r.Jobs == nil {
		r.Jobs = l.Status.Service(r.Service).JobsOf(r.Generation)
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
func (l *Loop) SetSource(s *state.SourceStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Status.SetSource(s)
}

// commit is the commit of the desired state in force ("" when it does not
// come from git). l.mu is held.
func (l *Loop) commit() string {
	if src := l.Status.Source(); src != nil {
		return src.Commit
	}
	return ""
}

func since(st *state.ServiceStatus) time.Time {
	if st.Since == nil {
		return time.Time{}
	}
	return *st.Since
}
