package dashboard

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
)

// action is what the page can ask of a release: the reasons the service
// must be at for it, the release it acts on, and the store it writes to
// (the same as the command line's verb).
type action struct {
	verb string // in messages: "promote", "roll back", "retry"
	done string // in the log and the history: "promoted", "rollback requested", "retry requested"
	at   func(planner.Reason) bool
	none string // says that no release is at such a reason
	// release is the request for the release s is at; ok is false when
	// there is none to act on.
	release func(service string, s *state.ServiceStatus) (r state.Request, ok bool)
	// do writes the request.
	do func(d *Dashboard, r state.Request) error
	// outcome is the history entry's.
	outcome string
}

// promoteAction approves the release waiting for promotion, as controller
// promote does.
var promoteAction = action{verb: "promote", done: "promoted", at: is(planner.ReasonWaitingForPromotion), outcome: state.ActionPromoted,
	none: "no release of it waits for promotion",
	release: func(service string, s *state.ServiceStatus) (state.Request, bool) {
		r := state.Request{Service: service, Generation: s.ObservedGeneration, To: s.ActiveColor, ToImage: s.Image}
		if v := s.Verification; v != nil && v.Canary && v.Outcome == "" && v.Generation == s.ObservedGeneration {
			r.Approval = planner.CanaryApproval(v.Generation, v.Step) // a canary step without a pause
		}
		return r, true
	},
	do: func(d *Dashboard, r state.Request) error {
		if d.opt.Approvals == nil {
			return errors.New("the dashboard was given no approvals to write")
		}
		return state.Promote(d.opt.Approvals, d.opt.Record, r)
	}}

// rollbackAction rolls back the release being verified to the color kept
// warm, as controller rollback does.
var rollbackAction = action{verb: "roll back", done: "rollback requested", at: rollbackable, outcome: state.ActionRollbackRequested,
	none: "no release of it is being verified, with a color kept warm to go back to",
	release: func(service string, s *state.ServiceStatus) (state.Request, bool) {
		v := s.Verification
		if v == nil || v.Outcome != "" {
			return state.Request{}, false
		}
		return state.Request{Service: service, Generation: v.Generation, To: v.To, ToImage: v.ToImage}, true
	},
	do: func(d *Dashboard, r state.Request) error {
		if d.opt.Rollbacks == nil {
			return errors.New("the dashboard was given no rollback requests to write")
		}
		return state.AskRollback(d.opt.Rollbacks, d.opt.Record, r)
	}}

// retryAction tries again, as a new attempt, the release that was rolled
// back or failed its checks or a job, as controller retry does.
var retryAction = action{verb: "retry", done: "retry requested", at: planner.Reason.Retriable, outcome: state.ActionRetryRequested,
	none: "no release of it was rolled back or failed its checks or a job",
	release: func(service string, s *state.ServiceStatus) (state.Request, bool) {
		if s.Phase != planner.Failed {
			return state.Request{}, false
		}
		return state.Request{Service: service, Generation: s.ObservedGeneration, To: s.ActiveColor, ToImage: s.Image}, true
	},
	do: func(d *Dashboard, r state.Request) error {
		if d.opt.Retries == nil {
			return errors.New("the dashboard was given no retry requests to write")
		}
		return state.AskRetry(d.opt.Retries, d.opt.Record, r)
	}}

// rollbackable: a release being verified, or a canary in a step's pause,
// may be rolled back.
func rollbackable(r planner.Reason) bool {
	return r == planner.ReasonVerifying || r == planner.ReasonCanary
}

// is says whether a reason is r.
func is(r planner.Reason) func(planner.Reason) bool {
	return func(o planner.Reason) bool { return o == r }
}

// readyReason is the reason of s's Ready condition.
func readyReason(s *state.ServiceStatus) planner.Reason { return s.ReadyReason() }

// act serves a's POST /services/{service}/...: for the token that sent
// it, on the release the service is at now, which must be the one the
// page showed (its generation, when the form gives it).
func (d *Dashboard) act(a action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		service := r.PathValue("service")
		by, err := d.who(r)
		if err != nil {
			d.refuse(w, r, err)
			return
		}
		s := d.opt.Status().Services[service]
		var req state.Request
		ok := false
		if s != nil && a.at(readyReason(s)) {
			req, ok = a.release(service, s)
		}
		gen := r.PostFormValue("generation")
		switch {
		case s == nil:
			err = &errRefused{http.StatusNotFound, fmt.Sprintf("%s %s: no such service in the status", a.verb, service)}
		case !ok:
			err = &errRefused{http.StatusConflict, fmt.Sprintf("%s %s: %s (it is %s, %s)", a.verb, service, a.none, s.Phase, readyReason(s))}
		case gen != "" && gen != req.Generation:
			err = &errRefused{http.StatusConflict, fmt.Sprintf("%s %s: the release changed since the page was drawn (generation %s, now %s): look again", a.verb, service, gen, req.Generation)}
		}
		if err != nil {
			d.refuse(w, r, err)
			return
		}
		req.By, req.Via, req.At = by, "dashboard", d.opt.Now()
		if err := a.do(d, req); err != nil {
			d.refuse(w, r, fmt.Errorf("%s %s generation %s: %w", a.verb, service, req.Generation, err))
			return
		}
		d.opt.Log.Info("Release "+a.done+" from the dashboard", "service", service, "generation", req.Generation, "by", by, "remote", r.RemoteAddr)
		d.mu.Lock()
		d.addHistory(state.Release{Service: service, Generation: req.Generation, To: req.To, ToImage: req.ToImage, Start: req.At, End: req.At,
			Outcome: a.outcome, Reason: a.done + " by " + by + " (dashboard)", By: by})
		d.touch(service)
		d.mu.Unlock()
		d.wake()
		if r.Header.Get("Authorization") != "" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "%s: release %s %s by %s\n", service, req.Generation, a.done, by)
			return
		}
		http.Redirect(w, r, "/#"+cardID(service), http.StatusSeeOther)
	}
}
