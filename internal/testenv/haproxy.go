package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// HAProxyHint is the hint given when the haproxy binary is missing.
const HAProxyHint = "haproxy not found: apt-get install -y haproxy (Debian's 2.6)"

// HAProxy is a real HAProxy started by a test in master-worker mode
// (`haproxy -W -db -S <dir>/master.sock -f <dir>/haproxy.cfg`).
type HAProxy struct {
	Dir        string // working directory given to StartHAProxy
	Config     string // path of the config file (Dir/haproxy.cfg)
	StatsSock  string // the runtime API socket named in the config
	MasterSock string // master CLI socket (Dir/master.sock)
	LogFile    string // stdout and stderr of the master and its workers
	PID        int    // master PID (stays the same across reloads; changes on Restart)
	Bin        string // haproxy executable

	// LastReload is how long the last Reload took from sending the command
	// until the new worker answered on the stats socket.
	LastReload time.Duration

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd.Wait returned

	prefix []string // command prefix (StartHAProxyIn: nsenter --net=NS --); none for StartHAProxy
}

// unix socket paths are limited to 107 bytes on Linux.
const maxSunPath = 107

// StartHAProxy writes cfg to dir/haproxy.cfg, starts HAProxy in master-worker
// mode and waits until statsSock (the runtime socket the caller put in cfg:
// a unix path, or host:port for a TCP socket) answers "show info". The process
// is stopped by PID when the test ends.
func StartHAProxy(t TB, dir, cfg, statsSock string) *HAProxy {
	t.Helper()
	return startHAProxy(t, dir, cfg, statsSock, nil)
}

// startHAProxy is StartHAProxy; a non-empty prefix runs HAProxy through a
// command that execs it (StartHAProxyIn: nsenter --net=NS --).
func startHAProxy(t TB, dir, cfg, statsSock string, prefix []string) *HAProxy {
	t.Helper()
	bin := RequireBinary(t, "haproxy", HAProxyHint)
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	h := &HAProxy{
		Dir:        abs,
		Config:     filepath.Join(abs, "haproxy.cfg"),
		StatsSock:  statsSock,
		MasterSock: filepath.Join(abs, "master.sock"),
		LogFile:    filepath.Join(abs, "haproxy.log"),
		Bin:        bin,
		prefix:     prefix,
	}
	for _, p := range []string{h.MasterSock, statsSock} {
		if strings.HasPrefix(p, "/") && len(p) > maxSunPath {
			t.Fatalf("testenv: unix socket path longer than %d bytes: %s (use a shorter dir, e.g. os.MkdirTemp(\"\", \"hx\"))", maxSunPath, p)
		}
	}
	if err := os.WriteFile(h.Config, []byte(cfg), 0o644); err != nil {
		t.Fatalf("testenv: writing haproxy config: %v", err)
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", h.Config).CombinedOutput(); err != nil {
		t.Fatalf("testenv: haproxy -c rejects the config (%v):\n%s\nconfig:\n%s", err, out, numbered(cfg))
	}
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("testenv: stopping haproxy: %v", err)
		}
	})
	if err := h.start(); err != nil {
		t.Fatalf("testenv: starting haproxy: %v\nlog tail:\n%s", err, h.LogTail(30))
	}
	return h
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, l)
	}
	return b.String()
}

func (h *HAProxy) start() error {
	logf, err := os.OpenFile(h.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "=== testenv: starting haproxy at %s\n", time.Now().Format(time.RFC3339Nano))
	args := []string{"-W", "-db", "-S", h.MasterSock, "-f", h.Config}
	cmd := exec.Command(h.Bin, args...)
	if len(h.prefix) > 0 {
		cmd = exec.Command(h.prefix[0], append(append(append([]string(nil), h.prefix[1:]...), h.Bin), args...)...)
	}
	cmd.Dir = h.Dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	// If the test binary dies (timeout panic, kill), the master gets SIGTERM
	// and takes its workers with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	h.mu.Lock()
	h.cmd, h.exited, h.PID = cmd, exited, cmd.Process.Pid
	h.mu.Unlock()

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("haproxy (pid %d) exited at start: %v", cmd.Process.Pid, cmd.ProcessState)
		default:
		}
		// Ready when the worker answers on the stats socket and the master
		// CLI (which may come up after the worker) lists it.
		err := h.ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after 15s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *HAProxy) ready() error {
	pid, err := h.workerPID()
	if err != nil {
		return fmt.Errorf("stats socket %s: show info: %w", h.StatsSock, err)
	}
	p, err := h.ShowProc()
	if err != nil {
		return fmt.Errorf("master socket %s: show proc: %w", h.MasterSock, err)
	}
	if len(p.Workers) != 1 || p.Workers[0] != pid {
		return fmt.Errorf("master lists workers %v, stats socket answers from pid %d", p.Workers, pid)
	}
	return nil
}

