// Package e2e drives the controller binary against a real HAProxy and a real
// Docker engine, with load running, and asserts that no request fails.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// env is one service under test: its own HAProxy, ports, map, containers,
// images and controller state.
type env struct {
	t                          testing.TB
	dir                        string
	svc                        string // service name, also the map key
	repo                       string // image repository, tags are versions
	front, bluePort, greenPort int
	ha                         *testenv.HAProxy
	sock, mapPath              string
	bin                        string
	desired, stateDir          string
	demoCtx                    string
	// appCtx is the build context of the app under test (default demoCtx;
	// a test may use the rude app, testenv.RudeContext).
	appCtx string
	client *http.Client
	// specSock is the runtime API socket the desired file names (default
	// sock; a test may put a SocketProxy in between).
	specSock string
	// ctlEnv is added to the controller's environment (e.g. DOCKER_HOST).
	ctlEnv []string
	// policy is the host policy file the controller runs under.
	policy string
	// modes gives a version a fault mode of the demo app (build arg MODE):
	// "exit", "unhealthy", "slowstart=60s".
	modes map[string]string
	// readyTimeout, drainTimeout and stopTimeout of the desired file
	// (defaults 30s, 10s, 10s).
	readyTimeout, drainTimeout, stopTimeout string
	// verify is the desired file's verify section (default a 1 s window:
	// every release of every test is judged on its traffic, briefly).
	verify string
	// replicas per color (newEnvReplicas; default 1).
	replicas int
}

const haproxyCfg = `global
    stats socket {{DIR}}/admin.sock mode 600 level admin
    stats timeout 10s
    log stderr format short local0 info
defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    retries 3
    option redispatch 1{{RETRY}}
    default-server check inter 1s fastinter 20ms downinter 20ms rise 2 fall 2
frontend fe
    bind 127.0.0.1:{{FRONT}}
    acl preview req.hdr(X-Preview) -m found
    use_backend %[str(preview.{{SVC}}),map({{DIR}}/hosts.map)] if preview
    use_backend %[str({{SVC}}),map({{DIR}}/hosts.map)]
backend {{SVC}}_blue
    option httpchk GET /healthz
    http-check expect status 200
    {{BLUESERVERS}}
backend {{SVC}}_green
    option httpchk GET /healthz
    http-check expect status 200
    {{GREENSERVERS}}
{{CANARY}}`

// canaryCfg is the canary backend of a service of one replica per color,
// as docs/reference.md shows it: each color's server tracks its color's
// and a cookie keeps each user on the version it first got.
const canaryCfg = `backend {{SVC}}_canary
    cookie {{SVC}}_version insert indirect nocache
    server blue 127.0.0.1:{{BLUEPORT}} track {{SVC}}_blue/app cookie blue weight 0 no-check
    server green 127.0.0.1:{{GREENPORT}} track {{SVC}}_green/app cookie green weight 0 no-check
`

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvReplicas(t, 1)
}

