package spec

import (
	"fmt"

	"github.com/bluegreen-host/controller/pkg/haproxy/names"
)

// StrategyType says how traffic moves to the new color.
type StrategyType string

const (
	// StrategyBlueGreen moves all traffic at once (the default).
	StrategyBlueGreen StrategyType = "BlueGreen"
	// StrategyCanary moves a share of traffic first, in steps, through a
	// backend that holds a server of each color (Strategy.Backend).
	StrategyCanary StrategyType = "Canary"
)

// Strategy says how traffic moves to the new color: all at once, or in
// weighted steps during which HAProxy keeps each user on the version it
// first got (a cookie it inserts).
type Strategy struct {
	// Type is "BlueGreen" (default) or "Canary".
	Type StrategyType `json:"type,omitempty"`
	// Backend is the canary backend in haproxy.cfg (default
	// "<name>_canary"): one server per color, named "blue" and "green",
	// each tracking its color's server, and a cookie HAProxy inserts.
	Backend string `json:"backend,omitempty"`
	// Steps are the canary's steps, in order; after the last, the map
	// switches to the new color's backend as a blue/green release does.
	Steps []CanaryStep `json:"steps,omitempty"`
}

// CanaryStep is one step of a canary: Weight percent of the new users go
// to the new color, for Pause; a step without Pause waits for
// controller promote.
type CanaryStep struct {
	Weight int       `json:"weight"`
	Pause  *Duration `json:"pause,omitempty"`
}

// Canary returns the canary strategy, nil for a blue/green release.
func (s *ServiceSpec) Canary() *Strategy {
	if s.Strategy == nil || s.Strategy.Type != StrategyCanary {
		return nil
	}
	return s.Strategy
}

// CanaryServer is the name of color c's server in the canary backend, and
// the value of the cookie that keeps a user on it.
func CanaryServer(c Color) string { return string(c) }

// applyDefaults gives st its defaults for service name.
func (st *Strategy) applyDefaults(name string) {
	if st.Type == "" {
		st.Type = StrategyBlueGreen
	}
	if st.Type == StrategyCanary && st.Backend == "" {
		st.Backend = name + "_canary"
	}
}

// validateStrategy checks spec.strategy.
func (s *Service) validateStrategy(bad func(path, format string, args ...any)) {
	st := s.Strategy
	if st == nil {
		return
	}
	switch st.Type {
	case StrategyBlueGreen:
		if len(st.Steps) > 0 {
			bad("spec.strategy.steps", "are for type Canary; a BlueGreen release moves all traffic at once")
		}
		return
	case StrategyCanary:
	default:
		bad("spec.strategy.type", "%q is not a strategy: want \"BlueGreen\" or \"Canary\"", st.Type)
		return
	}
	checkHAProxy(bad, "spec.strategy.backend", names.ValidateBackendName(st.Backend))
	for _, c := range Colors() {
		if st.Backend == s.Color(c).Backend {
			bad("spec.strategy.backend", "%q is also %s's backend: the canary needs a backend of its own", st.Backend, c)
		}
	}
	if len(st.Steps) == 0 {
		bad("spec.strategy.steps", "are missing: give at least one, e.g. [{weight: 10, pause: 1m}]")
	}
	if s.ReplicaCount() > 1 {
		bad("spec.strategy.type", "Canary needs spec.replicas 1 (it is %d): the canary backend has one server per color", s.ReplicaCount())
	}
	for i, j := range s.Jobs {
		if j.Irreversible() {
			bad(fmt.Sprintf("spec.jobs[%d].reversible", i), "is false, and a canary serves the previous version too, after job %s ran: a job that cannot be undone cannot go with type Canary", j.Name)
		}
	}
	prev := 0
	for i, step := range st.Steps {
		at := fmt.Sprintf("spec.strategy.steps[%d]", i)
		switch {
		case step.Weight < 1 || step.Weight > 99:
			bad(at+".weight", "%d is out of range: want 1 to 99 (the percent of new users sent to the new version; after the last step it gets them all)", step.Weight)
		case step.Weight <= prev:
			bad(at+".weight", "%d must be above the step before (%d)", step.Weight, prev)
		}
		prev = step.Weight
		if step.Pause != nil && step.Pause.Duration <= 0 {
			bad(at+".pause", "%s must be positive (leave it out to wait for controller promote)", step.Pause.Duration)
		}
	}
}
