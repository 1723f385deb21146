package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// fakeWorld is a recording fake of HAProxy, the map file, the engine and the
// prober. It behaves like the real things just enough for the loop to
// converge: a started container's server turns UP, a stopped one DOWN.
type fakeWorld struct {
	// big is held by every fake call: steps of different services run at once.
	big        sync.Mutex
	mu         sync.Mutex // guards calls
	calls      []string
	runtimeMap map[string]string
	fileMap    map[string]string
	backends   []string
	servers    map[string]*haproxy.StatRow // by "backend/server"; state.Status is the health: UP or DOWN
	admin      map[string]haproxy.AdminState
	images     map[string]string // ref -> ID
	containers map[string]*docker.Container
	ports      map[string]string // container name -> "backend/server"
	hostPorts  map[string]int    // container name -> its published port
	// counters are the BACKEND rows' response counters, by backend.
	counters map[string]planner.Counters
	failOn   map[string]error // call prefix -> error
	// slowChecks leaves a started container's server DOWN, as HAProxy does
	// until its checks catch up; healthUpIgnored makes "set server ...
	// health up" change nothing.
	slowChecks, healthUpIgnored bool
	// nextIP numbers the bridge addresses given to started containers.
	nextIP int
	// stopping: the engine refuses new connections and answers on those
	// open, as while it shuts down.
	stopping bool
	// weights are the canary backend's servers' weights, by
	// "backend/server", once set.
	weights map[string]int
	// clock gives the containers' start and finish times (nil:
	// time.Now): a harness sets it to its loop's clock, which the planner
	// and the stop records go by.
	clock func() time.Time
}

func (w *fakeWorld) now() time.Time {
	if w.clock == nil {
		return time.Now()
	}
	return w.clock()
}

func newFakeWorld() *fakeWorld {
	w := &fakeWorld{
		runtimeMap: map[string]string{},
		fileMap:    map[string]string{},
		backends:   []string{"web_blue", "web_green"},
		servers:    map[string]*haproxy.StatRow{},
		hostPorts:  map[string]int{},
		admin:      map[string]haproxy.AdminState{},
		images:     map[string]string{},
		containers: map[string]*docker.Container{},
		ports:      map[string]string{"bg-web-blue": "web_blue/app", "bg-web-green": "web_green/app"},
		failOn:     map[string]error{},
		counters:   map[string]planner.Counters{},
	}
	for _, b := range w.backends {
		port := "18081"
		if strings.HasSuffix(b, "green") {
			port = "18082"
		}
		w.servers[b+"/app"] = &haproxy.StatRow{Proxy: b, Server: "app", Status: "DOWN", CheckStatus: "L4CON", Addr: "127.0.0.1:" + port}
	}
	return w
}

func (w *fakeWorld) record(format string, args ...any) error {
	c := fmt.Sprintf(format, args...)
	w.mu.Lock()
	w.calls = append(w.calls, c)
	w.mu.Unlock()
	for prefix, err := range w.failOn {
		if strings.HasPrefix(c, prefix) {
			return err
		}
	}
	return nil
}

func (w *fakeWorld) deps() *Deps {
	return &Deps{
		HAProxy:    func(string) (HAProxy, error) { return fakeHAProxy{w}, nil },
		Containers: fakeEngine{w},
		MapFiles:   fakeMapFiles{w},
		Prober:     fakeProber{w},
		Warmer:     fakeProber{w},
	}
}

// WarmUp records the warm-up of base.
func (f fakeProber) WarmUp(_ context.Context, base, path string, requests, concurrency int) error {
	return f.w.record("warm up %s%s %d at %d", base, path, requests, concurrency)
}

// count reports how many times call was made.
func (w *fakeWorld) count(call string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.calls {
		if c == call {
			n++
		}
	}
	return n
}

// mutating reports the calls that change something, without the reads.
func (w *fakeWorld) mutating() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, c := range w.calls {
		if !strings.HasPrefix(c, "get ") && !strings.HasPrefix(c, "show ") && !strings.HasPrefix(c, "inspect ") &&
			!strings.HasPrefix(c, "image ") && !strings.HasPrefix(c, "lookup ") && !strings.HasPrefix(c, "probe ") &&
			!strings.HasPrefix(c, "logs ") && !strings.HasPrefix(c, "oom events ") && c != "dial engine" {
			out = append(out, c)
		}
	}
	return out
}

type fakeHAProxy struct{ w *fakeWorld }

