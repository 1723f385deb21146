package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestMetricsDuringARelease: a watching controller serves /metrics,
// /healthz and /readyz (--metrics-listen). It is scraped again and again
// during a release under load; every scrape passes promtool check metrics,
// and once converged the metrics show the release: green serves, two
// releases (the first start and this one) started and succeeded, the
// switch's duration recorded. No request fails.
func TestMetricsDuringARelease(t *testing.T) {
	testenv.RequireBinary(t, "promtool", "apt-get install -y prometheus") // before the release, not after it
	e := newEnv(t)
	e.save(spec.Blue, "v1")
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctl := e.start("--metrics-listen", addr, "--resync", "1s")
	e.waitConverged(2 * time.Minute)

	get := func(path string) (int, string) { t.Helper(); return ctl.get(t, addr, path) }
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	testenv.WaitFor(t, 10*time.Second, "/readyz 200", func() bool { code, _ := get("/readyz"); return code == 200 })

	l := e.startLoad(20, 5)
	waitSent(t, l, 1000)
	e.save(spec.Green, "v2")
	gen := e.generation()
	var scrapes []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, body := get("/metrics")
		scrapes = append(scrapes, body)
		if st := e.serviceStatus(); st != nil && st.ObservedGeneration == gen && st.Phase == "Converged" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged in 2 minutes\ncontroller log:\n%s", ctl.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, final := get("/metrics")
	t.Logf("%d scrapes during the release", len(scrapes))
	// promtool on a spread of them (each run costs a process) and on the last.
	step := max(1, len(scrapes)/8)
	for i := 0; i < len(scrapes); i += step {
		testenv.PromtoolCheck(t, scrapes[i])
	}
	testenv.PromtoolCheck(t, final)
	midRelease := false
	for _, s := range scrapes {
		if strings.Contains(s, fmt.Sprintf(`bluegreen_phase{phase="Progressing",service=%q} 1`, e.svc)) {
			midRelease = true
		}
	}
	if !midRelease {
		t.Errorf("no scrape caught the service Progressing")
	}
	expectSeries(t, final,
		fmt.Sprintf(`bluegreen_served_color{color="green",service=%q} 1`, e.svc),
		fmt.Sprintf(`bluegreen_served_color{color="blue",service=%q} 0`, e.svc),
		fmt.Sprintf(`bluegreen_phase{phase="Converged",service=%q} 1`, e.svc),
		// The first start is a release too: blue/v1, then green/v2.
		fmt.Sprintf(`bluegreen_releases_started_total{service=%q} 2`, e.svc),
		fmt.Sprintf(`bluegreen_releases_total{outcome="Succeeded",service=%q} 2`, e.svc),
		fmt.Sprintf(`bluegreen_release_switch_duration_seconds_count{service=%q} 1`, e.svc),
		`bluegreen_desired_state_accepted 1`,
	)
	logSeriesOnFailure(t, final)
	e.stopLoadNoFailures(l)
	ctl.stop()
}

// get GETs path from the controller's metrics listener at addr.
func (c *controller) get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v\ncontroller log:\n%s", path, err, c.output())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// expectSeries fails the test unless the scrape holds each line of want.
func expectSeries(t *testing.T, scrape string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(scrape, w) {
			t.Errorf("the scrape lacks %s", w)
		}
	}
}

// logSeriesOnFailure logs the controller's own series of a scrape when
// the test has failed.
func logSeriesOnFailure(t *testing.T, scrape string) {
	if !t.Failed() {
		return
	}
	var b bytes.Buffer
	for _, line := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(line, "bluegreen_") {
			b.WriteString(line + "\n")
		}
	}
	t.Logf("bluegreen_ series of the scrape:\n%s", b.String())
}
