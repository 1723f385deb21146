package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bluegreen-host/controller/internal/safefile"
)

// StopRecord says that the controller stopped a container: which one (by
// ID, so that a container recreated under the same name is not mistaken
// for it) and when it asked.
type StopRecord struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// FileStopRecords keeps the records in one JSON file, replaced atomically;
// with no path (tests, plan) in memory only.
type FileStopRecords struct {
	path string
	mu   sync.Mutex
	recs map[string]StopRecord
}

// NewStopRecords keeps the records in memory only (tests, plan).
func NewStopRecords() *FileStopRecords { return &FileStopRecords{recs: map[string]StopRecord{}} }

// LoadStopRecords reads the records at path; a missing file holds none.
func LoadStopRecords(path string) (*FileStopRecords, error) {
	f := &FileStopRecords{path: path, recs: map[string]StopRecord{}}
	b, err := safefile.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stop records %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &f.recs); err != nil {
		// Without them a container the controller stopped looks dead:
		// a served color is started again, a new color fails its release
		// and a spec change retries it. Say so and start afresh.
		f.recs = map[string]StopRecord{}
		return f, fmt.Errorf("read stop records %s: %w (starting with none: a container stopped earlier may be reported as exited)", path, err)
	}
	return f, nil
}

// Stopping records that the controller is about to stop container name.
func (f *FileStopRecords) Stopping(name string, r StopRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := make(map[string]StopRecord, len(f.recs)+1)
	for k, v := range f.recs {
		next[k] = v
	}
	next[name] = r
	if f.path == "" {
		f.recs = next
		return nil
	}
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return fmt.Errorf("encode stop records: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return fmt.Errorf("record the stop of %s in %s: %w", name, f.path, err)
	}
	if err := safefile.WriteFile(f.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("record the stop of %s in %s: %w", name, f.path, err)
	}
	f.recs = next
	return nil
}

// Get returns the last stop recorded for container name.
func (f *FileStopRecords) Get(name string) (StopRecord, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.recs[name]
	return r, ok
}
