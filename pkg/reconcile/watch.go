package reconcile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
)

// Watch nudges whenever the desired state may have changed. For a file it
// watches the file's directory, so editors that save by writing a new file
// and renaming it over the old one are seen; for a directory, any .yaml or
// .yml file in it. Bursts of events within debounce make one nudge. A
// single file that appears whole (a new file renamed over it: its content
// came with it) nudges at once, without waiting for debounce: that is how
// most editors and tools save, and the release starts that much sooner; a
// write in place is waited for as before. Nudges never block: a nudge
// already pending covers the new one.
func Watch(ctx context.Context, path string, debounce time.Duration, log logr.Logger, nudge chan<- struct{}) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	dir, match := filepath.Dir(abs), func(name string) bool {
		base := filepath.Base(name)
		return name == abs || strings.HasPrefix(base, "..") // "..data" swaps of mounted config maps
	}
	whole := func(ev fsnotify.Event) bool { return ev.Name == abs && ev.Has(fsnotify.Create) && nonEmpty(abs) }
	if info.IsDir() {
		dir, match = abs, func(name string) bool {
			ext := filepath.Ext(name)
			return ext == ".yaml" || ext == ".yml" || strings.HasPrefix(filepath.Base(name), "..")
		}
		// A burst of renames (a git checkout) is read as one state.
		whole = func(fsnotify.Event) bool { return false }
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return fmt.Errorf("watch directory %s: %w", dir, err)
	}
	go func() {
		defer w.Close()
		var timer *time.Timer
		fire := func() {
			select {
			case nudge <- struct{}{}:
			default:
			}
		}
		for {
			select {
			case <-ctx.Done():
				if timer != nil {
					timer.Stop()
				}
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if !match(filepath.Clean(ev.Name)) || ev.Op == fsnotify.Chmod {
					continue
				}
				log.V(1).Info("Desired state changed on disk", "file", ev.Name, "op", ev.Op.String())
				if whole(ev) {
					if timer != nil {
						timer.Stop()
					}
					fire()
					continue
				}
				if timer == nil {
					timer = time.AfterFunc(debounce, fire)
				} else {
					timer.Reset(debounce)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Error(err, "Watching the desired state failed; the periodic resync still applies", "dir", dir)
			}
		}
	}()
	return nil
}

// nonEmpty reports a regular file with content at path. A file created in
// place is empty when its creation is seen; one renamed into place is not.
func nonEmpty(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular() && info.Size() > 0
}