// workerPID asks the stats socket for "show info" and returns its Pid.
func (h *HAProxy) workerPID() (int, error) {
	out, err := SocketCommand(h.StatsSock, "show info", 2*time.Second)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "Pid: "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no Pid in show info: %q", out)
}

// socketAddr maps an HAProxy CLI address to a dial network and address: a
// unix path (optionally "unix@path"), or "host:port" (optionally "ipv4@").
func socketAddr(addr string) (network, address string) {
	if a, ok := strings.CutPrefix(addr, "unix@"); ok {
		return "unix", a
	}
	for _, p := range []string{"ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"} {
		if a, ok := strings.CutPrefix(addr, p); ok {
			return "tcp", a
		}
	}
	if _, port, err := net.SplitHostPort(addr); err == nil && !strings.Contains(addr, "/") {
		if _, err := strconv.Atoi(port); err == nil {
			return "tcp", addr
		}
	}
	return "unix", addr
}

// SocketCommand sends one command on a new connection to an HAProxy CLI
// socket (a unix path, or host:port) and reads the answer to EOF.
func SocketCommand(addr, cmd string, timeout time.Duration) (string, error) {
	network, address := socketAddr(addr)
	c, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, strings.TrimRight(cmd, "\n")+"\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return string(b), fmt.Errorf("%q: reading answer: %w", cmd, err)
	}
	return string(b), nil
}

// RuntimeErr is Runtime without failing the test.
func (h *HAProxy) RuntimeErr(cmd string) (string, error) {
	return SocketCommand(h.StatsSock, cmd, 5*time.Second)
}

// Runtime sends one command to the runtime API (stats socket) on its own
// connection and returns the whole answer, read to EOF.
func (h *HAProxy) Runtime(t TB, cmd string) string {
	t.Helper()
	out, err := h.RuntimeErr(cmd)
	if err != nil {
		t.Fatalf("testenv: haproxy runtime %q: %v\nlog tail:\n%s", cmd, err, h.LogTail(20))
	}
	return out
}

// MasterErr sends one command to the master CLI. The 2.6 master keeps the
// connection open after answering, so "; quit" is appended.
func (h *HAProxy) MasterErr(cmd string) (string, error) {
	return SocketCommand(h.MasterSock, cmd+"; quit", 5*time.Second)
}

// Master sends one command to the master CLI (e.g. "show proc", or "@1 show
// info" for the current worker) and returns its answer.
func (h *HAProxy) Master(t TB, cmd string) string {
	t.Helper()
	out, err := h.MasterErr(cmd)
	if err != nil {
		t.Fatalf("testenv: haproxy master CLI %q: %v\nlog tail:\n%s", cmd, err, h.LogTail(20))
	}
	return out
}

// Proc is the master's `show proc` answer, parsed.
type Proc struct {
	MasterPID  int
	Reloads    int   // reloads of the master
	Failed     int   // failed reloads
	Workers    []int // current workers
	OldWorkers []int // workers of earlier generations still finishing
}

// ParseShowProc parses the master CLI's `show proc` answer (2.6 layout).
func ParseShowProc(out string) (Proc, error) {
	var p Proc
	section := ""
	seenMaster := false
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
			continue
		case strings.HasPrefix(l, "#<PID>"):
			continue
		case strings.HasPrefix(l, "# "):
			section = strings.TrimPrefix(l, "# ")
			continue
		}
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			return p, fmt.Errorf("show proc: bad line %q", l)
		}
		switch {
		case f[1] == "master":
			seenMaster = true
			p.MasterPID = pid
			p.Reloads, _ = strconv.Atoi(f[2])
			if i := strings.Index(l, "[failed: "); i >= 0 {
				v, _, _ := strings.Cut(l[i+len("[failed: "):], "]")
				p.Failed, _ = strconv.Atoi(v)
			}
		case f[1] == "worker" && section == "workers":
			p.Workers = append(p.Workers, pid)
		case f[1] == "worker" && section == "old workers":
			p.OldWorkers = append(p.OldWorkers, pid)
		}
	}
	if !seenMaster {
		return p, fmt.Errorf("show proc: no master line in %q", out)
	}
	return p, nil
}

