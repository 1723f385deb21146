// Package testenv holds helpers for integration and end-to-end tests: free
// ports, required binaries, a real HAProxy in master-worker mode, demo app
// images built with the docker CLI, and building the project's binaries.
//
// The helpers take a TB (a *testing.T or *testing.B satisfies it; so can a
// small runner in a benchmark program) and fail the test (t.Fatalf) when
// something the test needs is missing: they never skip, so a machine without
// HAProxy or Docker shows up as a failure with a hint, not as a silent pass.
//
// Processes are started by the helpers and stopped by PID, never by name.
package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TB is the part of testing.TB the helpers use. testing.TB satisfies it;
// programs that are not tests (the benchmark under bench/) pass their own.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// FreePort returns a TCP port on 127.0.0.1 for a server the test starts
// next. Two things could take the port between this call and that bind, and
// both are ruled out:
//   - the kernel's ephemeral range (net.ipv4.ip_local_port_range), from which
//     every outgoing connection of a load generator in a parallel test
//     package takes its local port: ports come from below that range;
//   - another test process calling FreePort: each port is reserved by an
//     flock on a file under the temp dir, held until the test ends.
func FreePort(t TB) int {
	t.Helper()
	lo, hi := portPool()
	n := hi - lo + 1
	start := int(portSeq.Add(1)) + os.Getpid()*7919
	for i := 0; i < n; i++ {
		port := lo + (start+i*104729)%n
		if f := reservePort(port); f != nil {
			t.Cleanup(func() { f.Close() })
			return port
		}
	}
	t.Fatalf("testenv: no free port on 127.0.0.1 in %d-%d", lo, hi)
	return 0
}

var portSeq atomic.Int64

// FreePorts returns the first of n consecutive free ports on 127.0.0.1,
// each reserved as FreePort reserves one (a color's replicas publish
// consecutive ports).
func FreePorts(t TB, n int) int {
	t.Helper()
	lo, hi := portPool()
	span := hi - lo + 1 - n
	start := int(portSeq.Add(1)) + os.Getpid()*7919
	for i := 0; i < span; i++ {
		first := lo + (start+i*104729)%span
		var held []*os.File
		for p := first; p < first+n; p++ {
			f := reservePort(p)
			if f == nil {
				break
			}
			held = append(held, f)
		}
		if len(held) == n {
			for _, f := range held {
				t.Cleanup(func() { f.Close() })
			}
			return first
		}
		for _, f := range held {
			f.Close()
		}
	}
	t.Fatalf("testenv: no %d consecutive free ports on 127.0.0.1 in %d-%d", n, lo, hi)
	return 0
}

// portPool is the range FreePort draws from: from 20000 to just below the
// ephemeral range (20000-32767 with Linux's default 32768-60999).
func portPool() (lo, hi int) {
	lo, hi = 20000, 32767
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) == 2 {
		if eph, err := strconv.Atoi(f[0]); err == nil && eph-1 > lo+1000 {
			hi = eph - 1
		}
	}
	return lo, hi
}

// reservePort locks port's file and checks that the port can be bound. It
// returns the open lock file (closing it frees the port for other test
// processes), or nil when the port is taken.
func reservePort(port int) *os.File {
	dir := filepath.Join(os.TempDir(), "bluegreen-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		f.Close()
		return nil
	}
	ln.Close()
	return f
}

// RequireBinary returns the path of the executable name, looked up in PATH
// and then in /usr/sbin, /sbin and /usr/local/sbin (not always in PATH). When
// absent it fails the test with hint, e.g. "apt-get install -y haproxy".
func RequireBinary(t TB, name, hint string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, "%s not found in PATH nor /usr/sbin: %s", name, hint)
	return ""
}

// Missing fails t for a dependency that is not there (HAProxy, the Docker
// engine, promtool): the full run needs everything. Only a run that asks
// for it with go test -short skips the test instead, with the same words,
// for a quick check on a machine without them.
func Missing(t TB, format string, args ...any) {
	t.Helper()
	if s, ok := t.(interface{ Skipf(string, ...any) }); ok && testing.Testing() && testing.Short() {
		s.Skipf("testenv: skipped in -short mode: "+format, args...)
		return
	}
	t.Fatalf("testenv: "+format+" (go test -short skips the tests that need it)", args...)
}

// WaitFor polls cond every 10ms until it is true; after timeout it fails the
// test with msg. It is a gate for the next step, not a timing assertion.
func WaitFor(t TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	WaitUntil(t, timeout, msg, cond, nil)
}

// WaitUntil is WaitFor, the one poll-until of the tests; at timeout the
// failure adds what detail says then (nil: nothing), e.g. the last state
// seen or a log tail.
func WaitUntil(t TB, timeout time.Duration, msg string, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			more := ""
			if detail != nil {
				more = "\n" + detail()
			}
			t.Fatalf("testenv: timed out after %s: %s%s", timeout, msg, more)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pidAlive reports whether a process with this PID exists and is not a
// zombie.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return true
	}
	st := s[i+2]
	return st != 'Z' && st != 'X'
}

// PIDAlive reports whether /proc/<pid> exists and is not a zombie. Tests use
// it to check that a stopped process is gone.
func PIDAlive(pid int) bool { return pidAlive(pid) }

// pidCmdlineContains reports whether /proc/<pid>/cmdline contains s, to make
// sure a PID still names the process we started before signalling it.
func pidCmdlineContains(pid int, s string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s)
}

var (
	tmpOnce sync.Once
	tmpDir  string
	tmpErr  error
)

// processTempDir is a directory that lives as long as this test binary: it is
// shared by tests (built binaries, docker contexts) so it cannot be a
// t.TempDir. Its name carries the PID; directories left by test binaries that
// are gone are removed when the next one creates its own.
func processTempDir(t TB) string {
	t.Helper()
	tmpOnce.Do(func() {
		const prefix = "bluegreen-testenv-"
		if old, err := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*")); err == nil {
			for _, d := range old {
				rest := strings.TrimPrefix(filepath.Base(d), prefix)
				pidStr, _, _ := strings.Cut(rest, "-")
				if pid, err := strconv.Atoi(pidStr); err == nil && pid != os.Getpid() && !pidAlive(pid) {
					os.RemoveAll(d)
				}
			}
		}
		tmpDir, tmpErr = os.MkdirTemp("", fmt.Sprintf("%s%d-", prefix, os.Getpid()))
	})
	if tmpErr != nil {
		t.Fatalf("testenv: temp dir: %v", tmpErr)
	}
	return tmpDir
}

// ModuleRoot walks up from the working directory to the directory holding
// go.mod.
func ModuleRoot(t TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
