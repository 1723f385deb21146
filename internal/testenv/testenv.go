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

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: no free port on 127.0.0.1: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
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
	t.Fatalf("testenv: %s not found in PATH nor /usr/sbin: %s", name, hint)
	return ""
}

// WaitFor polls cond every 10ms until it is true; after timeout it fails the
// test with msg. It is a gate for the next step, not a timing assertion.
func WaitFor(t TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: timed out after %s: %s", timeout, msg)
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