// ShowProc returns the master's parsed `show proc`.
func (h *HAProxy) ShowProc() (Proc, error) {
	out, err := h.MasterErr("show proc")
	if err != nil {
		return Proc{}, err
	}
	return ParseShowProc(out)
}

// Reload asks the master to reload (master CLI "reload", which answers
// nothing on 2.6) and waits until `show proc` lists exactly one current
// worker, a new one, and that worker answers on the stats socket. A failed
// reload (bad config: the old worker keeps serving) fails the test.
func (h *HAProxy) Reload(t TB) {
	t.Helper()
	before, err := h.ShowProc()
	if err != nil {
		t.Fatalf("testenv: reload: show proc before: %v\nlog tail:\n%s", err, h.LogTail(20))
	}
	start := time.Now()
	// The master re-executes itself: the connection just closes.
	if _, err := SocketCommand(h.MasterSock, "reload", 5*time.Second); err != nil {
		t.Fatalf("testenv: reload: %v", err)
	}
	deadline := start.Add(15 * time.Second)
	var last string
	for {
		if err := h.alive(); err != nil {
			t.Fatalf("testenv: reload: %v\nlog tail:\n%s", err, h.LogTail(30))
		}
		p, err := h.ShowProc()
		switch {
		case err != nil:
			last = err.Error() // the master is re-executing
		case p.Failed > before.Failed:
			t.Fatalf("testenv: reload failed (show proc: failed %d -> %d); the old worker keeps serving\nlog tail:\n%s",
				before.Failed, p.Failed, h.LogTail(30))
		case p.Reloads <= before.Reloads:
			last = fmt.Sprintf("master reload count still %d", p.Reloads)
		case len(p.Workers) != 1:
			last = fmt.Sprintf("current workers %v", p.Workers)
		case len(before.Workers) == 1 && p.Workers[0] == before.Workers[0]:
			last = "current worker unchanged"
		default:
			pid, err := h.workerPID()
			if err == nil && pid == p.Workers[0] {
				h.LastReload = time.Since(start)
				return
			}
			last = fmt.Sprintf("stats socket answers pid %d (err %v), new worker is %d", pid, err, p.Workers[0])
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: reload not complete after 15s: %s\nlog tail:\n%s", last, h.LogTail(30))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *HAProxy) alive() error {
	h.mu.Lock()
	exited, pid := h.exited, h.PID
	h.mu.Unlock()
	if exited == nil {
		return errors.New("haproxy is stopped")
	}
	select {
	case <-exited:
		return fmt.Errorf("haproxy master (pid %d) exited", pid)
	default:
		return nil
	}
}

// Restart stops HAProxy by PID and starts it again from the same config file
// (same sockets). Runtime changes are lost, as with a real restart.
func (h *HAProxy) Restart(t TB) {
	t.Helper()
	if err := h.stop(); err != nil {
		t.Fatalf("testenv: restart: stop: %v", err)
	}
	if err := h.start(); err != nil {
		t.Fatalf("testenv: restart: %v\nlog tail:\n%s", err, h.LogTail(30))
	}
}

// Stop stops HAProxy: SIGTERM to the master PID, SIGKILL after 3s, then any
// worker it listed that is still alive gets SIGKILL too. Stopping twice is
// harmless.
func (h *HAProxy) Stop(t TB) {
	t.Helper()
	if err := h.stop(); err != nil {
		t.Fatalf("testenv: stopping haproxy: %v", err)
	}
}

func (h *HAProxy) stop() error {
	h.mu.Lock()
	cmd, exited := h.cmd, h.exited
	h.mu.Unlock()
	if cmd == nil {
		return nil
	}
	var workers []int
	if p, err := h.ShowProc(); err == nil {
		workers = append(p.Workers, p.OldWorkers...)
	}
	select {
	case <-exited:
	default:
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	// The master waits for its workers before exiting; this is for the case
	// where it had to be killed.
	var errs []error
	for _, pid := range workers {
		gone := false
		for i := 0; i < 300 && !gone; i++ {
			gone = !pidAlive(pid)
			if !gone {
				time.Sleep(10 * time.Millisecond)
			}
		}
		if !gone && pidCmdlineContains(pid, h.Config) {
			syscall.Kill(pid, syscall.SIGKILL)
			errs = append(errs, fmt.Errorf("worker %d outlived its master by 3s: killed", pid))
		}
	}
	h.mu.Lock()
	h.cmd, h.exited = nil, nil
	h.mu.Unlock()
	return errors.Join(errs...)
}

// LogTail returns the last n lines of the HAProxy log file.
func (h *HAProxy) LogTail(n int) string {
	b, err := os.ReadFile(h.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(string(b), n)
}
