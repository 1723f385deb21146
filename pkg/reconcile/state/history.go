package state

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Release is one release attempt as the history keeps it.
type Release struct {
	Service    string `json:"service"`
	Generation string `json:"generation"`
	// Commit is the git commit of the desired state the release was
	// made for, when it comes from a repository.
	Commit    string     `json:"commit,omitempty"`
	From      spec.Color `json:"from,omitempty"`
	To        spec.Color `json:"to"`
	FromImage string     `json:"fromImage,omitempty"`
	ToImage   string     `json:"toImage"`
	// FromImageID and ToImageID are the images the containers ran.
	FromImageID string    `json:"fromImageID,omitempty"`
	ToImageID   string    `json:"toImageID,omitempty"`
	Start       time.Time `json:"start"`
	// SwitchedAt is when traffic moved to To (zero: it never did).
	SwitchedAt *time.Time `json:"switchedAt,omitempty"`
	End        time.Time  `json:"end"`
	// Outcome is Succeeded, RolledBack, Failed or Superseded; Reason says
	// why, with the figures of a verification. An entry that records an
	// operator's action instead of a release's end has the action as its
	// Outcome (Promoted) and who took it in By.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// Jobs are the release's jobs (spec.jobs) as they ran: exit code,
	// times, outcome and last log lines.
	Jobs []planner.JobRecord `json:"jobs,omitempty"`
	By   string              `json:"by,omitempty"`
}

// Switched is the color release r moved traffic to and when; zero when r
// is nil or did not move it.
func (r *Release) Switched() (spec.Color, time.Time) {
	if r == nil || r.SwitchedAt == nil {
		return "", time.Time{}
	}
	return r.To, *r.SwitchedAt
}

// historyKeep bounds the history: once it holds twice as many entries, the
// oldest are dropped down to this many. A variable for the tests.
var historyKeep = 1000

// History is the append-only record of release attempts, one JSON object
// a line, in a file of the state directory.
type History struct {
	path string
	mu   sync.Mutex
}

// NewHistory keeps the history in the file at path.
func NewHistory(path string) *History { return &History{path: path} }

// Append adds one release at the end of the history. Other processes
// append too (controller promote, rollback and retry record who asked): each
// holds the history's lock file while it appends and trims, so that a
// trim, which replaces the file, never drops a line another process has
// just appended to the file it replaces.
func (h *History) Append(r Release) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode release of %s: %w", r.Service, err)
	}
	unlock, err := h.lock()
	if err != nil {
		return err
	}
	defer unlock()
	f, err := safefile.Open(h.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("append to release history %s: %w", h.path, err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to release history %s: %w", h.path, err)
	}
	return h.trim()
}

// lock takes the history's lock file (history.jsonl.lock beside it),
// waiting for the process that holds it: no one holds it for longer than
// an append and a trim.
func (h *History) lock() (unlock func(), err error) {
	path := h.path + ".lock"
	f, err := safefile.Open(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock release history: open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock release history: %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}

// trim drops the oldest entries once there are 2*historyKeep.
func (h *History) trim() error {
	b, err := safefile.ReadFile(h.path)
	if err != nil {
		return fmt.Errorf("read release history %s: %w", h.path, err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) <= 2*historyKeep {
		return nil
	}
	kept := bytes.Join(lines[len(lines)-historyKeep-1:], nil)
	if err := safefile.WriteFile(h.path, kept, 0o600); err != nil {
		return fmt.Errorf("trim release history %s: %w", h.path, err)
	}
	return nil
}

// ReadHistory returns the releases in the history file at path, oldest
// first, of one service (all when service is ""). A missing file holds none.
// A symbolic link at path is refused, not followed: whoever planted it
// would have the controller's user print another file.
func ReadHistory(path, service string) ([]Release, error) {
	f, err := safefile.Open(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read release history %s: %w", path, err)
	}
	defer f.Close()
	var out []Release
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var r Release
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return out, fmt.Errorf("read release history %s line %d: %w", path, n, err)
		}
		if service == "" || r.Service == service {
			out = append(out, r)
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read release history %s: %w", path, err)
	}
	return out, nil
}

// ReleaseOf is the history entry of a verification that ended.
func ReleaseOf(service string, v *planner.Verification, start time.Time) Release {
	sw := v.SwitchedAt
	r := Release{Service: service, Generation: v.Generation, From: v.From, To: v.To,
		FromImage: v.FromImage, ToImage: v.ToImage, FromImageID: v.FromImageID, ToImageID: v.ToImageID,
		Start: start, SwitchedAt: &sw, Outcome: v.Outcome, Reason: v.Reason}
	if start.IsZero() || start.After(sw) {
		r.Start = sw
	}
	if v.EndedAt != nil {
		r.End = *v.EndedAt
	}
	return r
}