func (f fakeHAProxy) GetMap(_ context.Context, path, key string) (string, bool, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("get map %s %s", path, key); err != nil {
		return "", false, err
	}
	v, ok := f.w.runtimeMap[key]
	return v, ok, nil
}

func (f fakeHAProxy) ShowMap(_ context.Context, path string) ([]haproxy.MapEntry, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("show map %s", path); err != nil {
		return nil, err
	}
	var out []haproxy.MapEntry
	for k, v := range f.w.runtimeMap {
		out = append(out, haproxy.MapEntry{Key: k, Value: v})
	}
	return out, nil
}

func (f fakeHAProxy) SetMap(_ context.Context, path, key, value string) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("set map %s %s %s", path, key, value); err != nil {
		return err
	}
	f.w.runtimeMap[key] = value
	return nil
}

func (f fakeHAProxy) ShowStat(context.Context) ([]haproxy.StatRow, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("show stat"); err != nil {
		return nil, err
	}
	return f.w.statRows(), nil
}

func (f fakeHAProxy) StatOf(_ context.Context, backend string) ([]haproxy.StatRow, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("show stat %s 6 -1", backend); err != nil {
		return nil, err
	}
	return byBackend(f.w.statRows(), func(r haproxy.StatRow) string { return r.Proxy })[backend], nil
}

// statRows is what "show stat" shows: the servers and the backends'
// counters.
func (w *fakeWorld) statRows() []haproxy.StatRow {
	var rows []haproxy.StatRow
	for k, r := range w.servers {
		row := *r
		row.Status = w.shownStatus(k)
		rows = append(rows, row)
	}
	for k, weight := range w.weights {
		b, sv, _ := strings.Cut(k, "/")
		rows = append(rows, haproxy.StatRow{Proxy: b, Server: sv, Status: "UP", Fields: haproxy.NewStatFields(map[string]string{"weight": fmt.Sprint(weight)})})
	}
	backends := slices.Clone(w.backends)
	for b := range w.counters {
		if !slices.Contains(backends, b) {
			backends = append(backends, b)
		}
	}
	for _, b := range backends {
		c := w.counters[b]
		rows = append(rows, haproxy.StatRow{Proxy: b, Server: "BACKEND", Fields: haproxy.NewStatFields(map[string]string{
			"hrsp_2xx": fmt.Sprint(c.Responses - c.Status5xx), "hrsp_5xx": fmt.Sprint(c.Status5xx), "econ": fmt.Sprint(c.Failed)})})
	}
	return rows
}

// shownStatus is the status "show stat" has for the server k: its health,
// unless its admin state shows instead.
func (w *fakeWorld) shownStatus(k string) string {
	r := w.servers[k]
	switch {
	case w.admin[k] == haproxy.StateMaint:
		return "MAINT"
	case r.Status == "DOWN":
	case w.admin[k] == haproxy.StateDrain:
		return "DRAIN"
	}
	return r.Status
}

func (f fakeHAProxy) ServerStatuses(context.Context) ([]haproxy.ServerStatus, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("show stat -1 4 -1 no-maint"); err != nil {
		return nil, err
	}
	var out []haproxy.ServerStatus
	for k, r := range f.w.servers {
		if f.w.shownStatus(k) == "MAINT" {
			continue
		}
		out = append(out, haproxy.ServerStatus{Proxy: r.Proxy, Server: r.Server, Status: f.w.shownStatus(k), Chkdown: r.Count("chkdown")})
	}
	return out, nil
}

func (f fakeHAProxy) ServersState(context.Context) ([]haproxy.ServerState, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("show servers state"); err != nil {
		return nil, err
	}
	return f.w.serverStates(), nil
}

func (f fakeHAProxy) ServersStateOf(_ context.Context, backend string) ([]haproxy.ServerState, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("show servers state %s", backend); err != nil {
		return nil, err
	}
	return byBackend(f.w.serverStates(), func(s haproxy.ServerState) string { return s.Backend })[backend], nil
}

// serverStates is what "show servers state" shows.
func (w *fakeWorld) serverStates() []haproxy.ServerState {
	var out []haproxy.ServerState
	for k, r := range w.servers {
		s := haproxy.ServerState{Backend: r.Proxy, Server: r.Server}
		switch w.admin[k] {
		case haproxy.StateDrain:
			s.Admin = 0x8
		case haproxy.StateMaint:
			s.Admin = 0x1
		}
		out = append(out, s)
	}
	return out
}

