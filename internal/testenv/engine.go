package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A private Docker engine for tests that stop and start the engine (a
// dockerd restart, a host reboot) without touching the machine's main engine,
// which every other test uses. See /work/shared/docker-notes.md for the two
// traps this avoids:
//   - /etc/docker/daemon.json sets data-root and storage-driver, so passing
//     them as flags makes dockerd refuse to start: the engine gets its own
//     --config-file;
//   - dockerd with --bridge none in the host network namespace deletes the
//     host's docker0: the engine runs in its own network namespace, entered
//     with `nsenter --net` (`ip netns exec` remounts /sys and dockerd then
//     fails with "Devices cgroup isn't mounted").
//
// Its containers with --network host listen inside that namespace: run
// HAProxy, the controller and load generators there with Command or
// StartHAProxyIn, and reach them from the test with HTTPClient or
// DialContext. Its unix sockets (docker.sock, HAProxy's runtime socket) are
// files, reachable from any namespace.

const (
	// enginePrefix starts the name of every engine directory, followed by
	// the PID of the test process and "-": directories (and namespaces) of
	// test processes that are gone are removed by the next engine started.
	enginePrefix = "bgeng"
	// engineNSPrefix starts the name of every engine's network namespace:
	// bgtest-<pid>-<the directory's random suffix>.
	engineNSPrefix = "bgtest-"
	// engineReadyTimeout bounds a start until the engine answers.
	engineReadyTimeout = 60 * time.Second
	// engineStopGrace bounds the wait for dockerd after SIGTERM; it stops
	// its containers first (up to its shutdown-timeout, 15s by default).
	engineStopGrace = 45 * time.Second
	// systemContainerdSock: when it exists, dockerd uses that containerd
	// instead of starting its own, and containers with host networking would
	// then live in containerd's network namespace, not the engine's.
	systemContainerdSock = "/run/containerd/containerd.sock"
)

// Engine is a private dockerd started by StartPrivateEngine, with its own
// config, data root, exec root, socket, containerd and network namespace.
type Engine struct {
	Dir        string // its directory (short, under /tmp: unix socket paths are limited)
	NS         string // network namespace name (ip netns): bgtest-<pid>-<random>
	ConfigFile string // Dir/daemon.json
	Socket     string // Dir/docker.sock
	PIDFile    string // Dir/docker.pid
	LogFile    string // Dir/dockerd.log: output of every start, appended

	// LastStart is how long the last start took until the engine answered;
	// LastStop how long the last stop took until dockerd had exited.
	LastStart time.Duration
	LastStop  time.Duration

	dockerd string
	nsenter string
	ip      string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd.Wait returned
	pid    int
}

// StartPrivateEngine starts a private Docker engine in a new network
// namespace and waits until it answers (`docker info`). When the test ends
// its containers are removed, it is stopped, and its namespace and directory
// are removed. It needs root.
func StartPrivateEngine(t TB) *Engine {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("testenv: a private Docker engine needs root (dockerd, ip netns, setns); running as uid %d", os.Geteuid())
	}
	e := &Engine{
		dockerd: RequireBinary(t, "dockerd", "dockerd not found: apt-get install -y docker.io"),
		nsenter: RequireBinary(t, "nsenter", "nsenter not found: apt-get install -y util-linux"),
		ip:      RequireBinary(t, "ip", "ip not found: apt-get install -y iproute2"),
	}
	RequireBinary(t, "docker", "docker CLI not found: apt-get install -y docker.io")
	if _, err := os.Stat(systemContainerdSock); err == nil {
		t.Fatalf("testenv: %s exists: dockerd would use that containerd instead of starting its own, and the "+
			"private engine's host-network containers would not be in its network namespace", systemContainerdSock)
	}
	staleEnginesOnce.Do(func() { removeStaleEngines(t, e.ip) })

	base := engineBaseDir()
	dir, err := os.MkdirTemp(base, fmt.Sprintf("%s%d-", enginePrefix, os.Getpid()))
	if err != nil {
		t.Fatalf("testenv: private engine dir: %v", err)
	}
	_, suffix, _ := strings.Cut(strings.TrimPrefix(filepath.Base(dir), enginePrefix), "-")
	e.Dir = dir
	e.NS = fmt.Sprintf("%s%d-%s", engineNSPrefix, os.Getpid(), suffix)
	e.ConfigFile = filepath.Join(dir, "daemon.json")
	e.Socket = filepath.Join(dir, "docker.sock")
	e.PIDFile = filepath.Join(dir, "docker.pid")
	e.LogFile = filepath.Join(dir, "dockerd.log")
	// The longest socket path: the engine's own containerd.
	if p := filepath.Join(dir, "exec", "containerd", "containerd.sock.ttrpc"); len(p) > maxSunPath {
		t.Fatalf("testenv: private engine dir %s too long for unix sockets (%s)", dir, p)
	}
	t.Cleanup(func() { e.cleanup(t) })

	if out, err := exec.Command(e.ip, "netns", "add", e.NS).CombinedOutput(); err != nil {
		t.Fatalf("testenv: ip netns add %s: %v\n%s", e.NS, err, out)
	}
	if out, err := exec.Command(e.ip, "-n", e.NS, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("testenv: bringing lo up in netns %s: %v\n%s", e.NS, err, out)
	}
	cfg, _ := json.Marshal(map[string]string{
		"data-root":      filepath.Join(dir, "data"),
		"storage-driver": "vfs",
	})
	if err := os.WriteFile(e.ConfigFile, append(cfg, '\n'), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := e.start(); err != nil {
		t.Fatalf("testenv: starting private engine: %v\ndockerd log tail:\n%s", err, e.LogTail(30))
	}
	t.Logf("testenv: private engine %s (netns %s, pid %d) answering after %s",
		e.Host(), e.NS, e.PID(), e.LastStart.Round(time.Millisecond))
	return e
}

// engineBaseDir is the temp dir, or /tmp when $TMPDIR is too long for the
// socket paths under an engine's directory.
func engineBaseDir() string {
	if d := os.TempDir(); len(d) <= 40 {
		return d
	}
	return "/tmp"
}

// Host is the engine's address for DOCKER_HOST or `docker -H`.
func (e *Engine) Host() string { return "unix://" + e.Socket }

// NetNS is the path of the engine's network namespace, for
// `nsenter --net=PATH` or setns.
func (e *Engine) NetNS() string { return "/run/netns/" + e.NS }

// PID is dockerd's PID (0 while stopped).
func (e *Engine) PID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pid
}

