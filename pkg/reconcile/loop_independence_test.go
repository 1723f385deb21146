package reconcile

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// gatedBuild is an engine whose builds wait until release is closed, as a
// build of many minutes does.
type gatedBuild struct {
	fakeEngine
	started chan struct{} // closed when the first build begins
	once    *sync.Once
	release chan struct{}
}

func (g gatedBuild) Build(ctx context.Context, b docker.BuildSpec) (string, error) {
	g.once.Do(func() { close(g.started) })
	select {
	case <-g.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return g.fakeEngine.Build(ctx, b)
}

// twoServices is a fake world with web (blue serves v1, green runs v2 and
// is drained: a rollback target) and api (blue serves v1).
func twoServices(t *testing.T) (w *fakeWorld, web, api *spec.Service) {
	w = newFakeWorld()
	web = plantest.Service(t, spec.Blue, "demo:v1")
	api = w.apiService(t, spec.Blue, "demo:v1")
	api.Build = &spec.Build{Context: "/src/api", Dockerfile: "Dockerfile"}
	w.images["demo:v1"], w.images["demo:v2"] = plantest.ImageV1, plantest.ImageV2
	w.run(t, web, spec.Blue, plantest.ImageV1)
	w.run(t, web, spec.Green, plantest.ImageV2)
	w.run(t, api, spec.Blue, plantest.ImageV1)
	for _, name := range []string{"bg-web-blue", "bg-web-green", "bg-api-blue"} {
		w.containers[name].StartedAt = time.Now().Add(-time.Hour)
	}
	w.servers["api_green/app"] = &haproxy.StatRow{Proxy: "api_green", Server: "app", Status: "DOWN"}
	w.ports["bg-api-green"] = "api_green/app"
	w.runtimeMap["web"], w.fileMap["web"] = "web_green", "web_green"
	w.runtimeMap["api"], w.fileMap["api"] = "api_blue", "api_blue"
	w.admin["web_blue/app"] = haproxy.StateDrain
	w.containers["bg-web-green"].RestartPolicy = docker.RestartUnlessStopped
	w.containers["bg-api-blue"].RestartPolicy = docker.RestartUnlessStopped
	return w, web, api
}

func newTestLoop(t *testing.T, d *Deps, svcs ...*spec.Service) *Loop {
	loop := &Loop{Deps: d, Log: logr.Discard(), Now: time.Now,
		Load: func() ([]spec.Service, error) {
			out := make([]spec.Service, len(svcs))
			for i, s := range svcs {
				out[i] = *s
			}
			return out, nil
		}}
	var err error
	if loop.Status, err = state.LoadStatus(filepath.Join(t.TempDir(), "status.json"), "d.yaml"); err != nil {
		t.Fatal(err)
	}
	return loop
}

// TestServicesDoNotWaitOnEachOther: while one service's image build runs
// (for minutes, in real life), another service is rolled back: its switch
// does not wait for the build.
func TestServicesDoNotWaitOnEachOther(t *testing.T) {
	w, web, api := twoServices(t)
	api.Image = "demo:v9" // not on the host: api builds it
	api.ActiveColor = spec.Green
	web.ActiveColor = spec.Blue // web goes back to blue, still running v1: a rollback
	web.Image = "demo:v1"
	w.runtimeMap["web"], w.fileMap["web"] = "web_green", "web_green"
	d := w.deps()
	gate := gatedBuild{fakeEngine: fakeEngine{w}, started: make(chan struct{}), once: &sync.Once{}, release: make(chan struct{})}
	d.Containers = gate
	loop := newTestLoop(t, d, api, web) // api first in the file
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx, nil, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()

	select {
	case <-gate.started:
	case <-time.After(10 * time.Second):
		t.Fatal("api's build never started")
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.count("set map /etc/haproxy/hosts.map web web_blue") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("web was not rolled back while api's build ran; calls %v", w.mutating())
		}
		time.Sleep(time.Millisecond)
	}
	if n := w.count("build demo:v9"); n != 0 {
		t.Fatalf("api's build ended (%d) before web's rollback was checked", n)
	}
	close(gate.release)
	deadline = time.Now().Add(10 * time.Second)
	for w.count("set map /etc/haproxy/hosts.map api api_green") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("api did not release after its build; calls %v", w.mutating())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSwitchChecksTheColorAfresh is invariant 9: two services in one file;
// the first one's step is slow (an image build), and the second one's new
// color, ready when observed, dies before its switch is taken: the map is
// never switched to it.
func TestSwitchChecksTheColorAfresh(t *testing.T) {
	w, web, api := twoServices(t)
	api.Image, api.ActiveColor = "demo:v9", spec.Green // api builds
	web.ActiveColor = spec.Green
	web.Image = "demo:v2"
	w.admin["web_blue/app"] = ""
	w.runtimeMap["web"], w.fileMap["web"] = "web_blue", "web_blue"
	w.containers["bg-web-green"].RestartPolicy = docker.RestartNo
	w.containers["bg-web-blue"].RestartPolicy = docker.RestartUnlessStopped
	d := w.deps()
	gate := gatedBuild{fakeEngine: fakeEngine{w}, started: make(chan struct{}), once: &sync.Once{}, release: make(chan struct{})}
	d.Containers = gate
	loop := newTestLoop(t, d, api, web)
	loop.BeforeStep = func(st planner.Step) {
		if st.Action == planner.SwitchMap && st.Service == "web" {
			<-gate.started // api's build is under way
			w.big.Lock()
			w.die("bg-web-green", 2) // dies after it was observed ready
			w.big.Unlock()
			close(gate.release)
		}
	}
	res := loop.Pass(context.Background())
	if len(res.Errors) != 1 || w.count("set map /etc/haproxy/hosts.map web web_green") != 0 {
		t.Fatalf("errors %v; calls %v", res.Errors, w.mutating())
	}
	if w.runtimeMap["web"] != "web_blue" {
		t.Fatalf("the map points at %s, a dead color", w.runtimeMap["web"])
	}
	st := loop.Status.Snapshot().Services["web"]
	if st.Phase != planner.Degraded || !strings.Contains(st.LastError, "no longer ready") {
		t.Fatalf("status %s %q", st.Phase, st.LastError)
	}
}

// TestLoopRollsBackAFailedRelease: green/v2 answers 5xx after the switch;
// the controller switches back to blue, which it kept warm (never
// stopped), stops green, records the release as RolledBack in status and
// history, survives a restart of its own in the middle, and does not try
// the same spec again; a changed spec is a new attempt.
func TestLoopRollsBackAFailedRelease(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	history := filepath.Join(t.TempDir(), "history.jsonl")
	withHistory := func() { h.loop.History = state.NewHistory(history) }
	withHistory()
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 30s}"))
	for i := 0; i < 30 && w.runtimeMap["web"] != "web_green"; i++ {
		h.loop.Pass(context.Background())
		h.now = h.now.Add(10 * time.Millisecond)
	}
	if w.runtimeMap["web"] != "web_green" {
		t.Fatalf("never switched to green: %v", w.mutating())
	}
	for i := 0; i < 5; i++ {
		h.loop.Pass(context.Background())
	}
	if s := h.serviceStatus(); conditionReason(s) != "Verifying" || !w.containers["bg-web-blue"].Running {
		t.Fatalf("during the window: %s %s, blue running %v", s.Phase, conditionReason(s), w.containers["bg-web-blue"].Running)
	}
	h.restart() // killed in the middle of the window
	withHistory()
	w.counters["web_green"] = planner.Counters{Responses: 200, Status5xx: 120}
	w.calls = nil
	for i := 0; i < 30 && h.serviceStatus().Phase != planner.Failed; i++ {
		h.loop.Pass(context.Background())
		h.now = h.now.Add(10 * time.Millisecond)
	}
	s := h.serviceStatus()
	if s.Phase != planner.Failed || conditionReason(s) != "RolledBack" || !strings.Contains(readyMessageOf(s), "120 of 200 requests were 5xx") {
		t.Fatalf("status %s %s: %s", s.Phase, conditionReason(s), readyMessageOf(s))
	}
	if w.runtimeMap["web"] != "web_blue" || w.fileMap["web"] != "web_blue" || w.containers["bg-web-green"].Running {
		t.Fatalf("map %s / %s, green running %v; calls %v", w.runtimeMap["web"], w.fileMap["web"], w.containers["bg-web-green"].Running, w.mutating())
	}
	if w.count("start bg-web-blue") != 0 {
		t.Fatalf("blue was started again: it should have been kept warm; calls %v", w.mutating())
	}
	w.calls = nil
	for i := 0; i < 5; i++ {
		if res := h.loop.Pass(context.Background()); len(res.Stalled) != 1 {
			t.Fatalf("pass %d: stalled %v, want the rollback", i, res.Stalled)
		}
	}
	if got := w.mutating(); len(got) != 0 {
		t.Fatalf("the same spec was tried again: %v", got)
	}
	rs, err := state.ReadHistory(history, "web")
	if err != nil || len(rs) != 1 || rs[0].Outcome != planner.OutcomeRolledBack || rs[0].From != spec.Blue || rs[0].To != spec.Green ||
		!strings.Contains(rs[0].Reason, "5xx") {
		t.Fatalf("history %+v (%v)", rs, err)
	}
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 30s}", "  retry: \"1\""))
	w.counters["web_green"] = planner.Counters{}
	for i := 0; i < 30 && w.runtimeMap["web"] != "web_green"; i++ {
		h.loop.Pass(context.Background())
		h.now = h.now.Add(10 * time.Millisecond)
	}
	if w.runtimeMap["web"] != "web_green" {
		t.Fatalf("a changed retry field did not start a new attempt: %v", w.mutating())
	}
}

func readyMessageOf(s *state.ServiceStatus) string {
	for _, c := range s.Conditions {
		if c.Type == "Ready" {
			return c.Message
		}
	}
	return ""
}
