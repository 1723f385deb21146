package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestStartRemovesCutWrites: the temporary files that writes of the state
// files cut by SIGKILL left in the state directory are removed when the
// controller starts (it holds the directory's lock: no writer of them is
// alive); a link, another file's temporary file and controller promote's
// (which writes without the lock) are left alone.
func TestStartRemovesCutWrites(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{\"services\":"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{".status.json.tmp-2950812345", ".history.jsonl.tmp-17", ".stopped.json.tmp-4", ".approvals.json.tmp-99", ".notes.tmp-3", "status.json.tmp-5"} {
		write(name)
	}
	outside := filepath.Join(t.TempDir(), "kept")
	if err := os.WriteFile(outside, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, ".status.json.tmp-6")); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	run(t.Context(), []string{"run", "--once", "-f", refusedDesired(t), "--state-dir", dir, "--lock-dir", t.TempDir()}, &out, &errOut)

	var left []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		left = append(left, e.Name())
	}
	for _, gone := range []string{".status.json.tmp-2950812345", ".history.jsonl.tmp-17", ".stopped.json.tmp-4"} {
		if slices.Contains(left, gone) {
			t.Errorf("%s is still in the state directory after a start", gone)
		}
	}
	for _, kept := range []string{".approvals.json.tmp-99", ".notes.tmp-3", "status.json.tmp-5", ".status.json.tmp-6"} {
		if !slices.Contains(left, kept) {
			t.Errorf("%s was removed; only the controller's own temporary files, regular files, may be", kept)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "kept" {
		t.Errorf("the link's target now holds %q", b)
	}
	if strings.Contains(errOut.String(), "Temporary files left") {
		t.Errorf("the clean-up failed: %s", errOut.String())
	}
}
