package planner_test

import (
	"cmp"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// invariantChecks is how many worlds TestPlanInvariants draws unless
// -rapid.checks or RAPID_CHECKS says otherwise (rapid's default is 100).
const invariantChecks = 10000

// TestPlanInvariants draws whole observed worlds of one service, plans on
// each, and checks the design's safety invariants 1, 2, 3, 10, 11 and 12 on the
// decision. Each invariant is stated from the spec and the observed fields
// alone, never with the planner's own predicates (RunsDesired, ready,
// ServerAddr, FallbackAddr, ServedColor), so that a bug in one of them fails
// here. A failing world is shrunk to a small one, printed draw by draw.
func TestPlanInvariants(t *testing.T) {
	setDefaultChecks(t, invariantChecks)
	services := &serviceCache{t: t, made: map[specCase][2]*spec.Service{}}
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		s, pristine := services.get(w.Spec)
		o := w.observed(s)
		d := planner.Plan(s, o, plantest.T0)
		t.Logf("decision: %s", d)
		// Plan is pure: it changed neither the spec nor the observation
		// (compared with the same world built again).
		if !reflect.DeepEqual(s, pristine) {
			t.Fatalf("Plan changed the spec: %+v, was %+v", *s, *pristine)
		}
		if again := w.observed(s); !reflect.DeepEqual(o, again) {
			t.Fatalf("Plan changed the observation: %+v, was %+v", o, again)
		}
		checkInvariants(t, s, o, d)
	})
}

// setDefaultChecks sets rapid's number of checks to n unless the command
// line (-rapid.checks) or the environment (RAPID_CHECKS) gives one.
func setDefaultChecks(t *testing.T, n int) {
	t.Helper()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rapid.checks" })
	if _, env := os.LookupEnv("RAPID_CHECKS"); given || env {
		return
	}
	if err := flag.Set("rapid.checks", strconv.Itoa(n)); err != nil {
		t.Fatalf("set -rapid.checks: %v", err)
	}
}

// checkInvariants fails t when decision d, taken on o, breaks an invariant.
func checkInvariants(t *rapid.T, s *spec.Service, o planner.Observed, d planner.Decision) {
	now := plantest.T0
	served := servedColor(s, o.MapRuntime)
	rb := rollback(s, o, d)
	checkHeld(t, s, o, d)
	checkRetry(t, s, o, d)
	checkCanary(t, s, o, d, rb)
	// A release passes its verification only once its AfterSwitch jobs
	// succeeded.
	if r := d.Record; r != nil && r.Outcome == planner.OutcomeSucceeded && r.Generation == s.Generation() &&
		(o.Verification == nil || o.Verification.Outcome != planner.OutcomeSucceeded) {
		for _, j := range s.Jobs {
			if j.When == spec.JobAfterSwitch && !jobSucceeded(s, o, j.Name) {
				t.Fatalf("the release passed its verification (%s) before its AfterSwitch job %s succeeded (%+v)", r.Reason, j.Name, o.Jobs)
			}
		}
	}

	// Invariant 10: the served color is kept running. When its container
	// is down, managed, not restarting (the engine is not already bringing
	// it back), the step starts it, or first points its server back at the
	// published port, where it comes back whatever its address. Only a
	// rollback away from it (to the very container that served before)
	// leaves it down.
	if served != "" {
		awayFrom := rb != nil && served == rb.To && previousThere(o, rb)
		for _, st := range o.Color(served).Replicas {
			ct := st.Container
			if !ct.Exists || !ct.Managed || ct.Running || ct.Restarting || awayFrom {
				continue
			}
			// The step brings back a replica of the served color that is
			// down: this one, or one before it.
			var acted *planner.ReplicaState
			if d.Step != nil && d.Step.Color == served && d.Step.Replica > 0 {
				r := o.Color(served).Replica(d.Step.Replica - 1)
				acted = &r
			}
			starts := acted != nil && d.Step.Action == planner.StartContainer && !acted.Container.Running
			repoints := acted != nil && d.Step.Action == planner.SetServerAddr && !acted.Container.Running && acted.Server.Addr != publishedAddr(s, acted.Slot)
			if !starts && !repoints {
				t.Fatalf("invariant 10: %s of the served color is down (%s, state %q) and the decision is %s", st.Slot, ct.Exit(), ct.State, d)
			}
		}
	}

	// Invariant 12: a service is never called converged while the color
	// it serves is not UP in HAProxy (its requests get 503), and a served
	// color HAProxy says is DOWN, whose container runs, is reported, not
	// waited for.
	if served != "" && d.Step == nil {
		for _, st := range o.Color(served).Replicas {
			srv := st.Server
			if d.Phase == planner.Converged && (srv.Status != "UP" || !st.Container.Running) {
				t.Fatalf("invariant 12: Converged while %s of the served color is %q in HAProxy (running %t): %s",
					st.Slot, srv.Status, st.Container.Running, d)
			}
			// Converged means it comes back by itself, with no
			// controller, when the engine or the host restarts.
			if d.Phase == planner.Converged && st.Container.RestartPolicy != planner.RestartUnlessStopped {
				t.Fatalf("invariant 10: Converged while %s of the served color has restart policy %q: %s", st.Slot, st.Container.RestartPolicy, d)
			}
			if strings.HasPrefix(srv.Status, "DOWN") && st.Container.Running && d.Phase != planner.Degraded && d.Phase != planner.Failed {
				t.Fatalf("invariant 12: %s of the served color is DOWN and the decision is %s", st.Slot, d)
			}
		}
	}

	if d.Step == nil {
		if d.Phase == "" || d.Reason == "" {
			t.Fatalf("a decision without a step has no phase or reason: %+v", d)
		}
		return
	}
	step := *d.Step
	if step.Target == "" || step.Cause == "" {
		t.Fatalf("step without a target or a cause: %+v", step)
	}
	if step.Service != s.Name {
		t.Fatalf("step for service %q, not %q: %s", step.Service, s.Name, step)
	}
	if why := valueMissing(s, step); why != "" {
		t.Fatalf("step %s does not carry what its execution needs: %s", step, why)
	}
	imageStep := step.Action == planner.BuildImage || step.Action == planner.PullImage
	if imageStep != (step.Color == "") || !imageStep && step.Color != spec.Blue && step.Color != spec.Green {
		t.Fatalf("step %s acts on color %q", step, step.Color)
	}
	if imageStep {
		return
	}
	checkJobs(t, s, o, &step, rb)
	if step.Job != nil {
		return // a job container is none of the colors'
	}
	c := step.Color
	cs := o.Color(c)
	if (step.Replica > 0) != (step.Container != nil || step.Server != nil) || step.Replica > len(cs.Replicas)+len(cs.Surplus) {
		t.Fatalf("step %s names replica %d of %d (and %d beyond spec.replicas)", step, step.Replica, s.ReplicaCount(), len(cs.Surplus))
	}
	// A replica beyond spec.replicas (it was lowered) is only drained,
	// stopped and removed, and those of the served color only while
	// another of its replicas takes the traffic.
	surplus := step.Replica > s.ReplicaCount()
	if surplus {
		switch step.Action {
		case planner.DrainServer, planner.SetRestartPolicy, planner.StopContainer, planner.RemoveContainer:
		default:
			t.Fatalf("step %s on replica %d, beyond spec.replicas %d", step, step.Replica, s.ReplicaCount())
		}
		if c == served && !anyInService(cs) {
			t.Fatalf("step %s takes a replica of the served color away while none of its replicas is in service", step)
		}
	}
	st := cs.Replica(max(step.Replica-1, 0)) // the replica acted on, the first for color steps
	ct, srv := st.Container, st.Server
	open := o.Verification != nil && o.Verification.Outcome == "" && o.Verification.Generation == s.Generation()
	passed := d.Record != nil && d.Record.Outcome == planner.OutcomeSucceeded

	switch step.Action {
	case planner.SwitchMap:
		// Invariant 1: the map moves only to a color that runs what it
		// must, is UP and in service, passed two probes of the very
		// address HAProxy sends it traffic to, which is where its
		// container answers now, and answers at its published port too.
		// Every replica of it. From the canary backend, it may go to
		// either color: both took traffic there.
		back := rb
		if o.MapRuntime.Found && o.MapRuntime.Value == planner.CanaryBackend(s) {
			back = &planner.Verification{From: c, FromContainer: cs.First().Container.ID}
		}
		for _, st := range o.Color(c).Replicas {
			if why := notReady(s, o, st, back); why != "" {
				t.Fatalf("invariant 1: %s although %s", step, why)
			}
			if st.Server.Status != "UP" {
				t.Fatalf("invariant 1: %s although HAProxy says %s is %q, not UP", step, st.Slot, st.Server.Status)
			}
			if !st.FallbackOK {
				t.Fatalf("invariant 1: %s although %s does not answer at its published port %s (%q)", step, st.Slot, publishedAddr(s, st.Slot), st.FallbackError)
			}
		}
		if got, want := len(step.Map.Ready), s.ReplicaCount(); got != want {
			t.Fatalf("invariant 1: %s carries the readiness of %d replicas, not %d", step, got, want)
		}
		// A release (not a rollback) moves traffic only to a color warmed
		// up as its replicas run now.
		if s.Warmup != nil && (back == nil || c != back.From) && !warmedUp(s, o, c) {
			t.Fatalf("%s to a color not warmed up as it runs now (record %+v)", step, o.Warmup)
		}
	case planner.MarkServerUp:
		// Invariant 12: a container run is set UP once at most; after
		// that, HAProxy's own checks have the last word.
		if st.MarkedUp.Container == ct.ID && st.MarkedUp.StartedAt.Equal(ct.StartedAt) {
			t.Fatalf("invariant 12: %s sets UP again a run of %s already set UP (%s)", step, c, st.MarkedUp.StartedAt)
		}
		// Invariant 1 too: HAProxy's health is forced UP only on the same
		// evidence (the served color, back from a crash, whatever it runs;
		// with the traffic split, the color that served before).
		split := o.MapRuntime.Found && o.MapRuntime.Value == planner.CanaryBackend(s)
		if c == served || split && o.Verification != nil && c == o.Verification.From {
			if why := probesMissing(s, st, true); why != "" {
				t.Fatalf("invariant 1: %s on the served color although %s", step, why)
			}
		} else if why := notReady(s, o, st, rb); why != "" {
			t.Fatalf("invariant 1: %s although %s", step, why)
		}
	case planner.SetServerAddr:
		// HAProxy is pointed only at where the container answers now,
		// and the served color's traffic only at an address that passed
		// its probes, or at its published port.
		_, addr, _ := strings.Cut(step.Target, " addr ")
		if want := expectedAddr(s, st.Slot, ct); addr != want {
			t.Fatalf("%s points %s at %q; its container answers at %s", step, st.Slot, addr, want)
		}
		if c == served && addr != publishedAddr(s, st.Slot) && (st.Probes < planner.ProbesNeeded || st.ProbedAddr != addr) {
			t.Fatalf("%s points the served color at %s with %d probes passed at %q", step, addr, st.Probes, st.ProbedAddr)
		}
	case planner.RestartContainer:
		// Invariant 2's one exception: the served color is restarted
		// only while it runs and serves nothing (HAProxy says DOWN), its
		// probes fail, and that has lasted spec.health.restartAfter.
		switch {
		case c != served:
			t.Fatalf("%s restarts %s, which does not serve (served: %q)", step, c, served)
		case !ct.Running || !strings.HasPrefix(srv.Status, "DOWN"):
			t.Fatalf("invariant 2: %s while %s runs %t and HAProxy says %q", step, c, ct.Running, srv.Status)
		case st.Probes >= planner.ProbesNeeded:
			t.Fatalf("invariant 2: %s although the controller's probes of %s pass", step, c)
		case st.UnhealthySince.IsZero() || now.Sub(st.UnhealthySince) < spec.DefaultRestartAfter:
			t.Fatalf("invariant 2: %s unhealthy for %s only, restartAfter %s", step, since(st.UnhealthySince, now), spec.DefaultRestartAfter)
		}
	case planner.DrainServer:
		// Invariants 2 and 3: the map is switched away before a drain.
		if c == served && !surplus {
			t.Fatalf("invariant 2: %s drains the served color", step)
		}
	case planner.StopContainer, planner.RemoveContainer:
		if c == served && !surplus {
			t.Fatalf("invariant 2: %s on the served color %s", step, c)
		}
		if step.Action == planner.RemoveContainer && ct.Running {
			t.Fatalf("invariant 3: %s removes a running container", step)
		}
		// Invariant 3: a running container stops once drained (or in
		// maintenance) and empty, or once the drain timeout has passed.
		if ct.Running {
			out := srv.AdminDrain || srv.AdminMaint || srv.Status == "DRAIN" || strings.HasPrefix(srv.Status, "MAINT")
			if !out {
				t.Fatalf("invariant 3: %s while its server is %q, neither drained nor in maintenance", step, srv.Status)
			}
			timedOut := !st.OutOfServiceSince.IsZero() && now.Sub(st.OutOfServiceSince) >= s.DrainTimeout.Duration
			if srv.Sessions > 0 && !timedOut {
				t.Fatalf("invariant 3: %s with %d sessions, out of service for %s of the %s drain timeout",
					step, srv.Sessions, since(st.OutOfServiceSince, now), s.DrainTimeout.Duration)
			}
		}
		// Invariant 11: the previous color stays warm while the window
		// of this spec is open, unless this decision ends it passed.
		if open && c == o.Verification.From && !passed && !surplus {
			t.Fatalf("invariant 11: %s while the verification of %s is open (switched %s ago; decision record %+v)",
				step, o.Verification.To, now.Sub(o.Verification.SwitchedAt), d.Record)
		}
	case planner.StartContainer, planner.CreateContainer:
		// Invariant 11: a release rolled back is not retried until the
		// spec changes (unless its color is served: invariant 10 wins).
		if rb != nil && c == rb.To && c != served {
			t.Fatalf("invariant 11: %s retries the release that was rolled back (%s)", step, rb.Reason)
		}
	}
}