// newEnvReplicas is newEnv for a service with n replicas per color: each
// backend has servers app1 to appN, from one server-template line, as
// docs/reference.md shows.
func newEnvReplicas(t *testing.T, n int) *env {
	t.Helper()
	testenv.RequireBinary(t, "haproxy", "apt-get install -y haproxy")
	testenv.RequireDocker(t)
	id := randomID()
	e := &env{
		t:         t,
		dir:       t.TempDir(),
		svc:       "e2e" + id,
		repo:      "bge2e-" + id,
		front:     testenv.FreePort(t),
		bluePort:  testenv.FreePorts(t, n),
		greenPort: testenv.FreePorts(t, n),
		replicas:  n,
		bin:       testenv.GoBuildTags(t, "./cmd/controller", "crashpoints"), // crash tests need its crash points
		demoCtx:   testenv.DemoContext(t),
		client:    &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	e.sock = filepath.Join(e.dir, "admin.sock")
	e.specSock = e.sock
	e.readyTimeout, e.drainTimeout, e.stopTimeout = "30s", "10s", "10s"
	e.verify = "{window: 1s}"
	e.mapPath = filepath.Join(e.dir, "hosts.map")
	e.desired = filepath.Join(e.dir, "desired.yaml")
	e.stateDir = filepath.Join(e.dir, "state")
	e.policy = writePolicy(t, e.dir)
	writeFile(t, e.mapPath, e.svc+" "+e.svc+"_blue\n")
	canary := ""
	if n == 1 {
		canary = canaryCfg
	}
	cfg := strings.NewReplacer("{{CANARY}}", canary).Replace(haproxyCfg)
	cfg = strings.NewReplacer("{{DIR}}", e.dir, "{{FRONT}}", fmt.Sprint(e.front), "{{SVC}}", e.svc,
		"{{BLUESERVERS}}", cfgServers(n, e.bluePort), "{{GREENSERVERS}}", cfgServers(n, e.greenPort), "{{RETRY}}", cfgRetry(n),
		"{{BLUEPORT}}", fmt.Sprint(e.bluePort), "{{GREENPORT}}", fmt.Sprint(e.greenPort)).Replace(cfg)
	e.ha = testenv.StartHAProxy(t, e.dir, cfg, e.sock)
	t.Cleanup(func() {
		testenv.RemoveContainersByLabel(t, "io.bluegreen.service", e.svc)
		// Remove by tag: identical builds share an image ID with other tags.
		out, _ := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", e.repo).Output()
		for _, tag := range strings.Fields(string(out)) {
			_ = exec.Command("docker", "rmi", tag).Run()
		}
	})
	return e
}

// cfgServers is a backend's server line for n replicas from port on.
func cfgServers(n, port int) string {
	if n == 1 {
		return fmt.Sprintf("server app 127.0.0.1:%d", port)
	}
	return fmt.Sprintf("server-template app %d 127.0.0.1:%d", n, port)
}

// cfgRetry is what a backend of several replicas adds to its defaults, as
// docs/reference.md says: a request that a replica dropped (it died with
// the request in flight, or no longer accepts connections) is sent again,
// redispatched (option redispatch 1, in every config) to another.
func cfgRetry(n int) string {
	if n == 1 {
		return ""
	}
	return "\n    retry-on conn-failure empty-response response-timeout"
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// spec renders a desired file: active color, the version to run (image tag
// and build arg), and extra lines under spec:.
func (e *env) spec(active spec.Color, version string, extra ...string) string {
	lines := []string{
		"  build:",
		"    context: " + e.buildContext(),
		fmt.Sprintf("    args: {VERSION: %s, MODE: %q}", version, e.modes[version]),
		"  readyTimeout: " + e.readyTimeout,
		"  drainTimeout: " + e.drainTimeout,
		"  stopTimeout: " + e.stopTimeout,
		"  verify: " + e.verify,
	}
	if e.replicas > 1 {
		lines = append(lines, fmt.Sprintf("  replicas: %d", e.replicas))
	}
	return spectest.Desired{Name: e.svc, Active: string(active), Image: e.repo + ":" + version,
		BluePort: e.bluePort, GreenPort: e.greenPort, Runtime: "unix://" + e.specSock, MapFile: e.mapPath,
		Extra: append(lines, extra...)}.YAML()
}

// buildContext is the app's build context, linked below the desired
// file's directory: the controller refuses a context outside it.
func (e *env) buildContext() string {
	src := e.demoCtx
	if e.appCtx != "" {
		src = e.appCtx
	}
	dst := filepath.Join(filepath.Dir(e.desired), filepath.Base(src))
	if _, err := os.Stat(dst); err == nil {
		return dst
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		e.t.Fatal(err)
	}
	// Hard links (a copy across file systems), not symbolic links, which
	// the controller refuses on a context's path.
	err := filepath.WalkDir(src, func(from string, d fs.DirEntry, err error) error {
		if err != nil || from == src {
			return err
		}
		to := filepath.Join(dst, strings.TrimPrefix(from, src+"/"))
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if os.Link(from, to) == nil {
			return nil
		}
		b, err := os.ReadFile(from)
		if err == nil {
			err = os.WriteFile(to, b, 0o755)
		}
		return err
	})
	if err != nil {
		e.t.Fatalf("copy the build context into %s: %v", dst, err)
	}
	return dst
}

// save writes the desired file the way an editor does: a new file renamed over the old.
func (e *env) save(active spec.Color, version string, extra ...string) {
	e.t.Helper()
	tmp := e.desired + ".tmp"
	writeFile(e.t, tmp, e.spec(active, version, extra...))
	if err := os.Rename(tmp, e.desired); err != nil {
		e.t.Fatal(err)
	}
}

// generation is the digest the controller reports once it acted on the file.
func (e *env) generation() string {
	e.t.Helper()
	svcs, err := specfile.Load(e.desired)
	if err != nil {
		e.t.Fatalf("load %s: %v", e.desired, err)
	}
	return svcs[0].Generation()
}

// controller is a running controller process.
type controller struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (e *env) command(args ...string) *exec.Cmd {
	base := []string{"-f", e.desired, "--state-dir", e.stateDir}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		base = append([]string{args[0]}, base...)
		args = args[1:]
	}
	cmd := exec.Command(e.bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "BLUEGREEN_POLICY="+e.policy)
	cmd.Env = append(cmd.Env, e.ctlEnv...)
	return cmd
}

// writePolicy writes the tests' host policy into dir.
func writePolicy(t testing.TB, dir string) string {
	t.Helper()
	p, err := testenv.WritePolicy(dir)
	if err != nil {
		t.Fatalf("write the host policy: %v", err)
	}
	return p
}

// start runs the controller in watch mode; cleanup stops it by PID.
func (e *env) start(args ...string) *controller {
	e.t.Helper()
	return startController(e.t, e.command(append([]string{"run"}, args...)...), nil)
}

// startController starts cmd, a controller in watch mode; cleanup stops it
// by PID and, when the test failed, logs its output, then what more says.
func startController(t testing.TB, cmd *exec.Cmd, more func() string) *controller {
	t.Helper()
	c := &controller{cmd: cmd, log: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	c.cmd.Stdout = lockedWriter{c.mu, c.log}
	c.cmd.Stderr = lockedWriter{c.mu, c.log}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start controller: %v", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("controller log:\n%s", c.output())
			if more != nil {
				t.Log(more())
			}
		}
	})
	return c
}

