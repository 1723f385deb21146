package planner

import (
	"cmp"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// How soon to look again while a gate is not met. Waiting for a new color
// to become ready is the step that decides how fast traffic moves, so it is
// polled tightly; the observation it repeats is a few local socket calls.
const (
	// ProbesNeeded is how many consecutive passing probes of a color's
	// address invariant 1 asks for before it may take traffic.
	ProbesNeeded     = 2
	ReadyPoll        = 5 * time.Millisecond
	DrainPoll        = 50 * time.Millisecond
	ActiveUnwellPoll = time.Second
	// PromotionPoll: how often a release waiting for an approval looks for it.
	PromotionPoll = time.Second
	// EngineStoppingPoll: how often a service looks again while the engine
	// shuts down (its event stream's end nudges sooner).
	EngineStoppingPoll = time.Second
)

// Plan decides the next single step for one service from its spec and what
// is observed now. It is pure: no I/O, no clock but now, no state of its own.
//
// Plan is a chain of gates. Each gate returns (d, decided): decided means d
// is the decision; otherwise the gate has nothing to say and the chain goes
// on.
func Plan(s *spec.Service, o Observed, now time.Time) Decision {
	return retry(s, o, restartPolicyGate(o, cleanJobs(s, o, plan(s, o, now)), now))
}

// retry honours an operator's request to try again the release of this
// generation (o.RetryAsked) once it failed and is at rest (d): Failed, for
// a reason a new attempt tries afresh, with nothing left to do. The loop
// then counts the retry, and the next generation is a new attempt, as
// after an edit of spec.retry: its jobs run again, its verification
// starts afresh. A request for another generation is not for this
// release: the release moved on. While a replica of the served color is
// DOWN the request waits: that is an outage to report (invariant 12), not
// a time to start a release.
func retry(s *spec.Service, o Observed, d Decision) Decision {
	gen := s.Generation()
	if o.RetryAsked != gen || d.Step != nil || d.Record != nil || d.Phase != Failed || !d.Reason.Retriable() || servedReplicaDown(o) {
		return d
	}
	return Decision{Phase: Progressing, Reason: ReasonRetrying, Retry: gen, RequeueAfter: ReadyPoll,
		Message: fmt.Sprintf("an operator asked to try the release of %s to %s again (it ended %s): it is attempted anew, under a new generation",
			s.Image, s.ActiveColor, d.Reason)}
}

// servedReplicaDown reports a running replica of the served color that
// HAProxy says is DOWN.
func servedReplicaDown(o Observed) bool {
	if o.Served == "" {
		return false
	}
	for _, st := range o.Color(o.Served).Replicas {
		if strings.HasPrefix(st.Server.Status, "DOWN") && st.Container.Running {
			return true
		}
	}
	return false
}

// plan is Plan but for the removal of the job containers no longer needed.
func plan(s *spec.Service, o Observed, now time.Time) Decision {
	if o.EngineStopping {
		return engineStopping(s)
	}
	if d, decided := checkHAProxyNames(s, o); decided {
		return d
	}
	if d, decided := checkOwnership(s, o); decided {
		return d
	}
	if InSplit(s, o) {
		return planSplit(s, o, now)
	}
	served := o.Served
	v := o.Verification
	var (
		rec       *Verification
		verifying *Decision
	)
	switch {
	case v.active(s) && served == v.To:
		// The release is judged on real traffic (invariant 11).
		var d Decision
		var decided bool
		if d, decided, rec, verifying = judge(s, o, v, now); decided {
			return d
		}
	case v.held(s):
		return planHeld(s, o, v, now)
	case v.rolledBack(s):
		// The failed color is not restarted while traffic goes back; once
		// traffic is back, or when it cannot go back, the served color is
		// kept running as always.
		d := planRollback(s, o, v, now)
		if served == v.From || d.Reason == ReasonRollbackImpossible {
			if kd, decided := keepServed(s, o, served, now); decided {
				return kd
			}
			if d.Step == nil {
				if hd, decided := heal(s, o, served, now); decided {
					return hd
				}
			}
		}
		return servedDown(s, o, served, d, now)
	case v != nil && v.Outcome == "" && v.Generation != s.Generation():
		rec = v.end(OutcomeSuperseded, "the spec changed before the verification window ended", now)
	}
	if d, decided := keepServed(s, o, served, now); decided {
		d.Record = rec
		return d
	}
	if d, decided := heal(s, o, served, now); decided {
		if d.Record == nil {
			d.Record = rec
		}
		return d
	}
	if d, decided := retireSurplus(s, o, served, now); decided {
		d.Record = rec
		return servedDown(s, o, served, d, now)
	}
	d := crashLoop(s, o, served, planRelease(s, o, served, verifying, now))
	if d.Record == nil {
		d.Record = rec
	}
	return servedDown(s, o, served, fallbackGate(s, o, served, d), now)
}

// judge plans a release whose verification window is open (v, of this
// spec, to the color served): decided when the pass ends there (rolled
// back, failed, held, or a step of an AfterSwitch job); otherwise rec is
// the record to keep and verifying, while the window runs, its decision.
func judge(s *spec.Service, o Observed, v *Verification, now time.Time) (d Decision, decided bool, rec *Verification, verifying *Decision) {
	served := o.Served
	d, r := planVerify(s, o, *v, now)
	if job := irreversibleJob(s, o); job != "" && r.Outcome == OutcomeRolledBack {
		r.Outcome = OutcomeHeld
		r.Reason += fmt.Sprintf("; not rolled back: job %s ran and cannot be undone (reversible: false)", job)
		return holdRelease(s, o, r, now), true, nil, nil
	}
	switch r.Outcome {
	case OutcomeRolledBack:
		d = servedDown(s, o, served, d, now)
		d.Record = r
		return d, true, nil, nil
	case OutcomeFailed:
		if kd, decided := keepServed(s, o, served, now); decided {
			d = kd
		}
		d.Record = r
		return d, true, nil, nil
	case "":
		// The AfterSwitch jobs run during the window.
		if jd, decided := jobsGate(s, o, served, spec.JobAfterSwitch, now); decided && jd.Step != nil {
			jd.Record = r
			return jd, true, nil, nil
		}
		window := d // not d itself: the return sets it
		return Decision{}, false, r, &window
	}
	return Decision{}, false, r, nil
}

// planHeld plans a release held after an irreversible job (v): held,
// until an operator asks for its rollback; then it is rolled back, as one
// that failed its verification is, to the previous color kept warm.
func planHeld(s *spec.Service, o Observed, v *Verification, now time.Time) Decision {
	if o.RollbackAsked != s.Generation() {
		return holdRelease(s, o, v, now)
	}
	r := v.end(OutcomeRolledBack, v.Reason+"; rolled back by an operator (controller rollback)", now)
	back := o
	back.Verification = r
	d := plan(s, back, now)
	if d.Record == nil {
		d.Record = r
	}
	return d
}

// fallbackGate holds "converged" back while the served color, reached at
// its own address, does not answer at its published port: an HAProxy
// reload would send its traffic there. Docker's port forwarder may start
// listening well after the container's address answers.
func fallbackGate(s *spec.Service, o Observed, served spec.Color, d Decision) Decision {
	if served == "" || !d.Converged() {
		return d
	}
	for _, st := range o.Color(served).Replicas {
		if st.FallbackOK || st.FallbackError == "" {
			continue
		}
		return Decision{Phase: Progressing, Reason: ReasonWaitingForFallback,
			Message: fmt.Sprintf("%s; but %s does not answer at its published port %s yet (%s): after an HAProxy reload its traffic would go there",
				d.Message, st.Slot, FallbackAddr(st.Slot), st.FallbackError),
			RequeueAfter: ReadyPoll}
	}
	return d
}

// planRelease walks the service towards its spec once the served color is
// looked after: image, next color ready, switch, map file, settle. While
// the release is verified (verifying), the previous color is drained but
// kept running.
func planRelease(s *spec.Service, o Observed, served spec.Color, verifying *Decision, now time.Time) Decision {
	active := s.ActiveColor
	other := active.Other()
	if !o.Image.Found {
		return imageStep(s)
	}

	// The next color to serve: the active one, unless the map points at it
	// while its container must change image, in which case traffic goes
	// through the other color first: the container the map points at is
	// never replaced. (With no container at all there is nothing to replace.)
	next := active
	if served == active && runsOther(s, o, active) {
		if verifying != nil {
			// The image was built or pulled again under the same name while
			// the release is verified: releasing it now would replace the
			// previous color, the way back (invariant 11). It waits for the
			// window to end.
			d := *verifying
			d.Message += fmt.Sprintf("; %s now resolves to image %s, not the %s that %s runs: it is released once the window ends",
				s.Image, ShortID(o.Image.ID), ShortID(o.Color(active).First().Container.ImageID), active)
			return d
		}
		next = other
	}
	// A first start (the map points at a color with no container yet)
	// runs the jobs before that color's container is made: it takes
	// traffic as soon as it answers.
	firstStart := served == next && !o.Color(next).First().Container.Exists
	if served != next || firstStart {
		if d, decided := jobFailure(s, o, served, now); decided {
			return d
		}
	}
	if firstStart {
		if d, decided := jobsGate(s, o, next, spec.JobBeforeSwitch, now); decided {
			return d
		}
	}
	if d, decided := prepare(s, o, next, served, now); decided {
		return d
	}
	backend := s.Color(next).Backend
	if served != next {
		if d, decided := preSwitch(s, o, next, served, now); decided {
			return d
		}
		if next == active {
			if d, decided := startCanary(s, o, served, next, now); decided {
				return d
			}
		}
		cause := fmt.Sprintf("%s runs %s and is UP with %d passing probes", next, s.Image, o.Color(next).First().Probes)
		if n := s.ReplicaCount(); n > 1 {
			cause = fmt.Sprintf("%s runs %s and its %d replicas are UP with %d passing probes each", next, s.Image, n, ProbesNeeded)
		}
		if next != active {
			cause += fmt.Sprintf("; traffic moves there while %s is replaced", active)
		}
		d := switchStep(s, next, o.Color(next), cause)
		if next == active {
			d.Record = startVerification(s, o, served, next, now)
		}
		return d
	}
	if !o.MapFile.Found || o.MapFile.Value != backend {
		return writeMapFileStep(s, next, fmt.Sprintf(
			"the runtime map says %s but the map file says %q: a reload would move traffic back", backend, o.MapFile.Value))
	}
	return settle(s, o, other, verifying, now)
}

// preSwitch holds the switch to the ready color next until its gates are
// passed: the preview key points at it, its pre-switch checks passed, the
// release jobs (spec.jobs) succeeded, it was warmed up (on the schema the
// jobs made), and, with a manual promotion, the release is approved.
func preSwitch(s *spec.Service, o Observed, next, served spec.Color, now time.Time) (d Decision, decided bool) {
	backend := s.Color(next).Backend
	if s.Preview != nil && (!o.Preview.Found || o.Preview.Value != backend) {
		return previewStep(s, next, fmt.Sprintf("%s is ready: preview it through HAProxy before the switch", next)), true
	}
	if len(s.Checks) > 0 {
		first := o.Color(next).First()
		switch r := o.Checks; {
		case !r.of(s, next, first.Container):
			return checksStep(s, next, first, fmt.Sprintf("%s is ready: %d pre-switch checks before any traffic moves", next, len(s.Checks))), true
		case !r.Passed:
			return Decision{Phase: Failed, Reason: ReasonCheckFailed,
				Message: fmt.Sprintf("%s (%s) failed a pre-switch check; it gets no traffic: %s", next, s.Image, r.Failure), LogsOf: s.ContainerName(next)}, true
		}
	}
	if d, decided := jobsGate(s, o, next, spec.JobBeforeSwitch, now); decided {
		return d, true
	}
	if s.Warmup != nil && !o.Warmup.of(s, next, o.Color(next)) {
		return warmupStep(s, next, o.Color(next)), true
	}
	if next == s.ActiveColor && served != "" && s.Promotion.Mode == spec.PromotionManual &&
		s.Promotion.Approved != s.Generation() && o.Approved != s.Generation() {
		return Decision{Phase: Progressing, Reason: ReasonWaitingForPromotion,
			Message: fmt.Sprintf("%s runs %s and is ready; traffic stays on %s until the release is promoted: run controller promote %s, or set spec.promotion.approved: %q",
				next, s.Image, served, s.Name, s.Generation()),
			RequeueAfter: PromotionPoll}, true
	}
	return Decision{}, false
}

// engineStopping is the decision while the engine shuts down: no step at
// all. The containers it stops die without the controller having stopped
// them, but starting them again would race the engine's shutdown (it
// refuses), and a release judged then would fail for nothing: the engine's
// restart policy brings the served color back when it starts, and the
// controller looks afresh once it answers.
func engineStopping(s *spec.Service) Decision {
	return Decision{Phase: Degraded, Reason: ReasonEngineStopping,
		Message: fmt.Sprintf("the Docker engine is shutting down (it accepts no new connection): %s's containers are not started again or changed until it answers again; "+
			"its restart policy brings back the served color's", s.Name),
		RequeueAfter: EngineStoppingPoll}
}

// keepServed is invariant 10: the containers the map points at are kept
// running, each replica of the served color. One that died (the
// controller's record says it did not stop it, whatever its exit code) is
// started again at once; while the engine's restart policy is bringing it
// back, the engine's own backoff applies. It is also given that restart
// policy, so that it comes back by itself when the engine or the host
// restarts, even with no controller running (once it is due: see
// RestartPolicyDelay).
func keepServed(s *spec.Service, o Observed, served spec.Color, now time.Time) (d Decision, decided bool) {
	if served == "" {
		return Decision{}, false
	}
	// A replica that is down comes first, then the others' addresses,
	// health and restart policy.
	for _, st := range o.Color(served).Replicas {
		if d, decided := startServed(s, st); decided {
			return d, true
		}
	}
	for _, st := range o.Color(served).Replicas {
		if d, decided := tendServed(s, o, served, st, now); decided {
			return d, true
		}
	}
	return Decision{}, false
}

// startServed brings replica st of the served color back when its
// container exists and does not run.
func startServed(s *spec.Service, st ReplicaState) (d Decision, decided bool) {
	ct, r := st.Container, st.Slot
	if !ct.Exists || ct.Running {
		return Decision{}, false
	}
	how := ct.Exit() + " without being stopped by the controller"
	switch {
	case ct.State == "created":
		how = "its container was created and not started yet"
	case ct.StoppedByController:
		how = ct.Exit() + " after the controller stopped it"
	}
	switch {
	case st.Server.Addr != FallbackAddr(r):
		// Its address on the network goes with it, and may be given to
		// another container: HAProxy goes back to the published port,
		// which reaches it wherever it comes back.
		return pointAt(s, st, fmt.Sprintf("%s serves but %s", r, how)), true
	case !ct.Restarting:
		return containerStep(StartContainer, s, r, ct, fmt.Sprintf("%s serves but %s: start it again", r, how)), true
	}
	return Decision{}, false
}

// tendServed points HAProxy at running replica st of the served color,
// sets it UP once back from a crash, and gives it, once due, the restart
// policy that brings it back by itself.
func tendServed(s *spec.Service, o Observed, served spec.Color, st ReplicaState, now time.Time) (d Decision, decided bool) {
	ct, r := st.Container, st.Slot
	if !ct.Exists {
		return Decision{}, false
	}
	if st.Server.Addr != ServerAddr(s, r, ct) && st.Probes >= ProbesNeeded && st.ProbedAddr == ServerAddr(s, r, ct) {
		// Through the fallback (HAProxy was reloaded, or the container
		// restarted with a new address): its own address answers.
		return pointAt(s, st, fmt.Sprintf("%s serves and passed %d probes of %s", r, st.Probes, st.ProbedAddr)), true
	}
	if d, decided := keepUp(s, st, r.String()+" serves and runs again"); decided {
		return d, true // back from a crash
	}
	if ct.RestartPolicy != RestartUnlessStopped && !now.Before(restartPolicyDue(o, served, ct)) {
		return restartPolicyStep(s, r, ct, RestartUnlessStopped, fmt.Sprintf(
			"%s serves: the engine must start it again if it dies, or when the engine or the host restarts: set its restart policy to %s (it is %s)",
			r, RestartUnlessStopped, cmp.Or(ct.RestartPolicy, "none yet"))), true
	}
	return Decision{}, false
}

// RestartPolicyDelay is how long a served color's container runs, from
// the later of its start and the switch to it, before it is given its
// restart policy. Changing it (docker update) costs the host tens of
// milliseconds of CPU in dockerd, containerd and runc, which every request
// in flight feels; this way that does not fall in the second around the
// switch, when the new color takes its first users. Until then the
// controller itself starts it again if it dies.
const RestartPolicyDelay = 2 * time.Second

// restartPolicyDue is when container ct of the served color is given its
// restart policy: RestartPolicyDelay after the later of its start and the
// switch to served, when the release in progress records one.
func restartPolicyDue(o Observed, served spec.Color, ct Container) time.Time {
	since := ct.StartedAt
	if o.SwitchedTo == served && o.SwitchedAt.After(since) {
		since = o.SwitchedAt
	}
	return since.Add(RestartPolicyDelay)
}

// restartPolicyGate holds "converged" back, and brings the next look
// forward, while a replica of the served color waits for its restart
// policy (RestartPolicyDelay): a service that says Converged comes back by
// itself when the engine restarts.
func restartPolicyGate(o Observed, d Decision, now time.Time) Decision {
	if o.Served == "" || d.Step != nil {
		return d
	}
	var (
		due  time.Time
		slot spec.Replica
	)
	for _, st := range o.Color(o.Served).Replicas {
		ct := st.Container
		if !ct.Exists || ct.RestartPolicy == RestartUnlessStopped {
			continue
		}
		if at := restartPolicyDue(o, o.Served, ct); now.Before(at) && (due.IsZero() || at.Before(due)) {
			due, slot = at, st.Slot
		}
	}
	if due.IsZero() {
		return d
	}
	d.RequeueAfter = Sooner(d.RequeueAfter, due.Sub(now))
	if d.Converged() {
		d.Phase, d.Reason = Progressing, ReasonSettling
		d.Message = fmt.Sprintf("%s; %s gets its restart policy %s at %s, %s after its start and the switch to it",
			d.Message, slot, RestartUnlessStopped, due.UTC().Format(time.RFC3339Nano), RestartPolicyDelay)
	}
	return d
}

// retireSurplus drains, stops and removes the replicas beyond
// spec.replicas (it was lowered), one step at a time. Those of the served
// color go only while another of its replicas is in service: they never
// take its last capacity away.
func retireSurplus(s *spec.Service, o Observed, served spec.Color, now time.Time) (d Decision, decided bool) {
	for _, c := range spec.Colors() {
		cs := o.Color(c)
		if c == served && inService(cs) == 0 {
			continue
		}
		// The last first: the ones left stay in consecutive slots, where
		// the next observation looks for them.
		for i := len(cs.Surplus) - 1; i >= 0; i-- {
			st := cs.Surplus[i]
			ct, r := st.Container, st.Slot
			why := fmt.Sprintf("%s is beyond spec.replicas %d", r.Container, s.ReplicaCount())
			switch {
			case !ct.Exists:
				continue
			case ct.Running && st.Server.Found && !st.Server.Draining() && !st.Server.Maint():
				return serverStep(DrainServer, s, r, why+": let its sessions finish before it stops"), true
			case ct.Running && st.Server.Found:
				if d, decided := drainGate(s, st, now); decided {
					return d, true
				}
			}
			if d, decided := disarm(s, r, ct, why); decided {
				return d, true
			}
			if ct.Running {
				return containerStep(StopContainer, s, r, ct, why+": stop it, drained"), true
			}
			return containerStep(RemoveContainer, s, r, ct, why+": remove it"), true
		}
	}
	return Decision{}, false
}

// crashLoop reports a served color that keeps dying: it is Degraded,
// whatever else the plan waits for, unless the plan has a step to take
// (a release to a fixed version goes on).
func crashLoop(s *spec.Service, o Observed, served spec.Color, d Decision) Decision {
	if served == "" || d.Step != nil || d.Phase == Failed {
		return d
	}
	for _, st := range o.Color(served).Replicas {
		ct, r := st.Container, st.Slot
		if !ct.Restarting && (ct.RestartCount == 0 || st.Server.Status == "UP") {
			continue
		}
		var msg string
		if ct.Restarting {
			msg = fmt.Sprintf("%s serves but its container %s %s and has been restarted %d times; the engine starts it again after a delay that doubles with each crash (up to 1 minute)",
				r, r.Container, ct.Exit(), ct.RestartCount)
		} else {
			// Running again: the engine no longer says how it ended.
			msg = fmt.Sprintf("%s serves; its container %s has been restarted %d times by the engine, the last time after it ended at %s; it runs again, HAProxy says %s",
				r, r.Container, ct.RestartCount, ct.FinishedAt.UTC().Format(time.RFC3339), st.Server.Status)
		}
		return Decision{Phase: Degraded, Reason: ReasonCrashLoop, Message: msg + "; " + d.Message,
			RequeueAfter: Sooner(d.RequeueAfter, ActiveUnwellPoll), LogsOf: r.Container}
	}
	return d
}

// WantRestartPolicy is the engine's restart policy color c must have: the
// served color comes back by itself, every other color stays down when it
// exits (a new color that dies at start fails its release).
func WantRestartPolicy(s *spec.Service, o Observed, c spec.Color) string {
	if c == o.Served {
		return RestartUnlessStopped
	}
	return RestartNo
}

func checkHAProxyNames(s *spec.Service, o Observed) (d Decision, decided bool) {
	for _, c := range spec.Colors() {
		cs := s.Color(c)
		if !o.Backends[cs.Backend] {
			return failed(ReasonBackendNotFound, fmt.Sprintf(
				"backend %q (spec.colors.%s.backend) is not defined in HAProxy at %s: add it to haproxy.cfg or fix the spec",
				cs.Backend, c, s.HAProxy.Runtime)), true
		}
		for _, st := range o.Color(c).Replicas {
			if st.Server.Found {
				continue
			}
			fix := "add it to haproxy.cfg or fix the spec"
			if n := s.ReplicaCount(); s.Replicas > 0 {
				fix = fmt.Sprintf("with spec.replicas %d the backend needs servers %s1 to %s%d: add \"server-template %s %d 127.0.0.1:%d check\" to backend %s in haproxy.cfg",
					n, cs.Server, cs.Server, n, cs.Server, n, cs.HostPort, cs.Backend)
			}
			return failed(ReasonServerNotFound, fmt.Sprintf(
				"server %s (spec.colors.%s.server) is not defined in HAProxy at %s: %s",
				serverName(st.Slot), c, s.HAProxy.Runtime, fix)), true
		}
	}
	return Decision{}, false
}

// checkOwnership refuses to go on while a container named like one of the
// service's slots does not carry the controller's labels for that very slot
// (managed, this service, this color, this replica): it is never touched.
func checkOwnership(s *spec.Service, o Observed) (d Decision, decided bool) {
	for _, c := range spec.Colors() {
		for _, st := range o.Color(c).Replicas {
			ct, r := st.Container, st.Slot
			if !ct.Exists {
				continue
			}
			why := ""
			switch {
			case !ct.Managed:
				why = "does not carry the controller's labels"
			case ct.Service != s.Name || ct.Color != string(c) || ct.Replica != r.Number():
				why = fmt.Sprintf("is labelled for service %q, color %q, replica %d, not for this slot (%s, %s, replica %d)",
					ct.Service, ct.Color, ct.Replica, s.Name, c, r.Number())
			default:
				continue
			}
			return failed(ReasonContainerNotOwned, fmt.Sprintf(
				"container %s exists but %s, so it is left alone: rename or remove it to let the controller manage %s",
				r.Container, why, r)), true
		}
	}
	return Decision{}, false
}

// prepare walks color c to ready, each replica in turn: replace a
// container on the wrong image, accept traffic in HAProxy, create, start,
// then wait for health. It has nothing more to decide (decided is false)
// once every replica of c runs the desired image, is UP and passes probes.
func prepare(s *spec.Service, o Observed, c spec.Color, served spec.Color, now time.Time) (d Decision, decided bool) {
	cs := o.Color(c)
	for _, st := range cs.Replicas {
		if d, decided := prepareReplica(s, o, st, served, now); decided {
			return d, true
		}
	}
	if readyColor(cs, served == c) {
		return Decision{}, false
	}
	if served != c {
		for _, st := range cs.Replicas {
			if d, decided := markUp(s, st, st.Slot.String()+" is new"); decided {
				return d, true
			}
		}
	}
	for _, st := range cs.Replicas {
		if !ready(st, served == c) {
			return awaitReady(s, cs, st, served, now), true
		}
	}
	return Decision{}, false
}

// prepareReplica takes replica st of color c one step towards running the
// desired container at the address HAProxy sends its traffic to.
func prepareReplica(s *spec.Service, o Observed, st ReplicaState, served spec.Color, now time.Time) (d Decision, decided bool) {
	ct, r := st.Container, st.Slot
	if ct.Exists && !replicaRunsDesired(s, o, st) {
		return replace(s, o, st, now), true
	}
	// A drained or disabled server is made ready once its container runs,
	// not before: a release to a stopped color starts it first, and the
	// undrain comes while the app starts, off the release's path.
	if ct.Running && (st.Server.Draining() || st.Server.Maint()) {
		return readyStep(s, st, served, fmt.Sprintf("%s is %s in HAProxy and must accept traffic once healthy", r, st.Server.Status)), true
	}
	if !ct.Exists {
		return createStep(s, r, o.Image.ID, fmt.Sprintf("%s must run %s", r, s.Image)), true
	}
	if served != r.Color {
		if d, decided := disarm(s, r, ct, r.String()+" does not serve: if it dies before it is ready"); decided {
			return d, true
		}
	}
	if !ct.Running {
		return notRunning(s, st, served), true
	}
	if served != r.Color && st.Server.Addr != ServerAddr(s, r, ct) {
		// Before any probe counts: the switch needs HAProxy to send
		// traffic to the very address that was probed.
		return pointAt(s, st, fmt.Sprintf("%s runs", r)), true
	}
	return Decision{}, false
}

// readyStep puts replica st's server back in service: a color that does
// not serve leaves maintenance DOWN (ServerRef.Down), as HAProxy would
// have it UP before any check; a drained server, or the served color,
// keeps the health HAProxy has for it.
func readyStep(s *spec.Service, st ReplicaState, served spec.Color, why string) Decision {
	if !st.Server.Maint() || st.Slot.Color == served {
		return serverStep(SetServerReady, s, st.Slot, why)
	}
	d := serverStep(SetServerReady, s, st.Slot, why+"; it leaves maintenance DOWN, to be proven before it takes traffic")
	d.Step.Target += " health down"
	d.Step.Server.Down = true
	d.Message = d.Step.String()
	return d
}

// replace stops, then removes, replica st's container, which runs another
// image or container spec than the spec asks for: once drained, as its
// color does not serve (a served color runs the desired image).
func replace(s *spec.Service, o Observed, st ReplicaState, now time.Time) Decision {
	ct, r := st.Container, st.Slot
	why := fmt.Sprintf("%s must run %s (image %s, spec %s) but runs image %s, spec %s",
		r, s.Image, ShortID(o.Image.ID), ContainerHash(s, r, o.Image.ID), ShortID(ct.ImageID), ct.SpecHash)
	if !ct.Running {
		return containerStep(RemoveContainer, s, r, ct, "replace: "+why)
	}
	if d, decided := drainGate(s, st, now); decided {
		return d
	}
	return containerStep(StopContainer, s, r, ct, "replace: "+why)
}

// notRunning decides for replica st, whose container runs the desired
// image but does not run.
func notRunning(s *spec.Service, st ReplicaState, served spec.Color) Decision {
	ct, r := st.Container, st.Slot
	name := r.Container
	if served == r.Color {
		// keepServed starts it, or the engine's restart policy does.
		return Decision{Phase: Degraded, Reason: ReasonActiveDown,
			Message:      fmt.Sprintf("%s serves but its container %s %s; it is being started again", r, name, ct.Exit()),
			RequeueAfter: ActiveUnwellPoll, LogsOf: name}
	}
	// A container that died soon after it started never became ready:
	// the release fails, and the color gets no traffic. One that died
	// after running longer than that (a warm color) is started again.
	if ct.Died() && ct.FinishedAt.Sub(ct.StartedAt) < s.ReadyTimeout.Duration {
		reason := ReasonContainerExited
		if ct.OOMKilled {
			reason = ReasonOOMKilled
		}
		return Decision{Phase: Failed, Reason: reason,
			Message: fmt.Sprintf("%s (%s) %s, %s after it started, before it became ready; it is left as it is and gets no traffic: fix the image or its resources and change the spec",
				name, s.Image, ct.Exit(), ct.FinishedAt.Sub(ct.StartedAt).Round(time.Millisecond)),
			LogsOf: name}
	}
	return containerStep(StartContainer, s, r, ct, fmt.Sprintf("%s runs %s but is %s", r, s.Image, ct.State))
}

// awaitReady waits for replica st of color cs, which runs, to become ready:
// an outage when its color serves and HAProxy says DOWN (a partial one
// while other replicas take the traffic), a failed release when a new
// replica is not ready within readyTimeout of its start.
func awaitReady(s *spec.Service, cs ColorState, st ReplicaState, served spec.Color, now time.Time) Decision {
	r := st.Slot
	if served == r.Color && st.Server.Down() {
		if others := inService(cs); others > 0 {
			return Decision{Phase: Degraded, Reason: ReasonReplicaDown, Message: replicaDown(s, st, others) + healPlan(s, st),
				RequeueAfter: ActiveUnwellPoll}
		}
		return Decision{Phase: Degraded, Reason: ReasonServedColorDown, Message: outage(s, st) + healPlan(s, st),
			RequeueAfter: ActiveUnwellPoll}
	}
	health := healthOf(s, st)
	age := now.Sub(st.Container.StartedAt)
	switch {
	case served == r.Color && age > s.ReadyTimeout.Duration:
		return Decision{Phase: Degraded, Reason: ReasonActiveNotReady,
			Message:      fmt.Sprintf("%s serves but is not healthy: %s", r, health),
			RequeueAfter: ActiveUnwellPoll}
	case served != r.Color && age > s.ReadyTimeout.Duration:
		return Decision{Phase: Failed, Reason: ReasonReadyTimeout,
			Message: fmt.Sprintf("%s did not become ready within %s of its start; it gets no traffic: %s",
				r, s.ReadyTimeout.Duration, health),
			LogsOf: r.Container}
	}
	return Decision{Phase: Progressing, Reason: ReasonWaitingForReady,
		Message:      fmt.Sprintf("waiting for %s to become ready: %s", r, health),
		RequeueAfter: ReadyPoll}
}

// healthOf says what HAProxy and the probes see of replica st, and why a
// check and a probe may disagree.
func healthOf(s *spec.Service, st ReplicaState) string {
	health := fmt.Sprintf("HAProxy says %s (check %s), probes passed %d of 2", st.Server.Status, st.Server.Check(), st.Probes)
	if st.ProbeError != "" {
		health += " (" + st.ProbeError + ")"
	}
	if why := disagreement(s, st); why != "" && probePassed(st) {
		health += "; " + why
	}
	if st.Server.Addr != "" && st.ProbedAddr != "" && st.Server.Addr != st.ProbedAddr {
		health += fmt.Sprintf("; HAProxy's server address %s is not the probed %s", st.Server.Addr, st.ProbedAddr)
	}
	if st.FallbackError != "" {
		health += fmt.Sprintf("; its published port %s does not answer yet (%s)", FallbackAddr(st.Slot), st.FallbackError)
	}
	return health
}

// settle drains the color c that does not serve, each replica, then stops
// it or keeps it warm.
func settle(s *spec.Service, o Observed, c spec.Color, verifying *Decision, now time.Time) Decision {
	active := c.Other()
	done := fmt.Sprintf("%s serves %s", active, s.Image)
	var (
		running bool
		stopAt  time.Time
	)
	// Every replica leaves service before any is stopped.
	for _, st := range o.Color(c).Replicas {
		if st.Container.Running && !st.Server.Draining() && !st.Server.Maint() {
			d, _ := drainGate(s, st, now)
			return d
		}
	}
	for _, st := range o.Color(c).Replicas {
		d, decided, at := settleReplica(s, st, verifying != nil, now)
		if decided {
			return d
		}
		if st.Container.Exists && st.Container.Running {
			running = true
			if stopAt.IsZero() || at.Before(stopAt) {
				stopAt = at
			}
		}
	}
	switch {
	case verifying != nil:
		return *verifying // drained, and kept running until the verdict
	case !running:
		return Decision{Phase: Converged, Reason: ReasonConverged, Message: done}
	case s.Idle.Policy == spec.IdleKeepWarm:
		return Decision{Phase: Converged, Reason: ReasonConverged, Message: fmt.Sprintf("%s; %s is drained and kept warm for rollback", done, c)}
	}
	return Decision{Phase: Converged, Reason: ReasonConverged,
		Message:      fmt.Sprintf("%s; %s is drained and stops at %s", done, c, stopAt.UTC().Format(time.RFC3339)),
		RequeueAfter: stopAt.Sub(now)}
}

// settleReplica takes replica st of a color that does not serve one step
// towards drained and stopped (or drained and warm); decided is false when
// it has no step to take or wait to report, and stopAt is then when a
// running, drained replica stops.
func settleReplica(s *spec.Service, st ReplicaState, verifying bool, now time.Time) (d Decision, decided bool, stopAt time.Time) {
	ct, r := st.Container, st.Slot
	if !ct.Exists || !ct.Running {
		if st.Server.Addr != FallbackAddr(r) {
			// Its address on the network may go to another container.
			return pointAt(s, st, fmt.Sprintf("%s is stopped", r)), true, stopAt
		}
		// Drained and stopped by the controller, or never created:
		// nothing to check until a release starts it. A stopped
		// container's server that an HAProxy reload put back in service
		// is left to its checks until then: after a reload the controller
		// takes only the steps traffic needs.
		switch {
		case st.Server.Maint():
		case !ct.Exists:
			return serverStep(DisableServer, s, r, fmt.Sprintf("%s has no container: HAProxy need not check it", r)), true, stopAt
		case st.Server.Draining():
			return serverStep(DisableServer, s, r, fmt.Sprintf("%s is drained and stopped: HAProxy need not check it", r)), true, stopAt
		}
		return Decision{}, false, stopAt
	}
	warm := verifying || s.Idle.Policy == spec.IdleKeepWarm
	if st.Server.Addr != ServerAddr(s, r, ct) && warm {
		// Kept warm to take traffic back: reachable the fast way.
		return pointAt(s, st, fmt.Sprintf("%s is kept warm", r)), true, stopAt
	}
	if d, decided := drainGate(s, st, now); decided && (!verifying || d.Step != nil) {
		return d, true, stopAt
	}
	if verifying {
		return Decision{}, false, stopAt
	}
	if d, decided := disarm(s, r, ct, r.String()+" no longer serves: once stopped"); decided {
		return d, true, stopAt
	}
	if warm {
		return Decision{}, false, stopAt
	}
	stopAt = outOfServiceSince(st, now).Add(s.Idle.StopAfter.Duration)
	if now.Before(stopAt) {
		return Decision{}, false, stopAt
	}
	cause := fmt.Sprintf("%s no longer serves and is drained", r)
	if st.Server.Sessions > 0 {
		cause = fmt.Sprintf("%s no longer serves; drain timeout %s passed with %d sessions left", r, s.DrainTimeout.Duration, st.Server.Sessions)
	}
	return containerStep(StopContainer, s, r, ct, cause), true, stopAt
}

// markUp sets replica st's health UP in HAProxy once the controller's own
// two probes of the very address HAProxy checks have passed, rather than
// wait for HAProxy's check cadence (its checks go on and take the server
// down if they fail). It gets ahead of HAProxy's first checks of a
// container run, and never overrides them: a run is marked UP once at
// most. decided is false while that does not hold. A server going down
// ("UP 1/2") is not forced: a color that does not serve yet is judged by
// HAProxy's checks before it takes traffic.
func markUp(s *spec.Service, st ReplicaState, why string) (d Decision, decided bool) {
	return setUp(s, st, why, st.Server.Down())
}

// keepUp is markUp for the served color, DOWN or going down: "UP 1/2"
// there means a check of the address it had before, or of its container
// before it answered after a crash, failed; one more such check, still in
// flight, would take it DOWN and fail its requests.
func keepUp(s *spec.Service, st ReplicaState, why string) (d Decision, decided bool) {
	return setUp(s, st, why, st.Server.Down() || st.Server.GoingDown())
}

// setUp is markUp and keepUp, behind is whether HAProxy has the server
// down or going down as they mean it.
func setUp(s *spec.Service, st ReplicaState, why string, behind bool) (d Decision, decided bool) {
	srv := st.Server
	// The probes count only for a running container, at the address it
	// answers on now, which must be the one HAProxy sends its traffic to.
	probed := st.Container.Running && st.Probes >= ProbesNeeded && st.ProbedAddr == ServerAddr(s, st.Slot, st.Container)
	if !probed || !behind || srv.Addr != st.ProbedAddr || srv.Draining() || srv.Maint() {
		return Decision{}, false
	}
	if st.MarkedUp.Is(st.Container.Run()) {
		// Marked UP once in this run already: HAProxy's checks took it
		// down since, and their word stands (servedDown says why).
		return Decision{}, false
	}
	return serverStep(MarkServerUp, s, st.Slot, fmt.Sprintf("%s: it passed %d probes of %s%s; HAProxy says %s until its checks catch up",
		why, st.Probes, st.ProbedAddr, s.HealthPath, srv.Status)), true
}

// ServerAddr is where HAProxy must send replica r's traffic, and where the
// controller probes it: the container's own address on its Docker network
// and containerPort while it runs there (the direct path, past Docker's
// port forwarder), else 127.0.0.1:hostPort as haproxy.cfg says (the
// published port: the fallback, valid whatever the container's address).
func ServerAddr(s *spec.Service, r spec.Replica, ct Container) string {
	if s.Network == spec.NetworkHost || !ct.Running {
		return FallbackAddr(r)
	}
	ip, err := netip.ParseAddr(ct.IP)
	if err != nil {
		return FallbackAddr(r)
	}
	return netip.AddrPortFrom(ip, uint16(s.ContainerPort)).String()
}

// FallbackAddr is replica r's address in haproxy.cfg: its published port
// (or, with host networking, the port its app listens on).
func FallbackAddr(r spec.Replica) string {
	return "127.0.0.1:" + strconv.Itoa(r.HostPort)
}

// pointAt points replica st's server at ServerAddr when HAProxy sends its
// traffic elsewhere (why says what the replica is doing).
func pointAt(s *spec.Service, st ReplicaState, why string) Decision {
	want := ServerAddr(s, st.Slot, st.Container)
	d := serverStep(SetServerAddr, s, st.Slot, fmt.Sprintf("%s; HAProxy sends its traffic to %s, not to %s", why, cmp.Or(st.Server.Addr, "none yet"), want))
	d.Step.Target += " addr " + want
	d.Step.Server.Addr = want
	d.Message = d.Step.String()
	return d
}

// disarm takes the engine's restart policy away from replica r's
// container, which must stay down once it exits or is stopped; decided is
// false when it has none.
func disarm(s *spec.Service, r spec.Replica, ct Container, why string) (d Decision, decided bool) {
	if ct.RestartPolicy == "" || ct.RestartPolicy == RestartNo {
		return Decision{}, false
	}
	return restartPolicyStep(s, r, ct, RestartNo, fmt.Sprintf("%s, it must stay down: set its restart policy to %s (it is %s)",
		why, RestartNo, ct.RestartPolicy)), true
}

// serverName is replica r's server as the runtime API names it: backend/server.
func serverName(r spec.Replica) string { return r.Backend + "/" + r.Server }

// drainGate holds back stopping replica st until it is drained in HAProxy
// and its sessions reach 0 or the drain timeout passes. The caller
// guarantees the map does not point at its color.
func drainGate(s *spec.Service, st ReplicaState, now time.Time) (d Decision, decided bool) {
	srv, r := st.Server, st.Slot
	if !srv.Draining() && !srv.Maint() {
		return serverStep(DrainServer, s, r,
			fmt.Sprintf("%s no longer serves: let its sessions finish before it stops", r)), true
	}
	if srv.Sessions == 0 {
		return Decision{}, false
	}
	since := outOfServiceSince(st, now)
	if left := s.DrainTimeout.Duration - now.Sub(since); left > 0 {
		return Decision{Phase: Progressing, Reason: ReasonDraining,
			Message:      fmt.Sprintf("draining %s: %d sessions left, drain timeout in %s", r, srv.Sessions, left.Round(time.Second)),
			RequeueAfter: min(DrainPoll, left)}, true
	}
	return Decision{}, false
}

// outOfServiceSince is when the replica's server left service, now if that
// was not observed before.
func outOfServiceSince(st ReplicaState, now time.Time) time.Time {
	if st.OutOfServiceSince.IsZero() {
		return now
	}
	return st.OutOfServiceSince
}

// inService counts the replicas of cs that run and that HAProxy sends
// requests to.
func inService(cs ColorState) (n int) {
	for _, st := range cs.Replicas {
		if st.Container.Running && st.Server.InService() {
			n++
		}
	}
	return n
}

// ServedColor is the color the map value m routes to, "" when it routes to
// neither of the service's backends.
func ServedColor(s *spec.Service, m MapValue) spec.Color {
	if !m.Found {
		return ""
	}
	for _, c := range spec.Colors() {
		if m.Value == s.Color(c).Backend {
			return c
		}
	}
	return ""
}

// RunsDesired reports whether every container of color c is the one the
// spec asks for now: the desired image, created from the current
// container spec.
func RunsDesired(s *spec.Service, o Observed, c spec.Color) bool {
	cs := o.Color(c)
	if len(cs.Replicas) == 0 {
		return false
	}
	for _, st := range cs.Replicas {
		if !replicaRunsDesired(s, o, st) {
			return false
		}
	}
	return true
}

// runsOther reports whether some container of color c exists and is not
// the one the spec asks for now.
func runsOther(s *spec.Service, o Observed, c spec.Color) bool {
	for _, st := range o.Color(c).Replicas {
		if st.Container.Exists && !replicaRunsDesired(s, o, st) {
			return true
		}
	}
	return false
}

// replicaRunsDesired reports whether replica st's container is the one the
// spec asks for now.
func replicaRunsDesired(s *spec.Service, o Observed, st ReplicaState) bool {
	ct := st.Container
	return ct.Exists && o.Image.Found && ct.ImageID == o.Image.ID && ct.SpecHash == ContainerHash(s, st.Slot, o.Image.ID)
}

// ready is invariant 1 for a replica of a color the map may be switched
// to: running the desired image (checked by the caller), UP in HAProxy,
// and two passing probes, taken in this observation (so after its
// container started), of the very address HAProxy sends its traffic to,
// and an answer at its published port too, the address a reload of
// HAProxy puts back. The color the map points at already is judged by
// HAProxy alone.
func ready(st ReplicaState, served bool) bool {
	if !st.Container.Running || st.Server.Status != "UP" {
		return false
	}
	return served || st.Probes >= ProbesNeeded && st.ProbedAddr != "" && st.Server.Addr == st.ProbedAddr && st.FallbackOK
}

// readyColor: every replica of cs is ready.
func readyColor(cs ColorState, served bool) bool {
	if len(cs.Replicas) == 0 {
		return false
	}
	for _, st := range cs.Replicas {
		if !ready(st, served) {
			return false
		}
	}
	return true
}

func failed(reason Reason, msg string) Decision {
	return Decision{Phase: Failed, Reason: reason, Message: msg}
}

// ShortID is an image or container ID as the docker CLI shows it.
func ShortID(id string) string {
	const prefix = "sha256:"
	if len(id) > len(prefix) && id[:len(prefix)] == prefix {
		id = id[len(prefix):]
	}
	if len(id) > 12 {
		return id[:12]
	}
	if id == "" {
		return "none"
	}
	return id
}

// Sooner is the sooner of two requeue delays, where zero means "no wait
// asked for".
func Sooner(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}