// checkRetry: a release is tried again only when an operator asked for
// this very generation, and only once it failed and is at rest, for a
// failure a new attempt tries afresh: the same world without the request
// is planned Failed (RolledBack, CheckFailed or JobFailed) with nothing
// left to do. The retry itself is no step: the loop counts it and the
// next generation is planned afresh.
func checkRetry(t *rapid.T, s *spec.Service, o planner.Observed, d planner.Decision) {
	if d.Retry == "" {
		return
	}
	if d.Retry != s.Generation() || o.RetryAsked != s.Generation() || d.Step != nil || d.Record != nil {
		t.Fatalf("a retry of %s decided with %q asked: %+v", d.Retry, o.RetryAsked, d)
	}
	unasked := o
	unasked.RetryAsked = ""
	without := planner.Plan(s, unasked, plantest.T0)
	switch without.Reason {
	case planner.ReasonRolledBack, planner.ReasonCheckFailed, planner.ReasonJobFailed:
	default:
		t.Fatalf("a retry decided where, unasked, the decision is %s", without)
	}
	if without.Phase != planner.Failed || without.Step != nil || without.Record != nil {
		t.Fatalf("a retry decided where, unasked, the release is not failed and at rest: %s", without)
	}
}

// valueMissing says what a step lacks of the value its action needs, or
// names wrongly: the executor performs it from that value alone.
func valueMissing(s *spec.Service, st planner.Step) string {
	c := st.Color
	var name, backend, server string
	if c != "" {
		name, backend, server = "bg-"+s.Name+"-"+string(c), s.Colors.Blue.Backend, s.Colors.Blue.Server
		if c == spec.Green {
			backend, server = s.Colors.Green.Backend, s.Colors.Green.Server
		}
		if st.Replica > 1 {
			name += "-" + strconv.Itoa(st.Replica)
		}
		if s.Replicas > 0 || st.Replica > 1 {
			server += strconv.Itoa(st.Replica)
		}
	}
	switch st.Action {
	case planner.BuildImage, planner.PullImage:
		if st.Image == nil || st.Image.Ref != s.Image || (st.Action == planner.BuildImage) != (st.Image.Build != nil) {
			return fmt.Sprintf("image %+v, want %s", st.Image, s.Image)
		}
	case planner.CreateContainer, planner.StartContainer, planner.StopContainer, planner.RemoveContainer, planner.RestartContainer, planner.SetRestartPolicy:
		switch ct := st.Container; {
		case ct == nil || ct.Name != name:
			return fmt.Sprintf("container %+v, want %s", ct, name)
		case st.Action == planner.CreateContainer && (ct.Create == nil || ct.Create.Name != name || ct.Create.Color != c || ct.Create.Replica != st.Replica):
			return fmt.Sprintf("container spec %+v", ct.Create)
		case (st.Action == planner.StopContainer || st.Action == planner.RemoveContainer) && st.Replica > s.ReplicaCount():
			if !ct.Surplus || ct.NotServed != nil {
				return fmt.Sprintf("a replica beyond spec.replicas not marked so: surplus %t, guard %+v", ct.Surplus, ct.NotServed)
			}
		case (st.Action == planner.StopContainer || st.Action == planner.RemoveContainer) && (ct.Surplus || ct.NotServed == nil || ct.NotServed.Value != backend || ct.NotServed.Key != s.HAProxy.MapKey):
			return fmt.Sprintf("no guard against stopping the served color: %+v", ct.NotServed)
		case st.Action == planner.SetRestartPolicy && ct.RestartPolicy != planner.RestartNo && ct.RestartPolicy != planner.RestartUnlessStopped:
			return fmt.Sprintf("restart policy %q", ct.RestartPolicy)
		}
	case planner.SetServerReady, planner.DrainServer, planner.SetServerAddr, planner.MarkServerUp:
		if sv := st.Server; sv == nil || sv.Backend != backend || sv.Server != server || sv.Runtime != s.HAProxy.Runtime || (st.Action == planner.SetServerAddr) != (sv.Addr != "") {
			return fmt.Sprintf("server %+v, want %s/%s", sv, backend, server)
		}
	case planner.SwitchMap, planner.WriteMapFile, planner.SetPreview:
		m := st.Map
		key := s.HAProxy.MapKey
		if st.Action == planner.SetPreview {
			key = s.Preview.MapKey
		}
		if m == nil || m.Value != backend || m.Key != key || m.File != s.HAProxy.MapFile || (st.Action == planner.SwitchMap) != (m.Ready != nil) {
			return fmt.Sprintf("map entry %+v, want %s -> %s", m, key, backend)
		}
	case planner.RunChecks:
		if st.Checks == nil || len(st.Checks.Checks) != len(s.Checks) {
			return fmt.Sprintf("checks %+v", st.Checks)
		}
	case planner.WarmUp:
		if w := st.Warmup; w == nil || s.Warmup == nil || w.Path != s.Warmup.Path || len(w.Targets) != s.ReplicaCount() {
			return fmt.Sprintf("warm-up %+v", st.Warmup)
		}
	}
	return ""
}

