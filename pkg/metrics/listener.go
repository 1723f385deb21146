package metrics

import (
	"fmt"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

var _ reconcile.Listener = (*Metrics)(nil)

// Decided sets the service's served color, phase, whether it is UP,
// restarts, and its canary step and weight.
func (m *Metrics) Decided(v reconcile.ServiceView, d planner.Decision, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.known(v.Service)
	for _, c := range spec.Colors() {
		m.servedColor.WithLabelValues(v.Service, string(c)).Set(boolValue(v.Served == c))
	}
	for _, p := range phases {
		m.phase.WithLabelValues(v.Service, string(p)).Set(boolValue(d.Phase == p))
	}
	restarts := 0
	if v.Served != "" {
		restarts = v.ServedRestarts
	}
	m.restarts.WithLabelValues(v.Service).Set(float64(restarts))
	m.servedUp.WithLabelValues(v.Service).Set(boolValue(v.Served != "" && v.ServedUp))
	var step, weight int
	if c := v.Canary; c != nil {
		step, weight = c.Step, c.Weight
	}
	m.canaryStep.WithLabelValues(v.Service).Set(float64(step))
	m.canaryWeight.WithLabelValues(v.Service).Set(float64(weight))
	m.countRestarts(v.Service, v.Served, restarts)
}

// countRestarts adds to bluegreen_served_restarts_total what the engine's
// count says happened since it was last seen (see the package comment).
// m.mu is held.
func (m *Metrics) countRestarts(service string, served spec.Color, count int) {
	prev, ok := m.seen[service]
	if served == "" {
		delete(m.seen, service)
		return
	}
	m.seen[service] = restartsSeen{color: served, count: count}
	var added int
	switch {
	case !ok:
		return // the baseline
	case prev.color != served || count < prev.count:
		added = count
	default:
		added = count - prev.count
	}
	if added > 0 {
		m.restartsTotal.WithLabelValues(service).Add(float64(added))
	}
}

// ReleaseStarted counts a release started.
func (m *Metrics) ReleaseStarted(s *spec.Service, from spec.Color, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.known(s.Name)
	m.releasesStarted.WithLabelValues(s.Name).Inc()
}

// ReleaseEnded counts a release by outcome, and its jobs by theirs, and
// observes its durations.
// A release with no start time (recorded by an older controller) has no
// duration.
func (m *Metrics) ReleaseEnded(r state.Release) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.known(r.Service)
	m.releases.WithLabelValues(r.Service, r.Outcome).Inc()
	for _, j := range r.Jobs {
		if j.Outcome != "" {
			m.jobs.WithLabelValues(r.Service, j.Outcome).Inc()
		}
	}
	if r.Start.IsZero() {
		return
	}
	if !r.End.IsZero() && !r.End.Before(r.Start) {
		m.releaseDuration.WithLabelValues(r.Service, r.Outcome).Observe(r.End.Sub(r.Start).Seconds())
	}
	if sw := r.SwitchedAt; sw != nil && !sw.IsZero() && !sw.Before(r.Start) {
		m.switchDuration.WithLabelValues(r.Service).Observe(sw.Sub(r.Start).Seconds())
	}
}

// Stepped counts a step and its errors, and times drains.
func (m *Metrics) Stepped(service string, st planner.Step, took time.Duration, err error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.known(service)
	m.stepDuration.WithLabelValues(string(st.Action)).Observe(took.Seconds())
	if err != nil {
		m.steps.WithLabelValues(service, string(st.Action), "error").Inc()
		m.reconcileErrors.WithLabelValues(service, string(planner.ReasonStepFailed)).Inc()
		return
	}
	m.steps.WithLabelValues(service, string(st.Action), "ok").Inc()
	if st.Color == "" {
		return
	}
	switch st.Action {
	case planner.DrainServer:
		if m.drained[service] == nil {
			m.drained[service] = map[spec.Color]time.Time{}
		}
		m.drained[service][st.Color] = now
	case planner.StopContainer:
		if at, ok := m.drained[service][st.Color]; ok {
			m.drainDuration.WithLabelValues(service).Observe(max(now.Add(-took).Sub(at).Seconds(), 0))
			delete(m.drained[service], st.Color)
		}
	case planner.SetServerReady, planner.StartContainer, planner.CreateContainer, planner.RemoveContainer:
		delete(m.drained[service], st.Color) // taken back, or replaced
	}
}

// ObserveFailed counts a pass of a service that could not observe it.
func (m *Metrics) ObserveFailed(service string, reason planner.Reason, err error, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.known(service)
	m.reconcileErrors.WithLabelValues(service, string(reason)).Inc()
	m.passFailures = append(m.passFailures, fmt.Sprintf("%s (%s)", service, reason))
}

// PassEnded counts a pass and keeps how it ended, for readiness.
func (m *Metrics) PassEnded(ok bool, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	failures := m.passFailures
	m.passFailures = nil
	m.last = passRecord{at: at, ok: ok, refused: !ok && len(failures) == 0, failures: failures}
	if ok {
		m.passes.WithLabelValues("ok").Inc()
		m.lastOKAt = at
		m.lastOK.Set(float64(at.UnixNano()) / 1e9)
	} else {
		m.passes.WithLabelValues("error").Inc()
	}
	m.accepted.Set(boolValue(!m.last.refused))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
