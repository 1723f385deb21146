package state

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// generations is a file of the state directory that holds, per service,
// a generation an operator asked something for at the host (what: the
// requests it holds, for errors).
type generations struct {
	path, what string
	// read keeps what the file held when last read (nil: read every time).
	read *readMemo
}

// readMemo is a file's content as last read, with what stat said of it
// then: the loop asks for the requests at every pass, and a pass of one
// service is cheaper than opening three files.
type readMemo struct {
	mu   sync.Mutex
	info os.FileInfo // nil: nothing kept
	m    map[string]string
}

// get returns a copy of the content kept for the file that info describes.
func (r *readMemo) get(info os.FileInfo) (map[string]string, bool) {
	if r == nil {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.info == nil || !os.SameFile(r.info, info) || !r.info.ModTime().Equal(info.ModTime()) || r.info.Size() != info.Size() {
		return nil, false
	}
	return maps.Clone(r.m), true
}

// keep keeps m, read from the file that info (taken before the read)
// describes: if the file was replaced in between, the next stat differs
// and the file is read again. A nil info forgets.
func (r *readMemo) keep(info os.FileInfo, m map[string]string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.info, r.m = info, maps.Clone(m)
}

// all reads the file, unless it is the one read last time (the same file,
// size and modification time: a write replaces it); a missing file holds
// none.
func (g generations) all() (map[string]string, error) {
	info, err := os.Lstat(g.path)
	if errors.Is(err, os.ErrNotExist) {
		g.read.keep(nil, nil)
		return map[string]string{}, nil
	}
	if err == nil {
		if m, ok := g.read.get(info); ok {
			return m, nil
		}
	}
	b, err := safefile.ReadFile(g.path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", g.what, g.path, err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read %s %s: %w", g.what, g.path, err)
	}
	g.read.keep(info, m)
	return m, nil
}

// set records generation for service; doing says what, for the error.
func (g generations) set(service, generation, doing string) error {
	m, err := g.all()
	if err != nil {
		return err
	}
	m[service] = generation
	return g.write(m, service, generation, doing)
}

// drop forgets the generation of service when it is still generation;
// doing says what, for the error.
func (g generations) drop(service, generation, doing string) error {
	m, err := g.all()
	if err != nil {
		return err
	}
	if m[service] != generation {
		return nil
	}
	delete(m, service)
	return g.write(m, service, generation, doing)
}

// write replaces the file with m, written for service's generation
// (doing says how, for the error).
func (g generations) write(m map[string]string, service, generation, doing string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", g.what, err)
	}
	if err := safefile.WriteFile(g.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("%s %s generation %s in %s: %w", doing, service, generation, g.path, err)
	}
	return nil
}

// Approvals are manual promotions given at the host (controller promote):
// per service, the generation approved. They live in a file of the state
// directory, so that promoting needs no edit of a desired file that may
// come from git.
type Approvals struct{ g generations }

// NewApprovals keeps the approvals in the file at path.
func NewApprovals(path string) *Approvals {
	return &Approvals{generations{path, "approvals", &readMemo{}}}
}

// All reads the approvals; a missing file holds none.
func (a *Approvals) All() (map[string]string, error) { return a.g.all() }

// Approve records that service may switch to the release of generation.
func (a *Approvals) Approve(service, generation string) error {
	return a.g.set(service, generation, "approve")
}

// Outcomes of history entries that record an operator's request on a
// release, from the command line or the dashboard.
const (
	ActionPromoted          = "Promoted"
	ActionRollbackRequested = "RollbackRequested"
	ActionRetryRequested    = "RetryRequested"
)

// IsRequest reports an entry that records an operator's request
// (Promoted, RollbackRequested, RetryRequested), not a release attempt.
func (r Release) IsRequest() bool {
	switch r.Outcome {
	case ActionPromoted, ActionRollbackRequested, ActionRetryRequested:
		return true
	}
	return false
}

// Request is an operator's request on a release: the release (service,
// generation, the color and image it moves traffic to), who asked (a
// user, or a dashboard token's name), from where, and when.
type Request struct {
	Service, Generation string
	// Approval is what a promotion approves when it is not the
	// generation: a canary's step (planner.CanaryApproval).
	Approval string
	To       spec.Color
	ToImage  string
	By, Via  string
	At       time.Time
}

// Promote approves p's release and records the approval in h (when not
// nil), so that the history says who promoted what, and when. The
// approval stands even when the history cannot be written; the error
// says so.
func Promote(a *Approvals, h *History, p Request) error {
	if err := a.Approve(p.Service, cmp.Or(p.Approval, p.Generation)); err != nil {
		return err
	}
	return record(h, p, ActionPromoted, "promoted by %s (%s)")
}

// AskRollback asks for p's release to be rolled back, while it is being
// verified or held after a job that cannot be undone, and records the
// request in h (when not nil).
func AskRollback(r *Rollbacks, h *History, p Request) error {
	if err := r.Ask(p.Service, p.Generation); err != nil {
		return err
	}
	return record(h, p, ActionRollbackRequested, "rollback requested by %s (%s)")
}

// AskRetry asks for p's release, which was rolled back or failed, to be
// tried again as a new attempt, and records the request in h (when not
// nil).
func AskRetry(r *Retries, h *History, p Request) error {
	if err := r.Ask(p.Service, p.Generation); err != nil {
		return err
	}
	return record(h, p, ActionRetryRequested, "retry requested by %s (%s)")
}

// record appends p to h as an entry with outcome action; reason is a
// format of who and from where.
func record(h *History, p Request, action, reason string) error {
	if h == nil {
		return nil
	}
	r := Release{Service: p.Service, Generation: p.Generation, To: p.To, ToImage: p.ToImage, Start: p.At, End: p.At,
		Outcome: action, Reason: fmt.Sprintf(reason, p.By, p.Via), By: p.By}
	if err := h.Append(r); err != nil {
		return fmt.Errorf("%s of release %s of %s done, but not recorded: %w", action, p.Generation, p.Service, err)
	}
	return nil
}
