package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/safefile"
)

// TestHistoryThroughSymlinkRefused: a history.jsonl planted as a symbolic
// link to a file only root may read is refused by controller history (and
// by the trim after an append), and no line of its target is returned.
func TestHistoryThroughSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "root-only.jsonl")
	secret := `{"service":"root-password-is-hunter2","to":"blue"}` + "\n"
	if err := os.WriteFile(target, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "history.jsonl")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	rs, err := ReadHistory(path, "")
	if !errors.Is(err, safefile.ErrNotRegular) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("ReadHistory through a symlink = %v, want it refused naming the link", err)
	}
	if len(rs) != 0 {
		t.Errorf("ReadHistory through a symlink returned %+v from its target", rs)
	}
	if err := NewHistory(path).Append(Release{Service: "web", To: "green", End: time.Now()}); err == nil {
		t.Errorf("Append through a symlink: no error, want it refused")
	}
	if b, _ := os.ReadFile(target); string(b) != secret {
		t.Errorf("the link's target now holds %q", b)
	}
}

// TestHistoryAppendsOfTwoProcessesAllKept: two writers of one history file
// (the controller and controller promote or rollback, each with its own
// History) append at once while trims replace the file: no line is lost or
// torn. Without the lock file a line appended to the file a trim was
// replacing was lost.
func TestHistoryAppendsOfTwoProcessesAllKept(t *testing.T) {
	keep := historyKeep
	historyKeep = 5
	defer func() { historyKeep = keep }()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	const each = 300
	errs := make(chan error, 2)
	for _, who := range []string{"controller", "promote"} {
		h := NewHistory(path) // its own mutex: only the lock file orders the two
		go func() {
			for i := 0; i < each; i++ {
				if err := h.Append(Release{Service: "web", By: who, Outcome: "Succeeded"}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// One append after another: the file grows to 2*keep lines, is
	// trimmed to keep, and so on.
	want := 0
	for i := 0; i < 2*each; i++ {
		if want++; want >= 2*historyKeep {
			want = historyKeep
		}
	}
	rs, err := ReadHistory(path, "")
	if err != nil {
		t.Fatalf("read the history: %v", err)
	}
	if len(rs) != want {
		t.Errorf("the history holds %d releases after %d appends, want %d: an append or a trim was lost to the other writer", len(rs), 2*each, want)
	}
}