func (f fakeHAProxy) SetServerState(_ context.Context, backend, server string, s haproxy.AdminState) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("set server %s/%s state %s", backend, server, s); err != nil {
		return err
	}
	f.w.admin[backend+"/"+server] = s
	return nil
}

func (f fakeHAProxy) SetServerReadyDown(_ context.Context, backend, server string) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("set server %s/%s state ready, health down", backend, server); err != nil {
		return err
	}
	f.w.admin[backend+"/"+server] = haproxy.StateReady
	f.w.servers[backend+"/"+server].Status = "DOWN"
	return nil
}

func (f fakeHAProxy) SetServerAddr(_ context.Context, backend, server string, addr netip.AddrPort) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("set server %s/%s addr %s", backend, server, addr); err != nil {
		return err
	}
	f.w.servers[backend+"/"+server].Addr = addr.String()
	return nil
}

func (f fakeHAProxy) SetServerHealthUp(_ context.Context, backend, server string) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("set server %s/%s health up", backend, server); err != nil {
		return err
	}
	if !f.w.healthUpIgnored {
		f.w.servers[backend+"/"+server].Status = "UP"
	}
	return nil
}

// SetServerWeight keeps the weight of a canary backend's server, which
// show stat then lists.
func (f fakeHAProxy) SetServerWeight(_ context.Context, backend, server string, weight int) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("set server %s/%s weight %d", backend, server, weight); err != nil {
		return err
	}
	if f.w.weights == nil {
		f.w.weights = map[string]int{}
	}
	f.w.weights[backend+"/"+server] = weight
	return nil
}

type fakeMapFiles struct{ w *fakeWorld }

func (f fakeMapFiles) Lookup(path, key string) (string, bool, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("lookup %s %s", path, key); err != nil {
		return "", false, err
	}
	v, ok := f.w.fileMap[key]
	return v, ok, nil
}

func (f fakeMapFiles) Write(path, key, value string) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("write %s %s %s", path, key, value); err != nil {
		return err
	}
	f.w.fileMap[key] = value
	return nil
}

type fakeEngine struct{ w *fakeWorld }

func (f fakeEngine) ImageID(_ context.Context, ref string) (string, bool, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("image %s", ref); err != nil {
		return "", false, err
	}
	id, ok := f.w.images[ref]
	return id, ok, nil
}

func (f fakeEngine) Build(_ context.Context, b docker.BuildSpec) (string, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("build %s", b.Tag); err != nil {
		return "", err
	}
	f.w.images[b.Tag] = fmt.Sprintf("sha256:%064x", len(f.w.images)+1)
	return f.w.images[b.Tag], nil
}

func (f fakeEngine) Pull(_ context.Context, ref string) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	return f.w.record("pull %s", ref)
}

func (f fakeEngine) Inspect(_ context.Context, name string) (docker.Container, bool, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("inspect %s", name); err != nil {
		return docker.Container{}, false, err
	}
	c, ok := f.w.containers[name]
	if !ok {
		return docker.Container{}, false, nil
	}
	return *c, true, nil
}

func (f fakeEngine) Create(_ context.Context, s docker.CreateSpec) (string, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("create %s", s.Name); err != nil {
		return "", err
	}
	f.w.hostPorts[s.Name] = s.HostPort
	f.w.containers[s.Name] = &docker.Container{ID: "id-" + s.Name, Name: s.Name, ImageID: s.Image, Labels: s.Labels,
		State: "created", Managed: s.Labels[docker.LabelManaged] == "true", RestartPolicy: docker.RestartNo}
	return "id-" + s.Name, nil
}

func (f fakeEngine) Start(_ context.Context, name string) error {
	if err := f.w.record("start %s", name); err != nil {
		return err
	}
	return f.start(name, f.w.slowChecks)
}

// start runs container name, with a new address on the bridge; its server
// is UP at once, or DOWN while slow (HAProxy's checks not caught up).
func (f fakeEngine) start(name string, slow bool) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	c := f.w.containers[name]
	c.Running, c.State, c.StartedAt = true, "running", f.w.now()
	// Each start is given a new address on the bridge, as the engine may.
	f.w.nextIP++
	c.IPs = map[string]string{"bridge": fmt.Sprintf("172.17.0.%d", f.w.nextIP)}
	r, ok := f.w.servers[f.w.ports[name]]
	if !ok { // a container of a service with no server in this world
		return nil
	}
	r.Status, r.CheckStatus = "UP", "L7OK"
	if slow {
		r.Status, r.CheckStatus = "DOWN", "L4CON"
	}
	return nil
}

