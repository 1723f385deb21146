package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
)

// service is one blue/green service of a world.
type service struct {
	name        string
	blue, green int // host ports
}

func (s service) backend(c spec.Color) string { return s.name + "_" + string(c) }

func (s service) port(c spec.Color) int {
	if c == spec.Green {
		return s.green
	}
	return s.blue
}

// world is one HAProxy with N services, the desired file naming them, and
// (once started) a controller acting on it.
type world struct {
	t         *scope
	dir       string
	ha        *testenv.HAProxy
	sock      string // HAProxy's own runtime socket
	specSock  string // the socket the desired file names (a counting proxy, or sock)
	mapPath   string
	front     int
	svcs      []service
	repo      string
	desired   string
	stateDir  string
	ctlBin    string
	ctlEnv    []string
	ctlArgs   []string
	ctl       *controller
	client    *haproxy.Client
	haCounter *testenv.SocketProxy // counts runtime API commands, when specSock is a proxy
	dkCounter *testenv.SocketProxy // counts Docker API requests, when DOCKER_HOST goes through it

	// current desired state per service: active color and version
	active       []spec.Color
	version      []string
	activeBefore spec.Color // of the service being switched
	network      string     // bridge or host
	verify       time.Duration
	// specExtra are more lines of every service's spec (e.g. a warmup),
	// indented as its fields; env are more variables of its containers
	// (a new value makes the controller replace the idle color's
	// container).
	specExtra string
	env       map[string]string
	used      map[int]bool
}

// port is a free loopback port not yet handed out in this world.
func (w *world) port() int {
	for {
		p := testenv.FreePort(w.t)
		if !w.used[p] {
			w.used[p] = true
			return p
		}
	}
}

// haproxySettings are what the bench takes from examples/haproxy.cfg (or
// its flags) into the configs it generates, and how containers are reached.
type haproxySettings struct {
	DefaultServer string // the "default-server" line
	TimeoutCheck  string // the "timeout check" value
	HostNetwork   bool   // spec network: host (the app listens on 127.0.0.1:hostPort) instead of bridge
	// VerifyWindow is the spec's verify.window of every service: how long
	// after a switch the new color is judged while the old one stays warm.
	VerifyWindow time.Duration
	Extra        []string // more lines for the defaults section (experiments)
}

type worldConfig struct {
	name     string // short, unique: service names derive from it
	services int
	hap      haproxySettings
	repo     string // image repository (tags v1, v2 exist)
	ctlBin   string
	ctlArgs  []string
	count    bool              // put counting socket proxies in front of HAProxy and Docker
	env      map[string]string // more variables of the containers (world.env)
}

// haproxyHead is the global and defaults sections of every config the bench
// generates: the defaults of examples/haproxy.cfg without its logging, with
// its default-server line and timeout check (or the flags' alternatives).
const haproxyHead = `global
    stats socket {{DIR}}/admin.sock mode 600 level admin
    stats timeout 10s
    maxconn 5000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check {{TIMEOUT_CHECK}}
    retries 3
    option redispatch 1
    {{DEFAULT_SERVER}}{{EXTRA}}
`

const haproxyGlobal = haproxyHead + `frontend fe
    bind 127.0.0.1:{{FRONT}}
    {{USE_BACKEND}}
`

const haproxyBackend = `backend {{BACKEND}}
    option httpchk GET /healthz
    http-check expect status 200
    server app 127.0.0.1:{{PORT}}
`

// haproxyCanary is a service's canary backend, as docs/reference.md shows
// it: the spec of a canary release names it by default.
const haproxyCanary = `backend {{NAME}}_canary
    cookie {{NAME}}_version insert indirect nocache httponly
    server blue 127.0.0.1:{{BLUE}} track {{NAME}}_blue/app cookie blue weight 0 no-check
    server green 127.0.0.1:{{GREEN}} track {{NAME}}_green/app cookie green weight 0 no-check
`