func (c *controller) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// stop ends the controller gracefully.
func (c *controller) stop() { testenv.StopProcess(c.cmd, c.done, 10*time.Second) }

// exited waits until the controller exits by itself and returns its log.
func (c *controller) exited(t testing.TB, timeout time.Duration) string {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("controller did not exit within %s; log:\n%s", timeout, c.output())
	}
	return c.output()
}

// kill ends the controller with SIGKILL, as a crash would.
func (c *controller) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// once runs "run --once" and returns its exit code and output.
func (e *env) once(args ...string) (int, string) {
	e.t.Helper()
	return runOnce(e.t, e.command(append([]string{"run", "--once"}, args...)...))
}

// runOnce runs cmd, a controller with --once, and returns its exit code
// and output.
func runOnce(t testing.TB, cmd *exec.Cmd) (int, string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("run controller --once: %v", err)
	}
	return 0, string(out)
}

// status reads the status file the controller writes.
func (e *env) status() state.Status {
	st, _ := state.ReadStatus(filepath.Join(e.stateDir, "status.json"))
	return st
}

func (e *env) serviceStatus() *state.ServiceStatus {
	if s := e.status().Services[e.svc]; s != nil {
		return s
	}
	return &state.ServiceStatus{}
}

// waitConverged waits until status says Converged for the current desired file.
func (e *env) waitConverged(timeout time.Duration) {
	e.t.Helper()
	gen := e.generation()
	testenv.WaitFor(e.t, timeout, "controller converges on "+gen, func() bool {
		s := e.serviceStatus()
		return s.Phase == planner.Converged && s.ObservedGeneration == gen
	})
}

// waitPhase waits until status shows the phase and reason for the current desired file.
func (e *env) waitPhase(timeout time.Duration, phase planner.Phase, reason planner.Reason) *state.ServiceStatus {
	e.t.Helper()
	gen := e.generation()
	var s *state.ServiceStatus
	testenv.WaitFor(e.t, timeout, fmt.Sprintf("status %s (%s)", phase, reason), func() bool {
		s = e.serviceStatus()
		return s.Phase == phase && s.ObservedGeneration == gen && readyReason(s) == reason
	})
	return s
}

func readyMessage(s *state.ServiceStatus) string {
	for _, c := range s.Conditions {
		if c.Type == "Ready" {
			return c.Message
		}
	}
	return ""
}

func readyReason(s *state.ServiceStatus) planner.Reason {
	for _, c := range s.Conditions {
		if c.Type == "Ready" {
			return c.Reason
		}
	}
	return ""
}

// get asks the frontend once, on a new connection.
func (e *env) get(path string) (string, error) { return e.getWith(path) }

