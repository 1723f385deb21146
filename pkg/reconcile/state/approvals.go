package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Approvals are manual promotions given at the host (controller promote):
// per service, the generation approved. They live in a file of the state
// directory, so that promoting needs no edit of a desired file that may
// come from git.
type Approvals struct{ path string }

// NewApprovals keeps the approvals in the file at path.
func NewApprovals(path string) *Approvals { return &Approvals{path: path} }

// All reads the approvals; a missing file holds none.
func (a *Approvals) All() (map[string]string, error) {
	b, err := safefile.ReadFile(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read approvals %s: %w", a.path, err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read approvals %s: %w", a.path, err)
	}
	return m, nil
}

// Approve records that service may switch to the release of generation.
func (a *Approvals) Approve(service, generation string) error {
	m, err := a.All()
	if err != nil {
		return err
	}
	m[service] = generation
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode approvals: %w", err)
	}
	if err := safefile.WriteFile(a.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("approve %s generation %s in %s: %w", service, generation, a.path, err)
	}
	return nil
}

// ActionPromoted is the Outcome of a history entry that records a
// promotion, from the command line or the dashboard.
const ActionPromoted = "Promoted"

// Promotion is one approval of a release waiting for promotion: the
// release (service, generation, the color and image it moves traffic to),
// who gave it (a user, or a dashboard token's name), from where, and when.
type Promotion struct {
	Service, Generation string
	To                  spec.Color
	ToImage             string
	By, Via             string
	At                  time.Time
}

// Promote approves p's release and records the approval in h (when not
// nil), so that the history says who promoted what, and when. The
// approval stands even when the history cannot be written; the error
// says so.
func Promote(a *Approvals, h *History, p Promotion) error {
	if err := a.Approve(p.Service, p.Generation); err != nil {
		return err
	}
	if h == nil {
		return nil
	}
	r := Release{Service: p.Service, Generation: p.Generation, To: p.To, ToImage: p.ToImage, Start: p.At, End: p.At,
		Outcome: ActionPromoted, Reason: fmt.Sprintf("promoted by %s (%s)", p.By, p.Via), By: p.By}
	if err := h.Append(r); err != nil {
		return fmt.Errorf("release %s of %s approved, but not recorded: %w", p.Generation, p.Service, err)
	}
	return nil
}
