package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestSecondControllerRefused: while one controller watches, a second one
// on the same state directory, in --once or in watch mode, is refused with
// exit code 3 and a message naming the lock file and the holder's PID; so is
// one with another state directory, on the same HAProxy. A lock left by a
// controller killed with SIGKILL does not block the next one.
func TestSecondControllerRefused(t *testing.T) {
	e := newEnv(t)
	e.save(spec.Blue, "v1")
	first := e.start()
	e.waitConverged(2 * time.Minute)
	lockPath := filepath.Join(e.stateDir, "controller.lock")
	firstPID := strconv.Itoa(first.cmd.Process.Pid)
	testenv.WaitFor(t, 10*time.Second, "the lock file names the first controller", func() bool {
		b, _ := os.ReadFile(lockPath)
		return strings.TrimSpace(string(b)) == firstPID
	})
	statusBefore, err := os.ReadFile(filepath.Join(e.stateDir, "status.json"))
	if err != nil {
		t.Fatal(err)
	}

	refused := func(mode string, code int, out string, holder string) {
		t.Helper()
		t.Logf("second controller (%s): exit %d: %s", mode, code, strings.TrimSpace(out))
		if code != 3 {
			t.Fatalf("second controller (%s) exited %d, want 3 (another controller holds the lock); output:\n%s", mode, code, out)
		}
		if !strings.Contains(out, lockPath) {
			t.Errorf("second controller (%s): the message does not name the lock file %s:\n%s", mode, lockPath, out)
		}
		if !regexp.MustCompile(`\b` + holder + `\b`).MatchString(out) {
			t.Errorf("second controller (%s): the message does not name the holder's PID %s:\n%s", mode, holder, out)
		}
	}

	// --once.
	code, out := e.once()
	refused("--once", code, out, firstPID)

	// Watch mode: it must exit on its own; a refused controller that kept
	// running would be stopped here by its PID and fail the test.
	code, out = runToExit(t, e.command("run"), 30*time.Second)
	refused("watch", code, out, firstPID)

	// Another state directory does not let a second controller in: each
	// HAProxy the desired state names is locked for the whole host.
	other := filepath.Join(e.dir, "other-state")
	code, out = runToExit(t, e.command("run", "--once", "--state-dir", other), 30*time.Second)
	t.Logf("second controller (another state directory): exit %d: %s", code, strings.TrimSpace(out))
	if code != 3 || !strings.Contains(out, "another controller drives the HAProxy at unix://"+e.specSock) ||
		!regexp.MustCompile(`\b`+firstPID+`\b`).MatchString(out) {
		t.Errorf("a second controller with another state directory: exit %d, want 3 and a message naming the HAProxy and pid %s:\n%s", code, firstPID, out)
	}

	select {
	case <-first.done:
		t.Fatalf("the first controller exited while the second was refused:\n%s", first.output())
	default:
	}
	if b, _ := os.ReadFile(lockPath); strings.TrimSpace(string(b)) != firstPID {
		t.Errorf("the lock file says %q after the refusals, want the first controller's PID %s", b, firstPID)
	}
	if b, _ := os.ReadFile(filepath.Join(e.stateDir, "status.json")); string(b) != string(statusBefore) {
		t.Errorf("a refused controller changed status.json:\nbefore %s\nafter  %s", statusBefore, b)
	}

	// A crash leaves the lock file behind, but not the lock.
	first.kill()
	if _, err := os.Stat(lockPath); err != nil {
		t.Fatalf("lock file after SIGKILL: %v", err)
	}
	e.save(spec.Green, "v2")
	code, out = e.once()
	if code != 0 {
		t.Fatalf("after the holder was killed, --once exited %d, want 0 (the lock is free and the release converges); output:\n%s", code, out)
	}
	e.waitConverged(10 * time.Second)
	e.assertFrontend("green v2")

	// And the lock is really taken again by the next watcher.
	second := e.start()
	secondPID := strconv.Itoa(second.cmd.Process.Pid)
	testenv.WaitFor(t, 30*time.Second, "the lock file names the new controller", func() bool {
		b, _ := os.ReadFile(lockPath)
		return strings.TrimSpace(string(b)) == secondPID
	})
	code, out = e.once()
	refused("--once while the new controller watches", code, out, secondPID)
	second.stop()
}

// runToExit runs cmd to its end and returns its exit code and combined
// output; a process still running after timeout is killed by its PID and
// fails the test.
func runToExit(t *testing.T, cmd *exec.Cmd, timeout time.Duration) (int, string) {
	t.Helper()
	// One writer for both: exec calls it from one goroutine at a time, and
	// Wait returns once the copying is done.
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), buf.String()
		}
		if err != nil {
			t.Fatalf("run %s: %v", cmd.Path, err)
		}
		return 0, buf.String()
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %v still running after %s (it should have been refused at once); output:\n%s",
			cmd.Path, cmd.Args[1:], timeout, buf.String())
		return 0, ""
	}
}
