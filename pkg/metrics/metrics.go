package metrics

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

const namespace = "bluegreen"

// Histogram buckets, in seconds.
var (
	// releaseBuckets: a release lasts from a few seconds (a failure before
	// any traffic moves) to minutes (a build, a verification window).
	releaseBuckets = []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600}
	// switchBuckets: from a release's start to the switch: a container
	// start and its probes, or an image build first.
	switchBuckets = []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200}
	// drainBuckets: a drain is cut at drainTimeout (30s by default) but a
	// verification window or idle.stopAfter may keep the color longer.
	drainBuckets = []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}
	// stepBuckets: a runtime API command takes milliseconds, an image build minutes.
	stepBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
)

// phases are the values of the phase label, each service having all four.
var phases = []planner.Phase{planner.Converged, planner.Progressing, planner.Degraded, planner.Failed}

// outcomes are the values of the outcome label, set to 0 for a new service.
var outcomes = []string{planner.OutcomeSucceeded, planner.OutcomeRolledBack, planner.OutcomeFailed, planner.OutcomeSuperseded, planner.OutcomeHeld}

// Options configures New.
type Options struct {
	// Version is the controller's version, for bluegreen_build_info
	// (default: the main module's version in the binary's build info).
	Version string
	// Now is the clock for drain durations, the age of the last pass and
	// readiness (default time.Now).
	Now func() time.Time
}

// Metrics is a reconcile.Listener that keeps Prometheus metrics of the
// loop in a registry of its own. Its methods may be called from several
// goroutines at once.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	servedColor     *prometheus.GaugeVec
	phase           *prometheus.GaugeVec
	releasesStarted *prometheus.CounterVec
	releases        *prometheus.CounterVec
	jobs            *prometheus.CounterVec
	releaseDuration *prometheus.HistogramVec
	switchDuration  *prometheus.HistogramVec
	drainDuration   *prometheus.HistogramVec
	restarts        *prometheus.GaugeVec
	servedUp        *prometheus.GaugeVec
	restartsTotal   *prometheus.CounterVec
	canaryStep      *prometheus.GaugeVec
	canaryWeight    *prometheus.GaugeVec
	steps           *prometheus.CounterVec
	stepDuration    *prometheus.HistogramVec
	reconcileErrors *prometheus.CounterVec
	passes          *prometheus.CounterVec
	accepted        prometheus.Gauge
	lastOK          prometheus.Gauge
	source          *prometheus.GaugeVec

	mu sync.Mutex
	// services holds every service with series, so that Keep can find
	// the ones to forget.
	services map[string]bool
	// drained holds, per service and color, when its DrainServer step ended.
	drained map[string]map[spec.Color]time.Time
	// seen is, per service, the served color's restart count last seen.
	seen map[string]restartsSeen
	// passFailures lists the services that could not be observed in the
	// pass under way: "name (reason)".
	passFailures []string
	last         passRecord
	lastOKAt     time.Time
}

// restartsSeen is the engine's restart count of a service's served color.
type restartsSeen struct {
	color spec.Color
	count int
}

// passRecord is how the latest pass ended.
type passRecord struct {
	at       time.Time
	ok       bool
	refused  bool     // the desired state was refused
	failures []string // services that could not be observed
}

