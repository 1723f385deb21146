package reconcile

import (
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Listener hears what the loop does, for metrics and notifications. The
// loop calls it from its own goroutines, for steps of different services
// at once, and waits for each call: no method may block (hand slow work,
// such as a webhook, to a goroutine of your own).
type Listener interface {
	// Decided reports a service's decision after a pass (its phase and
	// reason) and what the service looks like then.
	Decided(v ServiceView, d planner.Decision, at time.Time)
	// ReleaseStarted reports the first step the loop takes for a new
	// generation of a service: traffic is to move from `from` (""
	// when nothing serves) to the spec's active color and image.
	ReleaseStarted(s *spec.Service, from spec.Color, at time.Time)
	// Stepped reports a step that ended after took, with err nil when it
	// was done.
	Stepped(service string, st planner.Step, took time.Duration, err error)
	// ReleaseEnded reports a release attempt's outcome, as the history
	// records it.
	ReleaseEnded(r state.Release)
	// ObserveFailed reports a pass of a service that could not observe
	// its world (reason as in status: DockerUnreachable, Timeout, ...).
	ObserveFailed(service string, reason planner.Reason, err error, at time.Time)
	// PassEnded reports the end of a pass; ok is false when the desired
	// state was refused or a service could not be observed or stepped.
	PassEnded(ok bool, at time.Time)
}

// ServiceView is what a Listener is told of a service with each decision.
type ServiceView struct {
	Service    string
	Generation string
	// Served is the color the map points at ("" for none).
	Served spec.Color
	// ServedUp: HAProxy says the served color's server is in service (UP,
	// or UP and failing, not yet DOWN).
	ServedUp bool
	// ServedRestarts counts the engine's restarts of the served color's
	// container since the controller last started it.
	ServedRestarts int
	// Traffic holds each color's backend response counters as HAProxy's
	// show stat gave them in this pass (they only grow, until HAProxy is
	// reloaded or restarted).
	Traffic map[spec.Color]planner.Counters
	// Canary is the canary step in force (Served is then the previous
	// color, which keeps the rest of the traffic); nil when none.
	Canary *planner.Split
}

// Listeners calls each of its listeners in turn.
type Listeners []Listener

func (os Listeners) Decided(v ServiceView, d planner.Decision, at time.Time) {
	for _, o := range os {
		o.Decided(v, d, at)
	}
}

func (os Listeners) ReleaseStarted(s *spec.Service, from spec.Color, at time.Time) {
	for _, o := range os {
		o.ReleaseStarted(s, from, at)
	}
}

func (os Listeners) Stepped(service string, st planner.Step, took time.Duration, err error) {
	for _, o := range os {
		o.Stepped(service, st, took, err)
	}
}

func (os Listeners) ReleaseEnded(r state.Release) {
	for _, o := range os {
		o.ReleaseEnded(r)
	}
}

func (os Listeners) ObserveFailed(service string, reason planner.Reason, err error, at time.Time) {
	for _, o := range os {
		o.ObserveFailed(service, reason, err, at)
	}
}

func (os Listeners) PassEnded(ok bool, at time.Time) {
	for _, o := range os {
		o.PassEnded(ok, at)
	}
}