// notReady says why replica st may not take traffic (invariant 1 but for
// its HAProxy status and published port), "" when it may: it runs the
// desired image from the current container spec, or, in a rollback, is a
// container of the very color that served before; it runs, is in service,
// and passed two probes of the address HAProxy sends it traffic to, which
// is where it answers now.
func notReady(s *spec.Service, o planner.Observed, st planner.ReplicaState, rb *planner.Verification) string {
	ct, c := st.Container, st.Slot.Color
	if rb != nil && c == rb.From {
		if !previousThere(o, rb) {
			return fmt.Sprintf("the rollback goes back to container %q and %s's first is %q", rb.FromContainer, c, o.Color(c).First().Container.ID)
		}
	} else if why := notDesired(s, o, st); why != "" {
		return why
	}
	srv := st.Server
	if !ct.Exists {
		return st.Slot.String() + " has no container"
	}
	if srv.AdminDrain || srv.AdminMaint || srv.Status == "DRAIN" || strings.HasPrefix(srv.Status, "MAINT") {
		return fmt.Sprintf("%s's server is out of service (status %q, drain %t, maint %t)", st.Slot, srv.Status, srv.AdminDrain, srv.AdminMaint)
	}
	return probesMissing(s, st, false)
}

// warmedUp: the warm-up record is of this release, color c, and each
// replica's current run.
func warmedUp(s *spec.Service, o planner.Observed, c spec.Color) bool {
	r := o.Warmup
	if r == nil || r.Generation != s.Generation() || r.Color != c || len(r.Runs) != len(o.Color(c).Replicas) {
		return false
	}
	for i, st := range o.Color(c).Replicas {
		if r.Runs[i].Container != st.Container.ID || !r.Runs[i].StartedAt.Equal(st.Container.StartedAt) {
			return false
		}
	}
	return true
}

// anyInService: some replica of cs within spec.replicas runs and is in
// service in HAProxy (UP, UP going down, or unchecked).
func anyInService(cs planner.ColorState) bool {
	for _, st := range cs.Replicas {
		if st.Container.Running && (strings.HasPrefix(st.Server.Status, "UP") || st.Server.Status == "no check") {
			return true
		}
	}
	return false
}

// previousThere: the rollback's color still has the container that served
// before (its first replica's), and a container for every replica.
func previousThere(o planner.Observed, rb *planner.Verification) bool {
	for i, st := range o.Color(rb.From).Replicas {
		if !st.Container.Exists || i == 0 && st.Container.ID != rb.FromContainer {
			return false
		}
	}
	return true
}

// notDesired says why replica st's container is not the one the spec asks
// for, "" when it is: the desired image is found, the container runs that
// very image, and its spec hash label is the current container spec's
// (the hash is the container spec's identity).
func notDesired(s *spec.Service, o planner.Observed, st planner.ReplicaState) string {
	ct := st.Container
	switch {
	case !o.Image.Found:
		return "the desired image is not found"
	case !ct.Exists:
		return st.Slot.String() + " has no container"
	case ct.ImageID != o.Image.ID:
		return fmt.Sprintf("%s runs image %s, not the desired %s", st.Slot, ct.ImageID, o.Image.ID)
	case ct.SpecHash != planner.ContainerHash(s, st.Slot, o.Image.ID):
		return fmt.Sprintf("%s's spec hash %s is not the spec's %s", st.Slot, ct.SpecHash, planner.ContainerHash(s, st.Slot, o.Image.ID))
	}
	return ""
}

// probesMissing says why replica st's probes do not show that HAProxy
// reaches it, "" when they do: its container runs, and two probes passed
// of the very address HAProxy sends its traffic to, which is where the
// container answers now (anyPath: its published port also counts).
func probesMissing(s *spec.Service, st planner.ReplicaState, anyPath bool) string {
	r := st.Slot
	want := expectedAddr(s, r, st.Container)
	switch {
	case !st.Container.Running:
		return fmt.Sprintf("%s's container does not run (%s)", r, st.Container.State)
	case st.Probes < planner.ProbesNeeded:
		return fmt.Sprintf("%s passed %d probes", r, st.Probes)
	case st.ProbedAddr != st.Server.Addr:
		return fmt.Sprintf("%s was probed at %q and HAProxy sends its traffic to %q", r, st.ProbedAddr, st.Server.Addr)
	case st.Server.Addr != want && !(anyPath && st.Server.Addr == publishedAddr(s, r)):
		return fmt.Sprintf("HAProxy sends %s's traffic to %q and its container answers at %s", r, st.Server.Addr, want)
	}
	return ""
}

// servedColor is the color whose backend the map value names, "" for none.
func servedColor(s *spec.Service, m planner.MapValue) spec.Color {
	switch {
	case !m.Found:
		return ""
	case m.Value == s.Colors.Blue.Backend:
		return spec.Blue
	case m.Value == s.Colors.Green.Backend:
		return spec.Green
	}
	return ""
}

// rollback is the verification record of this spec that rolled back, the
// one this decision ends so or the one observed, nil when there is none.
func rollback(s *spec.Service, o planner.Observed, d planner.Decision) *planner.Verification {
	for _, v := range []*planner.Verification{d.Record, o.Verification} {
		if v != nil && v.Outcome == planner.OutcomeRolledBack && v.Generation == s.Generation() {
			return v
		}
	}
	return nil
}

// publishedAddr is where replica r's published port (with host
// networking, its app) answers on the host: its color's hostPort plus its
// index.
func publishedAddr(s *spec.Service, r spec.Replica) string {
	port := s.Colors.Blue.HostPort
	if r.Color == spec.Green {
		port = s.Colors.Green.HostPort
	}
	return fmt.Sprintf("127.0.0.1:%d", port+r.Index)
}

