package planner

import (
	"fmt"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// servedDown reports an outage: HAProxy says every running replica of
// the served color is DOWN (or, a partial one, some of them while others
// take their requests). Whatever else the plan waits for, the service is
// Degraded, never Converged; a step the plan has to take (a release to a
// fixed version, a restart) goes on. The message says what HAProxy's check
// and the controller's probe saw, why they may disagree, and what the
// controller does about it.
func servedDown(s *spec.Service, o Observed, served spec.Color, d Decision, now time.Time) Decision {
	switch {
	case served == "" || d.Step != nil || d.Phase == Failed:
		return d
	case d.Reason == ReasonCrashLoop || d.Reason == ReasonActiveDown || d.Reason == ReasonServedColorDown || d.Reason == ReasonReplicaDown:
		return d
	}
	cs := o.Color(served)
	var down *ReplicaState
	for i := range cs.Replicas {
		if st := cs.Replicas[i]; st.Container.Running && st.Server.Down() {
			down = &cs.Replicas[i]
			break
		}
	}
	if down == nil {
		return d
	}
	out := Decision{Phase: Degraded, Reason: ReasonServedColorDown,
		Message:      outage(s, *down) + healPlan(s, *down),
		RequeueAfter: Sooner(d.RequeueAfter, ActiveUnwellPoll)}
	if others := inService(cs); others > 0 {
		out.Reason, out.Message = ReasonReplicaDown, replicaDown(s, *down, others)+healPlan(s, *down)
	}
	if !d.Converged() {
		out.Message += "; meanwhile: " + d.Message
	}
	out.Record = d.Record
	return out
}

// outage describes a replica of the served color that HAProxy says is
// DOWN: its check, the controller's probe, and why they may disagree.
func outage(s *spec.Service, st ReplicaState) string {
	r := st.Slot
	return fmt.Sprintf("%s serves but HAProxy says %s is %s (check %s): requests for %s get 503",
		r, serverName(r), st.Server.Status, st.Server.Check(), s.HAProxy.MapKey) + probeSaw(s, st)
}

// replicaDown describes a replica of the served color that HAProxy says is
// DOWN while others of the color take its requests.
func replicaDown(s *spec.Service, st ReplicaState, others int) string {
	r := st.Slot
	return fmt.Sprintf("%s serves but HAProxy says %s is %s (check %s): HAProxy sends %s's requests to the %d other replicas in service",
		r, serverName(r), st.Server.Status, st.Server.Check(), s.HAProxy.MapKey, others) + probeSaw(s, st)
}

// probeSaw says what the controller's probe of replica st saw, for a
// message about a server HAProxy says is DOWN.
func probeSaw(s *spec.Service, st ReplicaState) string {
	switch probe := probeURL(s, st); {
	case st.ProbedAddr == "":
		return ""
	case probePassed(st):
		msg := fmt.Sprintf("; the controller's probe of %s passed", probe)
		if why := disagreement(s, st); why != "" {
			msg += ": " + why
		}
		return msg
	case st.ProbeError != "":
		return fmt.Sprintf("; the controller's probe of %s failed too (%s)", probe, st.ProbeError)
	default:
		return fmt.Sprintf("; %d of %d probes of %s passed so far", st.Probes, ProbesNeeded, probe)
	}
}

// disagreement explains a check HAProxy failed at layer 7 while the
// controller's probe of the same address passed: the two do not ask the
// same thing. With haproxy.cfg at hand it names the difference exactly.
func disagreement(s *spec.Service, st ReplicaState) string {
	if !st.Server.CheckFailedL7() {
		return ""
	}
	backend := st.Slot.Backend
	fix := fmt.Sprintf("option httpchk GET %s and http-check expect status 200", s.HealthPath)
	if cc := st.CheckConfig; cc != nil && cc.Mismatch != "" {
		return fmt.Sprintf("backend %s (%s) %s; make it check what the controller probes: %s", backend, cc.Where, cc.Mismatch, fix)
	}
	return fmt.Sprintf("HAProxy's check of backend %s probably uses another path, method, host or expected status than spec.healthPath %s; "+
		"it must check what the controller probes: %s in backend %s of haproxy.cfg (restarting the app would not help)",
		backend, s.HealthPath, fix, backend)
}

// healPlan says what becomes of a served color that fails both HAProxy's
// check and the controller's probe ("" when the probe passes: no restart
// mends that).
func healPlan(s *spec.Service, st ReplicaState) string {
	if probePassed(st) {
		return ""
	}
	after := s.RestartAfter()
	if after <= 0 {
		return "; it is not restarted (spec.health.restartAfter: 0s)"
	}
	msg := ""
	if n := st.HealthRestarts; n > 0 {
		msg = fmt.Sprintf("; restarted %d times for failing its health", n)
	}
	if st.UnhealthySince.IsZero() {
		return msg
	}
	at := st.UnhealthySince.Add(after)
	return msg + fmt.Sprintf("; unhealthy since %s, %s is restarted at %s unless it recovers (spec.health.restartAfter %s)",
		st.UnhealthySince.UTC().Format(time.RFC3339), st.Slot.Container, at.UTC().Format(time.RFC3339), after)
}

// heal acts on the replicas of a served color that fail both HAProxy's
// check and the controller's probe while their containers run (a replica
// HAProxy fails but the probe passes is a disagreement that no restart
// mends). When every running replica is so, the service is at its spec
// and the other color is still warm and healthy, traffic goes back to it
// at once, as a rollback; otherwise each such container is restarted once
// it has been unhealthy for spec.health.restartAfter. It is off with
// restartAfter 0s.
func heal(s *spec.Service, o Observed, served spec.Color, now time.Time) (d Decision, decided bool) {
	if served == "" || s.RestartAfter() <= 0 {
		return Decision{}, false
	}
	cs := o.Color(served)
	var sick []ReplicaState
	for _, st := range cs.Replicas {
		if unhealthy(st) {
			sick = append(sick, st)
		}
	}
	if len(sick) == 0 {
		return Decision{}, false
	}
	other := served.Other()
	// After a job that cannot be undone, going back is a person's call.
	if inService(cs) == 0 && served == s.ActiveColor && RunsDesired(s, o, served) && warmAndHealthy(o.Color(other)) && irreversibleJob(s, o) == "" {
		why := outage(s, sick[0])
		prev, cur := o.Color(other).First().Container, cs.First().Container
		rec := &Verification{
			Generation: s.Generation(), From: other, To: served,
			FromImage: prev.Image, ToImage: cur.Image, FromImageID: prev.ImageID, ToImageID: cur.ImageID,
			FromContainer: prev.ID, SwitchedAt: now,
			Outcome: OutcomeRolledBack, EndedAt: &now,
			Reason: fmt.Sprintf("%s: %s; %s, still warm and healthy, takes its traffic back", ReasonServedColorDown, why, other),
		}
		if v := o.Verification; v != nil && v.Generation == rec.Generation {
			rec.SwitchedAt = v.SwitchedAt
		}
		d := servedDown(s, o, served, planRollback(s, o, rec, now), now)
		d.Record = rec
		return d, true
	}
	for _, st := range sick {
		if now.Sub(st.UnhealthySince) < s.RestartAfter() {
			continue
		}
		why := outage(s, st)
		if others := inService(cs); others > 0 {
			why = replicaDown(s, st, others)
		}
		return containerStep(RestartContainer, s, st.Slot, st.Container, fmt.Sprintf(
			"%s has failed HAProxy's check and the controller's probe for %s (since %s): restart it, as a crash would be; %s",
			st.Slot, now.Sub(st.UnhealthySince).Round(time.Second), st.UnhealthySince.UTC().Format(time.RFC3339), why)), true
	}
	return Decision{}, false
}

// unhealthy: the replica's container runs, HAProxy says it is DOWN and the
// controller's probe of healthPath failed too, since UnhealthySince.
func unhealthy(st ReplicaState) bool {
	return st.Container.Running && st.Server.Down() && st.ProbedAddr != "" && !probePassed(st) && !st.UnhealthySince.IsZero()
}

// warmAndHealthy: a color that does not serve but could take traffic back
// at once: each replica's container runs, HAProxy's checks of it pass and
// so do the controller's probes of the address HAProxy uses.
func warmAndHealthy(cs ColorState) bool {
	if len(cs.Replicas) == 0 {
		return false
	}
	for _, st := range cs.Replicas {
		if !st.Container.Running || !st.Server.CheckPassed || st.Server.Down() || st.Server.Maint() ||
			!probePassed(st) || st.Server.Addr != st.ProbedAddr {
			return false
		}
	}
	return true
}

func probePassed(st ReplicaState) bool { return st.Probes >= ProbesNeeded }

func probeURL(s *spec.Service, st ReplicaState) string {
	return "http://" + st.ProbedAddr + s.HealthPath
}
