package planner

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// VerifyPoll is how often a release under verification is looked at.
const VerifyPoll = 250 * time.Millisecond

// Release outcomes, in the verification record and the history.
const (
	OutcomeSucceeded  = "Succeeded"
	OutcomeRolledBack = "RolledBack"
	OutcomeFailed     = "Failed"
	OutcomeSuperseded = "Superseded"
	// OutcomeHeld: the release failed its verification after a job that
	// cannot be undone succeeded; traffic stays on the new color, the
	// previous one is kept warm, until a person decides.
	OutcomeHeld = "Held"
)

// Counters are a backend's response counters in HAProxy ("show stat").
type Counters struct {
	// Responses counts every response (hrsp_1xx .. hrsp_5xx, hrsp_other).
	Responses int64 `json:"responses"`
	// Status5xx counts 5xx responses, the backend's own and HAProxy's.
	Status5xx int64 `json:"status5xx"`
	// Failed counts requests that never got a response from a server:
	// connection errors (econ) and response errors (eresp).
	Failed int64 `json:"failed"`
}

func (c Counters) add(o Counters) Counters {
	return Counters{c.Responses + o.Responses, c.Status5xx + o.Status5xx, c.Failed + o.Failed}
}

// Add is c and o counted together.
func (c Counters) Add(o Counters) Counters { return c.add(o) }

func (c Counters) sub(o Counters) Counters {
	return Counters{c.Responses - o.Responses, c.Status5xx - o.Status5xx, c.Failed - o.Failed}
}

// less reports a counter that went down: HAProxy was reloaded or
// restarted, and its counters started again from zero.
func (c Counters) less(o Counters) bool {
	return c.Responses < o.Responses || c.Status5xx < o.Status5xx || c.Failed < o.Failed
}

