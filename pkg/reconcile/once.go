package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
)

// ErrWaitingForPromotion is returned by RunOnce when every service is at
// rest or has a release ready and waiting for an operator's approval.
var ErrWaitingForPromotion = errors.New("waiting for promotion")

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
				return res.Refused // the services it holds back were not acted on: nil when none
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