// getWith is get with request headers, given as name, value, ...
func (e *env) getWith(path string, header ...string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", e.front, path), nil)
	if err != nil {
		return "", err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return strings.TrimSpace(string(b)), nil
}

func (e *env) runtime() *haproxy.Client {
	c, err := haproxy.New("unix://"+e.sock, 2*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// maps returns the map value at runtime and in the map file.
func (e *env) maps() (runtime, file string) {
	e.t.Helper()
	v, _, err := e.runtime().GetMap(context.Background(), e.mapPath, e.svc)
	if err != nil {
		e.t.Fatalf("get runtime map: %v", err)
	}
	f, _, err := haproxy.LookupMapFile(e.mapPath, e.svc)
	if err != nil {
		e.t.Fatalf("read map file: %v", err)
	}
	return v, f
}

// container returns a color's container state ("absent" when missing) and image tag label.
func (e *env) container(c spec.Color) (state, image string) {
	out, err := exec.Command("docker", "inspect", "-f", `{{.State.Status}} {{index .Config.Labels "io.bluegreen.image"}}`,
		"bg-"+e.svc+"-"+string(c)).Output()
	if err != nil {
		return "absent", ""
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return f[0], ""
	}
	return f[0], f[1]
}

// serverAddr is where HAProxy sends color c's traffic now, as its "show
// servers state" says (srv_addr:srv_port).
func (e *env) serverAddr(c spec.Color) string {
	e.t.Helper()
	states, err := e.runtime().ServersState(context.Background())
	if err != nil {
		e.t.Fatalf("show servers state: %v", err)
	}
	for _, s := range states {
		if s.Backend == e.svc+"_"+string(c) && s.Server == "app" {
			return s.AddrPort()
		}
	}
	e.t.Fatalf("show servers state has no %s_%s/app", e.svc, c)
	return ""
}

// directAddr is color c's container's address on Docker's default bridge
// and the demo's port 8080, "" when it does not run there.
func (e *env) directAddr(c spec.Color) string {
	out, err := exec.Command("docker", "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "bg-"+e.svc+"-"+string(c)).Output()
	if ip := strings.TrimSpace(string(out)); err == nil && ip != "" && ip != "<no value>" {
		return ip + ":8080"
	}
	return ""
}

// fallbackAddr is color c's server address in haproxy.cfg: its published port.
func (e *env) fallbackAddr(c spec.Color) string {
	if c == spec.Green {
		return fmt.Sprintf("127.0.0.1:%d", e.greenPort)
	}
	return fmt.Sprintf("127.0.0.1:%d", e.bluePort)
}

// load starts the load generators on the frontend: keep-alive connections
// and new-connection-per-request workers.
type load struct {
	runners []*loadgen.Runner
}

func (e *env) startLoad(keepAlive, fresh int) *load {
	return e.startLoadWith(keepAlive, fresh, true)
}

// startLoadAcrossReloads is startLoad for a test that reloads HAProxy:
// a worker being replaced closes idle keep-alive connections, and a GET
// sent on one at that instant is re-sent by net/http, as browsers do.
func (e *env) startLoadAcrossReloads(keepAlive, fresh int) *load {
	return e.startLoadWith(keepAlive, fresh, false)
}

func (e *env) startLoadWith(keepAlive, fresh int, noRetry bool) *load {
	url := fmt.Sprintf("http://127.0.0.1:%d/", e.front)
	l := &load{}
	ctx := context.Background()
	if keepAlive > 0 {
		l.runners = append(l.runners, loadgen.Start(ctx, loadgen.Config{URL: url, Concurrency: keepAlive, KeepAlive: true, Record: true, NoRetry: noRetry}))
	}
	if fresh > 0 {
		l.runners = append(l.runners, loadgen.Start(ctx, loadgen.Config{URL: url, Concurrency: fresh, KeepAlive: false, Record: true, NoRetry: noRetry}))
	}
	e.t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) sent() int64 {
	var n int64
	for _, r := range l.runners {
		n += r.Sent()
	}
	return n
}

func (l *load) failed() int64 {
	var n int64
	for _, r := range l.runners {
		n += r.Failed()
	}
	return n
}

// stop ends the load and merges the results.
func (l *load) stop() (sent, failed int64, samples []loadgen.Sample, fails []loadgen.Sample) {
	for _, r := range l.runners {
		res := r.Stop()
		sent += res.Sent
		failed += res.Failed
		samples = append(samples, res.Samples...)
		fails = append(fails, res.FailSamples...)
	}
	return
}

// switchWatch polls the runtime map and records the first moment it names
// backend; with leaveFirst, the first moment after it named another backend
// (a "done" from blue goes through green and back).
type switchWatch struct {
	at   chan time.Time
	stop context.CancelFunc
}

func (e *env) watchSwitch(backend string, leaveFirst bool) *switchWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &switchWatch{at: make(chan time.Time, 1), stop: cancel}
	c := e.runtime()
	go func() {
		left := !leaveFirst
		for ctx.Err() == nil {
			v, _, err := c.GetMap(ctx, e.mapPath, e.svc)
			switch {
			case err != nil:
			case v != backend:
				left = true
			case left:
				w.at <- time.Now()
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	e.t.Cleanup(cancel)
	return w
}
