package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// ownedByNobody makes a directory mode 0755 that uid 65534 owns: what a
// local user who got there first (/run/lock is world-writable) leaves.
func ownedByNobody(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "bluegreen")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLockDirOfAnotherUserRefused: a lock directory another user made
// first is refused with a message naming it and its owner, and no lock
// file is made in it (its owner could hold or remove it).
func TestLockDirOfAnotherUserRefused(t *testing.T) {
	dir := ownedByNobody(t)
	h := newHAProxyLocks(dir)
	defer h.release()
	var svc spec.Service
	svc.HAProxy.Runtime = "unix:///run/haproxy/admin.sock"
	err := h.claim([]spec.Service{svc})
	if !errors.Is(err, safefile.ErrNotOwned) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "uid 65534") {
		t.Fatalf("claim in a lock directory owned by uid 65534 = %v, want ErrNotOwned naming %s and its owner", err, dir)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the controller made %d file(s) in the other user's directory", len(ents))
	}
}

// refusedDesired writes a desired state that validate refuses: a run with
// it stops right after start-up, whatever the state directory, with no
// HAProxy or Docker needed.
func refusedDesired(t *testing.T) string {
	t.Helper()
	bad := spectest.Web()
	bad.Active = "purple"
	file := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(file, []byte(bad.YAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestStateDirOfAnotherUserRefused: run refuses a state directory another
// user owns (who could plant approvals.json or stopped.json) before
// anything else (the desired state is not even read), naming the
// directory and its owner.
func TestStateDirOfAnotherUserRefused(t *testing.T) {
	dir := ownedByNobody(t)
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"run", "--once", "-f", refusedDesired(t), "--state-dir", dir, "--lock-dir", t.TempDir()}, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), dir) || !strings.Contains(errOut.String(), "uid 65534") {
		t.Fatalf("run with a state directory owned by uid 65534: exit %d, stderr %q; want %d and a message naming %s and its owner", code, errOut.String(), exitUsage, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "controller.lock")); err == nil {
		t.Errorf("the controller made its lock in the other user's directory")
	}
}