func (f fakeEngine) Stop(_ context.Context, name string, _ time.Duration) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("stop %s", name); err != nil {
		return err
	}
	c := f.w.containers[name]
	// Like most real apps (a Go binary as PID 1 without a signal handler),
	// the fake app does not exit 0 when it is stopped.
	c.Running, c.State, c.ExitCode, c.FinishedAt, c.IPs = false, "exited", 2, f.w.now(), nil
	if r, ok := f.w.servers[f.w.ports[name]]; ok {
		r.Status, r.CheckStatus = "DOWN", "L4CON"
	}
	return nil
}

// Restart is a stop then a start: a new run, with a new address, whose
// server HAProxy checks again from DOWN.
func (f fakeEngine) Restart(_ context.Context, name string, _ time.Duration) error {
	if err := f.w.record("restart %s", name); err != nil {
		return err
	}
	return f.start(name, true)
}

func (f fakeEngine) SetRestartPolicy(_ context.Context, name, policy string) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("update %s restart %s", name, policy); err != nil {
		return err
	}
	f.w.containers[name].RestartPolicy = policy
	return nil
}

func (f fakeEngine) OOMKilledBetween(_ context.Context, id string, _, _ time.Time) (bool, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	return false, f.w.record("oom events %s", id)
}

// die makes container name exit by itself, as a crash does.
func (w *fakeWorld) die(name string, code int) {
	c := w.containers[name]
	c.Running, c.State, c.ExitCode, c.FinishedAt, c.IPs = false, "exited", code, w.now(), nil
	if r, ok := w.servers[w.ports[name]]; ok {
		r.Status, r.CheckStatus = "DOWN", "L4CON"
	}
}

func (f fakeEngine) Remove(_ context.Context, name string) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("remove %s", name); err != nil {
		return err
	}
	delete(f.w.containers, name)
	return nil
}

func (f fakeEngine) Logs(_ context.Context, name string, _ int) (string, error) {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	return "boom: cannot open config\n", f.w.record("logs %s", name)
}

func (f fakeEngine) AcceptsConnections(context.Context) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("dial engine"); err != nil {
		return err
	}
	if f.w.stopping {
		return fmt.Errorf("open a new connection to the Docker engine at unix:///x.sock: %w", docker.ErrUnreachable)
	}
	return nil
}

type fakeProber struct{ w *fakeWorld }

func (f fakeProber) Probe(_ context.Context, url string) error {
	f.w.big.Lock()
	defer f.w.big.Unlock()
	if err := f.w.record("probe %s", url); err != nil {
		return err
	}
	for name, c := range f.w.containers {
		if c.Running && (strings.Contains(url, fmt.Sprintf("127.0.0.1:%d/", f.w.hostPorts[name])) || strings.Contains(url, "//"+c.IPs["bridge"]+":8080/")) {
			return nil
		}
	}
	return errors.New("connection refused")
}

// apiService is a second service for the fake world, "api", beside "web":
// its backends are added to HAProxy's.
func (w *fakeWorld) apiService(t testing.TB, active spec.Color, image string) *spec.Service {
	api := plantest.Service(t, active, image)
	api.Name, api.HAProxy.MapKey = "api", "api"
	api.Colors.Blue.Backend, api.Colors.Green.Backend = "api_blue", "api_green"
	w.backends = append(w.backends, "api_blue", "api_green")
	return api
}

// run creates and starts color c of service s on image id, with its server
// in HAProxy (DOWN until the start, as a check would find it).
func (w *fakeWorld) run(t testing.TB, s *spec.Service, c spec.Color, id string) {
	t.Helper()
	ctx := context.Background()
	eng := fakeEngine{w}
	if _, err := eng.Create(ctx, createSpec(planner.ContainerSpecOf(s, s.Replica(c, 0), id))); err != nil {
		t.Fatal(err)
	}
	backend := s.Color(c).Backend
	w.servers[backend+"/app"] = &haproxy.StatRow{Proxy: backend, Server: "app", Status: "DOWN", Addr: planner.FallbackAddr(s.Replica(c, 0))}
	w.ports[s.ContainerName(c)] = backend + "/app"
	if err := eng.Start(ctx, s.ContainerName(c)); err != nil {
		t.Fatal(err)
	}
	// HAProxy sends its traffic to its address on the bridge, as the
	// controller points it.
	w.servers[backend+"/app"].Addr = planner.ServerAddr(s, s.Replica(c, 0), fromDocker(*w.containers[s.ContainerName(c)], s.Network))
}