// expectedAddr is the address HAProxy must send replica r's traffic to:
// the container's own address on a Docker network while it runs there with
// a known IP, else its published port.
func expectedAddr(s *spec.Service, r spec.Replica, ct planner.Container) string {
	if s.Network != spec.NetworkHost && ct.Running {
		if ip, err := netip.ParseAddr(ct.IP); err == nil {
			return fmt.Sprintf("%s:%d", ip, s.ContainerPort)
		}
	}
	return publishedAddr(s, r)
}

func since(t, now time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return now.Sub(t)
}

// The generators draw a whole world of one service. Each field's first
// value is the healthy or usual one, and the one rapid shrinks to, so that
// a shrunk world differs from a healthy one only where it matters. How
// often a field is not healthy depends on the world's fault rate: some
// worlds are nearly healthy (releases reach the switch, the window and the
// settling), others broken in many ways at once.

// drawWorld draws one world, each part under its own label.
func drawWorld(t *rapid.T) world {
	n := rapid.SampledFrom([]int{12, 6, 3}).Draw(t, "faults (one draw in n)")
	sc := specGen(n).Draw(t, "spec")
	return world{
		Spec:          sc,
		Image:         rapid.Custom(func(t *rapid.T) string { return mostly(t, n, "v2", "v1", "v3", "missing") }).Draw(t, "image"),
		Map:           rapid.SampledFrom([]string{"blue", "green", "none", "other", "canary"}).Draw(t, "map"),
		Canary:        canaryGen(n).Draw(t, "canary backend"),
		MapFile:       rapid.Custom(func(t *rapid.T) string { return mostly(t, n, "same", "blue", "green", "none", "other") }).Draw(t, "mapFile"),
		Blue:          rapid.SliceOfN(colorGen(n), sc.Replicas, sc.Replicas).Draw(t, "blue"),
		Green:         rapid.SliceOfN(colorGen(n), sc.Replicas, sc.Replicas).Draw(t, "green"),
		BlueSurplus:   surplusGen(n).Draw(t, "blue surplus"),
		GreenSurplus:  surplusGen(n).Draw(t, "green surplus"),
		Preview:       rapid.SampledFrom([]string{"none", "blue", "green"}).Draw(t, "preview"),
		Verification:  verifyGen(n, sc).Draw(t, "verification"),
		Checks:        checksGen(n, sc).Draw(t, "checks"),
		Warmed:        rapid.SampledFrom([]string{"none", "blue", "green", "stale"}).Draw(t, "warmed"),
		Switched:      rapid.SampledFrom([]string{"none", "blue", "green", "blue long ago", "green long ago"}).Draw(t, "switched"),
		Approved:      rapid.Bool().Draw(t, "approved"),
		Jobs:          jobsGen(sc).Draw(t, "jobs"),
		RollbackAsked: rapid.Bool().Draw(t, "rollback asked"),
		RetryAsked:    rapid.Bool().Draw(t, "retry asked"),
	}
}

// mostly draws values[0], or one of the others about once in n draws.
func mostly[V any](t *rapid.T, n int, values ...V) V {
	if rapid.IntRange(1, n).Draw(t, "fault") < n {
		return values[0]
	}
	return rapid.SampledFrom(values[1:]).Draw(t, "value")
}

// world is one drawn observation of the service.
type world struct {
	Spec  specCase
	Image string // the desired image's ID: v2, v1, v3, or missing
	Map   string // the runtime map's value: blue, green, none, other (a backend not the service's), or canary (its canary backend)
	// Canary is the canary backend as HAProxy has it.
	Canary  canaryCase
	MapFile string      // the map file's: the same, or as Map
	Blue    []colorCase // one per replica
	Green   []colorCase
	// BlueSurplus and GreenSurplus are replicas beyond spec.replicas: it
	// was lowered.
	BlueSurplus, GreenSurplus []colorCase
	Preview                   string // the preview key's value: none, blue or green
	// Verification and Checks are the records in status.
	Verification verifyCase
	Checks       checksCase
	// Switched is the switch of the release in progress, as status
	// records it: none, to a color 100ms ago, or to one long ago.
	Switched string
	// Warmed is the warm-up record in status: none, of the current runs
	// of blue or green, or of a run of green before its container
	// restarted (stale).
	Warmed   string
	Approved bool // an operator promoted this spec
	// Jobs are the job containers and records of the spec's jobs, and one
	// of an earlier release.
	Jobs []jobCase
	// RollbackAsked: an operator asked to roll this spec back.
	RollbackAsked bool
	// RetryAsked: an operator asked to try this spec's release again.
	RetryAsked bool
}

// observed builds the world's snapshot; the same world always builds the
// same snapshot.
func (w world) observed(s *spec.Service) planner.Observed {
	o := planner.Observed{
		Backends:   map[string]bool{s.Colors.Blue.Backend: true, s.Colors.Green.Backend: true},
		Image:      planner.Image{ID: imageIDs[w.Image], Found: w.Image != "missing"},
		MapRuntime: mapValue(s, w.Map),
		MapFile:    mapValue(s, w.MapFile),
		Preview:    mapValue(s, w.Preview),
	}
	if w.MapFile == "same" {
		o.MapFile = o.MapRuntime
	}
	served := servedColor(s, o.MapRuntime)
	o.Served = served
	if to, ago, ok := strings.Cut(w.Switched, " "); w.Switched != "none" {
		o.SwitchedTo, o.SwitchedAt = spec.Color(to), plantest.T0.Add(-100*time.Millisecond)
		if ok && ago == "long ago" {
			o.SwitchedAt = plantest.T0.Add(-time.Hour)
		}
	}
	if w.Map == "canary" && w.Verification.Canary {
		// The color that served before the canary keeps its policy.
		served = w.Verification.To.Other()
	}
	for _, c := range spec.Colors() {
		cases := w.Blue
		if c == spec.Green {
			cases = w.Green
		}
		var cs planner.ColorState
		for i, cc := range cases {
			cs.Replicas = append(cs.Replicas, cc.state(s, s.Replica(c, i), o.Image, served))
		}
		extra := w.BlueSurplus
		if c == spec.Green {
			extra = w.GreenSurplus
		}
		for i, cc := range extra {
			cs.Surplus = append(cs.Surplus, cc.state(s, s.Replica(c, len(cases)+i), o.Image, served))
		}
		o.SetColor(c, cs)
	}
	if w.Approved {
		o.Approved = s.Generation()
	}
	w.Canary.state(s, &o)
	w.Verification.record(s, &o)
	w.Checks.record(s, &o)
	if w.Warmed != "none" {
		c := spec.Color(w.Warmed)
		if w.Warmed == "stale" {
			c = spec.Green
		}
		r := &planner.WarmupRecord{Generation: s.Generation(), Color: c, Requests: 20, At: plantest.T0.Add(-time.Second)}
		for _, st := range o.Color(c).Replicas {
			run := st.Container.Run()
			if w.Warmed == "stale" {
				run.StartedAt = run.StartedAt.Add(-time.Hour)
			}
			r.Runs = append(r.Runs, run)
		}
		o.Warmup = r
	}
	for _, j := range w.Jobs {
		o.Jobs = append(o.Jobs, j.state(s, imageIDs[w.Image]))
	}
	if w.RollbackAsked {
		o.RollbackAsked = s.Generation()
	}
	if w.RetryAsked {
		o.RetryAsked = s.Generation()
	}
	return o
}

func mapValue(s *spec.Service, v string) planner.MapValue {
	switch v {
	case "blue":
		return planner.MapValue{Value: s.Colors.Blue.Backend, Found: true}
	case "green":
		return planner.MapValue{Value: s.Colors.Green.Backend, Found: true}
	case "other":
		return planner.MapValue{Value: "maintenance_page", Found: true}
	case "canary":
		return planner.MapValue{Value: planner.CanaryBackend(s), Found: true}
	}
	return planner.MapValue{}
}

