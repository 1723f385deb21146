package metrics

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newMetrics(t *testing.T) (*Metrics, *clock) {
	t.Helper()
	c := newClock()
	return New(Options{Version: "v0.0.0-test", Now: c.Now}), c
}

func view(service string, served spec.Color, restarts int) reconcile.ServiceView {
	return reconcile.ServiceView{Service: service, Generation: "0123456789ab", Served: served, ServedRestarts: restarts}
}

func decision(p planner.Phase, reason planner.Reason) planner.Decision {
	return planner.Decision{Phase: p, Reason: reason}
}

func step(a planner.Action, c spec.Color) planner.Step {
	return planner.Step{Action: a, Service: "web", Color: c, Target: "t", Cause: "test"}
}

// compare checks the named metrics against their exposition text.
func compare(t *testing.T, m *Metrics, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

func TestDecidedSetsServedColorAndPhase(t *testing.T) {
	m, c := newMetrics(t)
	m.Decided(view("web", spec.Blue, 0), decision(planner.Converged, "Converged"), c.Now())
	m.Decided(view("api", "", 0), decision(planner.Progressing, "StartContainer"), c.Now())
	compare(t, m, `
# HELP bluegreen_served_color 1 for the color the service's map key points at, 0 for the other (both 0 when none serves).
# TYPE bluegreen_served_color gauge
bluegreen_served_color{color="blue",service="api"} 0
bluegreen_served_color{color="green",service="api"} 0
bluegreen_served_color{color="blue",service="web"} 1
bluegreen_served_color{color="green",service="web"} 0
# HELP bluegreen_phase 1 for the phase of the service's latest decision, 0 for the other phases.
# TYPE bluegreen_phase gauge
bluegreen_phase{phase="Converged",service="api"} 0
bluegreen_phase{phase="Degraded",service="api"} 0
bluegreen_phase{phase="Failed",service="api"} 0
bluegreen_phase{phase="Progressing",service="api"} 1
bluegreen_phase{phase="Converged",service="web"} 1
bluegreen_phase{phase="Degraded",service="web"} 0
bluegreen_phase{phase="Failed",service="web"} 0
bluegreen_phase{phase="Progressing",service="web"} 0
`, "bluegreen_served_color", "bluegreen_phase")

	m.Decided(view("web", spec.Green, 0), decision(planner.Degraded, "CrashLoop"), c.Now())
	if got := testutil.ToFloat64(m.servedColor.WithLabelValues("web", "green")); got != 1 {
		t.Errorf("served green = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.servedColor.WithLabelValues("web", "blue")); got != 0 {
		t.Errorf("served blue = %v, want 0", got)
	}
	if got := testutil.ToFloat64(m.phase.WithLabelValues("web", "Degraded")); got != 1 {
		t.Errorf("phase Degraded = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.phase.WithLabelValues("web", "Converged")); got != 0 {
		t.Errorf("phase Converged = %v, want 0", got)
	}
}

// TestRestarts: the gauge is the engine's count as given; the counter
// takes the first count as its baseline, then adds each rise, the whole
// count after it went down (started again by the controller) and the new
// color's count when the served color changes.
func TestRestarts(t *testing.T) {
	m, c := newMetrics(t)
	d := decision(planner.Degraded, "CrashLoop")
	steps := []struct {
		served            spec.Color
		count             int
		wantGauge, wantCt float64
	}{
		{spec.Blue, 3, 3, 0}, // baseline: restarts before this process
		{spec.Blue, 3, 3, 0},
		{spec.Blue, 5, 5, 2},
		{spec.Blue, 1, 1, 3}, // started again by the controller, then restarted once
		{spec.Green, 2, 2, 5},
		{"", 0, 0, 5},
		{spec.Green, 4, 4, 5}, // none served in between: a new baseline
		{spec.Green, 6, 6, 7},
	}
	for i, s := range steps {
		m.Decided(view("web", s.served, s.count), d, c.Now())
		if got := testutil.ToFloat64(m.restarts.WithLabelValues("web")); got != s.wantGauge {
			t.Errorf("step %d: bluegreen_served_restarts = %v, want %v", i, got, s.wantGauge)
		}
		if got := testutil.ToFloat64(m.restartsTotal.WithLabelValues("web")); got != s.wantCt {
			t.Errorf("step %d: bluegreen_served_restarts_total = %v, want %v", i, got, s.wantCt)
		}
	}
}

func TestReleases(t *testing.T) {
	m, c := newMetrics(t)
	s := &spec.Service{Name: "web"}
	m.ReleaseStarted(s, spec.Blue, c.Now())
	start := c.Now()
	switched := start.Add(7 * time.Second)
	m.ReleaseEnded(state.Release{Service: "web", Generation: "g1", From: spec.Blue, To: spec.Green,
		Start: start, SwitchedAt: &switched, End: start.Add(40 * time.Second), Outcome: planner.OutcomeSucceeded})
	m.ReleaseStarted(s, spec.Green, c.Now())
	m.ReleaseEnded(state.Release{Service: "web", Generation: "g2", From: spec.Green, To: spec.Blue,
		Start: start, End: start.Add(3 * time.Second), Outcome: planner.OutcomeFailed, Reason: "JobFailed",
		Jobs: []planner.JobRecord{{Job: "migrate", Outcome: planner.JobSucceeded}, {Job: "seed", Outcome: planner.JobFailed, ExitCode: 1}}})
	// An entry with no start has no duration, but is counted.
	m.ReleaseEnded(state.Release{Service: "web", Generation: "g3", End: start, Outcome: planner.OutcomeSuperseded})

	compare(t, m, `
# HELP bluegreen_releases_started_total Releases started: the first step taken towards a new generation of the service.
# TYPE bluegreen_releases_started_total counter
bluegreen_releases_started_total{service="web"} 2
# HELP bluegreen_releases_total Releases ended, by outcome (Succeeded, RolledBack, Failed, Superseded, Held).
# TYPE bluegreen_releases_total counter
bluegreen_releases_total{outcome="Failed",service="web"} 1
bluegreen_releases_total{outcome="Held",service="web"} 0
bluegreen_releases_total{outcome="RolledBack",service="web"} 0
bluegreen_releases_total{outcome="Succeeded",service="web"} 1
bluegreen_releases_total{outcome="Superseded",service="web"} 1
# HELP bluegreen_jobs_total Release jobs (spec.jobs) of the releases ended, by outcome (Succeeded, Failed).
# TYPE bluegreen_jobs_total counter
bluegreen_jobs_total{outcome="Failed",service="web"} 1
bluegreen_jobs_total{outcome="Succeeded",service="web"} 1
# HELP bluegreen_release_switch_duration_seconds Time from a release's start to the switch of the map to the new color.
# TYPE bluegreen_release_switch_duration_seconds histogram
bluegreen_release_switch_duration_seconds_bucket{service="web",le="0.5"} 0
bluegreen_release_switch_duration_seconds_bucket{service="web",le="1"} 0
bluegreen_release_switch_duration_seconds_bucket{service="web",le="2"} 0
bluegreen_release_switch_duration_seconds_bucket{service="web",le="5"} 0
bluegreen_release_switch_duration_seconds_bucket{service="web",le="10"} 1
bluegreen_release_switch_duration_seconds_bucket{service="web",le="20"} 1
bluegreen_release_switch_duration_seconds_bucket{service="web",le="30"} 1
bluegreen_release_switch_duration_seconds_bucket{service="web",le="60"} 1
bluegreen_release_switch_duration_seconds_bucket{service="web",le="120"} 1
bluegreen_release_switch_duration_seconds_bucket{service="web",le="300"} 1
bluegreen_release_switch_duration_seconds_bucket{service="web",le="600"} 1
bluegreen_release_switch_duration_seconds_bucket{service="web",le="1200"} 1
bluegreen_release_switch_duration_seconds_bucket{service="web",le="+Inf"} 1
bluegreen_release_switch_duration_seconds_sum{service="web"} 7
bluegreen_release_switch_duration_seconds_count{service="web"} 1
`, "bluegreen_releases_started_total", "bluegreen_releases_total", "bluegreen_jobs_total", "bluegreen_release_switch_duration_seconds")

	for outcome, want := range map[string]float64{planner.OutcomeSucceeded: 40, planner.OutcomeFailed: 3} {
		if n, sum := histogram(t, m, "bluegreen_release_duration_seconds", "outcome", outcome); n != 1 || sum != want {
			t.Errorf("release duration of %s: %d observations summing to %v, want 1 of %v", outcome, n, sum, want)
		}
	}
	if n, _ := histogram(t, m, "bluegreen_release_duration_seconds", "outcome", planner.OutcomeSuperseded); n != 0 {
		t.Errorf("a release with no start has %d duration observations, want none", n)
	}
}

// histogram returns the count and sum of the series of the named
// histogram whose label has value.
func histogram(t *testing.T, m *Metrics, name, label, value string) (uint64, float64) {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return mt.GetHistogram().GetSampleCount(), mt.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	return 0, 0
}

// TestDrainDuration: from a color's DrainServer step to the start of its
// StopContainer step; a color taken back is not counted, nor is a failed
// step.
func TestDrainDuration(t *testing.T) {
	m, c := newMetrics(t)
	m.Stepped("web", step(planner.DrainServer, spec.Blue), 10*time.Millisecond, nil)
	c.Add(20 * time.Second)
	m.Stepped("web", step(planner.SetRestartPolicy, spec.Blue), time.Millisecond, nil)
	m.Stepped("web", step(planner.StopContainer, spec.Blue), 0, errors.New("stop container bg-web-blue: engine said no"))
	c.Add(5 * time.Second)
	m.Stepped("web", step(planner.StopContainer, spec.Blue), 2*time.Second, nil) // began 23s after the drain
	if n, sum := histogram(t, m, "bluegreen_drain_duration_seconds", "service", "web"); n != 1 || sum != 23 {
		t.Fatalf("drain duration: %d observations summing to %v, want 1 of 23", n, sum)
	}

	// Drained, then taken back for a rollback: no drain is counted, and a
	// later stop is not one either.
	m.Stepped("web", step(planner.DrainServer, spec.Green), time.Millisecond, nil)
	c.Add(time.Second)
	m.Stepped("web", step(planner.SetServerReady, spec.Green), time.Millisecond, nil)
	m.Stepped("web", step(planner.StopContainer, spec.Green), time.Second, nil)
	if n, _ := histogram(t, m, "bluegreen_drain_duration_seconds", "service", "web"); n != 1 {
		t.Fatalf("drain duration: %d observations, want still 1", n)
	}

	if got := testutil.ToFloat64(m.steps.WithLabelValues("web", "StopContainer", "error")); got != 1 {
		t.Errorf("failed StopContainer steps = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.steps.WithLabelValues("web", "StopContainer", "ok")); got != 2 {
		t.Errorf("StopContainer steps = %v, want 2", got)
	}
}

func TestReconcileErrors(t *testing.T) {
	m, c := newMetrics(t)
	m.ObserveFailed("web", "DockerUnreachable", errors.New("docker: connection refused"), c.Now())
	m.ObserveFailed("web", "DockerUnreachable", errors.New("docker: connection refused"), c.Now())
	m.ObserveFailed("api", "Timeout", errors.New("deadline exceeded"), c.Now())
	m.Stepped("web", step(planner.SwitchMap, spec.Green), time.Millisecond, errors.New("set map: refused"))
	compare(t, m, `
# HELP bluegreen_reconcile_errors_total Passes of a service that could not observe it (reason as in status) and failed steps (reason StepFailed).
# TYPE bluegreen_reconcile_errors_total counter
bluegreen_reconcile_errors_total{reason="Timeout",service="api"} 1
bluegreen_reconcile_errors_total{reason="DockerUnreachable",service="web"} 2
bluegreen_reconcile_errors_total{reason="StepFailed",service="web"} 1
`, "bluegreen_reconcile_errors_total")
}

func TestPasses(t *testing.T) {
	m, c := newMetrics(t)
	if n := testutil.CollectAndCount(ageCollector{m}); n != 0 {
		t.Fatalf("age before any pass: %d series, want none", n)
	}
	if got := testutil.ToFloat64(m.accepted); got != 0 {
		t.Errorf("desired state accepted before any pass = %v, want 0", got)
	}
	at := c.Now()
	m.PassEnded(true, at)
	c.Add(90 * time.Second)
	m.PassEnded(false, c.Now()) // the desired state refused
	compare(t, m, `
# HELP bluegreen_passes_total Reconcile passes ended, by result (ok or error).
# TYPE bluegreen_passes_total counter
bluegreen_passes_total{result="error"} 1
bluegreen_passes_total{result="ok"} 1
# HELP bluegreen_desired_state_accepted 1 when the last pass loaded the desired state, 0 when it refused it or before the first pass.
# TYPE bluegreen_desired_state_accepted gauge
bluegreen_desired_state_accepted 0
# HELP bluegreen_last_successful_pass_timestamp_seconds When the last pass that ended ok ended, in seconds since the Unix epoch.
# TYPE bluegreen_last_successful_pass_timestamp_seconds gauge
bluegreen_last_successful_pass_timestamp_seconds 1.7776368e+09
# HELP bluegreen_last_successful_pass_age_seconds Seconds since the last pass that ended ok ended, at the time of the scrape.
# TYPE bluegreen_last_successful_pass_age_seconds gauge
bluegreen_last_successful_pass_age_seconds 90
`, "bluegreen_passes_total", "bluegreen_desired_state_accepted",
		"bluegreen_last_successful_pass_timestamp_seconds", "bluegreen_last_successful_pass_age_seconds")

	// A pass that could not observe a service still loaded the desired state.
	m.ObserveFailed("web", "Timeout", errors.New("deadline exceeded"), c.Now())
	m.PassEnded(false, c.Now())
	if got := testutil.ToFloat64(m.accepted); got != 1 {
		t.Errorf("desired state accepted after an observe failure = %v, want 1", got)
	}
}

func TestSourceInfoHoldsOneCommit(t *testing.T) {
	m, _ := newMetrics(t)
	m.SetSource("4b825dc642cb6eb9a060e54bf8d69288fbee4904")
	m.SetSource("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
	compare(t, m, `
# HELP bluegreen_source_info 1, for the commit of the desired state in force.
# TYPE bluegreen_source_info gauge
bluegreen_source_info{commit="e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"} 1
`, "bluegreen_source_info")
	m.SetSource("")
	if n := testutil.CollectAndCount(m.source); n != 0 {
		t.Errorf("source info after SetSource(\"\"): %d series, want none", n)
	}
}

func TestBuildInfo(t *testing.T) {
	m, _ := newMetrics(t)
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "bluegreen_build_info" {
			labels := map[string]string{}
			for _, lp := range mf.GetMetric()[0].GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["version"] != "v0.0.0-test" || !strings.HasPrefix(labels["goversion"], "go") {
				t.Fatalf("build info labels %v", labels)
			}
			return
		}
	}
	t.Fatal("no bluegreen_build_info")
}

// TestKeepForgetsRemovedServices: every series of a service left out of
// the desired state goes; the others stay.
func TestKeepForgetsRemovedServices(t *testing.T) {
	m, c := newMetrics(t)
	for _, s := range []string{"web", "api"} {
		m.Decided(view(s, spec.Blue, 1), decision(planner.Converged, "Converged"), c.Now())
		m.ReleaseStarted(&spec.Service{Name: s}, spec.Blue, c.Now())
		m.Stepped(s, step(planner.DrainServer, spec.Blue), time.Millisecond, nil)
		m.ObserveFailed(s, "Timeout", errors.New("deadline exceeded"), c.Now())
	}
	m.Keep([]string{"web"})
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var web int
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == "service" && lp.GetValue() == "api" {
					t.Errorf("%s still has a series of api after Keep([web])", mf.GetName())
				}
				if lp.GetName() == "service" && lp.GetValue() == "web" {
					web++
				}
			}
		}
	}
	if web == 0 {
		t.Error("no series of web left after Keep([web])")
	}
	m.Forget("web")
	if n := testutil.CollectAndCount(m.servedColor); n != 0 {
		t.Errorf("served color after Forget(web): %d series, want none", n)
	}
	// A service seen again starts afresh: its restart count is a baseline.
	m.Decided(view("web", spec.Blue, 4), decision(planner.Converged, "Converged"), c.Now())
	if got := testutil.ToFloat64(m.restartsTotal.WithLabelValues("web")); got != 0 {
		t.Errorf("restarts counted after Forget = %v, want 0", got)
	}
}

// TestServedUp: bluegreen_served_up is 1 only while a color serves and
// HAProxy says its server is in service.
func TestServedUp(t *testing.T) {
	m, c := newMetrics(t)
	up := view("web", spec.Blue, 0)
	up.ServedUp = true
	m.Decided(up, decision(planner.Converged, "Converged"), c.Now())
	m.Decided(view("api", "", 0), decision(planner.Progressing, "StartContainer"), c.Now())
	compare(t, m, `
# HELP bluegreen_served_up 1 while HAProxy says a server of the served color is UP, 0 while all are DOWN or nothing serves (its requests get 503).
# TYPE bluegreen_served_up gauge
bluegreen_served_up{service="api"} 0
bluegreen_served_up{service="web"} 1
`, "bluegreen_served_up")
	m.Decided(view("web", spec.Blue, 0), decision(planner.Degraded, planner.ReasonServedColorDown), c.Now())
	if got := testutil.ToFloat64(m.servedUp.WithLabelValues("web")); got != 0 {
		t.Errorf("served_up of a served color HAProxy says is DOWN = %v, want 0", got)
	}
}

// TestCanaryStepAndWeight: during a canary step the service has its step
// and weight, and the previous color counts as served; 0 and 0 otherwise.
func TestCanaryStepAndWeight(t *testing.T) {
	m, c := newMetrics(t)
	v := view("web", spec.Blue, 0)
	v.Canary = &planner.Split{From: spec.Blue, To: spec.Green, Step: 2, Steps: 3, Weight: 50}
	m.Decided(v, decision(planner.Progressing, planner.ReasonCanary), c.Now())
	want := `
# HELP bluegreen_canary_step The canary step in force (from 1) while the map key points at the service's canary backend, 0 otherwise.
# TYPE bluegreen_canary_step gauge
bluegreen_canary_step{service="web"} 2
# HELP bluegreen_canary_weight_percent The percent of new users the canary step in force sends to the new version, 0 when no canary step is in force.
# TYPE bluegreen_canary_weight_percent gauge
bluegreen_canary_weight_percent{service="web"} 50
`
	compare(t, m, want, "bluegreen_canary_step", "bluegreen_canary_weight_percent")
	m.Decided(view("web", spec.Green, 0), decision(planner.Progressing, planner.ReasonVerifying), c.Now())
	compare(t, m, strings.NewReplacer("} 2", "} 0", "} 50", "} 0").Replace(want), "bluegreen_canary_step", "bluegreen_canary_weight_percent")
}
