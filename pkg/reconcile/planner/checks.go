package planner

import (
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// CheckRecord is the outcome of a color's pre-switch checks, persisted in
// status: for which release, which run of which container, and how it went.
type CheckRecord struct {
	Generation string     `json:"generation"`
	Color      spec.Color `json:"color"`
	// Container and StartedAt name the run of the container checked: a
	// container restarted since is checked again.
	Container string    `json:"container"`
	StartedAt time.Time `json:"startedAt"`
	Passed    bool      `json:"passed"`
	// Failure is the failing check and its answer.
	Failure string    `json:"failure,omitempty"`
	At      time.Time `json:"at"`
}

// of reports whether r is about color c of this release as it runs now.
func (r *CheckRecord) of(s *spec.Service, c spec.Color, ct Container) bool {
	return r != nil && r.Generation == s.Generation() && r.Color == c && r.Container == ct.ID && r.StartedAt.Equal(ct.StartedAt)
}