func newWorld(t *scope, cfg worldConfig) *world {
	t.Helper()
	dir, err := os.MkdirTemp("", cfg.name+"-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &world{
		t:        t,
		dir:      dir,
		sock:     filepath.Join(dir, "admin.sock"),
		mapPath:  filepath.Join(dir, "hosts.map"),
		used:     map[int]bool{},
		repo:     cfg.repo,
		env:      cfg.env,
		desired:  filepath.Join(dir, "desired.yaml"),
		stateDir: filepath.Join(dir, "state"),
		ctlBin:   cfg.ctlBin,
		ctlArgs:  cfg.ctlArgs,
		network:  "bridge",
	}
	if cfg.hap.HostNetwork {
		w.network = "host"
	}
	w.verify = cfg.hap.VerifyWindow
	w.front = w.port()
	w.specSock = w.sock
	var mapLines, backends strings.Builder
	for i := 0; i < cfg.services; i++ {
		name := cfg.name
		if cfg.services > 1 {
			name = fmt.Sprintf("%s-s%0*d", cfg.name, len(fmt.Sprint(max(cfg.services, 10))), i+1)
		}
		s := service{name: name, blue: w.port(), green: w.port()}
		w.svcs = append(w.svcs, s)
		w.active = append(w.active, spec.Blue)
		w.version = append(w.version, "v1")
		fmt.Fprintf(&mapLines, "%s %s\n", s.name, s.backend(spec.Blue))
		for _, c := range spec.Colors() {
			backends.WriteString(strings.NewReplacer("{{BACKEND}}", s.backend(c), "{{PORT}}", fmt.Sprint(s.port(c))).Replace(haproxyBackend))
		}
		backends.WriteString(strings.NewReplacer("{{NAME}}", s.name, "{{BLUE}}", fmt.Sprint(s.blue), "{{GREEN}}", fmt.Sprint(s.green)).Replace(haproxyCanary))
	}
	// Containers are named after the services: remove what the controller
	// created, whatever happens.
	t.Cleanup(func() {
		for _, s := range w.svcs {
			testenv.RemoveContainersByLabel(t, "io.bluegreen.service", s.name)
		}
	})
	if err := os.WriteFile(w.mapPath, []byte(mapLines.String()), 0o644); err != nil {
		t.Fatalf("write map: %v", err)
	}
	use := fmt.Sprintf("use_backend %%[str(%s),map(%s)]", w.svcs[0].name, w.mapPath)
	if cfg.services > 1 {
		use = fmt.Sprintf("use_backend %%[req.hdr(host),field(1,:),map(%s)]", w.mapPath)
	}
	hacfg := strings.NewReplacer("{{DIR}}", dir, "{{FRONT}}", fmt.Sprint(w.front), "{{USE_BACKEND}}", use,
		"{{DEFAULT_SERVER}}", cfg.hap.DefaultServer, "{{TIMEOUT_CHECK}}", cfg.hap.TimeoutCheck,
		"{{EXTRA}}", extraLines(cfg.hap.Extra)).Replace(haproxyGlobal) + backends.String()
	w.ha = testenv.StartHAProxy(t, dir, hacfg, w.sock)
	w.client, err = haproxy.New("unix://"+w.sock, 2*time.Second)
	if err != nil {
		t.Fatalf("haproxy client: %v", err)
	}
	if cfg.count {
		w.haCounter = testenv.StartSocketProxy(t, filepath.Join(dir, "ha-count.sock"), w.sock)
		w.specSock = w.haCounter.Path
		if target := dockerSocket(); target != "" {
			w.dkCounter = testenv.StartSocketProxy(t, filepath.Join(dir, "docker-count.sock"), target)
			w.ctlEnv = append(w.ctlEnv, "DOCKER_HOST=unix://"+w.dkCounter.Path)
		}
	}
	w.save()
	return w
}

func extraLines(ls []string) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString("\n    " + strings.TrimSpace(l))
	}
	return b.String()
}

// dockerSocket is the engine's unix socket (DOCKER_HOST or the default), or
// "" when the engine is reached over TCP.
func dockerSocket() string {
	h := os.Getenv("DOCKER_HOST")
	if h == "" {
		return "/var/run/docker.sock"
	}
	if p, ok := strings.CutPrefix(h, "unix://"); ok {
		return p
	}
	return ""
}

// render is the desired file for the current active colors and versions.
// The idle color is stopped once drained (idle.policy Stop), so every
// release and every rollback starts a container: each has a real floor.
func (w *world) render() string {
	var b strings.Builder
	env := map[string]string{}
	for k, v := range w.env {
		env[k] = v
	}
	if w.network == "host" {
		// host network: the app must listen on loopback only, on the host port
		env["LISTEN_ADDR"] = "127.0.0.1"
	}
	hostEnv := ""
	if len(env) > 0 {
		var kv []string
		for k, v := range env {
			kv = append(kv, fmt.Sprintf("%s: %q", k, v))
		}
		sort.Strings(kv)
		hostEnv = "\n  env: {" + strings.Join(kv, ", ") + "}"
	}
	for i, s := range w.svcs {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, `apiVersion: bluegreen.dev/v1
kind: Service
metadata:
  name: %s
spec:
  activeColor: %s
  image: %s:%s
  colors:
    blue: {hostPort: %d}
    green: {hostPort: %d}
  haproxy:
    runtime: unix://%s
    mapFile: %s
  network: %s%s
  readyTimeout: 30s
  drainTimeout: 10s
  stopTimeout: 10s
  idle: {policy: Stop}
  verify: {window: %s}
%s`, s.name, w.active[i], w.repo, w.version[i], s.blue, s.green, w.specSock, w.mapPath, w.network, hostEnv, w.verify, w.specExtra)
	}
	return b.String()
}

