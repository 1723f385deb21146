package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// The engine restart tests (issue 7, acceptance point 2) restart a Docker
// engine while a service serves, the way `systemctl restart docker` or a
// host reboot does (SIGTERM to dockerd, which stops its containers; then a
// new dockerd on the same data), and measure how long until the service
// serves again: with the controller watching, and with no controller
// running at all (cron users of `run --once`), where only the engine's
// restart policy, set by the controller on the served color, brings it back.
//
// The engine is a private dockerd (testenv.StartPrivateEngine) with its own
// socket, config file, data root and network namespace, so the machine's
// engine is not disturbed. It runs with --bridge none: the service uses
// network: host, and HAProxy, the controller (its probes dial
// 127.0.0.1:hostPort) and the test's requests all run in the engine's
// namespace.

const (
	// restartServeBound bounds the wait, from the engine's start, until the
	// frontend answers again.
	restartServeBound = 30 * time.Second
	// restartEventBound bounds how long the controller takes to start a
	// served color a client stopped: well under its resync, so that only
	// the engine's event stream can make it.
	restartEventBound = 5 * time.Second
	// restartConvergeBound bounds a convergence (the images are loaded,
	// nothing is built).
	restartConvergeBound = 2 * time.Minute
)

// restartEnv is one service in a private engine's network namespace: its
// HAProxy there, its desired file naming images loaded into the engine (no
// build section: the controller never builds), and the controller run there
// against the engine's socket.
type restartEnv struct {
	t                          *testing.T
	eng                        *testenv.Engine
	dir                        string
	svc, repo                  string
	front, bluePort, greenPort int
	ha                         *testenv.HAProxy
	sock, mapPath              string
	desired, stateDir, bin     string
	// client asks the frontend on a new connection per request, from
	// inside the engine's namespace.
	client *http.Client
	// beforeStart, when set, runs in restartEngine once the engine has
	// stopped, right before it is started again.
	beforeStart func()
}

// newRestartEnv starts a private engine, loads the demo app as repo:version
// for each version into it, and starts HAProxy in its namespace with blue
// in the map.
func newRestartEnv(t *testing.T, versions ...string) *restartEnv {
	t.Helper()
	testenv.RequireBinary(t, "haproxy", testenv.HAProxyHint)
	testenv.RequireDocker(t)
	id := randomID()
	e := &restartEnv{
		t:    t,
		dir:  t.TempDir(),
		svc:  "er" + id,
		repo: "bge2e-er-" + id,
		// The namespace has its own ports; FreePort keeps them unique
		// across the tests' namespaces anyway.
		front:     testenv.FreePort(t),
		bluePort:  testenv.FreePort(t),
		greenPort: testenv.FreePort(t),
		bin:       testenv.GoBuildTags(t, "./cmd/controller", "crashpoints"), // crash tests need its crash points
	}
	e.sock = filepath.Join(e.dir, "admin.sock")
	e.mapPath = filepath.Join(e.dir, "hosts.map")
	e.desired = filepath.Join(e.dir, "desired.yaml")
	e.stateDir = filepath.Join(e.dir, "state")
	for _, v := range versions {
		testenv.BuildDemoImage(t, e.repo+":"+v, v, "")
	}
	e.eng = testenv.StartPrivateEngine(t)
	for _, v := range versions {
		e.eng.LoadImage(t, e.repo+":"+v)
	}
	e.client = &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{DialContext: e.eng.DialContext, DisableKeepAlives: true},
	}
	writeFile(t, e.mapPath, e.svc+" "+e.svc+"_blue\n")
	cfg := strings.NewReplacer("{{DIR}}", e.dir, "{{FRONT}}", fmt.Sprint(e.front), "{{SVC}}", e.svc,
		"{{BLUESERVERS}}", cfgServers(1, e.bluePort), "{{GREENSERVERS}}", cfgServers(1, e.greenPort), "{{RETRY}}", "", "{{CANARY}}", "").Replace(haproxyCfg)
	e.ha = e.eng.StartHAProxy(t, e.dir, cfg, e.sock)
	return e
}