// New returns metrics with every collector registered in a new registry,
// together with the Go runtime's and the process's collectors.
func New(opts Options) *Metrics {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		now: opts.Now,
		servedColor: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "served_color",
			Help: "1 for the color the service's map key points at, 0 for the other (both 0 when none serves)."},
			[]string{"service", "color"}),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "phase",
			Help: "1 for the phase of the service's latest decision, 0 for the other phases."},
			[]string{"service", "phase"}),
		releasesStarted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "releases_started_total",
			Help: "Releases started: the first step taken towards a new generation of the service."},
			[]string{"service"}),
		releases: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "releases_total",
			Help: "Releases ended, by outcome (Succeeded, RolledBack, Failed, Superseded, Held)."},
			[]string{"service", "outcome"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "jobs_total",
			Help: "Release jobs (spec.jobs) of the releases ended, by outcome (Succeeded, Failed)."},
			[]string{"service", "outcome"}),
		releaseDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "release_duration_seconds",
			Help: "Time from a release's start to its end, by outcome.", Buckets: releaseBuckets},
			[]string{"service", "outcome"}),
		switchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "release_switch_duration_seconds",
			Help: "Time from a release's start to the switch of the map to the new color.", Buckets: switchBuckets},
			[]string{"service"}),
		drainDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "drain_duration_seconds",
			Help: "Time a color stayed drained: from its DrainServer step to the start of its StopContainer step.", Buckets: drainBuckets},
			[]string{"service"}),
		servedUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "served_up",
			Help: "1 while HAProxy says a server of the served color is UP, 0 while all are DOWN or nothing serves (its requests get 503)."},
			[]string{"service"}),
		restarts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "served_restarts",
			Help: "The engine's restarts of the served color's containers (all replicas) since the controller last started each (goes back to 0)."},
			[]string{"service"}),
		restartsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "served_restarts_total",
			Help: "Restarts of the served color's container seen by this process."},
			[]string{"service"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "steps_total",
			Help: "Steps taken, by action and result (ok or error)."},
			[]string{"service", "action", "result"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "step_duration_seconds",
			Help: "Time steps took, by action.", Buckets: stepBuckets},
			[]string{"action"}),
		reconcileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "reconcile_errors_total",
			Help: "Passes of a service that could not observe it (reason as in status) and failed steps (reason StepFailed)."},
			[]string{"service", "reason"}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "passes_total",
			Help: "Reconcile passes ended, by result (ok or error)."},
			[]string{"result"}),
		accepted: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "desired_state_accepted",
			Help: "1 when the last pass loaded the desired state, 0 when it refused it or before the first pass."}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "last_successful_pass_timestamp_seconds",
			Help: "When the last pass that ended ok ended, in seconds since the Unix epoch."}),
		source: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "source_info",
			Help: "1, for the commit of the desired state in force."},
			[]string{"commit"}),
		services: map[string]bool{},
		drained:  map[string]map[spec.Color]time.Time{},
		seen:     map[string]restartsSeen{},
	}
	m.canaryStep, m.canaryWeight = canaryGauges()
	for _, r := range []string{"ok", "error"} {
		m.passes.WithLabelValues(r)
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help: "1, with the controller's version and the Go version it was built with."},
		[]string{"version", "goversion"})
	build.WithLabelValues(version(opts.Version), runtime.Version()).Set(1)
	m.reg.MustRegister(m.servedColor, m.phase, m.releasesStarted, m.releases, m.jobs, m.releaseDuration,
		m.switchDuration, m.drainDuration, m.servedUp, m.restarts, m.restartsTotal, m.canaryStep, m.canaryWeight, m.steps, m.stepDuration,
		m.reconcileErrors, m.passes, m.accepted, m.lastOK, ageCollector{m}, m.source, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// canaryGauges are the canary step in force and its weight, per service.
func canaryGauges() (step, weight *prometheus.GaugeVec) {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "canary_step",
			Help: "The canary step in force (from 1) while the map key points at the service's canary backend, 0 otherwise."},
			[]string{"service"}),
		prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "canary_weight_percent",
			Help: "The percent of new users the canary step in force sends to the new version, 0 when no canary step is in force."},
			[]string{"service"})
}

// Registry is the registry the metrics are kept in, for the caller to add
// collectors of its own (a notifier's counters, say).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetSource sets the commit of the desired state in force, as the only
// series of bluegreen_source_info; "" removes it (a local file).
func (m *Metrics) SetSource(commit string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.source.Reset()
	if commit != "" {
		m.source.WithLabelValues(commit).Set(1)
	}
}

// Forget removes every series of service and what is remembered of it.
func (m *Metrics) Forget(service string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forget(service)
}

// Keep forgets every service not in services: call it with the names of
// the desired state each time it is accepted.
func (m *Metrics) Keep(services []string) {
	keep := make(map[string]bool, len(services))
	for _, s := range services {
		keep[s] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range m.services {
		if !keep[s] {
			m.forget(s)
		}
	}
}

// forget is Forget with m.mu held.
func (m *Metrics) forget(service string) {
	l := prometheus.Labels{"service": service}
	m.servedColor.DeletePartialMatch(l)
	m.phase.DeletePartialMatch(l)
	m.releasesStarted.DeletePartialMatch(l)
	m.releases.DeletePartialMatch(l)
	m.jobs.DeletePartialMatch(l)
	m.releaseDuration.DeletePartialMatch(l)
	m.switchDuration.DeletePartialMatch(l)
	m.drainDuration.DeletePartialMatch(l)
	m.restarts.DeletePartialMatch(l)
	m.servedUp.DeletePartialMatch(l)
	m.restartsTotal.DeletePartialMatch(l)
	m.canaryStep.DeletePartialMatch(l)
	m.canaryWeight.DeletePartialMatch(l)
	m.steps.DeletePartialMatch(l)
	m.reconcileErrors.DeletePartialMatch(l)
	delete(m.services, service)
	delete(m.drained, service)
	delete(m.seen, service)
}

// known makes sure service has its series, the counters at 0, so that
// rate() and increase() see the first release. m.mu is held.
func (m *Metrics) known(service string) {
	if m.services[service] {
		return
	}
	m.services[service] = true
	m.releasesStarted.WithLabelValues(service)
	m.restartsTotal.WithLabelValues(service)
	for _, o := range outcomes {
		m.releases.WithLabelValues(service, o)
	}
	for _, o := range []string{planner.JobSucceeded, planner.JobFailed} {
		m.jobs.WithLabelValues(service, o)
	}
}

// version is v, or the main module's version in the build info.
func version(v string) string {
	if v != "" {
		return v
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// ageCollector gives bluegreen_last_successful_pass_age_seconds at scrape
// time, once a pass has ended ok.
type ageCollector struct{ m *Metrics }

var ageDesc = prometheus.NewDesc(namespace+"_last_successful_pass_age_seconds",
	"Seconds since the last pass that ended ok ended, at the time of the scrape.", nil, nil)

func (c ageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- ageDesc }

func (c ageCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	at := c.m.lastOKAt
	c.m.mu.Unlock()
	if at.IsZero() {
		return
	}
	ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, max(c.m.now().Sub(at).Seconds(), 0))
}