// Running reports whether dockerd (started by Start or StartPrivateEngine)
// has not exited.
func (e *Engine) Running() bool {
	e.mu.Lock()
	exited := e.exited
	e.mu.Unlock()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// Stop stops dockerd the way a host shutdown or `systemctl stop docker` does:
// SIGTERM, after which it stops its containers and exits. It waits for the
// exit (SIGKILL after 45s, which fails the test).
func (e *Engine) Stop(t TB) {
	t.Helper()
	if err := e.stop(engineStopGrace); err != nil {
		t.Fatalf("testenv: stopping private engine: %v\ndockerd log tail:\n%s", err, e.LogTail(30))
	}
}

// Start starts the stopped engine again with the same config, data and
// namespace, and waits until it answers. Containers whose restart policy
// says so are started again by dockerd.
func (e *Engine) Start(t TB) {
	t.Helper()
	if err := e.start(); err != nil {
		t.Fatalf("testenv: starting private engine: %v\ndockerd log tail:\n%s", err, e.LogTail(30))
	}
}

func (e *Engine) start() error {
	if e.Running() {
		return fmt.Errorf("dockerd (pid %d) is already running", e.PID())
	}
	// A pidfile left by a killed dockerd makes the next one refuse to start
	// if its PID has been reused.
	_ = os.Remove(e.PIDFile)
	logf, err := os.OpenFile(e.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "=== testenv: starting dockerd at %s\n", time.Now().Format(time.RFC3339Nano))
	// nsenter execs dockerd: the PID is dockerd's.
	cmd := exec.Command(e.nsenter, "--net="+e.NetNS(), "--", e.dockerd,
		"--config-file", e.ConfigFile,
		"--host", e.Host(),
		"--exec-root", filepath.Join(e.Dir, "exec"),
		"--pidfile", e.PIDFile,
		"--bridge", "none", "--iptables=false", "--ip-masq=false")
	cmd.Dir = e.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = engineEnv()
	// If the test binary dies, dockerd gets SIGTERM and stops its containers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}

	begin := time.Now()
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// Pdeathsig fires when the *thread* that forked the child ends, not
		// the process (go.dev/issue/27505), and the runtime ends a thread
		// whenever a goroutine exits while locked to it. Fork from a thread
		// of our own that lives as long as dockerd.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return err
	}
	e.mu.Lock()
	e.cmd, e.exited, e.pid = cmd, exited, cmd.Process.Pid
	e.mu.Unlock()

	deadline := begin.Add(engineReadyTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("dockerd (pid %d) exited during start: %v", cmd.Process.Pid, cmd.ProcessState)
		default:
		}
		err := e.ping()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not answering on %s after %s: %v", e.Socket, engineReadyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := e.DockerErr(30*time.Second, "info", "--format", "{{.ServerVersion}}"); err != nil {
		return err
	}
	e.LastStart = time.Since(begin)
	if p := readPIDFile(e.PIDFile); p != cmd.Process.Pid {
		return fmt.Errorf("pidfile %s names pid %d, dockerd is pid %d", e.PIDFile, p, cmd.Process.Pid)
	}
	return nil
}

