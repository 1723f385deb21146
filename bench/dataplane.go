package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/client"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/haproxy"
)

// The four ways the data-plane section reaches the same demo app from
// HAProxy.
const (
	dpPublished = "published" // bridge network, 127.0.0.1:hostPort published: Docker's port forwarder
	dpBridge    = "bridge"    // bridge network, the container's own IP:containerPort (the direct path)
	dpHostNet   = "hostnet"   // host network, the app listens on 127.0.0.1:port
	dpProcess   = "process"   // the same binary run as a plain host process on 127.0.0.1:port
)

// dpLabel is the label of the section's containers (value: the run's id):
// cleanup removes them by it.
const dpLabel = "io.bluegreen.bench.dataplane"

// Defaults of the data-plane section's flags, and what wrk is given.
const (
	defaultDataplaneRounds   = 8
	defaultDataplaneDuration = 10 * time.Second
	dpThreads                = 2
	dpConns                  = 100
	dpWarmup                 = 2 * time.Second // per target, before the first round; not counted
	dpPause                  = time.Second     // between two wrk runs
	dpContainerPort          = 8080            // the demo image's default PORT
)

// dpTargetRPS is issue 9's target: the direct path within this share of
// host networking's requests per second.
const dpTargetRPS = 0.9

type dataplaneConfig struct {
	rounds   int
	duration time.Duration
	hap      haproxySettings
	image    string // the demo app's image
	id       string // the run's id: container names and label value
	wrk      string // path of wrk
}

// dpTarget is one server address the section measures through HAProxy.
type dpTarget struct {
	Key    string // dpPublished, ...
	Addr   string // the server's address in HAProxy
	Front  int    // the HAProxy frontend's port on 127.0.0.1
	Via    string // what is there, for the report
	appPID int    // the app's process, as the host sees it
}

// dpRun is one wrk run against one target.
type dpRun struct {
	Round int // from 1
	Pos   int // position in its round, from 1
	Key   string
	Res   wrkResult
	Busy  float64 // share of all cores busy during the run, %
	// CPU time used during the run by HAProxy's worker, the app and
	// Docker's port forwarder (zero when it is not on the path).
	HAProxyCPU, AppCPU, ProxyCPU time.Duration
	Err                          string
}

type dataplaneResult struct {
	Rounds       int
	Duration     time.Duration
	Threads      int
	Conns        int
	Warmup       time.Duration
	Targets      []dpTarget
	Runs         []dpRun
	Image        string
	Wrk          string // wrk's version line
	Proxy        string // the port forwarder process that serves the published port ("" when none was found)
	LoadAvgStart string
	LoadAvgEnd   string
	Started      time.Time
	Wall         time.Duration
}

func (d *dataplaneResult) target(key string) dpTarget {
	for _, t := range d.Targets {
		if t.Key == key {
			return t
		}
	}
	return dpTarget{Key: key}
}

// ok is the runs of key that completed without an error.
func (d *dataplaneResult) ok(key string) []dpRun {
	var out []dpRun
	for _, r := range d.Runs {
		if r.Key == key && r.Err == "" {
			out = append(out, r)
		}
	}
	return out
}

