package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// watched starts Watch on path with a debounce far longer than the test,
// so that a nudge seen comes from an event read at once.
func watched(t *testing.T, path string) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	nudge := make(chan struct{}, 1)
	if err := Watch(ctx, path, time.Hour, logr.Discard(), nudge); err != nil {
		t.Fatal(err)
	}
	return nudge
}

// saveByRename saves content at path as most editors do: a new file
// renamed over it.
func saveByRename(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-save")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestWatchReadsARenamedFileAtOnce: a desired file saved by renaming a new
// file over it is whole when its event comes, so it nudges without the
// debounce (an hour here); a write in place and a rename into a watched
// directory still wait for it.
func TestWatchReadsARenamedFileAtOnce(t *testing.T) {
	t.Run("file renamed over", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "desired.yaml")
		if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		nudge := watched(t, path)
		saveByRename(t, path, "new\n")
		select {
		case <-nudge:
		case <-time.After(10 * time.Second):
			t.Fatal("a save by rename did not nudge before the debounce")
		}
	})
	quiet := func(t *testing.T, nudge <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-nudge:
			t.Fatalf("%s nudged before the debounce", what)
		case <-time.After(300 * time.Millisecond):
		}
	}
	t.Run("file written in place", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "desired.yaml")
		if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		nudge := watched(t, path)
		if err := os.WriteFile(path, []byte("new\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		quiet(t, nudge, "a write in place")
	})
	t.Run("file created empty, then written", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "desired.yaml")
		if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		nudge := watched(t, path)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		quiet(t, nudge, "an empty file created in place")
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		nudge := watched(t, dir)
		saveByRename(t, filepath.Join(dir, "api.yaml"), "new\n")
		quiet(t, nudge, "a rename into a directory")
	})
}