// engineEnv is this process's environment without what would point dockerd
// elsewhere (a systemd notify socket, another engine's host).
func engineEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "NOTIFY_SOCKET" || k == "DOCKER_HOST" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ping asks the engine's API for /_ping.
func (e *Engine) ping() error {
	c := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", e.Socket)
			},
			DisableKeepAlives: true,
		},
	}
	resp, err := c.Get("http://docker/_ping")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/_ping: %s %q", resp.Status, b)
	}
	return nil
}

func readPIDFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// stop sends SIGTERM to dockerd (the PID in its pidfile, which is the PID
// started), waits up to grace, then SIGKILLs it. Stopping a stopped engine
// is a no-op.
func (e *Engine) stop(grace time.Duration) error {
	e.mu.Lock()
	cmd, exited, pid := e.cmd, e.exited, e.pid
	e.mu.Unlock()
	if cmd == nil {
		return nil
	}
	begin := time.Now()
	var errs []error
	select {
	case <-exited: // it crashed or was killed by the test
	default:
		target := pid
		if p := readPIDFile(e.PIDFile); p > 0 && p != pid && pidCmdlineContains(p, e.Dir) {
			target = p
		}
		_ = syscall.Kill(target, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				errs = append(errs, fmt.Errorf("dockerd (pid %d) still there 10s after SIGKILL", pid))
			}
			errs = append(errs, fmt.Errorf("dockerd (pid %d) still running %s after SIGTERM: killed", pid, grace))
		}
	}
	// A clean dockerd takes its containerd and the shims with it; they may
	// take a moment to go. After a SIGKILL they may not go at all.
	if err := e.reapLeftovers(5 * time.Second); err != nil {
		errs = append(errs, err)
	}
	e.mu.Lock()
	e.cmd, e.exited, e.pid = nil, nil, 0
	e.mu.Unlock()
	e.LastStop = time.Since(begin)
	return errors.Join(errs...)
}

