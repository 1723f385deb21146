package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// takeStep takes the step of decision d, planned from o, once record (nil:
// none) has written what the step must not act before. Once it is done,
// the service is observed again at once (finish): after a MarkServerUp,
// that next pass takes the switch.
func (l *Loop) takeStep(ctx context.Context, s *spec.Service, d planner.Decision, o planner.Observed, record func()) (planner.Decision, error) {
	l.mu.Lock()
	log := l.logFor(s)
	l.mu.Unlock()
	if d.Step.Job != nil && (d.Step.Action == planner.CreateJob || d.Step.Action == planner.RemoveJob) {
		recordJob := l.recordJobStart
		if d.Step.Action == planner.RemoveJob {
			recordJob = l.flushJobRecords
		}
		if err := recordJob(s, *d.Step); err != nil {
			log.Error(err, "Step not taken", "step", d.Step.Action)
			if record != nil {
				record() // written even so, as execute would have
			}
			return d, err
		}
	}
	err := l.execute(ctx, log, s, *d.Step, record)
	if d.Step.Action == planner.RunChecks {
		err = l.recordChecks(log, s, *d.Step, err)
	}
	if d.Step.Action == planner.WarmUp && err == nil {
		l.recordWarmup(s, *d.Step)
	}
	if err != nil {
		return d, err
	}
	if d.Step.Action.MovesTraffic() && d.Record != nil {
		l.switched(s, d.Record)
	}
	l.rememberStep(s, *d.Step, o)
	return d, nil
}

// switched opens the verification window that decision record r started
// when the map has switched: its switchedAt is the planning pass's time,
// and traffic moves only once the step is done (tens of milliseconds
// later under load). Status is written with the pass; a controller killed
// before that keeps the planned time. l.mu is taken.
func (l *Loop) switched(s *spec.Service, r *planner.Verification) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.Status.Service(s.Name).Verification
	if v == nil || v.Generation != r.Generation || v.To != r.To || v.Outcome != "" || !v.SwitchedAt.Equal(r.SwitchedAt) {
		return // not the window this switch opened
	}
	if at := l.Now(); at.After(v.SwitchedAt) {
		v.SwitchedAt = at
	}
}

// rememberStep keeps in status what a step that succeeded leaves behind
// and the world does not show: the container run marked UP (never marked
// again), a restart for failing health.
func (l *Loop) rememberStep(s *spec.Service, step planner.Step, o planner.Observed) {
	if step.Replica < 1 {
		return
	}
	i := step.Replica - 1
	st := o.Color(step.Color).Replica(i)
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
	if cs := l.Status.Service(s.Name).Colors[step.Color].Replica(i); cs != nil {
		cs.Remember(st.Remembered)
	}
}

// execute takes one step, logged, recorded in status and offered to the
// fault-injection hooks.
func (l *Loop) execute(ctx context.Context, log logr.Logger, s *spec.Service, step planner.Step, record func()) error {
	log.Info("Step", "step", step.Action, "color", step.Color, "target", step.Target, "cause", step.Cause)
	if l.BeforeStep != nil {
		l.BeforeStep(step)
	}
	began := time.Now()
	err := l.executeBounded(ctx, step, record)
	l.listener().Stepped(s.Name, step, time.Since(began), err)
	if l.AfterStep != nil {
		l.AfterStep(step, err)
	}
	l.mu.Lock()
	st := l.Status.Service(s.Name)
	st.Stepped(step, err, refused(err), l.Now())
	if r := st.Release; err == nil && step.Action.MovesTraffic() && r != nil && step.Color == r.To && r.SwitchedAt == nil {
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
func (l *Loop) executeBounded(ctx context.Context, step planner.Step, record func()) error {
	if l.StepTimeout <= 0 {
		return l.Deps.execute(ctx, step, record)
	}
	sctx, cancel := context.WithTimeout(ctx, l.StepTimeout)
	defer cancel()
	err := l.Deps.execute(sctx, step, record)
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

// recordWarmup keeps in status that the replicas step warmed up, as they
// ran: the switch waits for it, and a container restarted since is warmed
// up again.
func (l *Loop) recordWarmup(s *spec.Service, step planner.Step) {
	r := &planner.WarmupRecord{Generation: s.Generation(), Color: step.Color, Requests: step.Warmup.Requests, At: l.Now()}
	for _, t := range step.Warmup.Targets {
		r.Runs = append(r.Runs, t.Run)
	}
	l.mu.Lock()
	l.Status.Service(s.Name).Warmup = r
	l.mu.Unlock()
}
