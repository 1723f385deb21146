package planner

import (
	"fmt"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// A canary release (spec.strategy Canary) moves traffic in steps. The
// map key points at the canary backend, which holds one server per color
// (each tracking its color's server, so HAProxy takes a color's share
// away when it goes DOWN) and a cookie HAProxy inserts: each user stays on
// the version it first got, in both directions. Each step sets the
// servers' weights (the new color's share of new users), waits for its
// pause or for controller promote, and is judged as the verification
// window judges (HAProxy's counters of the new color, its servers' state,
// its container's life): a failure takes the key back to the previous
// color at once. After the last step the map switches to the new color's
// backend, and the verification window, drain and idle policy follow as
// for a blue/green release.
//
// The progress is the verification record (Verification.Canary, Step,
// StepSince), persisted in status, and the weights HAProxy holds: a
// controller killed at any moment resumes at the step it was in.

// CanaryState is what HAProxy has of the service's canary backend: each
// color's server weight there.
type CanaryState struct {
	// Found: the backend and both servers ("blue", "green") exist.
	Found       bool
	Blue, Green int
	// BlueTime and GreenTime are HAProxy's average response times of the
	// servers (rtime; 0: none yet).
	BlueTime, GreenTime time.Duration
}

// ResponseTime is HAProxy's average response time of color c's server in
// the canary backend.
func (cs CanaryState) ResponseTime(c spec.Color) time.Duration {
	if c == spec.Green {
		return cs.GreenTime
	}
	return cs.BlueTime
}

// Weight is color c's server weight in the canary backend.
func (cs CanaryState) Weight(c spec.Color) int {
	if c == spec.Green {
		return cs.Green
	}
	return cs.Blue
}

// CanaryWeights is what a SetCanaryWeights step sets, server by server,
// in order (the one that gains first: a share moves, none is lost).
type CanaryWeights struct {
	Runtime string         `json:"runtime"`
	Backend string         `json:"backend"`
	Set     []ServerWeight `json:"set"`
}

// ServerWeight is one server's weight in the canary backend.
type ServerWeight struct {
	Server string `json:"server"`
	Weight int    `json:"weight"`
}

// CanaryPoll is how often a canary step in its pause is looked at (it is
// judged at each look).
const CanaryPoll = VerifyPoll

// CanaryApproval is the approval controller promote records to move a
// canary of generation past step (from 0), a step without a pause.
func CanaryApproval(generation string, step int) string {
	return fmt.Sprintf("%s/step-%d", generation, step+1)
}

// CanaryBackend is the canary backend of s: spec.strategy.backend, or its
// default name also when s is not (or no longer) a canary, so that a map
// left pointing there is recognised.
func CanaryBackend(s *spec.Service) string {
	if c := s.Canary(); c != nil {
		return c.Backend
	}
	return s.Name + "_canary"
}

// InSplit reports the map key pointing at the canary backend.
func InSplit(s *spec.Service, o Observed) bool {
	return o.MapRuntime.Found && o.MapRuntime.Value == CanaryBackend(s)
}

// Split is a canary in progress, as observed: the map key points at the
// canary backend for a step of this spec's canary.
type Split struct {
	From, To spec.Color
	// Step is the step in force, from 1, of Steps; Weight its weight.
	Step, Steps, Weight int
}

// InCanaryStep reports that v is the open record of a canary of this very
// spec s, at one of its steps (not yet switched after the last).
func (v *Verification) InCanaryStep(s *spec.Service) bool {
	c := s.Canary()
	return c != nil && v.active(s) && v.Canary && v.Step < len(c.Steps)
}

// SplitOf returns the canary in progress of s, when the map key points at
// the canary backend for a step of its canary (ok false otherwise).
func SplitOf(s *spec.Service, o Observed) (sp Split, ok bool) {
	c, v := s.Canary(), o.Verification
	if !InSplit(s, o) || !v.InCanaryStep(s) {
		return Split{}, false
	}
	return Split{From: v.From, To: v.To, Step: v.Step + 1, Steps: len(c.Steps), Weight: c.Steps[v.Step].Weight}, true
}

// startCanary is the switch of a canary release from color from to the
// ready color to: the canary backend's weights are set for the first step
// (or the step a rollout interrupted by an HAProxy reload was in), then
// the key points there. It is decided only for a real release: a color
// serves, and its container is there to go back to.
func startCanary(s *spec.Service, o Observed, from, to spec.Color, now time.Time) (d Decision, decided bool) {
	c := s.Canary()
	if c == nil || from == "" || from == to {
		return Decision{}, false
	}
	rec := newVerification(s, o, from, to, now)
	if v := o.Verification; v.InCanaryStep(s) && v.From == from && v.To == to && canRollBack(o, *v) {
		resumed := *v
		rec = &resumed
	}
	if rec == nil || !keepsShare(o.Color(from)) {
		// Nothing to go back to, or the previous color cannot take its
		// share (drained, in maintenance, DOWN): all at once.
		return Decision{}, false
	}
	if !rec.Canary {
		rec.FromBaseline = o.Color(from).Backend
	}
	rec.Canary, rec.StepSince = true, now
	if !o.Canary.Found {
		return failed(ReasonBackendNotFound, fmt.Sprintf(
			"canary backend %q (spec.strategy.backend) with servers \"blue\" and \"green\" is not defined in HAProxy at %s: add it to haproxy.cfg (see docs/reference.md, \"Canary\"), or set spec.strategy.type: BlueGreen; %s keeps all traffic",
			c.Backend, s.HAProxy.Runtime, from)), true
	}
	for _, col := range []spec.Color{to, from} {
		if st := o.Color(col).First(); !st.FallbackOK {
			return Decision{Phase: Progressing, Reason: ReasonWaitingForFallback,
				Message: fmt.Sprintf("%s runs %s and is ready; the canary backend sends %s's share to its published port %s, which does not answer yet (%s)",
					to, s.Image, col, FallbackAddr(st.Slot), st.FallbackError),
				RequeueAfter: ReadyPoll}, true
		}
	}
	w := c.Steps[rec.Step].Weight
	if o.Canary.Weight(to) != w || o.Canary.Weight(from) != 100-w {
		return weightsStep(s, from, to, w, fmt.Sprintf("%s runs %s and is ready: canary step %d of %d sends it %d %% of new users", to, s.Image, rec.Step+1, len(c.Steps), w)), true
	}
	d = splitStep(s, to, o.Color(to), fmt.Sprintf("%s runs %s and is ready; the canary backend's weights are set for step %d of %d (%d %%): split traffic there",
		to, s.Image, rec.Step+1, len(c.Steps), w))
	d.Record = rec
	return d, true
}

// planSplit plans a service whose map key points at the canary backend.
func planSplit(s *spec.Service, o Observed, now time.Time) Decision {
	c, v := s.Canary(), o.Verification
	if !v.InCanaryStep(s) {
		return leaveSplit(s, o, v, now)
	}
	from, to := v.From, v.To
	// The previous color serves its share: it is kept running as the
	// served color is.
	kept := o
	kept.Served = from
	if d, decided := keepServed(s, kept, from, now); decided {
		return d
	}
	seen := v.observe(o.Color(to).Backend)
	step := c.Steps[seen.Step]
	failure, _ := verdict(s, o, seen, now)
	for _, st := range o.Color(to).Replicas {
		if failure == "" && (st.Server.Draining() || !st.Server.InService()) {
			failure = fmt.Sprintf("HAProxy says %s (%s) is %s, drained %t: it cannot take its share", st.Slot, serverName(st.Slot), st.Server.Status, st.Server.Draining())
		}
	}
	if failure == "" && o.RollbackAsked == seen.Generation {
		failure = "an operator asked for the rollback"
	}
	if failure != "" {
		return abortCanary(s, o, seen, failure, now)
	}
	where := fmt.Sprintf("canary step %d of %d: %s (%s) gets %d %% of new users, %s the rest, each user kept on its version; %s",
		seen.Step+1, len(c.Steps), to, s.Image, step.Weight, from, canaryFigures(seen, o))
	if o.Canary.Weight(to) != step.Weight || o.Canary.Weight(from) != 100-step.Weight {
		d := weightsStep(s, from, to, step.Weight, fmt.Sprintf("%s; HAProxy has weights %d (%s) and %d (%s)",
			where, o.Canary.Weight(to), to, o.Canary.Weight(from), from))
		// The step's pause counts from when its weights go in: a
		// controller killed after it recorded the step and before it set
		// them, or a reload that reset them, does not shorten it.
		seen.StepSince = now
		d.Record = &seen
		return d
	}
	switch {
	case step.Pause != nil:
		if left := step.Pause.Duration - now.Sub(seen.StepSince); left > 0 {
			return Decision{Phase: Progressing, Reason: ReasonCanary, Record: &seen, RequeueAfter: min(CanaryPoll, left),
				Message: fmt.Sprintf("%s; the next step in %s", where, left.Round(100*time.Millisecond))}
		}
	case o.Approved != CanaryApproval(seen.Generation, seen.Step):
		return Decision{Phase: Progressing, Reason: ReasonWaitingForPromotion, Record: &seen, RequeueAfter: PromotionPoll,
			Message: fmt.Sprintf("%s; this step has no pause: run controller promote %s to go on", where, s.Name)}
	}
	next := seen
	next.Step++
	next.StepSince = now
	if next.Step < len(c.Steps) {
		w := c.Steps[next.Step].Weight
		d := weightsStep(s, from, to, w, fmt.Sprintf("canary step %d of %d passed (%s): step %d sends %s %d %% of new users",
			seen.Step+1, len(c.Steps), canaryFigures(seen, o), next.Step+1, to, w))
		d.Record = &next
		return d
	}
	if !readyColor(o.Color(to), false) {
		st := o.Color(to).First()
		return Decision{Phase: Progressing, Reason: ReasonWaitingForReady, Record: &seen, RequeueAfter: ReadyPoll,
			Message: fmt.Sprintf("%s; the steps passed, and all traffic goes to %s once it is ready: %s", where, to, healthOf(s, st))}
	}
	next.SwitchedAt = now
	d := switchStep(s, to, o.Color(to), fmt.Sprintf("the %d canary steps passed (%s): all traffic goes to %s, the verification window begins",
		len(c.Steps), canaryFigures(seen, o), to))
	d.Record = &next
	return d
}

// abortCanary ends a canary that failed at its step: the key goes back to
// the previous color at once, once it is ready; then the rollback goes on
// as a blue/green one does (planRollback).
func abortCanary(s *spec.Service, o Observed, v Verification, failure string, now time.Time) Decision {
	c := s.Canary()
	reason := fmt.Sprintf("at canary step %d of %d (%d %% of new users): %s", v.Step+1, len(c.Steps), c.Steps[v.Step].Weight, failure)
	if d, decided := backInService(s, o.Color(v.From), "roll back: "+reason); decided {
		d.Record = &v
		return d
	}
	if !readyColor(o.Color(v.From), false) {
		st := o.Color(v.From).First()
		return Decision{Phase: Progressing, Reason: ReasonRollingBack, Record: &v, RequeueAfter: ReadyPoll,
			Message: fmt.Sprintf("rolling back to %s: waiting for it to be ready (HAProxy says %s, probes passed %d of 2); %s", v.From, st.Server.Status, st.Probes, reason)}
	}
	rec := v.end(OutcomeRolledBack, reason, now)
	d := switchStep(s, v.From, o.Color(v.From), "roll back: release of "+v.ToImage+" to "+string(v.To)+" failed "+reason)
	d.Record = rec
	return d
}

// leaveSplit takes the key off the canary backend when no canary of this
// spec is in progress (the spec changed during one, or status was lost):
// all traffic goes to one ready color, the previous one first. A release
// of the spec then starts afresh.
func leaveSplit(s *spec.Service, o Observed, v *Verification, now time.Time) Decision {
	var order []spec.Color
	if v != nil && v.Canary {
		order = append(order, v.From)
	}
	order = append(order, s.ActiveColor.Other(), s.ActiveColor)
	for _, c := range order {
		if d, decided := backInService(s, o.Color(c), fmt.Sprintf("the map points at the canary backend %s, no canary of this spec is in progress: %s is to take all traffic",
			CanaryBackend(s), c)); decided && runsAll(o.Color(c)) {
			return d
		}
		if !readyColor(o.Color(c), false) {
			continue
		}
		d := switchStep(s, c, o.Color(c), fmt.Sprintf("the map points at the canary backend %s but no canary of this spec is in progress (the spec changed, or status was lost): all traffic goes to %s",
			CanaryBackend(s), c))
		if v != nil && v.Outcome == "" {
			d.Record = v.end(OutcomeSuperseded, "the spec changed during its canary", now)
		}
		return d
	}
	return Decision{Phase: Degraded, Reason: ReasonCanaryStranded, RequeueAfter: ReadyPoll,
		Message: fmt.Sprintf("the map points at the canary backend %s but no canary of this spec is in progress, and neither color is ready to take all traffic yet", CanaryBackend(s))}
}

// backInService sets a replica of cs that is drained or in maintenance
// ready again, before traffic goes to cs whole.
func backInService(s *spec.Service, cs ColorState, why string) (d Decision, decided bool) {
	for _, st := range cs.Replicas {
		if st.Server.Draining() || st.Server.Maint() {
			return serverStep(SetServerReady, s, st.Slot, why), true
		}
	}
	return Decision{}, false
}

// keepsShare: every replica of cs runs and is in service in HAProxy, not
// drained: it can go on taking its share of the traffic.
func keepsShare(cs ColorState) bool {
	for _, st := range cs.Replicas {
		if !st.Container.Running || !st.Server.InService() || st.Server.Draining() || st.Server.Maint() {
			return false
		}
	}
	return len(cs.Replicas) > 0
}

// runsAll: every replica of cs has a running container.
func runsAll(cs ColorState) bool {
	for _, st := range cs.Replicas {
		if !st.Container.Running {
			return false
		}
	}
	return len(cs.Replicas) > 0
}

// canaryFigures says what each color did so far in the canary: the new
// color's responses, 5xx and unanswered requests, each color's share of
// the responses and HAProxy's average response time of each.
func canaryFigures(v Verification, o Observed) string {
	n := v.counted()
	prev := o.Color(v.From).Backend
	if prev.less(v.FromBaseline) {
		v.FromBaseline = Counters{} // HAProxy counts afresh since a reload
	}
	old := prev.sub(v.FromBaseline).Responses
	share := ""
	if total := n.Responses + old; total > 0 {
		share = fmt.Sprintf(" (%.1f %% of %d; %s %d)", 100*float64(n.Responses)/float64(total), total, v.From, old)
	}
	return fmt.Sprintf("%d responses from %s so far%s, %d of them 5xx, %d requests without a response; average response time %s %s, %s %s",
		n.Responses, v.To, share, n.Status5xx, n.Failed, v.To, o.Canary.ResponseTime(v.To), v.From, o.Canary.ResponseTime(v.From))
}

// weightsStep sets the canary backend's weights: to gets w, from the
// rest, to first (it gains).
func weightsStep(s *spec.Service, from, to spec.Color, w int, cause string) Decision {
	c := s.Canary()
	d := step(SetCanaryWeights, s, to, fmt.Sprintf("%s %s=%d %s=%d", c.Backend, to, w, from, 100-w), cause)
	d.Step.Weights = &CanaryWeights{Runtime: s.HAProxy.Runtime, Backend: c.Backend, Set: []ServerWeight{
		{Server: spec.CanaryServer(to), Weight: w}, {Server: spec.CanaryServer(from), Weight: 100 - w}}}
	return d
}

// splitStep points the key at the canary backend, at runtime only; color
// to's readiness (cs) is checked again, live, right before, as for a
// switch.
func splitStep(s *spec.Service, to spec.Color, cs ColorState, cause string) Decision {
	d := switchStep(s, to, cs, cause)
	backend := CanaryBackend(s)
	d.Step.Action, d.Reason = SplitTraffic, Reason(SplitTraffic)
	d.Step.Target = s.HAProxy.MapKey + " -> " + backend
	d.Step.Map.Value = backend
	d.Message = d.Step.String()
	return d
}