// reapLeftovers waits up to bound for the engine's containerd and shims to
// exit (found by their command lines, which name the engine's exec root),
// then SIGKILLs those still there, by PID, and reports them.
func (e *Engine) reapLeftovers(bound time.Duration) error {
	marker := filepath.Join(e.Dir, "exec", "containerd") + "/"
	deadline := time.Now().Add(bound)
	for {
		left := procsWithCmdline(marker)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var desc []string
			for _, pid := range left {
				desc = append(desc, fmt.Sprintf("%d (%s)", pid, cmdline(pid)))
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return fmt.Errorf("processes of the engine still running %s after dockerd exited, killed: %s", bound, strings.Join(desc, "; "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procsWithCmdline lists the PIDs (other than ours) whose command line
// contains s.
func procsWithCmdline(s string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if strings.Contains(cmdline(pid), s) && pidAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// cleanup removes the engine's containers, stops it, unmounts what it left
// mounted under its directory (the namespace bind mount exec/netns/default,
// the data root), deletes its namespace and removes its directory.
func (e *Engine) cleanup(t TB) {
	if e.Running() {
		if ids, err := e.DockerErr(time.Minute, "ps", "-aq", "--no-trunc"); err != nil {
			t.Logf("testenv: cleanup: listing the private engine's containers: %v", err)
		} else if ids != "" {
			args := append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)
			if _, err := e.DockerErr(2*time.Minute, args...); err != nil {
				t.Logf("testenv: cleanup: removing the private engine's containers: %v", err)
			}
		}
	}
	if err := e.stop(engineStopGrace); err != nil {
		t.Errorf("testenv: cleanup: stopping the private engine: %v\ndockerd log tail:\n%s", err, e.LogTail(30))
	}
	for _, err := range unmountUnder(e.Dir) {
		t.Logf("testenv: cleanup: %v", err)
	}
	if out, err := exec.Command(e.ip, "netns", "del", e.NS).CombinedOutput(); err != nil {
		t.Logf("testenv: cleanup: ip netns del %s: %v %s", e.NS, err, bytes.TrimSpace(out))
	}
	if os.Getenv("TESTENV_KEEP_ENGINE") != "" {
		t.Logf("testenv: cleanup: keeping %s ($TESTENV_KEEP_ENGINE)", e.Dir)
		return
	}
	if err := os.RemoveAll(e.Dir); err != nil {
		t.Logf("testenv: cleanup: removing %s: %v", e.Dir, err)
	}
}

// unmountUnder lazily unmounts every mount point at or under dir, deepest
// first, and returns the errors.
func unmountUnder(dir string) []error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []error{err}
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, mp := range points {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("umount %s: %w", mp, err))
		}
	}
	return errs
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var staleEnginesOnce sync.Once

// removeStaleEngines removes the directories and namespaces of engines whose
// test process is gone (killed before its cleanup ran), unless a process
// still uses the directory (a dockerd that got SIGTERM when its test process
// died and is still stopping).
func removeStaleEngines(t TB, ip string) {
	isStale := func(pidStr string) bool {
		pid, err := strconv.Atoi(pidStr)
		return err == nil && pid != os.Getpid() && !pidAlive(pid)
	}
	dirs, _ := filepath.Glob(filepath.Join(engineBaseDir(), enginePrefix+"*"))
	for _, d := range dirs {
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), enginePrefix), "-")
		if !ok || !isStale(pidStr) || len(procsWithCmdline(d+"/")) > 0 {
			continue
		}
		unmountUnder(d)
		if err := os.RemoveAll(d); err != nil {
			t.Logf("testenv: removing the stale engine dir %s: %v", d, err)
		}
	}
	nss, _ := filepath.Glob("/run/netns/" + engineNSPrefix + "*")
	for _, p := range nss {
		ns := filepath.Base(p)
		pidStr, suffix, ok := strings.Cut(strings.TrimPrefix(ns, engineNSPrefix), "-")
		if !ok || !isStale(pidStr) {
			continue
		}
		if _, err := os.Stat(filepath.Join(engineBaseDir(), enginePrefix+pidStr+"-"+suffix)); err == nil {
			continue // its directory is still there: its engine may be stopping
		}
		_ = exec.Command(ip, "netns", "del", ns).Run()
	}
}

