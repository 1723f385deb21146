package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/bluegreen-host/controller/internal/safefile"
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
