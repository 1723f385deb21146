package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/notify"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestWebhooksDuringARelease: a release under load is reported to a
// webhook receiver, signed, in order (started, then succeeded), while a
// second receiver that never answers holds its first request: the
// release is not held up by it, and no request of the load fails.
func TestWebhooksDuringARelease(t *testing.T) {
	e := newEnv(t)
	rec, secret := newReceiver(t, e.dir)
	var mu sync.Mutex
	release := make(chan struct{})
	var hung sync.WaitGroup
	hangs := 0
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hangs++
		mu.Unlock()
		hung.Add(1)
		defer hung.Done()
		select { // never answers while the test runs
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })

	e.save(spec.Blue, "v1")
	ctl := e.start("--webhook", rec.url, "--webhook", hang.URL, "--webhook-secret-file", secret)
	e.waitConverged(2 * time.Minute)

	l := e.startLoad(20, 5)
	waitSent(t, l, 1000)
	switched := e.watchSwitch(e.svc+"_green", false)
	e.save(spec.Green, "v2")
	gen := e.generation()
	select {
	case <-switched.at:
	case <-time.After(2 * time.Minute):
		t.Fatalf("never switched\ncontroller log:\n%s", ctl.output())
	}
	e.waitConverged(2 * time.Minute)
	// The first start is a release too; this one's events are those of
	// the new generation.
	rec.waitFor(2, gen)
	got := rec.of(gen)
	mu.Lock()
	gotHangs := hangs
	mu.Unlock()
	t.Logf("events: %+v; the hanging receiver got %d requests", got, gotHangs)
	rec.expect(got, e.svc, "ReleaseStarted", "ReleaseSucceeded")
	if gotHangs == 0 {
		t.Errorf("the hanging receiver got no request")
	}
	e.stopLoadNoFailures(l)
	ctl.stop()
}

// TestWebhooksForTwoServices: two services saved together in one file,
// the polite demo app and the rude app whose v2 answers 500 behind a
// healthy /healthz, are reported each in its own order: web's release
// started and succeeded, api's started and was rolled back. The metrics
// say the same, each service under its own label, and pass promtool.
// web's traffic loses no request.
func TestWebhooksForTwoServices(t *testing.T) {
	p := newPair(t)
	rec, secret := newReceiver(t, p.web.dir)
	p.save(spec.Blue, "v1", spec.Blue, "v1")
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctl := p.web.start("--webhook", rec.url, "--webhook-secret-file", secret, "--metrics-listen", addr)
	p.wait(p.web.svc, 2*time.Minute, planner.Converged, "Converged")
	p.wait(p.api.svc, 2*time.Minute, planner.Converged, "Converged")

	webLoad, apiLoad := p.startLoads()
	p.save(spec.Green, "v2", spec.Green, "v2")
	p.wait(p.api.svc, 2*time.Minute, planner.Failed, "RolledBack")
	p.wait(p.web.svc, 2*time.Minute, planner.Converged, "Converged")
	webGen, apiGen := p.generation(p.web.svc), p.generation(p.api.svc)
	rec.waitFor(2, webGen)
	rec.waitFor(2, apiGen)
	web, api := rec.of(webGen), rec.of(apiGen)
	t.Logf("web's events: %+v; api's events: %+v", web, api)
	rec.expect(web, p.web.svc, "ReleaseStarted", "ReleaseSucceeded")
	rec.expect(api, p.api.svc, "ReleaseStarted", "ReleaseRolledBack")

	_, scrape := ctl.get(t, addr, "/metrics")
	testenv.PromtoolCheck(t, scrape)
	expectSeries(t, scrape,
		// web: blue/v1 at the first start, then green/v2, both succeeded.
		fmt.Sprintf(`bluegreen_served_color{color="green",service=%q} 1`, p.web.svc),
		fmt.Sprintf(`bluegreen_phase{phase="Converged",service=%q} 1`, p.web.svc),
		fmt.Sprintf(`bluegreen_releases_started_total{service=%q} 2`, p.web.svc),
		fmt.Sprintf(`bluegreen_releases_total{outcome="Succeeded",service=%q} 2`, p.web.svc),
		fmt.Sprintf(`bluegreen_releases_total{outcome="RolledBack",service=%q} 0`, p.web.svc),
		// api: blue/v1 succeeded; green/v2 was rolled back, blue serves.
		fmt.Sprintf(`bluegreen_served_color{color="blue",service=%q} 1`, p.api.svc),
		fmt.Sprintf(`bluegreen_served_color{color="green",service=%q} 0`, p.api.svc),
		fmt.Sprintf(`bluegreen_phase{phase="Failed",service=%q} 1`, p.api.svc),
		fmt.Sprintf(`bluegreen_releases_started_total{service=%q} 2`, p.api.svc),
		fmt.Sprintf(`bluegreen_releases_total{outcome="Succeeded",service=%q} 1`, p.api.svc),
		fmt.Sprintf(`bluegreen_releases_total{outcome="RolledBack",service=%q} 1`, p.api.svc),
	)
	logSeriesOnFailure(t, scrape)
	apiLoad.stop()
	p.web.stopLoadNoFailures(webLoad)
	ctl.stop()
}

// event is the part of a webhook body the tests read.
type event struct {
	Type, Service, Generation, Outcome string
	Seq                                int
}

// receiver is a webhook receiver that checks each body's signature.
type receiver struct {
	t      *testing.T
	url    string
	mu     sync.Mutex
	events []event
	bodies []string // every body received, as sent
	bad    []string
}

// newReceiver starts a receiver, and writes the secret it checks with to
// a file in dir for --webhook-secret-file.
func newReceiver(t *testing.T, dir string) (rec *receiver, secretFile string) {
	const secret = "s3cret"
	secretFile = filepath.Join(dir, "webhook.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec = &receiver{t: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev event
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if !notify.Verify([]byte(secret), body, r.Header.Get(notify.SignatureHeader)) {
			rec.bad = append(rec.bad, "bad signature: "+string(body))
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			rec.bad = append(rec.bad, "not JSON: "+string(body))
		}
		rec.events = append(rec.events, ev)
		rec.bodies = append(rec.bodies, string(body))
	}))
	t.Cleanup(srv.Close)
	rec.url = srv.URL
	return rec, secretFile
}

// of is the events received so far of one generation (one release).
func (rec *receiver) of(gen string) []event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []event
	for _, ev := range rec.events {
		if ev.Generation == gen {
			out = append(out, ev)
		}
	}
	return out
}

// waitFor waits until n events of generation gen have arrived.
func (rec *receiver) waitFor(n int, gen string) {
	rec.t.Helper()
	testenv.WaitFor(rec.t, 30*time.Second, "the release's events at the receiver", func() bool { return len(rec.of(gen)) >= n })
}

// expect fails the test unless got are exactly the events of types, of
// service svc, in sequence, and every delivery so far was signed JSON.
func (rec *receiver) expect(got []event, svc string, types ...string) {
	rec.t.Helper()
	rec.mu.Lock()
	bad := append([]string(nil), rec.bad...)
	rec.mu.Unlock()
	if len(bad) > 0 {
		rec.t.Errorf("bad deliveries: %v", bad)
	}
	if len(got) != len(types) {
		rec.t.Fatalf("events %+v, want %v", got, types)
	}
	for i, ev := range got {
		if ev.Type != types[i] || ev.Service != svc || i > 0 && ev.Seq <= got[i-1].Seq {
			rec.t.Errorf("event %d = %+v, want %s of %s, in sequence", i, ev, types[i], svc)
		}
	}
}