// Verification is one release's judgement on real traffic, persisted in
// status so that it survives a restart of the controller: when the switch
// was made, what it is judged against, and how it ended.
type Verification struct {
	// Generation is the spec digest of the release.
	Generation string     `json:"generation"`
	From       spec.Color `json:"from"`
	To         spec.Color `json:"to"`
	FromImage  string     `json:"fromImage,omitempty"`
	ToImage    string     `json:"toImage"`
	// FromImageID and ToImageID are the images the containers run.
	FromImageID string `json:"fromImageID,omitempty"`
	ToImageID   string `json:"toImageID,omitempty"`
	// FromContainer is the ID of the previous color's container, kept warm
	// for the rollback: only that very container is switched back to.
	FromContainer string    `json:"fromContainer"`
	SwitchedAt    time.Time `json:"switchedAt"`
	// Baseline holds To's backend counters when the window began; Seen the
	// last ones read; Carried what was counted before HAProxy last reset
	// its counters (a reload).
	Baseline Counters `json:"baseline"`
	Seen     Counters `json:"seen"`
	Carried  Counters `json:"carried"`
	// Canary: the release moves traffic in steps (spec.strategy Canary),
	// through the canary backend. Step is the step in force, from 0; it is
	// the number of steps once the map switched to To's backend, and the
	// window then runs from SwitchedAt. StepSince is when Step began. The
	// counters (Baseline, Seen) are To's backend's and its canary server's
	// together, from the canary's start.
	Canary bool `json:"canary,omitempty"`
	// FromBaseline holds From's counters when the canary began, for each
	// color's share.
	FromBaseline Counters  `json:"fromBaseline,omitzero"`
	Step         int       `json:"step,omitempty"`
	StepSince    time.Time `json:"stepSince,omitzero"`
	// Outcome is empty while the window runs.
	Outcome string     `json:"outcome,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	EndedAt *time.Time `json:"endedAt,omitempty"`
}

// counted is what To's backend did since the switch.
func (v *Verification) counted() Counters { return v.Carried.add(v.Seen.sub(v.Baseline)) }

// observe returns a copy of v that has seen counters now.
func (v Verification) observe(now Counters) Verification {
	if now.less(v.Seen) {
		v.Carried = v.counted()
		v.Baseline = Counters{}
	}
	v.Seen = now
	return v
}

func (v Verification) end(outcome, reason string, now time.Time) *Verification {
	v.Outcome, v.Reason, v.EndedAt = outcome, reason, &now
	return &v
}

// active reports a verification of this very spec that has not ended.
func (v *Verification) active(s *spec.Service) bool {
	return v != nil && v.Outcome == "" && v.Generation == s.Generation()
}

// held reports that this very spec is held after an irreversible job.
func (v *Verification) held(s *spec.Service) bool {
	return v != nil && v.Outcome == OutcomeHeld && v.Generation == s.Generation()
}

// rolledBack reports that this very spec was rolled back.
func (v *Verification) rolledBack(s *spec.Service) bool {
	return v != nil && v.Outcome == OutcomeRolledBack && v.Generation == s.Generation()
}

// startVerification opens the window of a switch from color from to color
// to, taken now, or returns nil when there is nothing to judge or nothing
// to go back to: verification off, a first start, or a previous color
// that does not run.
func startVerification(s *spec.Service, o Observed, from, to spec.Color, now time.Time) *Verification {
	if s.Verify.Window.Duration <= 0 {
		return nil
	}
	return newVerification(s, o, from, to, now)
}

// newVerification is the record of a release from color from to color to
// begun now, whatever spec.verify.window says (a canary's judges its
// steps), or nil when there is nothing to go back to: a first start, or a
// previous color that does not run.
func newVerification(s *spec.Service, o Observed, from, to spec.Color, now time.Time) *Verification {
	prev := o.Color(from).First().Container
	if from == "" || !prev.Exists || !prev.Running {
		return nil
	}
	return &Verification{
		Generation: s.Generation(), From: from, To: to,
		FromImage: prev.Image, ToImage: s.Image, FromImageID: prev.ImageID, ToImageID: o.Color(to).First().Container.ImageID,
		FromContainer: prev.ID, SwitchedAt: now,
		Baseline: o.Color(to).Backend, Seen: o.Color(to).Backend,
	}
}

// verdict judges the window so far: a failure's reason, or "" (with done
// set once the window has passed without one).
//
// Every replica of the new color must keep running and stay in service:
// one that dies or that HAProxy takes DOWN fails the release, even while
// the others take its requests.
func verdict(s *spec.Service, o Observed, v Verification, now time.Time) (failure string, done bool) {
	c := v.counted()
	elapsed := now.Sub(v.SwitchedAt).Round(100 * time.Millisecond)
	figures := fmt.Sprintf("%d responses, %d of them 5xx, %d requests without a response, in %s after the switch", c.Responses, c.Status5xx, c.Failed, elapsed)
	for _, st := range o.Color(v.To).Replicas {
		ct, r := st.Container, st.Slot
		switch {
		case !ct.Running:
			return fmt.Sprintf("%s's container %s %s; %s", r, r.Container, ct.Exit(), figures), false
		case st.Server.Down() || st.Server.Maint():
			why := ""
			if d := disagreement(s, st); d != "" && probePassed(st) {
				why = "; the controller's probe passed: " + d
			}
			return fmt.Sprintf("HAProxy says %s is %s (check %s); %s%s", r, st.Server.Status, st.Server.Check(), figures, why), false
		}
	}
	bad := c.Status5xx + c.Failed
	if total := c.Responses + c.Failed; total >= int64(s.Verify.MinRequests) && float64(bad) > *s.Verify.MaxErrorRate*float64(total) {
		return fmt.Sprintf("%d of %d requests were 5xx or got no response (%.1f %%) in %s after the switch; threshold %.1f %%",
			bad, total, 100*float64(bad)/float64(total), elapsed, 100**s.Verify.MaxErrorRate), false
	}
	if slow := latencyVerdict(s, o, v, c); slow != "" {
		return slow + "; " + figures, false
	}
	jobFailure, jobsDone := afterSwitchVerdict(s, o)
	if jobFailure != "" {
		return jobFailure + "; " + figures, false
	}
	return "", jobsDone && now.Sub(v.SwitchedAt) >= s.Verify.Window.Duration
}

// planVerify judges the release whose window is open: it fails (and the
// rollback begins), passes, or goes on with the previous color kept warm.
func planVerify(s *spec.Service, o Observed, v Verification, now time.Time) (d Decision, rec *Verification) {
	v = v.observe(o.Color(v.To).Backend)
	failure, done := verdict(s, o, v, now)
	if failure == "" && o.RollbackAsked == v.Generation && canRollBack(o, v) {
		c := v.counted()
		failure = fmt.Sprintf("an operator asked for the rollback, after %d responses, %d of them 5xx, %d without a response since the switch",
			c.Responses, c.Status5xx, c.Failed)
	}
	switch {
	case failure != "" && !canRollBack(o, v):
		// Nothing to go back to: the release failed, and the color that
		// serves is looked after as any served color is.
		rec = v.end(OutcomeFailed, failure+"; there is no way back: the previous container of "+string(v.From)+" is gone", now)
		return Decision{Phase: Failed, Reason: ReasonVerificationFailed, Message: rec.Reason}, rec
	case failure != "":
		rec = v.end(OutcomeRolledBack, failure, now)
		return planRollback(s, o, rec, now), rec
	case done:
		c := v.counted()
		rec = v.end(OutcomeSucceeded, fmt.Sprintf("%d responses, %d of them 5xx, %d without a response in the %s window",
			c.Responses, c.Status5xx, c.Failed, s.Verify.Window.Duration), now)
		return Decision{Phase: Progressing, Reason: ReasonVerified, Message: fmt.Sprintf("%s passed verification: %s", v.To, rec.Reason)}, rec
	}
	c := v.counted()
	left := s.Verify.Window.Duration - now.Sub(v.SwitchedAt)
	if left <= 0 {
		// The window passed; its AfterSwitch jobs have not all succeeded.
		return Decision{Phase: Progressing, Reason: ReasonVerifying,
			Message: fmt.Sprintf("%s serves %s; the verification window has passed (%d responses, %d of them 5xx, %d without a response) and waits for its AfterSwitch jobs; %s is kept warm for a rollback",
				v.To, s.Image, c.Responses, c.Status5xx, c.Failed, v.From),
			RequeueAfter: JobPoll}, &v
	}
	return Decision{Phase: Progressing, Reason: ReasonVerifying,
		Message: fmt.Sprintf("%s serves %s; verifying on real traffic, %s left: %d responses, %d of them 5xx, %d without a response; %s is kept warm for a rollback",
			v.To, s.Image, left.Round(100*time.Millisecond), c.Responses, c.Status5xx, c.Failed, v.From),
		RequeueAfter: min(VerifyPoll, left)}, &v
}

// canRollBack reports whether the container that served before the switch
// is still there to go back to.
//
// The verification records the first replica's container; every other
// replica of the previous color must be there too.
func canRollBack(o Observed, v Verification) bool {
	cs := o.Color(v.From)
	if len(cs.Replicas) == 0 || cs.First().Container.ID != v.FromContainer {
		return false
	}
	for _, st := range cs.Replicas {
		if !st.Container.Exists {
			return false
		}
	}
	return true
}

// planRollback takes traffic back to the very container that served
// before the release, kept warm, then drains and stops the failed color.
// The spec is not retried until it changes.
func planRollback(s *spec.Service, o Observed, v *Verification, now time.Time) Decision {
	from, to := v.From, v.To
	cs := o.Color(from)
	served := o.Served
	why := "release of " + v.ToImage + " to " + string(to) + " failed verification: " + v.Reason
	if strings.HasPrefix(v.Reason, string(ReasonServedColorDown)+": ") {
		// Healed after its window: see heal.
		why = "release of " + v.ToImage + " to " + string(to) + " turned unhealthy: " + v.Reason
	}
	if !canRollBack(o, *v) {
		if served == from {
			return settleRolledBack(s, o, v, now)
		}
		return failed(ReasonRollbackImpossible, fmt.Sprintf("%s; the previous container of %s is gone, so traffic stays on %s: fix the image and change the spec", why, from, to))
	}
	if served == from {
		return settleRolledBack(s, o, v, now)
	}
	for _, st := range cs.Replicas {
		ct, r := st.Container, st.Slot
		switch {
		case st.Server.Draining() || st.Server.Maint():
			return readyStep(s, st, served, "roll back: "+why)
		case !ct.Running:
			return containerStep(StartContainer, s, r, ct, "roll back: "+why)
		case ct.Running && st.Server.Addr != ServerAddr(s, r, ct):
			return pointAt(s, st, "roll back: "+why)
		}
	}
	if readyColor(cs, false) {
		return switchStep(s, from, cs, "roll back: "+why)
	}
	for _, st := range cs.Replicas {
		if d, decided := markUp(s, st, "roll back to "+st.Slot.String()); decided {
			return d
		}
	}
	waiting := cs.First()
	for _, st := range cs.Replicas {
		if !ready(st, false) {
			waiting = st
			break
		}
	}
	return Decision{Phase: Progressing, Reason: ReasonRollingBack,
		Message: fmt.Sprintf("rolling back to %s: waiting for %s to be ready (HAProxy says %s, probes passed %d of 2); %s",
			from, waiting.Slot, waiting.Server.Status, waiting.Probes, why),
		RequeueAfter: ReadyPoll}
}

// settleRolledBack: traffic is back on the previous color; the map file
// follows, the failed color is drained and stopped, each replica, and
// status says why the live state differs from the spec.
func settleRolledBack(s *spec.Service, o Observed, v *Verification, now time.Time) Decision {
	from, to := v.From, v.To
	backend := s.Color(from).Backend
	if !o.MapFile.Found || o.MapFile.Value != backend {
		return writeMapFileStep(s, from, "roll back: the map file must name "+backend+" too")
	}
	for _, bad := range o.Color(to).Replicas {
		if !bad.Container.Exists || !bad.Container.Running {
			continue
		}
		if d, decided := drainGate(s, bad, now); decided {
			return d
		}
		if d, decided := disarm(s, bad.Slot, bad.Container, "rolled back: once stopped"); decided {
			return d
		}
		return containerStep(StopContainer, s, bad.Slot, bad.Container, "rolled back: "+v.Reason)
	}
	return Decision{Phase: Failed, Reason: ReasonRolledBack,
		Message: fmt.Sprintf("the release of %s to %s was rolled back: %s; %s serves %s again. The live state differs from the spec: change the spec, or run controller retry %s to try it again",
			v.ToImage, to, v.Reason, from, cmp.Or(v.FromImage, "none yet"), s.Name),
		LogsOf: s.ContainerName(to)}
}

// latencyVerdict judges the new color's average response time (HAProxy's
// rtime: of its server in the canary backend while the map points there,
// else of its backend) against verify.maxResponseTime, and against the
// previous color's times verify.maxLatencyRatio, once the new color has
// minRequests responses (c); "" when it passes or is not judged.
func latencyVerdict(s *spec.Service, o Observed, v Verification, c Counters) string {
	maxTime, ratio := s.Verify.MaxResponseTime, s.Verify.MaxLatencyRatio
	if maxTime == nil && ratio == nil || c.Responses < int64(s.Verify.MinRequests) {
		return ""
	}
	newTime, oldTime := o.Color(v.To).ResponseTime, o.Color(v.From).ResponseTime
	if InSplit(s, o) {
		newTime, oldTime = o.Canary.ResponseTime(v.To), o.Canary.ResponseTime(v.From)
	}
	both := fmt.Sprintf("%s's average response time is %s, %s's %s (HAProxy's rtime)", v.To, newTime, v.From, oldTime)
	if maxTime != nil && newTime > maxTime.Duration {
		return fmt.Sprintf("%s: above verify.maxResponseTime %s", both, maxTime.Duration)
	}
	// The previous color's time counts once it answered at all.
	if ratio != nil && o.Color(v.From).Backend.Responses > 0 && newTime-oldTime >= spec.MinLatencyGap &&
		float64(newTime) > *ratio*float64(max(oldTime, time.Millisecond)) {
		return fmt.Sprintf("%s: %.1f times, above verify.maxLatencyRatio %v", both, float64(newTime)/float64(max(oldTime, time.Millisecond)), *ratio)
	}
	return ""
}