// specCase is one variation of the service's spec.
type specCase struct {
	Active  spec.Color
	Image   string // demo:v1 or demo:v2
	Idle    string // Stop, KeepWarm, or StopAfter (Stop, 1 minute after the drain)
	Verify  bool   // a 30 s verification window (else 0s: off)
	Host    bool   // host networking (else the bridge)
	Manual  bool   // manual promotion
	Checks  bool   // one pre-switch check
	Preview bool   // a preview key
	// Process: the container's entrypoint, command, working directory,
	// stop signal, logging and (off the host's network) another network.
	Process bool
	// Storage: a named volume and a read-only bind mount, a user, and an
	// env file (serviceCache writes it: its digest is in the hash).
	Storage bool
	// Replicas per color: 1, 2 or 3.
	Replicas int
	// Warmup: spec.warmup is set.
	Warmup bool
	// Jobs: two release jobs, migrate (timeout 1m) then seed;
	// Irreversible: migrate is marked reversible: false.
	Jobs, Irreversible bool
	// Canary: spec.strategy Canary, two steps (10 % for 1m, then 50 %
	// until promoted); with one replica only.
	Canary bool
}

func specGen(n int) *rapid.Generator[specCase] {
	return rapid.Custom(func(t *rapid.T) specCase {
		c := specCase{
			Active:       rapid.SampledFrom([]spec.Color{spec.Blue, spec.Green}).Draw(t, "active"),
			Image:        rapid.SampledFrom([]string{"demo:v2", "demo:v1"}).Draw(t, "image"),
			Idle:         rapid.SampledFrom([]string{"Stop", "KeepWarm", "StopAfter"}).Draw(t, "idle"),
			Verify:       rapid.Bool().Draw(t, "verify"),
			Host:         rapid.Bool().Draw(t, "host"),
			Manual:       mostly(t, n, false, true),
			Checks:       mostly(t, n, false, true),
			Preview:      mostly(t, n, false, true),
			Process:      mostly(t, n, false, true),
			Storage:      mostly(t, n, false, true),
			Replicas:     mostly(t, n, 1, 2, 3),
			Warmup:       mostly(t, n, false, true),
			Jobs:         rapid.Bool().Draw(t, "jobs"),
			Irreversible: rapid.Bool().Draw(t, "irreversible"),
			Canary:       rapid.Bool().Draw(t, "canary"),
		}
		c.Canary = c.Canary && c.Replicas == 1 && !(c.Jobs && c.Irreversible)
		return c
	})
}

// yaml is the case's lines under spec: beyond plantest.Service's.
func (c specCase) yaml() []string {
	var l []string
	switch c.Idle {
	case "KeepWarm":
		l = append(l, "  idle: {policy: KeepWarm}")
	case "StopAfter":
		l = append(l, "  idle: {stopAfter: 1m}")
	}
	if c.Verify {
		l = append(l, "  verify: {window: 30s}")
	}
	if c.Host {
		l = append(l, "  network: host")
	}
	if c.Manual {
		l = append(l, "  promotion: {mode: Manual}")
	}
	if c.Checks {
		l = append(l, "  checks: [{path: /ping}]")
	}
	if c.Preview {
		l = append(l, "  preview: {mapKey: preview.web}")
	}
	if c.Process {
		l = append(l, "  entrypoint: [/app]", "  command: [serve]", "  workingDir: /srv", "  stopSignal: SIGQUIT",
			"  logging: {driver: local, options: {max-size: 5m}}")
		if !c.Host {
			l = append(l, "  networks: [db]")
		}
	}
	if c.Replicas > 1 {
		l = append(l, fmt.Sprintf("  replicas: %d", c.Replicas))
	}
	if c.Warmup {
		l = append(l, "  warmup: {path: /, requests: 20}")
	}
	if c.Storage {
		l = append(l, "  volumes: [\"data:/data\", \"/srv/web:/etc/web:ro\"]", "  user: \"10001:10001\"")
	}
	if c.Canary {
		l = append(l, "  strategy: {type: Canary, steps: [{weight: 10, pause: 1m}, {weight: 50}]}")
	}
	if c.Jobs {
		seed := "{name: seed, command: [seed]}"
		if c.Verify {
			seed = "{name: seed, command: [seed], when: AfterSwitch}"
		}
		l = append(l, fmt.Sprintf("  jobs: [{name: migrate, command: [migrate], timeout: 1m, reversible: %t}, %s]", !c.Irreversible, seed))
	}
	return l
}