// LogTail returns the last n lines of dockerd's log.
func (e *Engine) LogTail(n int) string {
	b, err := os.ReadFile(e.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(string(b), n)
}

// DockerErr runs the docker CLI against the engine with a timeout and
// returns its trimmed stdout.
func (e *Engine) DockerErr(timeout time.Duration, args ...string) (string, error) {
	return docker(timeout, append([]string{"-H", e.Host()}, args...)...)
}

// Docker runs the docker CLI against the engine (`docker -H unix://...`) and
// returns its trimmed stdout; an error fails the test with the output.
func (e *Engine) Docker(t TB, args ...string) string {
	t.Helper()
	out, err := e.DockerErr(2*time.Minute, args...)
	if err != nil {
		t.Fatalf("testenv: private engine: %v", err)
	}
	return out
}

// LoadImage copies image ref from the main engine (DOCKER_HOST or the
// default socket) into the private engine: docker save | docker load.
func (e *Engine) LoadImage(t TB, ref string) {
	t.Helper()
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var saveErr, loadOut bytes.Buffer
	save := exec.CommandContext(ctx, "docker", "save", ref)
	save.Stdout, save.Stderr = pw, &saveErr
	load := exec.CommandContext(ctx, "docker", "-H", e.Host(), "load")
	load.Stdin, load.Stdout, load.Stderr = pr, &loadOut, &loadOut
	errSave := save.Start()
	var errLoad error
	if errSave == nil {
		errLoad = load.Start()
	}
	pw.Close()
	pr.Close()
	if errSave == nil {
		errSave = save.Wait()
	}
	if errLoad == nil && errSave == nil {
		errLoad = load.Wait()
	} else if load.Process != nil {
		_ = load.Process.Kill()
		_ = load.Wait()
	}
	if ctx.Err() != nil {
		t.Fatalf("testenv: docker save %s | docker -H %s load: timed out after 5m", ref, e.Host())
	}
	if errSave != nil || errLoad != nil {
		t.Fatalf("testenv: docker save %s | docker -H %s load: save: %v, load: %v\n%s%s",
			ref, e.Host(), errSave, errLoad, tail(saveErr.String(), 20), tail(loadOut.String(), 20))
	}
	t.Logf("testenv: loaded %s into the private engine in %s", ref, time.Since(begin).Round(time.Millisecond))
}

// Command returns a command that runs name with args inside the engine's
// network namespace (`nsenter --net=NETNS -- name args...`; nsenter execs
// name, so the PID started is name's). Everything else (mounts, files,
// unix sockets) is shared with this process.
func (e *Engine) Command(name string, args ...string) *exec.Cmd {
	return exec.Command(e.nsenter, e.nsenterArgs(name, args)...)
}

func (e *Engine) nsenterArgs(name string, args []string) []string {
	return append([]string{"--net=" + e.NetNS(), "--", name}, args...)
}

// StartHAProxy starts HAProxy inside the engine's network namespace (see
// StartHAProxyIn).
func (e *Engine) StartHAProxy(t TB, dir, cfg, statsSock string) *HAProxy {
	t.Helper()
	return StartHAProxyIn(t, e.NetNS(), dir, cfg, statsSock)
}

// DialContext connects to address inside the engine's network namespace,
// e.g. 127.0.0.1:PORT of a host-network container of the engine. The
// connection works from any goroutine. The address's host should be an IP
// (or a name in /etc/hosts): a DNS lookup would run in this process's
// namespace.
func (e *Engine) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return DialInNetNS(ctx, e.NetNS(), network, address)
}

// HTTPClient returns an HTTP client whose connections are made inside the
// engine's network namespace, with the given overall timeout per request. It
// ignores $HTTP_PROXY.
func (e *Engine) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         e.DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

// DialInNetNS dials from inside the network namespace at nsPath: a socket
// belongs to the namespace of the thread that created it, so the dial runs on
// a goroutine locked to its OS thread, switched into the namespace with setns
// and back afterwards.
//
// The thread is switched back and unlocked rather than left locked for the
// runtime to end with the goroutine: ending a thread fires the Pdeathsig of
// every child that thread happened to fork (go.dev/issue/27505), and the
// helpers start HAProxy with Pdeathsig from arbitrary threads. Only if the
// switch back fails does the thread stay locked, so that it is discarded
// instead of running other goroutines in the wrong namespace.
func DialInNetNS(ctx context.Context, nsPath, network, address string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := dialInNetNS(ctx, nsPath, network, address)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func dialInNetNS(ctx context.Context, nsPath, network, address string) (net.Conn, error) {
	runtime.LockOSThread()
	home, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("dial in %s: %w", nsPath, err)
	}
	defer home.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("dial in %s: %w", nsPath, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("dial in %s: setns: %w", nsPath, err)
	}
	// FallbackDelay < 0: no dual-stack racing, whose extra goroutines
	// would dial from other threads, outside the namespace.
	d := net.Dialer{FallbackDelay: -1}
	c, err := d.DialContext(ctx, network, address)
	if rerr := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); rerr != nil {
		// Stay locked: the runtime ends this thread with the goroutine.
		return c, err
	}
	runtime.UnlockOSThread()
	return c, err
}