// save writes the desired file as an editor does (new file renamed over the
// old one) and returns the moment of the rename and the generation the
// controller will report for service i once it acted on it.
func (w *world) save() (at time.Time, gens []string) {
	w.t.Helper()
	tmp := w.desired + ".tmp"
	if err := os.WriteFile(tmp, []byte(w.render()), 0o644); err != nil {
		w.t.Fatalf("write desired: %v", err)
	}
	svcs, err := specfile.Load(tmp)
	if err != nil {
		w.t.Fatalf("the desired file the bench wrote is refused: %v", err)
	}
	for _, s := range svcs {
		gens = append(gens, s.Generation())
	}
	at = time.Now()
	if err := os.Rename(tmp, w.desired); err != nil {
		w.t.Fatalf("rename desired: %v", err)
	}
	return at, gens
}

func (w *world) status() state.Status {
	st, _ := state.ReadStatus(filepath.Join(w.stateDir, "status.json"))
	return st
}

// converged reports whether every service is Converged on gens.
func (w *world) converged(gens []string) bool {
	st := w.status()
	for i, s := range w.svcs {
		ss := st.Services[s.name]
		if ss == nil || ss.Phase != planner.Converged || ss.ObservedGeneration != gens[i] {
			return false
		}
	}
	return true
}

func (w *world) waitConverged(gens []string, timeout time.Duration) {
	w.t.Helper()
	testenv.WaitFor(w.t, timeout, "every service converges", func() bool { return w.converged(gens) })
}

// serverStatus is the HAProxy status of service i's color c ("" on error).
func (w *world) serverStatus(i int, c spec.Color) string {
	row, err := w.client.ServerStat(context.Background(), w.svcs[i].backend(c), "app")
	if err != nil {
		return ""
	}
	return row.Status
}

// settleDownLimit bounds waitSeenDown.
const settleDownLimit = 5 * time.Second