// save writes the desired file (new file renamed over the old): the color
// that must serve and the version (image tag) it runs, on the namespace's
// host network, listening on 127.0.0.1:<the color's hostPort>.
func (e *restartEnv) save(active spec.Color, version string) {
	e.t.Helper()
	text := spectest.Desired{Name: e.svc, Active: string(active), Image: e.repo + ":" + version,
		BluePort: e.bluePort, GreenPort: e.greenPort, Runtime: "unix://" + e.sock, MapFile: e.mapPath,
		Extra: []string{"  network: host", "  env: {LISTEN_ADDR: 127.0.0.1}", "  readyTimeout: 30s", "  drainTimeout: 10s", "  stopTimeout: 10s"}}.YAML()
	tmp := e.desired + ".tmp"
	writeFile(e.t, tmp, text)
	if err := os.Rename(tmp, e.desired); err != nil {
		e.t.Fatal(err)
	}
}

// command is the controller binary with args, run in the engine's network
// namespace against the engine's socket.
func (e *restartEnv) command(args ...string) *exec.Cmd {
	cmd := e.eng.Command(e.bin, append(args, "-f", e.desired, "--state-dir", e.stateDir)...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+e.eng.Host(), "BLUEGREEN_POLICY="+writePolicy(e.t, e.dir))
	return cmd
}

// start runs the controller in watch mode; cleanup stops it by PID and,
// when the test failed, logs its output and status.json.
func (e *restartEnv) start(args ...string) *controller {
	e.t.Helper()
	return startController(e.t, e.command(append([]string{"run"}, args...)...), func() string {
		return "status.json:\n" + e.statusFile()
	})
}

// once runs "run --once" and returns its exit code and output.
func (e *restartEnv) once() (int, string) {
	e.t.Helper()
	return runOnce(e.t, e.command("run", "--once", "--timeout", "2m"))
}

func (e *restartEnv) statusFile() string {
	b, err := os.ReadFile(filepath.Join(e.stateDir, "status.json"))
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

func (e *restartEnv) serviceStatus() *state.ServiceStatus {
	st, _ := state.ReadStatus(filepath.Join(e.stateDir, "status.json"))
	if s := st.Services[e.svc]; s != nil {
		return s
	}
	return &state.ServiceStatus{}
}

func (e *restartEnv) generation() string {
	e.t.Helper()
	svcs, err := specfile.Load(e.desired)
	if err != nil {
		e.t.Fatalf("load %s: %v", e.desired, err)
	}
	return svcs[0].Generation()
}

// converged tells whether status says Converged on the current desired file
// with the map on color served.
func (e *restartEnv) converged(gen string, served spec.Color) bool {
	s := e.serviceStatus()
	return s.Phase == planner.Converged && s.ObservedGeneration == gen && s.ServedColor == served
}

// waitFor polls cond every 10ms; after timeout it fails the test with msg,
// status.json and the end of dockerd's log.
func (e *restartEnv) waitFor(timeout time.Duration, msg string, cond func() bool) {
	e.t.Helper()
	// The controller's log follows, from start's cleanup.
	testenv.WaitUntil(e.t, timeout, msg, cond, func() string {
		return fmt.Sprintf("status.json:\n%s\ndockerd log tail:\n%s", e.statusFile(), e.eng.LogTail(20))
	})
}

// get asks the frontend once, on a new connection, and returns
// "<status code> <body>".
func (e *restartEnv) get() (string, error) {
	resp, err := e.client.Get(fmt.Sprintf("http://127.0.0.1:%d/", e.front))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))), err
}

func (e *restartEnv) assertServes(want string) {
	e.t.Helper()
	if got, err := e.get(); err != nil || got != "200 "+want {
		e.t.Fatalf("the frontend answers %q (%v), want \"200 %s\"", got, err, want)
	}
}

