package flock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/safefile"
)

func TestSecondHolderIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "controller.lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatalf("first Acquire: %v", err)
	}
	_, err = Acquire(path)
	if !errors.Is(err, ErrHeld) {
		t.Fatalf("second Acquire: got %v, want ErrHeld", err)
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error does not name the holder: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

// TestKilledHolderDoesNotBlock: a process holding the lock is killed with
// SIGKILL; the lock is free at once.
func TestKilledHolderDoesNotBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "controller.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), "FLOCK_HOLD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "held" {
		t.Fatalf("child did not take the lock: %q %v", line, err)
	}
	if _, err := Acquire(path); !errors.Is(err, ErrHeld) {
		t.Fatalf("Acquire while the child holds it: got %v, want ErrHeld", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	l, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	l.Release()
}

// TestHelperHoldLock is the child of TestKilledHolderDoesNotBlock.
func TestHelperHoldLock(t *testing.T) {
	path := os.Getenv("FLOCK_HOLD")
	if path == "" {
		return // not a child: nothing to do
	}
	if _, err := Acquire(path); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("held")
	time.Sleep(time.Minute)
	os.Exit(0)
}

// TestLockThroughSymlinkRefused: a symbolic link planted at the lock path
// is not followed: its target is neither truncated nor given the PID.
func TestLockThroughSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "shadow")
	if err := os.WriteFile(target, []byte("root:x:0:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "controller.lock")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if l, err := Acquire(path); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		if l != nil {
			l.Release()
		}
		t.Fatalf("Acquire through a symlink = %v, want it refused", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "root:x:0:0\n" {
		t.Fatalf("the link's target now holds %q", b)
	}
}

// TestLockFileOfAnotherUserRefused: a lock file another user planted (who
// can then flock it and keep every controller out) is refused with its
// owner named, not taken.
func TestLockFileOfAnotherUserRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	path := filepath.Join(t.TempDir(), "haproxy-0123456789abcdef.lock")
	if err := os.WriteFile(path, []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(path)
	if err == nil {
		l.Release()
	}
	if !errors.Is(err, safefile.ErrNotOwned) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "uid 65534") {
		t.Fatalf("Acquire of a lock file owned by uid 65534 = %v, want ErrNotOwned naming the file and its owner", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "4242\n" {
		t.Errorf("the planted lock file now holds %q", b)
	}
}
