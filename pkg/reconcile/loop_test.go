package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
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

// harness runs Loop passes over a fake world with a controlled clock.
type harness struct {
	t      *testing.T
	w      *fakeWorld
	svc    *spec.Service
	loop   *Loop
	now    time.Time
	status string
}

func newHarness(t *testing.T, w *fakeWorld, s *spec.Service) *harness {
	h := &harness{t: t, w: w, svc: s, now: plantest.T0, status: filepath.Join(t.TempDir(), "status.json")}
	w.clock = func() time.Time { return h.now } // read by steps, which end before the next pass
	h.restart()
	return h
}

// restart builds a new Loop from the status file, as a new process would.
func (h *harness) restart() {
	st, err := state.LoadStatus(h.status, "desired.yaml")
	if err != nil {
		h.t.Fatalf("LoadStatus: %v", err)
	}
	h.loop = &Loop{Deps: h.w.deps(), Log: logr.Discard(), Status: st,
		Load: func() ([]spec.Service, error) { return []spec.Service{*h.svc}, nil },
		Now:  func() time.Time { return h.now }}
}

// afterPass is the clock after a pass that did not converge, res: 10ms
// later, or when the pass took no step, when it asked to look again.
func afterPass(now time.Time, res PassResult) time.Time {
	if !res.Immediate && res.RequeueAfter > 10*time.Millisecond {
		return now.Add(res.RequeueAfter)
	}
	return now.Add(10 * time.Millisecond)
}

// converge runs passes until converged and returns the mutating calls made.
func (h *harness) converge() []string {
	h.t.Helper()
	h.w.calls = nil
	for i := 0; i < 50; i++ {
		res := h.loop.Pass(context.Background())
		if res.Converged {
			return h.w.mutating()
		}
		if len(res.Stalled) > 0 || len(res.Errors) > 0 {
			h.t.Fatalf("pass %d: stalled %v errors %v; calls %v", i, res.Stalled, res.Errors, h.w.mutating())
		}
		h.now = afterPass(h.now, res)
	}
	h.t.Fatalf("not converged after 50 passes; calls %v", h.w.mutating())
	return nil
}

func (h *harness) serviceStatus() *state.ServiceStatus {
	st, err := state.ReadStatus(h.status)
	if err != nil {
		h.t.Fatalf("ReadStatus: %v", err)
	}
	return st.Services["web"]
}

func withBuild(s *spec.Service) *spec.Service {
	s.Build = &spec.Build{Context: "/src/demo", Dockerfile: "Dockerfile"}
	return s
}

func TestLoopFirstStartReleaseRollbackDone(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	const m = "/etc/haproxy/hosts.map"
	steps := []struct {
		name   string
		active spec.Color
		image  string
		want   []string
	}{
		// Each start gives the container a new address on the bridge
		// (172.17.0.N): HAProxy is pointed there before the switch, and
		// back at the published port (127.0.0.1:hostPort) once it stops,
		// where it is in maintenance (not checked) until started again.
		{"first start", spec.Blue, "demo:v1", []string{
			"build demo:v1", "create bg-web-blue", "start bg-web-blue", "set server web_blue/app addr 172.17.0.1:8080",
			"set map " + m + " web web_blue", "write " + m + " web web_blue",
			"set server web_green/app state maint", // no container: not checked
			"update bg-web-blue restart unless-stopped"}},
		{"release", spec.Green, "demo:v2", []string{
			"build demo:v2", "create bg-web-green", "start bg-web-green",
			// Out of maintenance DOWN, not UP before any check; UP once probed.
			"set server web_green/app state ready, health down", "set server web_green/app addr 172.17.0.2:8080", "set server web_green/app health up",
			"set map " + m + " web web_green", "write " + m + " web web_green",
			"set server web_blue/app state drain", "update bg-web-blue restart no", "stop bg-web-blue",
			"set server web_blue/app addr 127.0.0.1:18081", "set server web_blue/app state maint",
			// Its restart policy once it has run for RestartPolicyDelay,
			// out of the second around the switch.
			"update bg-web-green restart unless-stopped"}},
		// blue was stopped by the controller and exited 2, as a Go app
		// without a signal handler does: the controller knows it stopped
		// it, so it starts it again rather than calling it a crash.
		{"rollback", spec.Blue, "demo:v1", []string{
			"start bg-web-blue", "set server web_blue/app state ready, health down", "set server web_blue/app addr 172.17.0.3:8080", "set server web_blue/app health up",
			"set map " + m + " web web_blue", "write " + m + " web web_blue",
			"set server web_green/app state drain", "update bg-web-green restart no", "stop bg-web-green",
			"set server web_green/app addr 127.0.0.1:18082", "set server web_green/app state maint", "update bg-web-blue restart unless-stopped"}},
		{"done", spec.Blue, "demo:v2", []string{
			// blue serves v1 and must change image: through green first.
			"start bg-web-green", "set server web_green/app state ready, health down", "set server web_green/app addr 172.17.0.4:8080", "set server web_green/app health up",
			"set map " + m + " web web_green", "write " + m + " web web_green",
			"set server web_blue/app state drain", "stop bg-web-blue", "remove bg-web-blue",
			"create bg-web-blue", "start bg-web-blue", "set server web_blue/app state ready", "set server web_blue/app addr 172.17.0.5:8080",
			"set map " + m + " web web_blue", "write " + m + " web web_blue",
			// green served for less than RestartPolicyDelay: it never got
			// the restart policy, so it has none to lose.
			"set server web_green/app state drain", "stop bg-web-green",
			"set server web_green/app addr 127.0.0.1:18082", "set server web_green/app state maint", "update bg-web-blue restart unless-stopped"}},
	}
	for _, st := range steps {
		h.svc = withBuild(plantest.Service(t, st.active, st.image))
		got := h.converge()
		if !reflect.DeepEqual(got, st.want) {
			t.Fatalf("%s: calls\n  %s\nwant\n  %s", st.name, strings.Join(got, "\n  "), strings.Join(st.want, "\n  "))
		}
		s := h.serviceStatus()
		if s.Phase != planner.Converged || s.ObservedGeneration != h.svc.Generation() || s.ServedColor != st.active {
			t.Fatalf("%s: status %s generation %s served %s", st.name, s.Phase, s.ObservedGeneration, s.ServedColor)
		}
	}
}

