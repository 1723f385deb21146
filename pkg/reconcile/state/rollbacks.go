package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/bluegreen-host/controller/internal/safefile"
)

// Rollbacks are the rollbacks asked for at the host (controller rollback,
// the dashboard): per service, the generation to roll back, while it is
// being verified or held after a job that cannot be undone (which goes
// back to its previous color only when asked). They live in a file of the
// state directory, as the approvals do.
type Rollbacks struct{ path string }

// NewRollbacks keeps the rollback requests in the file at path.
func NewRollbacks(path string) *Rollbacks { return &Rollbacks{path: path} }

// All reads the requests; a missing file holds none.
func (r *Rollbacks) All() (map[string]string, error) {
	b, err := safefile.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read rollback requests %s: %w", r.path, err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read rollback requests %s: %w", r.path, err)
	}
	return m, nil
}

// Ask records that the release of generation of service is to be rolled
// back.
func (r *Rollbacks) Ask(service, generation string) error {
	m, err := r.All()
	if err != nil {
		return err
	}
	m[service] = generation
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode rollback requests: %w", err)
	}
	if err := safefile.WriteFile(r.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("ask the rollback of %s generation %s in %s: %w", service, generation, r.path, err)
	}
	return nil
}
