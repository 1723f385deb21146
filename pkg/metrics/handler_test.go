package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// get requests path from the server and returns the status and body.
func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer to GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// release drives the observer through a release of web from blue to
// green, as the loop reports one, and a pass of api that failed.
func release(m *Metrics, c *clock) {
	s := &spec.Service{Name: "web"}
	start := c.Now()
	m.Decided(view("web", spec.Blue, 0), planner.Decision{Phase: planner.Progressing, Reason: "CreateContainer",
		Step: &planner.Step{Action: planner.CreateContainer, Color: spec.Green}}, c.Now())
	m.ReleaseStarted(s, spec.Blue, c.Now())
	for _, a := range []planner.Action{planner.CreateContainer, planner.StartContainer, planner.SetServerAddr, planner.SwitchMap} {
		c.Add(time.Second)
		m.Stepped("web", planner.Step{Action: a, Service: "web", Color: spec.Green}, 50*time.Millisecond, nil)
		m.PassEnded(true, c.Now())
	}
	switched := c.Now()
	m.Stepped("web", planner.Step{Action: planner.DrainServer, Service: "web", Color: spec.Blue}, time.Millisecond, nil)
	c.Add(30 * time.Second)
	m.Stepped("web", planner.Step{Action: planner.StopContainer, Service: "web", Color: spec.Blue}, 2*time.Second, nil)
	m.ReleaseEnded(state.Release{Service: "web", Generation: "0123456789ab", From: spec.Blue, To: spec.Green,
		FromImage: "demo:v1", ToImage: "demo:v2", Start: start, SwitchedAt: &switched, End: c.Now(), Outcome: planner.OutcomeSucceeded})
	m.Decided(view("web", spec.Green, 1), planner.Decision{Phase: planner.Converged, Reason: "Converged"}, c.Now())
	m.ObserveFailed("api", "HAProxyUnreachable", errors.New("dial unix /run/haproxy/admin.sock: connection refused"), c.Now())
	m.PassEnded(false, c.Now())
	m.PassEnded(true, c.Now())
	m.SetSource("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
}

// scrapeAfterRelease scrapes /metrics over a real loopback HTTP server
// after release.
func scrapeAfterRelease(t *testing.T) string {
	t.Helper()
	m, c := newMetrics(t)
	release(m, c)
	srv := httptest.NewServer(m.Handler(time.Minute))
	defer srv.Close()
	code, body := get(t, srv, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return body
}

// TestScrapePassesPromtool scrapes /metrics after a release and has
// promtool lint the scrape.
func TestScrapePassesPromtool(t *testing.T) {
	body := scrapeAfterRelease(t)
	for _, want := range []string{
		`bluegreen_served_color{color="green",service="web"} 1`,
		`bluegreen_phase{phase="Converged",service="web"} 1`,
		`bluegreen_releases_started_total{service="web"} 1`,
		`bluegreen_releases_total{outcome="Succeeded",service="web"} 1`,
		`bluegreen_release_duration_seconds_count{outcome="Succeeded",service="web"} 1`,
		`bluegreen_release_switch_duration_seconds_sum{service="web"} 4`,
		`bluegreen_drain_duration_seconds_sum{service="web"} 28`,
		`bluegreen_served_restarts{service="web"} 1`,
		`bluegreen_reconcile_errors_total{reason="HAProxyUnreachable",service="api"} 1`,
		`bluegreen_source_info{commit="e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"} 1`,
		`bluegreen_last_successful_pass_age_seconds 0`,
		`bluegreen_build_info{goversion="go`,
		`go_goroutines `,
		`process_start_time_seconds `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the scrape has no %q", want)
		}
	}

	testenv.PromtoolCheck(t, body)
}

func TestHealthz(t *testing.T) {
	m, _ := newMetrics(t)
	srv := httptest.NewServer(m.Handler(time.Minute))
	defer srv.Close()
	if code, body := get(t, srv, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("GET /healthz before any pass: %d %q, want 200 ok", code, body)
	}
}

// TestReadyzTransitions: not ready before a pass, ready after one that
// ended ok, not ready when the desired state is refused or a service
// cannot be observed, ready again after a good pass, not ready once the
// last pass is older than the bound.
func TestReadyzTransitions(t *testing.T) {
	m, c := newMetrics(t)
	srv := httptest.NewServer(m.Handler(30 * time.Second))
	defer srv.Close()
	expect := func(what string, wantCode int, wantBody string) {
		t.Helper()
		code, body := get(t, srv, "/readyz")
		if code != wantCode || body != wantBody {
			t.Fatalf("%s: GET /readyz = %d %q, want %d %q", what, code, body, wantCode, wantBody)
		}
	}
	expect("before any pass", 503, "no reconcile pass has ended yet\n")
	m.PassEnded(true, c.Now())
	expect("after a pass ended ok", 200, "ok\n")
	c.Add(time.Second)
	m.PassEnded(false, c.Now())
	expect("desired state refused", 503, "the desired state was refused at the last pass, at 2026-05-01T12:00:01Z\n")
	m.ObserveFailed("web", "DockerUnreachable", errors.New("connection refused"), c.Now())
	m.ObserveFailed("api", "Timeout", errors.New("deadline exceeded"), c.Now())
	m.PassEnded(false, c.Now())
	expect("services not observed", 503, "the last pass, at 2026-05-01T12:00:01Z, could not observe web (DockerUnreachable), api (Timeout)\n")
	m.PassEnded(true, c.Now())
	expect("after a good pass again", 200, "ok\n")
	c.Add(30 * time.Second)
	expect("at the bound", 200, "ok\n")
	c.Add(time.Millisecond)
	expect("past the bound", 503, "the last pass ended 30.001s ago, longer than the 30s allowed\n")
	m.PassEnded(true, c.Now())
	expect("a pass again", 200, "ok\n")
}

func TestHandlerRefusesOtherMethods(t *testing.T) {
	m, _ := newMetrics(t)
	srv := httptest.NewServer(m.Handler(0))
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /metrics: %d, want 405", resp.StatusCode)
	}
}