// A new color that passed its two probes while HAProxy's checks lag is
// marked UP, and the map switches in that same pass once HAProxy, asked
// again, says UP; if HAProxy does not say UP, the switch waits.
// TestLoopSwitchesRightAfterMarkUp: the general rule (after a step, the
// service is observed again at once) carries the fast path: the pass that
// follows a MarkServerUp switches when HAProxy says UP; when HAProxy still
// says DOWN it waits, and does not set the same run UP again.
func TestLoopSwitchesRightAfterMarkUp(t *testing.T) {
	const m = "/etc/haproxy/hosts.map"
	const up = "set server web_blue/app health up"
	for _, tc := range []struct {
		name            string
		healthUpIgnored bool
		want            []string
	}{
		{"HAProxy says UP", false, []string{"set map " + m + " web web_blue", "write " + m + " web web_blue"}},
		{"HAProxy still says DOWN", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFakeWorld()
			w.slowChecks, w.healthUpIgnored = true, tc.healthUpIgnored
			h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
			var after []string
			marked := false
			for i := 0; i < 10 && !marked; i++ {
				w.calls = nil
				h.loop.Pass(context.Background())
				if marked = w.count(up) == 1; marked {
					w.calls = nil
					h.loop.Pass(context.Background()) // the next pass, right after the step
					after = w.mutating()
				}
			}
			if !marked {
				t.Fatalf("no MarkServerUp in 10 passes")
			}
			if !reflect.DeepEqual(after, tc.want) {
				t.Fatalf("the pass after MarkServerUp made\n  %s\nwant\n  %s", strings.Join(after, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestLoopSteadyStateDoesNothing(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	before, _ := os.ReadFile(h.status)
	w.calls = nil
	res := h.loop.Pass(context.Background())
	if !res.Converged || res.Immediate || res.RequeueAfter != 0 {
		t.Fatalf("steady pass: %+v", res)
	}
	if got := w.mutating(); len(got) != 0 {
		t.Fatalf("steady state made changes: %v", got)
	}
	after, _ := os.ReadFile(h.status)
	if string(before) != string(after) {
		t.Fatalf("status rewritten in steady state")
	}
}

func TestLoopRefusedSpecTouchesNothing(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	w.calls = nil
	h.loop.Load = func() ([]spec.Service, error) {
		return nil, errors.New("desired.yaml: spec.activeColor: \"purple\" is not a color")
	}
	res := h.loop.Pass(context.Background())
	if !errors.Is(res.SpecErr, ErrSpec) {
		t.Fatalf("SpecErr = %v", res.SpecErr)
	}
	if len(w.calls) != 0 {
		t.Fatalf("a refused spec made calls: %v", w.calls)
	}
	st, _ := state.ReadStatus(h.status)
	if !strings.Contains(st.SpecError, "purple") || st.Services["web"].Phase != planner.Converged {
		t.Fatalf("status: specError %q, web %s", st.SpecError, st.Services["web"].Phase)
	}
	if err := h.loop.RunOnce(context.Background()); !errors.Is(err, ErrSpec) {
		t.Fatalf("RunOnce with a refused spec: %v", err)
	}
}

func TestLoopStepErrorIsReportedAndRetried(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2"))
	w.failOn["start bg-web-green"] = errors.New("start container bg-web-green: port 127.0.0.1:18082 is already in use")
	var res PassResult
	for i := 0; i < 10 && len(res.Errors) == 0; i++ {
		res = h.loop.Pass(context.Background())
	}
	if len(res.Errors) == 0 || res.RequeueAfter != BackoffFirst {
		t.Fatalf("pass: %+v", res)
	}
	res = h.loop.Pass(context.Background())
	if res.RequeueAfter != 2*BackoffFirst {
		t.Fatalf("second failure: requeue %s, want %s", res.RequeueAfter, 2*BackoffFirst)
	}
	s := h.serviceStatus()
	if s.Phase != planner.Degraded || !strings.Contains(s.LastError, "already in use") || conditionReason(s) != "StepFailed" {
		t.Fatalf("status: %s %q %s", s.Phase, s.LastError, conditionReason(s))
	}
	if rt := w.runtimeMap["web"]; rt != "web_blue" {
		t.Fatalf("map moved to %s after a failed start", rt)
	}
	delete(w.failOn, "start bg-web-green")
	h.converge()
	if s := h.serviceStatus(); s.LastError != "" || s.Phase != planner.Converged {
		t.Fatalf("after recovery: %s %q", s.Phase, s.LastError)
	}
}

// hungStart is an engine whose container start never returns by itself.
type hungStart struct{ fakeEngine }

func (h hungStart) Start(ctx context.Context, name string) error {
	<-ctx.Done()
	return fmt.Errorf("start container %s: %w", name, ctx.Err())
}

// A step that hangs is cut at StepTimeout, reported, and retried with
// backoff; the map stays where it was.
func TestLoopStepTimeout(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2"))
	h.loop.Deps.Containers = hungStart{fakeEngine{w}}
	h.loop.StepTimeout = 50 * time.Millisecond // a bound to cut the step, not a timing goal
	var res PassResult
	for i := 0; i < 10 && len(res.Errors) == 0; i++ {
		res = h.loop.Pass(context.Background())
	}
	if len(res.Errors) == 0 || res.RequeueAfter != BackoffFirst {
		t.Fatalf("pass: %+v", res)
	}
	s := h.serviceStatus()
	want := "StartContainer bg-web-green did not finish within the step timeout 50ms"
	if s.Phase != planner.Degraded || !strings.Contains(s.LastError, want) || !strings.Contains(s.LastError, "deadline exceeded") {
		t.Fatalf("status: %s %q, want Degraded and %q", s.Phase, s.LastError, want)
	}
	if rt := w.runtimeMap["web"]; rt != "web_blue" {
		t.Fatalf("map moved to %s after a hung start", rt)
	}
}

func TestLoopObserveErrorTearsNothingDown(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2"))
	w.failOn["show stat"] = errors.New("show stat on unix:///run/haproxy/admin.sock: dial unix: connection refused")
	w.calls = nil
	res := h.loop.Pass(context.Background())
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "connection refused") {
		t.Fatalf("errors: %v", res.Errors)
	}
	if got := w.mutating(); len(got) != 0 {
		t.Fatalf("changes made without a full observation: %v", got)
	}
}

func TestLoopCrashedContainerStallsWithLogs(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2"))
	w.failOn["start bg-web-green"] = nil
	for i := 0; i < 10; i++ {
		h.loop.Pass(context.Background())
		if c := w.containers["bg-web-green"]; c != nil && c.Running {
			c.Running, c.State, c.ExitCode = false, "exited", 1 // dies at start
			w.servers["web_green/app"].Status = "DOWN"
			break
		}
	}
	err := h.loop.RunOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ContainerExited") {
		t.Fatalf("RunOnce: %v", err)
	}
	s := h.serviceStatus()
	if s.Phase != planner.Failed || !strings.Contains(s.Logs, "boom") {
		t.Fatalf("status: %s logs %q", s.Phase, s.Logs)
	}
	if w.runtimeMap["web"] != "web_blue" {
		t.Fatalf("map moved to a crashed color")
	}
}

// TestDrainTimerSurvivesRestart: the drain timeout counts from when the
// drain was first seen, persisted in status, not from the process start.
func TestDrainTimerSurvivesRestart(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2"))
	for i := 0; i < 20 && w.admin["web_blue/app"] != haproxy.StateDrain; i++ {
		h.loop.Pass(context.Background())
	}
	w.servers["web_blue/app"].Scur = 2 // a long request holds blue
	h.loop.Pass(context.Background())
	drainStart := h.now
	h.now = h.now.Add(20 * time.Second)
	h.restart() // the controller is killed and started again
	h.loop.Pass(context.Background())
	if !w.containers["bg-web-blue"].Running {
		t.Fatalf("blue stopped before the drain timeout")
	}
	h.now = drainStart.Add(h.svc.DrainTimeout.Duration + time.Second)
	h.restart()
	w.calls = nil
	h.loop.Pass(context.Background())
	h.loop.Pass(context.Background())
	// Blue served before: it loses the restart policy that kept it up, then stops.
	if got := w.mutating(); !reflect.DeepEqual(got, []string{"update bg-web-blue restart no", "stop bg-web-blue"}) {
		t.Fatalf("after the drain timeout: %v", got)
	}
}

// TestPassSharesReads: the services behind one HAProxy share its reads in a
// pass, so the cost of a pass grows with the services only on the Docker side.
func TestPassSharesReads(t *testing.T) {
	w := newFakeWorld()
	web := withBuild(plantest.Service(t, spec.Blue, "demo:v1"))
	api := *web
	api.Name = "api"
	api.HAProxy.MapKey = "api"
	loop := &Loop{Deps: w.deps(), Log: logr.Discard(), Now: func() time.Time { return plantest.T0 },
		Load: func() ([]spec.Service, error) { return []spec.Service{*web, api}, nil }}
	var err error
	if loop.Status, err = state.LoadStatus(filepath.Join(t.TempDir(), "status.json"), "d.yaml"); err != nil {
		t.Fatal(err)
	}
	pass := func() map[string]int {
		w.calls = nil
		loop.Pass(context.Background())
		count := map[string]int{}
		for _, c := range w.calls {
			count[strings.Join(strings.Fields(c)[:2], " ")]++
		}
		return count
	}
	// The image is missing: both services see it missing (one lookup if
	// their observations overlapped, else two: a miss is not remembered)
	// and plan to build it; each build step looks again first, so only the
	// first builds.
	count := pass()
	for _, call := range []string{"show stat", "show servers", "show map", "build demo:v1"} {
		if count[call] != 1 {
			t.Errorf("%q made %d times in one pass over two services, want 1 (calls %v)", call, count[call], w.calls)
		}
	}
	if n := count["image demo:v1"]; n != 3 && n != 4 {
		t.Errorf("image demo:v1 looked up %d times in the pass that built it, want 1 or 2 by the observations and 2 by the steps (calls %v)", n, w.calls)
	}
	// Found: one lookup serves both services.
	if count := pass(); count["image demo:v1"] != 1 {
		t.Errorf("image demo:v1 looked up %d times in one pass over two services, want 1 (calls %v)", count["image demo:v1"], w.calls)
	}
}

// TestNarrowPassReadsItsBackendsOnly: a pass of one service among several
// (a step ended, a gate, a nudge of its own) reads the stats and server
// states of its two backends only, not those of every backend.
func TestNarrowPassReadsItsBackendsOnly(t *testing.T) {
	w, web, api := twoServices(t)
	loop := newTestLoop(t, w.deps(), api, web)
	loop.Pass(context.Background()) // the full pass
	w.mu.Lock()
	w.calls = nil
	w.mu.Unlock()
	loop.init()
	loop.pass(context.Background(), func(name string) bool { return name == "api" })
	for len(loop.inFlight) > 0 {
		var res PassResult
		loop.finish(<-loop.done, &res)
	}
	var reads []string
	for _, c := range w.calls {
		if strings.HasPrefix(c, "show stat") || strings.HasPrefix(c, "show servers") {
			reads = append(reads, c)
		}
	}
	sort.Strings(reads)
	want := []string{"show servers state api_blue", "show servers state api_green", "show stat api_blue 6 -1", "show stat api_green 6 -1"}
	if !slices.Equal(reads, want) {
		t.Fatalf("a pass of api alone read %q, want %q", reads, want)
	}
}

// TestRunLooksAgainOnlyAtWaitingServices: while one service waits for its new
// color to become ready, the loop polls that service alone; the others are
// looked at on file events and resyncs.
func TestRunLooksAgainOnlyAtWaitingServices(t *testing.T) {
	w := newFakeWorld()
	web := plantest.Service(t, spec.Green, "demo:v2")
	api := w.apiService(t, spec.Blue, "demo:v1")
	w.images["demo:v1"], w.images["demo:v2"] = plantest.ImageV1, plantest.ImageV2
	ctx := context.Background()
	w.run(t, web, spec.Blue, plantest.ImageV1)
	w.run(t, web, spec.Green, plantest.ImageV2)
	w.run(t, api, spec.Blue, plantest.ImageV1)
	w.servers["api_green/app"] = &haproxy.StatRow{Proxy: "api_green", Server: "app", Status: "DOWN", Addr: planner.FallbackAddr(api.Replica(spec.Green, 0))}
	w.admin["api_green/app"] = haproxy.StateMaint // as the controller leaves a color with no container
	w.servers["web_green/app"].Status = "DOWN"    // green never becomes UP: web waits
	w.healthUpIgnored = true
	w.runtimeMap["web"], w.fileMap["web"] = "web_blue", "web_blue"
	w.runtimeMap["api"], w.fileMap["api"] = "api_blue", "api_blue"
	for _, name := range []string{"bg-web-blue", "bg-api-blue"} {
		w.containers[name].RestartPolicy = docker.RestartUnlessStopped
	}
	w.calls = nil

	inspects := func(name string) int { return w.count("inspect " + name) }
	loop := &Loop{Deps: w.deps(), Log: logr.Discard(), Now: time.Now,
		Load: func() ([]spec.Service, error) { return []spec.Service{*web, *api}, nil }}
	var err error
	if loop.Status, err = state.LoadStatus(filepath.Join(t.TempDir(), "status.json"), "d.yaml"); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { loop.Run(runCtx, nil, time.Hour); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for inspects("bg-web-green") < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := inspects("bg-web-green"); n < 20 {
		t.Fatalf("the waiting service was looked at %d times", n)
	}
	if n := inspects("bg-api-blue"); n != 1 {
		t.Fatalf("the converged service was looked at %d times while the other waited, want 1 (the first full pass)", n)
	}
}

// TestRefusedStepStalls: a step that retrying cannot mend (here a pull on
// a host with --no-pull) stalls its service as Failed, StepRefused,
// instead of a Degraded error retried forever; --once gives up on it.
func TestRefusedStepStalls(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, plantest.Service(t, spec.Blue, "demo:v1"))
	h.loop.Deps.NoPull = true
	err := h.loop.RunOnce(t.Context())
	if err == nil || !strings.Contains(err.Error(), "StepRefused") {
		t.Fatalf("RunOnce = %v, want it to stop on the refused pull", err)
	}
	st := h.serviceStatus()
	if st.Phase != planner.Failed || conditionReason(st) != "StepRefused" || !strings.Contains(st.LastError, "--no-pull") {
		t.Fatalf("status %s %s %q, want Failed StepRefused naming --no-pull", st.Phase, conditionReason(st), st.LastError)
	}
}

// TestLoopVerificationOpensWhenTheMapSwitched: the verification window of a
// release starts when the SwitchMap step is done (traffic moved), not at
// the pass that planned it: with the step taking 25 ms, status and the
// release record say the later time.
func TestLoopVerificationOpensWhenTheMapSwitched(t *testing.T) {
	w := newFakeWorld()
	h := newHarness(t, w, withBuild(plantest.Service(t, spec.Blue, "demo:v1")))
	h.converge()
	h.svc = withBuild(plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 30s}"))
	var planned, done time.Time
	h.loop.BeforeStep = func(st planner.Step) {
		if st.Action == planner.SwitchMap && st.Color == spec.Green {
			planned = h.now
			h.now = h.now.Add(25 * time.Millisecond) // the step takes this long
			done = h.now
		}
	}
	for i := 0; i < 30 && w.runtimeMap["web"] != "web_green"; i++ {
		h.loop.Pass(context.Background())
		h.now = h.now.Add(10 * time.Millisecond)
	}
	if done.IsZero() {
		t.Fatalf("never switched to green: %v", w.mutating())
	}
	s := h.serviceStatus()
	if v := s.Verification; v == nil || !v.SwitchedAt.Equal(done) {
		t.Fatalf("verification %+v: want it opened at %s, when the step was done (planned at %s)", v, done.Format(time.StampMilli), planned.Format(time.StampMilli))
	}
	if r := s.Release; r == nil || r.SwitchedAt == nil || !r.SwitchedAt.Equal(done) {
		t.Fatalf("release record %+v: want switchedAt %s", r, done.Format(time.StampMilli))
	}
}