// restartSlot describes a color's container in the private engine: state,
// ID, StartedAt and restart policy; State "absent" when there is none.
type restartSlot struct {
	State, ID, StartedAt, Policy string
}

func (e *restartEnv) slot(c spec.Color) restartSlot {
	e.t.Helper()
	out, err := e.eng.DockerErr(30*time.Second, "inspect", "-f",
		"{{.State.Status}} {{.Id}} {{.State.StartedAt}} {{.HostConfig.RestartPolicy.Name}}", "bg-"+e.svc+"-"+string(c))
	if err != nil {
		if strings.Contains(err.Error(), "No such") {
			return restartSlot{State: "absent"}
		}
		e.t.Fatalf("inspect %s's container: %v", c, err)
	}
	f := strings.Fields(out)
	if len(f) != 4 {
		e.t.Fatalf("inspect %s's container: %q", c, out)
	}
	return restartSlot{State: f[0], ID: f[1], StartedAt: f[2], Policy: f[3]}
}

// policy is the engine's restart policy of a color's container.
func (e *restartEnv) policy(c spec.Color) string {
	out, err := e.eng.DockerErr(30*time.Second, "inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "bg-"+e.svc+"-"+string(c))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return out
}

// maps returns the map value at runtime (asked on HAProxy's runtime socket,
// a file reachable from here) and in the map file.
func (e *restartEnv) maps() (runtime, file string) {
	e.t.Helper()
	c, err := haproxy.New("unix://"+e.sock, 2*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	v, _, err := c.GetMap(context.Background(), e.mapPath, e.svc)
	if err != nil {
		e.t.Fatalf("get runtime map: %v", err)
	}
	f, _, err := haproxy.LookupMapFile(e.mapPath, e.svc)
	if err != nil {
		e.t.Fatalf("read map file: %v", err)
	}
	return v, f
}

func (e *restartEnv) assertMapNames(c spec.Color) {
	e.t.Helper()
	want := e.svc + "_" + string(c)
	if rt, file := e.maps(); rt != want || file != want {
		e.t.Fatalf("the map says %q at runtime and %q in the map file, want %q", rt, file, want)
	}
}

// restartTiming is what one engine restart measured.
type restartTiming struct {
	stopCalled  time.Time // Stop called: SIGTERM to dockerd
	stopped     time.Time // Stop returned: dockerd and its containerd exited
	startCalled time.Time // Start called, dockerd stopped
	answered    time.Time // Start returned: the engine answers its API
	served      time.Time // the frontend first answered 200 want again
}

func (r restartTiming) String() string {
	afterAnswer := r.served.Sub(r.answered)
	s := fmt.Sprintf("served again %.2fs after the engine answered", afterAnswer.Seconds())
	if afterAnswer < 0 {
		s = fmt.Sprintf("served again %.2fs before the engine answered its API", -afterAnswer.Seconds())
	}
	return s + fmt.Sprintf(" (%.2fs after dockerd was started, %.2fs after the engine was told to stop; stop took %.2fs, start until the API answered %.2fs)",
		r.served.Sub(r.startCalled).Seconds(), r.served.Sub(r.stopCalled).Seconds(),
		r.stopped.Sub(r.stopCalled).Seconds(), r.answered.Sub(r.startCalled).Seconds())
}

// restartEngine stops the engine (SIGTERM: it stops its containers, as at
// a host shutdown), checks that the frontend no longer answers want, starts
// the engine again and measures until the frontend answers 200 want again
// (asked every 10ms on a new connection from the moment dockerd is
// started). The wait is bounded by restartServeBound from the moment the
// engine answers.
func (e *restartEnv) restartEngine(want string) restartTiming {
	e.t.Helper()
	var r restartTiming
	r.stopCalled = time.Now()
	e.eng.Stop(e.t)
	r.stopped = time.Now()
	// A short deadline: HAProxy may still hold the request for its retries.
	quick := &http.Client{Timeout: 300 * time.Millisecond, Transport: e.client.Transport}
	if resp, err := quick.Get(fmt.Sprintf("http://127.0.0.1:%d/", e.front)); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))); got == "200 "+want {
			e.t.Fatalf("the frontend still answers %q with the engine stopped: the restart would prove nothing", got)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan time.Time, 1)
	go func() {
		for ctx.Err() == nil {
			if got, err := e.get(); err == nil && got == "200 "+want {
				served <- time.Now()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	if e.beforeStart != nil {
		e.beforeStart()
	}
	r.startCalled = time.Now()
	e.eng.Start(e.t)
	r.answered = time.Now()
	select {
	case r.served = <-served:
	case <-time.After(restartServeBound):
		cancel()
		got, err := e.get()
		e.t.Fatalf("the frontend does not answer \"200 %s\" %s after the engine answered again (last: %q, %v); blue: %+v, green: %+v\nstatus.json:\n%s\ndockerd log tail:\n%s",
			want, restartServeBound, got, err, e.slot(spec.Blue), e.slot(spec.Green), e.statusFile(), e.eng.LogTail(30))
	}
	return r
}

// TestEngineRestartWithControllerRunning: blue v1 serves, converged by the
// controller in watch mode, which gave blue the restart policy
// unless-stopped. The engine restarts, several times under load
// (restartsUnderLoad): each time blue serves again, the controller is
// still running and reports Converged again, status said Degraded with
// blue unknown while the engine was away, the controller started nothing
// while it stopped, and its first pass came within 200ms of the engine's
// first answer.
func TestEngineRestartWithControllerRunning(t *testing.T) {
	e := newRestartEnv(t, "v1")
	e.save(spec.Blue, "v1")
	ctl := e.start("--resync", "1m")
	gen := e.generation()
	e.waitFor(restartConvergeBound, "Converged on blue v1", func() bool { return e.converged(gen, spec.Blue) })
	if p := e.policy(spec.Blue); p != "unless-stopped" {
		t.Fatalf("blue serves and status says Converged, but its restart policy is %q, want unless-stopped", p)
	}
	e.assertServes("blue v1")
	e.assertMapNames(spec.Blue)
	before := e.slot(spec.Blue)
	if g := e.slot(spec.Green); g.State != "absent" {
		t.Fatalf("green's container exists before the restart: %+v", g)
	}

	logBefore := len(ctl.output())
	e.restartsUnderLoad(ctl, gen)
	select {
	case <-ctl.done:
		t.Fatalf("the controller exited (%v)", ctl.cmd.ProcessState)
	default:
	}

	e.assertServes("blue v1")
	e.assertMapNames(spec.Blue)
	after := e.slot(spec.Blue)
	if after.State != "running" || after.ID != before.ID || after.Policy != "unless-stopped" {
		t.Fatalf("blue's container after the engine restart: %+v, want running, the same container (%s) with policy unless-stopped", after, before.ID)
	}
	if after.StartedAt == before.StartedAt {
		t.Fatalf("blue's container has the same StartedAt (%s) after the engine restart: it was never stopped", after.StartedAt)
	}
	if g := e.slot(spec.Green); g.State != "absent" {
		t.Fatalf("green's container exists after the restart: %+v", g)
	}
	if t.Failed() {
		t.Logf("controller log since the engine was first stopped:\n%s", ctl.output()[logBefore:])
	}

	// The controller follows the new engine's events: blue stopped by a
	// client (the engine leaves an unless-stopped container down then) is
	// started again by the controller long before its resync (1m here).
	logBefore = len(ctl.output())
	e.eng.Docker(t, "stop", "-t", "10", "bg-"+e.svc+"-blue")
	stopped := time.Now()
	e.waitFor(restartEventBound, "the controller starts blue again after a docker stop (it must have seen the event)", func() bool {
		got, err := e.get()
		return err == nil && got == "200 blue v1"
	})
	// The frontend's answer may lag the start by HAProxy's 1s turn-around
	// before it retries a refused connection; the container's StartedAt
	// says when the controller started it.
	servedAfter := time.Since(stopped)
	startedAt, err := time.Parse(time.RFC3339Nano, e.slot(spec.Blue).StartedAt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("blue stopped by a client after the engine restart: started again %.3fs, served again %.2fs after docker stop returned",
		startedAt.Sub(stopped).Seconds(), servedAfter.Seconds())
	out := ctl.output()[logBefore:]
	if !strings.Contains(out, "step=StartContainer") {
		t.Fatalf("blue serves again but the controller did not start it:\n%s", out)
	}
	t.Logf("controller log since docker stop:\n%s", out)
}

// phaseRecorder polls status.json every 10ms in the background and keeps
// each change of phase and Ready reason, for the log.
type phaseRecorder struct {
	mu      sync.Mutex
	changes []string
	stop    context.CancelFunc
	done    chan struct{}
}

func (e *restartEnv) recordPhases(since time.Time) *phaseRecorder {
	ctx, cancel := context.WithCancel(context.Background())
	p := &phaseRecorder{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		last := ""
		for ctx.Err() == nil {
			s := e.serviceStatus()
			if cur := fmt.Sprintf("%s (%s)", s.Phase, readyReason(s)); cur != last {
				last = cur
				p.mu.Lock()
				p.changes = append(p.changes, fmt.Sprintf("%+.2fs %s", time.Since(since).Seconds(), cur))
				p.mu.Unlock()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	e.t.Cleanup(func() { p.finish() })
	return p
}

// finish stops the recorder and returns the changes seen.
func (p *phaseRecorder) finish() string {
	p.stop()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.changes, " -> ")
}

// readyTransition is when the Ready condition last changed.
func readyTransition(s *state.ServiceStatus) time.Time {
	for _, c := range s.Conditions {
		if c.Type == "Ready" {
			return c.LastTransitionTime
		}
	}
	return time.Time{}
}

// readyTransitionAfter tells whether the Ready condition last changed after
// at: status left Converged while the engine was away and came back.
func readyTransitionAfter(s *state.ServiceStatus, at time.Time) bool {
	for _, c := range s.Conditions {
		if c.Type == "Ready" {
			return c.LastTransitionTime.After(at)
		}
	}
	return false
}

// TestEngineRestartCronMode: `run --once` converges blue v1 and exits; with
// no controller running the engine restarts, and blue serves again by the
// engine's restart policy alone. A second `run --once` finds everything
// converged and changes nothing.
func TestEngineRestartCronMode(t *testing.T) {
	e := newRestartEnv(t, "v1")
	e.save(spec.Blue, "v1")
	if code, out := e.once(); code != 0 {
		t.Fatalf("run --once exited %d, want 0 (converged); output:\n%s\nstatus.json:\n%s", code, out, e.statusFile())
	}
	if s := e.serviceStatus(); !e.converged(e.generation(), spec.Blue) {
		t.Fatalf("run --once exited 0 but status says %s (%s), served %q", s.Phase, readyReason(s), s.ServedColor)
	}
	e.assertServes("blue v1")
	e.assertMapNames(spec.Blue)
	before := e.slot(spec.Blue)
	if before.State != "running" {
		t.Fatalf("blue's container after run --once: %+v", before)
	}
	// Not Fatal: without the policy the restart below shows what it costs.
	if before.Policy != "unless-stopped" {
		t.Errorf("blue serves but its restart policy is %q after run --once, want unless-stopped: nothing brings it back after an engine restart with no controller running", before.Policy)
	}

	r := e.restartEngine("blue v1")
	t.Logf("with no controller running (cron mode): %s", r)
	after := e.slot(spec.Blue)
	if after.State != "running" || after.ID != before.ID || after.StartedAt == before.StartedAt {
		t.Fatalf("blue's container after the engine restart: %+v, want the same container (%s) running, started again (was %s)", after, before.ID, before.StartedAt)
	}

	// The next cron run: converged, nothing to do.
	code, out := e.once()
	if code != 0 {
		t.Fatalf("run --once after the engine restart exited %d, want 0 (converged); output:\n%s\nstatus.json:\n%s", code, out, e.statusFile())
	}
	if strings.Contains(out, "msg=Step") {
		t.Errorf("run --once after the engine restart took a step, want none:\n%s", out)
	}
	e.assertMapNames(spec.Blue)
	e.assertServes("blue v1")
	if again := e.slot(spec.Blue); again != after {
		t.Fatalf("run --once after the engine restart changed blue's container: %+v, was %+v", again, after)
	}
	if g := e.slot(spec.Green); g.State != "absent" {
		t.Fatalf("green's container exists: %+v", g)
	}
	t.Logf("run --once after the engine restart:\n%s", out)
}

// TestEngineRestartStoppedColorStaysStopped: after a release to green v2
// blue is drained and stopped by the controller (policy no, stopped through
// the API). The engine restarts with the controller running: green serves
// again, and blue stays exited, neither started by the engine nor by the
// controller (whose stopped.json says it stopped blue itself).
func TestEngineRestartStoppedColorStaysStopped(t *testing.T) {
	e := newRestartEnv(t, "v1", "v2")
	e.save(spec.Blue, "v1")
	ctl := e.start("--resync", "1s")
	gen := e.generation()
	e.waitFor(restartConvergeBound, "Converged on blue v1", func() bool { return e.converged(gen, spec.Blue) })
	e.save(spec.Green, "v2")
	gen = e.generation()
	e.waitFor(restartConvergeBound, "Converged on green v2, blue stopped", func() bool {
		return e.converged(gen, spec.Green) && e.slot(spec.Blue).State == "exited"
	})
	e.assertServes("green v2")
	e.assertMapNames(spec.Green)
	blue, green := e.slot(spec.Blue), e.slot(spec.Green)
	if blue.Policy != "no" || green.Policy != "unless-stopped" {
		t.Fatalf("restart policies after the release: blue (stopped by the controller) %q, green (served) %q; want no and unless-stopped", blue.Policy, green.Policy)
	}
	if b, err := os.ReadFile(filepath.Join(e.stateDir, "stopped.json")); err != nil || !strings.Contains(string(b), blue.ID) {
		t.Fatalf("stopped.json does not record blue's container %s (%v):\n%s", blue.ID, err, b)
	}

	logBefore := len(ctl.output())
	phases := e.recordPhases(time.Now())
	r := e.restartEngine("green v2")
	t.Logf("release done, with the controller running: %s", r)
	e.waitFor(time.Minute, "the controller reports Converged on green again after the engine restart", func() bool {
		return e.converged(gen, spec.Green) && readyTransitionAfter(e.serviceStatus(), r.stopCalled)
	})
	t.Logf("status Converged again %.2fs after the engine answered; phases (from the stop): %s",
		readyTransition(e.serviceStatus()).Sub(r.answered).Seconds(), phases.finish())
	// Give a wrong start of blue the chance to show: the passes after the
	// reconnect, and at least one resync (1s here).
	time.Sleep(2 * time.Second)
	e.assertServes("green v2")
	e.assertMapNames(spec.Green)
	if now := e.slot(spec.Blue); now != blue {
		t.Fatalf("blue's container after the engine restart: %+v, want it left exited as the controller stopped it: %+v", now, blue)
	}
	if now := e.slot(spec.Green); now.State != "running" || now.ID != green.ID || now.StartedAt == green.StartedAt {
		t.Fatalf("green's container after the engine restart: %+v, want the same container (%s) running, started again", now, green.ID)
	}
	select {
	case <-ctl.done:
		t.Fatalf("the controller exited (%v)", ctl.cmd.ProcessState)
	default:
	}
	t.Logf("controller log since the engine was stopped:\n%s", ctl.output()[logBefore:])
}