// runDataplane starts the demo app four ways (a container on the default
// bridge with its port published on 127.0.0.1, whose own bridge IP is the
// second target; a container on the host network; the same binary as a
// host process), one HAProxy with a frontend per target, and runs wrk
// against each frontend for cfg.rounds rounds, the order rotated by one
// every round.
func runDataplane(r *runner, cfg dataplaneConfig) *dataplaneResult {
	t := r.scope()
	defer t.close()
	res := &dataplaneResult{Rounds: cfg.rounds, Duration: cfg.duration, Threads: dpThreads, Conns: dpConns, Warmup: dpWarmup,
		Image: cfg.image, LoadAvgStart: loadavg(), Started: time.Now()}
	if out, _ := exec.Command(cfg.wrk, "-v").CombinedOutput(); len(out) > 0 {
		res.Wrk, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
		res.Wrk, _, _ = strings.Cut(res.Wrk, " Copyright")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "bgd-")
	if err != nil {
		t.Fatalf("data plane: temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	// The containers, removed by label whatever happens.
	t.Cleanup(func() { testenv.RemoveContainersByLabel(t, dpLabel, cfg.id) })
	bridgeName := "bgbench-dp-" + cfg.id + "-bridge"
	hostName := "bgbench-dp-" + cfg.id + "-host"
	pubPort, hostPort, procPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	dockerRun(t, "--name", bridgeName, "--label", dpLabel+"="+cfg.id, "-e", "COLOR="+dpPublished,
		"-p", fmt.Sprintf("127.0.0.1:%d:%d", pubPort, dpContainerPort), cfg.image)
	dockerRun(t, "--name", hostName, "--label", dpLabel+"="+cfg.id, "-e", "COLOR="+dpHostNet, "--network", "host",
		"-e", "LISTEN_ADDR=127.0.0.1", "-e", fmt.Sprintf("PORT=%d", hostPort), cfg.image)
	bridgeIP, bridgePID := inspectApp(ctx, t, bridgeName)
	if bridgeIP == "" {
		t.Fatalf("data plane: container %s has no address on the network \"bridge\"", bridgeName)
	}
	_, hostPID := inspectApp(ctx, t, hostName)

	// The same static binary the image holds, as a host process.
	bin := filepath.Join(testenv.DemoContext(t), "demoapp")
	procPID := startHostApp(t, bin, filepath.Join(dir, "app.log"), "LISTEN_ADDR=127.0.0.1", fmt.Sprintf("PORT=%d", procPort), "COLOR="+dpProcess)

	res.Targets = []dpTarget{
		{Key: dpPublished, Addr: fmt.Sprintf("127.0.0.1:%d", pubPort), Via: "bridge network, port published on 127.0.0.1: Docker's port forwarder (the fallback)", appPID: bridgePID},
		{Key: dpBridge, Addr: net.JoinHostPort(bridgeIP, strconv.Itoa(dpContainerPort)), Via: "the same container's own bridge IP: the direct path (the default)", appPID: bridgePID},
		{Key: dpHostNet, Addr: fmt.Sprintf("127.0.0.1:%d", hostPort), Via: "container on the host network", appPID: hostPID},
		{Key: dpProcess, Addr: fmt.Sprintf("127.0.0.1:%d", procPort), Via: "the same binary as a host process", appPID: procPID},
	}
	colors := map[string]string{dpPublished: dpPublished, dpBridge: dpPublished, dpHostNet: dpHostNet, dpProcess: dpProcess}
	plain := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	for _, tg := range res.Targets {
		testenv.WaitFor(t, 30*time.Second, "data plane: the app answers on "+tg.Addr, func() bool {
			return answersAs(plain, "http://"+tg.Addr+"/", colors[tg.Key])
		})
	}

	// One HAProxy, one frontend per target.
	var cfgText strings.Builder
	cfgText.WriteString(strings.NewReplacer("{{DIR}}", dir, "{{DEFAULT_SERVER}}", cfg.hap.DefaultServer,
		"{{TIMEOUT_CHECK}}", cfg.hap.TimeoutCheck, "{{EXTRA}}", extraLines(cfg.hap.Extra)).Replace(haproxyHead))
	for i := range res.Targets {
		tg := &res.Targets[i]
		tg.Front = testenv.FreePort(t)
		fmt.Fprintf(&cfgText, "frontend fe_%s\n    bind 127.0.0.1:%d\n    default_backend be_%s\n", tg.Key, tg.Front, tg.Key)
		fmt.Fprintf(&cfgText, "backend be_%s\n    option httpchk GET /healthz\n    http-check expect status 200\n    server app %s\n", tg.Key, tg.Addr)
	}
	sock := filepath.Join(dir, "admin.sock")
	ha := testenv.StartHAProxy(t, dir, cfgText.String(), sock)
	hc, err := haproxy.New("unix://"+sock, 2*time.Second)
	if err != nil {
		t.Fatalf("data plane: haproxy client: %v", err)
	}
	for _, tg := range res.Targets {
		testenv.WaitFor(t, 30*time.Second, "data plane: HAProxy has be_"+tg.Key+" UP and its frontend answers", func() bool {
			row, err := hc.ServerStat(ctx, "be_"+tg.Key, "app")
			return err == nil && row.Status == "UP" && answersAs(plain, fmt.Sprintf("http://127.0.0.1:%d/", tg.Front), colors[tg.Key])
		})
	}

	haPID := 0
	if p, err := ha.ShowProc(); err == nil && len(p.Workers) == 1 {
		haPID = p.Workers[0]
	}
	proxyPID := forwarderPID(pubPort)
	if proxyPID > 0 {
		res.Proxy = fmt.Sprintf("pid %d: %s", proxyPID, strings.Join(procArgs(proxyPID), " "))
	} else {
		t.Logf("data plane: no docker-proxy process serves 127.0.0.1:%d (is the engine's userland-proxy off?); the published target goes however the engine routes it", pubPort)
	}
	for _, tg := range res.Targets {
		t.Logf("data plane: %s: HAProxy frontend 127.0.0.1:%d → server %s (%s)", tg.Key, tg.Front, tg.Addr, tg.Via)
	}

	url := func(tg dpTarget) string { return fmt.Sprintf("http://127.0.0.1:%d/", tg.Front) }
	for _, tg := range res.Targets {
		if _, out, err := runWrk(ctx, cfg.wrk, url(tg), dpThreads, dpConns, dpWarmup); err != nil {
			t.Fatalf("data plane: warm-up of %s: %v\n%s", tg.Key, err, out)
		}
	}
	n := len(res.Targets)
	for k := 0; k < cfg.rounds; k++ {
		for i := 0; i < n; i++ {
			tg := res.Targets[(i+k)%n]
			time.Sleep(dpPause)
			run := dpRun{Round: k + 1, Pos: i + 1, Key: tg.Key}
			proxy := 0
			if tg.Key == dpPublished {
				proxy = proxyPID
			}
			pids := []int{haPID, tg.appPID, proxy}
			cpu0 := make([]time.Duration, len(pids))
			for j, p := range pids {
				cpu0[j] = cpuOf(p)
			}
			c0 := readCPU()
			wr, out, err := runWrk(ctx, cfg.wrk, url(tg), dpThreads, dpConns, cfg.duration)
			run.Busy = busyPct(c0, readCPU())
			run.HAProxyCPU, run.AppCPU, run.ProxyCPU = cpuOf(haPID)-cpu0[0], cpuOf(tg.appPID)-cpu0[1], cpuOf(proxy)-cpu0[2]
			run.Res = wr
			switch {
			case err != nil:
				run.Err = err.Error()
				t.Errorf("data plane: round %d, %s: %v\n%s", k+1, tg.Key, err, out)
			case wr.Non2xx > 0 || wr.SocketErr > 0:
				run.Err = fmt.Sprintf("%d answers not 2xx/3xx, %d socket errors", wr.Non2xx, wr.SocketErr)
				t.Errorf("data plane: round %d, %s: %s\n%s", k+1, tg.Key, run.Err, out)
			}
			res.Runs = append(res.Runs, run)
			t.Logf("data plane: round %d/%d, %d of %d: %-9s %8.0f req/s, p99 %s ms, cores %.0f%% busy",
				k+1, cfg.rounds, i+1, n, tg.Key, wr.RPS, msf(wr.P99), run.Busy)
		}
	}
	res.LoadAvgEnd = loadavg()
	res.Wall = time.Since(res.Started)
	return res
}

// dockerRun starts a detached container with args (the image last).
func dockerRun(t *scope, args ...string) {
	t.Helper()
	args = append([]string{"run", "-d"}, args...)
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("data plane: docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// cpuOf is the CPU time process pid has used so far (0 for pid 0 or when
// it cannot be read).
func cpuOf(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	d, _ := procCPU(pid)
	return d
}

// inspectApp returns the container's address on Docker's default bridge
// network (NetworkSettings.Networks["bridge"].IPAddress; "" when it has
// none) and the host PID of its app.
func inspectApp(ctx context.Context, t *scope, name string) (ip string, pid int) {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("data plane: docker client: %v", err)
	}
	defer cli.Close()
	ictx, icancel := context.WithTimeout(ctx, 10*time.Second)
	defer icancel()
	c, err := cli.ContainerInspect(ictx, name)
	if err != nil {
		t.Fatalf("data plane: inspect %s: %v", name, err)
	}
	if c.State == nil || !c.State.Running {
		t.Fatalf("data plane: container %s is not running", name)
	}
	if c.NetworkSettings != nil && c.NetworkSettings.Networks["bridge"] != nil {
		ip = c.NetworkSettings.Networks["bridge"].IPAddress
	}
	return ip, c.State.Pid
}

// startHostApp runs the demo app's binary as a host process with env,
// stopped by PID when the scope closes, and returns its PID.
func startHostApp(t *scope, bin, logPath string, env ...string) int {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("data plane: app log: %v", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("data plane: start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { testenv.StopProcess(cmd, done, 10*time.Second) })
	return cmd.Process.Pid
}

// answersAs reports whether a GET of url answers 200 from the app started
// with COLOR=color.
func answersAs(hc *http.Client, url, color string) bool {
	resp, err := hc.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK && resp.Header.Get("X-Color") == color
}

// forwarderPID is the PID of the docker-proxy process that listens on
// 127.0.0.1:port (0 when there is none).
func forwarderPID(port int) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		args := procArgs(pid)
		if len(args) == 0 || filepath.Base(args[0]) != "docker-proxy" {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-host-port" && args[i+1] == strconv.Itoa(port) {
				return pid
			}
		}
	}
	return 0
}

// procArgs is the command line of pid.
func procArgs(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}