// waitSeenDown waits, at most limit, until HAProxy has service i's color c
// DOWN or in maintenance: its old container is stopped and HAProxy has
// seen it, so that the next release to c starts from rest and the UP it
// times is the new container's. A drained server still UP shows "DRAIN",
// one whose check just failed "UP 1/2": neither is down yet.
func (w *world) waitSeenDown(i int, c spec.Color, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		s := w.serverStatus(i, c)
		if strings.HasPrefix(s, "DOWN") || strings.HasPrefix(s, "MAINT") || time.Now().After(deadline) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keepLogs, when set, is where each controller's log is copied when it stops.
var keepLogs string

// controller is the controller process, started by PID and stopped by PID.
type controller struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

func (w *world) startController() *controller {
	w.t.Helper()
	logPath := filepath.Join(w.dir, "controller.log")
	logf, err := os.Create(logPath)
	if err != nil {
		w.t.Fatalf("controller log: %v", err)
	}
	args := append([]string{"run", "-f", w.desired, "--state-dir", w.stateDir, "-v", "1", "--log-format", "json"}, w.ctlArgs...)
	policy, err := testenv.WritePolicy(w.dir)
	if err != nil {
		w.t.Fatalf("host policy: %v", err)
	}
	cmd := exec.Command(w.ctlBin, args...)
	cmd.Env = append(os.Environ(), "BLUEGREEN_POLICY="+policy)
	cmd.Env = append(cmd.Env, w.ctlEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		w.t.Fatalf("start controller: %v", err)
	}
	logf.Close()
	c := &controller{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	w.t.Cleanup(func() {
		c.stop()
		if keepLogs != "" {
			b, _ := os.ReadFile(logPath)
			name := filepath.Join(keepLogs, filepath.Base(w.dir)+"-controller.log")
			if err := os.WriteFile(name, b, 0o644); err == nil {
				w.t.Logf("kept %s", name)
			}
		}
	})
	w.ctl = c
	return c
}

// startOne is a world of one service, blue v1, with a controller that has
// converged it.
func startOne(t *scope, cfg worldConfig) (*world, *controller) {
	cfg.services = 1
	w := newWorld(t, cfg)
	_, gens := w.save()
	ctl := w.startController()
	w.waitConverged(gens, 2*time.Minute)
	return w, ctl
}

func (c *controller) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM to the controller's PID and waits; SIGKILL after 10s.
func (c *controller) stop() { testenv.StopProcess(c.cmd, c.done, 10*time.Second) }

// tail is the last n lines of the controller's log.
func (c *controller) tail(n int) string {
	b, _ := os.ReadFile(c.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logLine is one line of the controller's log (funcr key="value" pairs).
type logLine struct {
	at      time.Time
	msg     string
	service string
	step    string
	reason  string
	event   string
}

// settle waits until the controller has logged no step for quiet (at
// most limit) and returns how long that took.
func (c *controller) settle(quiet, limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit {
		last := start.Add(-quiet)
		for _, l := range c.logLines() {
			if l.msg == "Step" && l.at.After(last) {
				last = l.at
			}
		}
		if time.Since(last) >= quiet {
			break
		}
		time.Sleep(quiet - time.Since(last))
	}
	return time.Since(start)
}

// logLines parses the controller's log so far (--log-format json: one
// object a line).
func (c *controller) logLines() []logLine {
	f, err := os.Open(c.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r struct {
			Time    time.Time `json:"time"`
			Msg     string    `json:"msg"`
			Service string    `json:"service"`
			Step    string    `json:"step"`
			Reason  string    `json:"reason"`
			Event   string    `json:"event"`
		}
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Time.IsZero() {
			continue // not a log record (a crash message, say)
		}
		out = append(out, logLine{at: r.Time, msg: r.Msg, service: r.Service, step: r.Step, reason: r.Reason, event: r.Event})
	}
	return out
}

// passLines are the lines a pass writes once per service: its state, a step,
// or an error.
func passLine(l logLine) bool {
	switch l.msg {
	case "State", "Step", "Service needs attention", "Cannot observe service; retrying with backoff":
		return true
	}
	return false
}

// passes counts the passes that looked at service name so far.
func (c *controller) passes(name string) int {
	n := 0
	for _, l := range c.logLines() {
		if l.service == name && passLine(l) {
			n++
		}
	}
	return n
}

// usage is the controller's CPU time so far and its peak RSS.
type usage struct {
	cpu      time.Duration
	hwm, rss int64 // KiB
}

func (c *controller) usage() usage {
	var u usage
	u.cpu, _ = procCPU(c.pid())
	u.hwm, u.rss, _ = procMem(c.pid())
	return u
}

// haproxyWorker returns the PID of HAProxy's current worker.
func (w *world) haproxyWorker() int {
	p, err := w.ha.ShowProc()
	if err != nil || len(p.Workers) == 0 {
		return 0
	}
	return p.Workers[0]
}

// bypassCounters takes the counting socket proxies out of the controller's
// way (testenv.SocketProxy.Bypass): nothing is counted after it.
func (w *world) bypassCounters() {
	for _, p := range []*testenv.SocketProxy{w.haCounter, w.dkCounter} {
		if p == nil {
			continue
		}
		if err := p.Bypass(); err != nil {
			w.t.Fatalf("bypass the counting proxy %s: %v", p.Path, err)
		}
	}
}

// counters reads the socket proxies' counters (-1 when not counting).
func (w *world) counters() (haCmds, dockerCalls int64) {
	haCmds, dockerCalls = -1, -1
	if w.haCounter != nil {
		haCmds = w.haCounter.Accepted()
	}
	if w.dkCounter != nil {
		dockerCalls = w.dkCounter.Requests()
	}
	return
}

// mapValue is the runtime map's value for service i's key, read with "get
// map": one lookup, whose cost does not grow with the services in the map
// ("show map" lists them all, and the harness polls it every millisecond
// during a switch). The bench's map is matched as strings (map()), so the
// lookup is exact.
func (w *world) mapValue(ctx context.Context, i int) (string, bool, error) {
	answer, err := w.client.Exec(ctx, "get map "+w.mapPath+" "+w.svcs[i].name)
	if err != nil {
		return "", false, err
	}
	if !strings.Contains(answer, "found=yes") {
		return "", false, nil
	}
	_, v, ok := strings.Cut(answer, `value="`)
	if !ok {
		return "", false, fmt.Errorf("get map %s %s: no value in %q", w.mapPath, w.svcs[i].name, answer)
	}
	v, _, _ = strings.Cut(v, `"`)
	return v, true, nil
}