func (c specCase) GoString() string {
	parts := []string{"activeColor: " + string(c.Active), "image: " + c.Image}
	for _, l := range c.yaml() {
		parts = append(parts, strings.TrimSpace(l))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// serviceCache parses each variation of the spec once, with the outer test
// (rapid's T is not a testing.TB): the service Plan is given, and a
// pristine copy to compare it with afterwards.
type serviceCache struct {
	t       *testing.T
	made    map[specCase][2]*spec.Service
	envFile string // written at the first case with Storage
}

func (sc *serviceCache) get(c specCase) (s, pristine *spec.Service) {
	p, ok := sc.made[c]
	if !ok {
		lines := c.yaml()
		if c.Storage {
			lines = append(lines, "  envFile: ["+sc.secrets()+"]")
		}
		p = [2]*spec.Service{plantest.Service(sc.t, c.Active, c.Image, lines...), plantest.Service(sc.t, c.Active, c.Image, lines...)}
		p[1].BaseDir = p[0].BaseDir // each parse has a temporary directory of its own
		sc.made[c] = p
	}
	return p[0], p[1]
}

// secrets is the env file of the cases with Storage.
func (sc *serviceCache) secrets() string {
	if sc.envFile == "" {
		sc.envFile = filepath.Join(sc.t.TempDir(), "web.env")
		if err := os.WriteFile(sc.envFile, []byte("SECRET_KEY=drawn\n"), 0o600); err != nil {
			sc.t.Fatal(err)
		}
	}
	return sc.envFile
}

// colorCase is what is observed of one color: its container, its HAProxy
// server and the controller's probes.
type colorCase struct {
	Container  string // running, exited, restarting, created or absent
	ExitCode   int
	OOMKilled  bool
	StoppedBy  bool   // the controller's record says it stopped it
	Image      string // desired (v2 when the desired image is missing), v1, v2 or v3
	StaleHash  bool   // its spec hash label is not the current spec's
	NoIP       bool   // no address on the Docker network is known
	Policy     string // its restart policy: right (unless-stopped when served, else no), no, unless-stopped or none
	Restarts   int
	Young      bool   // started 1s ago (else 10m); stopped: ran 2s (else 9m)
	Status     string // HAProxy's
	AdminDrain bool
	AdminMaint bool
	Sessions   int
	OutOfSvc   time.Duration // out of service this long (0: not recorded)
	Addr       string        // where HAProxy sends its traffic: own (where its container answers now), published or stale
	Probes     int
	Unprobed   bool   // not probed in this observation
	Fallback   string // its published port: ok, refused or unprobed
	MarkedUp   bool   // the controller set this very run UP once already
	L7         bool   // HAProxy's last check failed at layer 7 (L7STS 404), when not UP
	// Unhealthy: failing HAProxy's check and the controller's probe this
	// long, as status remembers it (0: not recorded).
	Unhealthy time.Duration
}

// surplusGen draws the replicas beyond spec.replicas: mostly none.
func surplusGen(n int) *rapid.Generator[[]colorCase] {
	return rapid.Custom(func(t *rapid.T) []colorCase {
		k := mostly(t, n, 0, 1, 2)
		return rapid.SliceOfN(colorGen(n), k, k).Draw(t, "replicas")
	})
}

func colorGen(n int) *rapid.Generator[colorCase] {
	return rapid.Custom(func(t *rapid.T) colorCase {
		return colorCase{
			Container:  mostly(t, n, "running", "exited", "restarting", "created", "absent"),
			ExitCode:   rapid.SampledFrom([]int{0, 1, 2, 137, 143}).Draw(t, "exitCode"),
			OOMKilled:  mostly(t, n, false, true),
			StoppedBy:  rapid.Bool().Draw(t, "stoppedBy"),
			Image:      mostly(t, n, "desired", "v1", "v2", "v3"),
			StaleHash:  mostly(t, n, false, true),
			NoIP:       mostly(t, n, false, true),
			Policy:     mostly(t, n, "right", planner.RestartNo, planner.RestartUnlessStopped, ""),
			Restarts:   mostly(t, n, 0, 1, 3),
			Young:      mostly(t, n, false, true),
			Status:     mostly(t, n, "UP", "DOWN", "UP 1/2", "DOWN 1/2", "DRAIN", "MAINT", "NOLB"),
			AdminDrain: mostly(t, n, false, true),
			AdminMaint: mostly(t, n, false, true),
			Sessions:   mostly(t, n, 0, 3),
			OutOfSvc:   rapid.SampledFrom([]time.Duration{0, 5 * time.Second, 45 * time.Second}).Draw(t, "outOfService"),
			Addr:       mostly(t, n, "own", "published", "stale"),
			Probes:     mostly(t, n, 2, 0, 1, 3),
			Unprobed:   mostly(t, n, false, true),
			Fallback:   mostly(t, n, "ok", "refused", "unprobed"),
			MarkedUp:   mostly(t, n, false, true),
			L7:         mostly(t, n, false, true),
			Unhealthy:  mostly(t, n, time.Duration(0), 5*time.Second, 2*time.Minute),
		}
	})
}

func (c colorCase) GoString() string {
	var b strings.Builder
	b.WriteString("{container " + c.Container)
	if c.Container != "absent" {
		if c.Container == "exited" || c.Container == "restarting" {
			fmt.Fprintf(&b, " %d", c.ExitCode)
			if c.OOMKilled {
				b.WriteString(" OOMKilled")
			}
			if c.StoppedBy {
				b.WriteString(" stoppedByController")
			}
		}
		b.WriteString(" image " + c.Image)
		if c.StaleHash {
			b.WriteString(" staleHash")
		}
		if c.NoIP {
			b.WriteString(" noIP")
		}
		fmt.Fprintf(&b, " policy %s restarts %d", cmp.Or(c.Policy, "none"), c.Restarts)
		if c.Young {
			b.WriteString(" young")
		}
	}
	fmt.Fprintf(&b, "; server %q", c.Status)
	if c.AdminDrain {
		b.WriteString(" adminDrain")
	}
	if c.AdminMaint {
		b.WriteString(" adminMaint")
	}
	fmt.Fprintf(&b, " sessions %d outOfService %s addr %s; ", c.Sessions, c.OutOfSvc, c.Addr)
	if c.Unprobed {
		b.WriteString("unprobed")
	} else {
		fmt.Fprintf(&b, "probes %d", c.Probes)
	}
	fmt.Fprintf(&b, ", fallback %s", c.Fallback)
	if c.MarkedUp {
		b.WriteString(", marked UP")
	}
	if c.L7 {
		b.WriteString(", check L7STS")
	}
	if c.Unhealthy > 0 {
		fmt.Fprintf(&b, ", unhealthy for %s", c.Unhealthy)
	}
	b.WriteString("}")
	return b.String()
}

// staleAddr is an address on the Docker network no container of the
// service has: a recreated container's old one, or another's.
const staleAddr = "172.18.0.9:8080"

var imageIDs = map[string]string{"v1": plantest.ImageV1, "v2": plantest.ImageV2, "v3": plantest.ImageV3}

// state builds the observed state of replica r, given the desired image
// and the color the map serves.
func (cc colorCase) state(s *spec.Service, r spec.Replica, desired planner.Image, served spec.Color) planner.ReplicaState {
	now := plantest.T0
	c := r.Color
	st := planner.ReplicaState{Slot: r}
	ct := &st.Container
	if cc.Container != "absent" {
		id := imageIDs[cc.Image]
		if cc.Image == "desired" {
			id = cmp.Or(desired.ID, plantest.ImageV2)
		}
		policy := cc.Policy
		if policy == "right" {
			policy = planner.RestartNo
			if c == served {
				policy = planner.RestartUnlessStopped
			}
		}
		*ct = planner.Container{Exists: true, Managed: true, Service: s.Name, Color: string(c), Replica: r.Number(), ID: "c-" + string(c),
			ImageID: id, Image: s.Image, SpecHash: planner.ContainerHash(s, r, id), State: cc.Container,
			RestartPolicy: policy, RestartCount: cc.Restarts}
		if r.Index > 0 {
			ct.ID += "-" + strconv.Itoa(r.Number())
		}
		if cc.StaleHash {
			ct.SpecHash = "0123456789ab"
		}
		switch cc.Container {
		case "running":
			ct.Running = true
			ct.StartedAt = now.Add(-10 * time.Minute)
			if cc.Young {
				ct.StartedAt = now.Add(-time.Second)
			}
			if !cc.NoIP && s.Network != spec.NetworkHost {
				ip := 2 + 2*r.Index
				if c == spec.Green {
					ip++
				}
				ct.IP = "172.18.0." + strconv.Itoa(ip)
			}
		case "exited", "restarting":
			ct.Restarting = cc.Container == "restarting"
			ct.ExitCode, ct.OOMKilled, ct.StoppedByController = cc.ExitCode, cc.OOMKilled, cc.StoppedBy
			ct.StartedAt, ct.FinishedAt = now.Add(-10*time.Minute), now.Add(-time.Minute)
			if cc.Young {
				ct.StartedAt, ct.FinishedAt = now.Add(-3*time.Second), now.Add(-time.Second)
			}
		}
	}
	up := strings.HasPrefix(cc.Status, "UP")
	st.Server = planner.Server{Found: true, Status: cc.Status, CheckStatus: "L4CON", CheckPassed: up, Sessions: cc.Sessions,
		AdminDrain: cc.AdminDrain, AdminMaint: cc.AdminMaint}
	switch {
	case up:
		st.Server.CheckStatus = "L7OK"
	case cc.L7:
		st.Server.CheckStatus, st.Server.CheckCode, st.Server.CheckDesc = "L7STS", "404", "Not Found"
	}
	if cc.MarkedUp && ct.Exists {
		st.MarkedUp = ct.Run()
	}
	if cc.Unhealthy > 0 {
		st.UnhealthySince = now.Add(-cc.Unhealthy)
	}
	switch cc.Addr {
	case "own":
		st.Server.Addr = expectedAddr(s, r, *ct)
	case "published":
		st.Server.Addr = publishedAddr(s, r)
	case "stale":
		st.Server.Addr = staleAddr
	}
	if cc.OutOfSvc > 0 {
		st.OutOfServiceSince = now.Add(-cc.OutOfSvc)
	}
	// Observe probes a container only while it runs, and always at the
	// address HAProxy must send its traffic to (Observed.ProbedAddr).
	if ct.Running && !cc.Unprobed {
		st.ProbedAddr = expectedAddr(s, r, *ct)
		st.Probes = cc.Probes
		if st.Probes < planner.ProbesNeeded {
			st.ProbeError = "connection refused"
		}
	}
	switch cc.Fallback {
	case "ok":
		st.FallbackOK = true
	case "refused":
		st.FallbackError = "connection refused"
	}
	return st
}

// verifyCase is the latest release verification in status.
type verifyCase struct {
	Outcome  string     // none, open (""), or how it ended
	OldSpec  bool       // of an earlier spec (always, when the spec turns verification off)
	To       spec.Color // the color switched to: the active one for this spec's
	FromGone bool       // the previous color's container is not the one that served
	Late     bool       // switched 31s ago (else 1s), past the 30s window
	Traffic  string     // the new color's counters since: quiet, good, bad, or reset (HAProxy reloaded)
	// Canary: the record is a canary's, at Step (0 or 1, or 2: past the
	// last, switched), which began StepAgo; a step without a pause
	// (the second) is Promoted or not.
	Canary   bool
	Step     int
	StepAgo  time.Duration
	Promoted bool
}

func verifyGen(n int, sc specCase) *rapid.Generator[verifyCase] {
	return rapid.Custom(func(t *rapid.T) verifyCase {
		v := verifyCase{
			Outcome:  rapid.SampledFrom([]string{"none", "open", planner.OutcomeRolledBack, planner.OutcomeSucceeded, planner.OutcomeFailed, planner.OutcomeHeld}).Draw(t, "outcome"),
			OldSpec:  mostly(t, n, false, true),
			To:       sc.Active,
			FromGone: mostly(t, n, false, true),
			Late:     rapid.Bool().Draw(t, "late"),
			Traffic:  rapid.SampledFrom([]string{"quiet", "good", "bad", "reset"}).Draw(t, "traffic"),
			Canary:   sc.Canary && mostly(t, 3, true, false),
			Step:     rapid.IntRange(0, 2).Draw(t, "canary step"),
			StepAgo:  rapid.SampledFrom([]time.Duration{time.Second, time.Minute}).Draw(t, "canary step began"),
			Promoted: rapid.Bool().Draw(t, "canary step promoted"),
		}
		if v.Canary && mostly(t, 2, true, false) {
			// Canaries in progress, of this spec, are drawn often.
			v.Outcome, v.OldSpec = "open", false
		}
		// A window of this spec was opened by a switch to its active
		// color, which needs the window on (a canary's is open from its
		// first step, window or not).
		v.OldSpec = v.OldSpec || !sc.Verify && !v.Canary
		if v.OldSpec {
			v.To = rapid.SampledFrom([]spec.Color{spec.Blue, spec.Green}).Draw(t, "to")
		}
		return v
	})
}

func (v verifyCase) GoString() string {
	if v.Outcome == "none" {
		return "{none}"
	}
	canary := ""
	if v.Canary {
		canary = fmt.Sprintf(" canary step %d began %s ago promoted %t", v.Step, v.StepAgo, v.Promoted)
	}
	return fmt.Sprintf("{%s oldSpec %t to %s fromGone %t late %t traffic %s%s}", cmp.Or(v.Outcome, "open"), v.OldSpec, v.To, v.FromGone, v.Late, v.Traffic, canary)
}

// record puts the verification record into o.
func (v verifyCase) record(s *spec.Service, o *planner.Observed) {
	if v.Outcome == "none" {
		return
	}
	from := v.To.Other()
	gen := s.Generation()
	if v.OldSpec {
		gen = "0123456789ab"
	}
	base := planner.Counters{Responses: 1000, Status5xx: 3}
	switchedAt := plantest.T0.Add(-time.Second)
	if v.Late {
		switchedAt = plantest.T0.Add(-31 * time.Second)
	}
	r := &planner.Verification{Generation: gen, From: from, To: v.To, FromImage: "demo:v1", ToImage: s.Image,
		FromImageID: plantest.ImageV1, ToImageID: o.Color(v.To).First().Container.ImageID, FromContainer: "c-" + string(from),
		SwitchedAt: switchedAt, Baseline: base, Seen: base}
	if v.FromGone {
		r.FromContainer += "-before"
	}
	if v.Canary {
		r.Canary, r.Step, r.StepSince = true, v.Step, plantest.T0.Add(-v.StepAgo)
		if v.Promoted {
			o.Approved = planner.CanaryApproval(gen, v.Step)
		}
	}
	if v.Outcome != "open" {
		ended := plantest.T0.Add(-500 * time.Millisecond)
		r.Outcome, r.Reason, r.EndedAt = v.Outcome, "as drawn", &ended
	}
	o.Verification = r
	to := o.Color(v.To)
	to.Backend = map[string]planner.Counters{
		"quiet": base,
		"good":  {Responses: 1500, Status5xx: 5},
		"bad":   {Responses: 1100, Status5xx: 43},
		"reset": {Responses: 50},
	}[v.Traffic]
	o.SetColor(v.To, to)
}

// checksCase is the latest pre-switch checks record in status.
type checksCase struct {
	Outcome  string // none, passed or failed
	Color    spec.Color
	OtherRun bool // of an earlier run of the container
	OldSpec  bool
}

func checksGen(n int, sc specCase) *rapid.Generator[checksCase] {
	return rapid.Custom(func(t *rapid.T) checksCase {
		c := checksCase{
			Outcome:  mostly(t, n, "passed", "none", "failed"),
			Color:    mostly(t, n, sc.Active, sc.Active.Other()),
			OtherRun: mostly(t, n, false, true),
			OldSpec:  mostly(t, n, false, true),
		}
		if !sc.Checks || c.Outcome == "none" {
			return checksCase{Outcome: "none"}
		}
		return c
	})
}

func (c checksCase) GoString() string {
	if c.Outcome == "none" {
		return "{none}"
	}
	return fmt.Sprintf("{%s of %s otherRun %t oldSpec %t}", c.Outcome, c.Color, c.OtherRun, c.OldSpec)
}

// record puts the checks record into o.
func (c checksCase) record(s *spec.Service, o *planner.Observed) {
	if c.Outcome == "none" {
		return
	}
	ct := o.Color(c.Color).First().Container
	r := &planner.CheckRecord{Generation: s.Generation(), Color: c.Color, Container: ct.ID, StartedAt: ct.StartedAt,
		Passed: c.Outcome == "passed", At: plantest.T0.Add(-time.Second)}
	if !r.Passed {
		r.Failure = "GET /ping: 500"
	}
	if c.OtherRun {
		r.StartedAt = r.StartedAt.Add(-time.Hour)
	}
	if c.OldSpec {
		r.Generation = "0123456789ab"
	}
	o.Checks = r
}

// jobCase is what is observed of one release job: its container and its
// record in status.
type jobCase struct {
	Job     string // migrate or seed; "old" for a job of an earlier release
	Color   spec.Color
	State   string // absent, created, running, late (running past its timeout), exited
	Code    int    // exited: 0, 1, or 137 after its timeout
	OOM     bool
	Record  string // none, started (written before the create), ended (complete; for absent: Succeeded)
	Failed  bool   // absent with an ended record: it failed
	Removed bool
}

func jobsGen(sc specCase) *rapid.Generator[[]jobCase] {
	return rapid.Custom(func(t *rapid.T) []jobCase {
		var out []jobCase
		for _, name := range []string{"migrate", "seed", "old"} {
			j := jobCase{
				Job:    name,
				Color:  rapid.SampledFrom([]spec.Color{sc.Active, sc.Active.Other()}).Draw(t, name+" color"),
				State:  rapid.SampledFrom([]string{"absent", "created", "running", "late", "exited"}).Draw(t, name+" state"),
				Code:   rapid.SampledFrom([]int{0, 1, 137}).Draw(t, name+" exit code"),
				OOM:    rapid.IntRange(0, 9).Draw(t, name+" oom") == 0,
				Record: rapid.SampledFrom([]string{"none", "started", "ended"}).Draw(t, name+" record"),
				Failed: rapid.Bool().Draw(t, name+" failed"),
			}
			out = append(out, j)
		}
		if !sc.Jobs {
			return nil
		}
		return out
	})
}

// state builds the job's observed state.
func (j jobCase) state(s *spec.Service, imageID string) planner.JobState {
	gen := s.Generation()
	if j.Job == "old" {
		gen = "0123456789ab"
	}
	name := s.JobContainerName(j.Job, gen)
	js := planner.JobState{Generation: gen, Job: j.Job, Name: name}
	ct := planner.Container{Exists: j.State != "absent", Managed: true, Service: s.Name, Color: string(j.Color), ID: "job-" + j.Job, ImageID: imageID, State: j.State}
	switch j.State {
	case "running":
		ct.Running, ct.StartedAt = true, plantest.T0.Add(-10*time.Second)
	case "late":
		ct.Running, ct.State, ct.StartedAt = true, "running", plantest.T0.Add(-11*time.Minute)
	case "exited":
		ct.StartedAt, ct.ExitCode, ct.OOMKilled = plantest.T0.Add(-2*time.Minute), j.Code, j.OOM
		ct.FinishedAt = ct.StartedAt.Add(time.Second)
		if j.Code == 137 {
			ct.FinishedAt = ct.StartedAt.Add(61 * time.Second)
		}
	}
	if ct.Exists {
		js.Container = ct
	}
	r := &planner.JobRecord{Generation: gen, Job: j.Job, Container: name, Color: j.Color}
	switch {
	case j.Record == "started":
		js.Record = r
	case j.Record == "ended" && j.State == "exited":
		*r = planner.EndJob(*r, ct, time.Minute)
		js.Record = r
	case j.Record == "ended" && j.State == "absent":
		code := 0
		if j.Failed {
			code = 1
		}
		*r = planner.EndJob(*r, planner.Container{ID: "job-" + j.Job, ExitCode: code, StartedAt: plantest.T0.Add(-time.Hour), FinishedAt: plantest.T0.Add(-time.Hour + time.Second)}, time.Minute)
		js.Record = r
	}
	return js
}

// jobSucceeded says whether job of this generation is known to have
// succeeded: its container exited 0 and was not OOM-killed, or, with no
// container, its record says so.
func jobSucceeded(s *spec.Service, o planner.Observed, job string) bool {
	name := s.JobContainerName(job, s.Generation())
	for _, js := range o.Jobs {
		if js.Name != name {
			continue
		}
		if ct := js.Container; ct.Exists {
			return ct.State == "exited" && !ct.Running && ct.ExitCode == 0 && !ct.OOMKilled
		}
		return js.Record != nil && js.Record.Outcome == planner.JobSucceeded
	}
	return false
}

// checkHeld fails t when decision d starts a rollback (its record turns
// RolledBack) of a release whose irreversible job succeeded, unless an
// operator asked for it.
func checkHeld(t *rapid.T, s *spec.Service, o planner.Observed, d planner.Decision) {
	r := d.Record
	if r == nil || r.Outcome != planner.OutcomeRolledBack || r.Generation != s.Generation() || o.RollbackAsked == s.Generation() {
		return
	}
	if v := o.Verification; v != nil && v.Outcome == planner.OutcomeRolledBack && v.Generation == r.Generation {
		return // decided before
	}
	for _, j := range s.Jobs {
		if j.Irreversible() && jobSucceeded(s, o, j.Name) {
			t.Fatalf("%s starts a rollback although job %s, which cannot be undone, succeeded and no one asked (%s)", d, j.Name, r.Reason)
		}
	}
}

// checkJobs fails t when step breaks a rule of the release jobs: no switch
// to the new version before every job of the generation succeeded; never a
// second container, or a second run, of one job in one generation; a job
// container removed only once it ended and its end is recorded.
func checkJobs(t *rapid.T, s *spec.Service, o planner.Observed, step *planner.Step, rb *planner.Verification) {
	if step == nil {
		return
	}
	switch step.Action {
	case planner.CreateJob, planner.StartJob, planner.StopJob, planner.RemoveJob:
		if step.Job == nil || step.Job.Name == "" {
			t.Fatalf("%s names no job container: %+v", step, step.Job)
		}
	}
	var js *planner.JobState
	if step.Job != nil {
		for i := range o.Jobs {
			if o.Jobs[i].Name == step.Job.Name {
				js = &o.Jobs[i]
			}
		}
	}
	switch step.Action {
	case planner.SwitchMap:
		if rb != nil || o.Verification != nil && o.Verification.Generation == s.Generation() {
			return // a rollback, or a release that switched already (its jobs were judged then)
		}
		if o.MapRuntime.Found && o.MapRuntime.Value == planner.CanaryBackend(s) {
			return // from the canary backend: both colors took traffic already
		}
		for _, j := range s.Jobs {
			if j.When == spec.JobBeforeSwitch && !jobSucceeded(s, o, j.Name) {
				t.Fatalf("%s before job %s of generation %s succeeded (%+v)", step, j.Name, s.Generation(), o.Jobs)
			}
		}
	case planner.CreateJob:
		if step.Job == nil || step.Job.Create == nil || step.Job.Create.Name != step.Job.Name || step.Job.Create.Job == "" || step.Job.Create.HostPort != 0 {
			t.Fatalf("%s does not carry the job's container spec: %+v", step, step.Job)
		}
		if step.Job.Generation != s.Generation() || step.Job.Name != s.JobContainerName(step.Job.Job, s.Generation()) {
			t.Fatalf("%s creates a job container of another generation: %+v", step, step.Job)
		}
		if js != nil && (js.Container.Exists || js.Record != nil && js.Record.Outcome != "") {
			t.Fatalf("%s: a second run of job %s in generation %s (%+v)", step, step.Job.Job, s.Generation(), *js)
		}
	case planner.StartJob:
		if js == nil || js.Container.State != "created" {
			t.Fatalf("%s starts a job container that is not freshly created: %+v", step, js)
		}
	case planner.StopJob:
		if js == nil || !js.Container.Running {
			t.Fatalf("%s stops a job container that does not run: %+v", step, js)
		}
	case planner.RemoveJob:
		if js == nil || js.Container.Running {
			t.Fatalf("%s removes a running job container: %+v", step, js)
		}
		stale := js.Generation != s.Generation() && js.Container.State == "created"
		if !stale && (js.Record == nil || js.Record.Outcome == "" || js.Record.ID != js.Container.ID) {
			t.Fatalf("%s removes a job container whose end is not recorded: %+v", step, *js)
		}
	}
}

// canaryCase is the canary backend as HAProxy has it: there or not, and
// its weights: those of the first or second step towards the active
// color, none set (0 and 0), or drawn for each color.
type canaryCase struct {
	Missing     bool
	Weights     string // step1, step2, none, drawn
	Blue, Green int
}

func canaryGen(n int) *rapid.Generator[canaryCase] {
	return rapid.Custom(func(t *rapid.T) canaryCase {
		weights := []int{0, 10, 50, 90}
		return canaryCase{
			Missing: mostly(t, n, false, true),
			Weights: rapid.SampledFrom([]string{"step1", "step2", "none", "drawn"}).Draw(t, "weights"),
			Blue:    rapid.SampledFrom(weights).Draw(t, "blue weight"),
			Green:   rapid.SampledFrom(weights).Draw(t, "green weight"),
		}
	})
}

func (c canaryCase) state(s *spec.Service, o *planner.Observed) {
	if c.Missing {
		return
	}
	o.Backends[planner.CanaryBackend(s)] = true
	o.Canary = planner.CanaryState{Found: true, Blue: c.Blue, Green: c.Green}
	to := map[string]int{"step1": 10, "step2": 50, "none": 0}
	if w, ok := to[c.Weights]; ok {
		o.Canary.Blue, o.Canary.Green = 100-w, w
		if s.ActiveColor == spec.Blue {
			o.Canary.Blue, o.Canary.Green = w, 100-w
		}
		if w == 0 {
			o.Canary.Blue, o.Canary.Green = 0, 0
		}
	}
}

// checkCanary: traffic is split only between two colors that may take it,
// with weights set first; while it is split, nothing of either color is
// drained, stopped or removed (both serve), and the key leaves the canary
// backend only for a ready color (SwitchMap, checked as any switch).
func checkCanary(t *rapid.T, s *spec.Service, o planner.Observed, d planner.Decision, rb *planner.Verification) {
	step := d.Step
	if step == nil {
		return
	}
	split := o.MapRuntime.Found && o.MapRuntime.Value == planner.CanaryBackend(s)
	c := step.Color
	switch step.Action {
	case planner.SplitTraffic:
		if s.Canary() == nil {
			t.Fatalf("%s for a spec that is no canary", step)
		}
		for _, st := range o.Color(c).Replicas {
			if why := notReady(s, o, st, rb); why != "" || st.Server.Status != "UP" || !st.FallbackOK {
				t.Fatalf("invariant 1: %s although %s (HAProxy says %q, published port answers %t)", step, why, st.Server.Status, st.FallbackOK)
			}
		}
		if old := o.Color(c.Other()); !anyInService(old) || !old.First().FallbackOK {
			t.Fatalf("%s while %s, which keeps its share, is not in service or does not answer at its published port", step, c.Other())
		}
		if w := o.Canary; !w.Found || w.Weight(c) < 1 || w.Weight(c)+w.Weight(c.Other()) != 100 {
			t.Fatalf("%s with the canary backend's weights %+v not set for a step", step, w)
		}
		if m := step.Map; m == nil || m.Value != planner.CanaryBackend(s) || m.Key != s.HAProxy.MapKey || len(m.Ready) != s.ReplicaCount() {
			t.Fatalf("%s carries map entry %+v", step, m)
		}
	case planner.SetCanaryWeights:
		w := step.Weights
		if s.Canary() == nil || w == nil || w.Backend != planner.CanaryBackend(s) || len(w.Set) != 2 || w.Set[0].Weight+w.Set[1].Weight != 100 ||
			w.Set[0].Weight < 1 || w.Set[1].Weight < 1 || w.Set[0].Server != string(c) || w.Set[1].Server != string(c.Other()) {
			t.Fatalf("%s sets %+v", step, w)
		}
		if split {
			for _, st := range o.Color(c).Replicas {
				if !st.Container.Running || !strings.HasPrefix(st.Server.Status, "UP") {
					t.Fatalf("%s gives %s more traffic while it runs %t and HAProxy says %q", step, c, st.Container.Running, st.Server.Status)
				}
			}
		}
	case planner.DrainServer, planner.StopContainer, planner.RemoveContainer:
		if split && step.Replica <= s.ReplicaCount() {
			t.Fatalf("%s while the map splits traffic between both colors", step)
		}
	}
}
