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
