package notify

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Event types.
const (
	ReleaseStarted    = "ReleaseStarted"
	ReleaseSucceeded  = "ReleaseSucceeded"
	ReleaseFailed     = "ReleaseFailed"
	ReleaseRolledBack = "ReleaseRolledBack"
	ReleaseSuperseded = "ReleaseSuperseded"
	// ReleaseHeld: the release failed its verification after a job that
	// cannot be undone; traffic stays on the new color until a person
	// decides.
	ReleaseHeld = "ReleaseHeld"
	CrashLoop   = "CrashLoop"
	// ServedColorDown: HAProxy says the served color is DOWN (an outage).
	ServedColorDown = "ServedColorDown"
	// ServedColorRestarted: the served color was restarted for failing
	// its health (spec.health.restartAfter).
	ServedColorRestarted = "ServedColorRestarted"
	// CanaryStep: a canary's step began (the map key points at the canary
	// backend with its weights).
	CanaryStep = "CanaryStep"
)

// endedTypes maps a release's outcome to its event type.
var endedTypes = map[string]string{
	planner.OutcomeSucceeded:  ReleaseSucceeded,
	planner.OutcomeFailed:     ReleaseFailed,
	planner.OutcomeRolledBack: ReleaseRolledBack,
	planner.OutcomeSuperseded: ReleaseSuperseded,
	planner.OutcomeHeld:       ReleaseHeld,
}

// Event is the JSON body of one webhook request (see the package comment).
type Event struct {
	ID         string     `json:"id"`
	Type       string     `json:"type"`
	Service    string     `json:"service"`
	Seq        uint64     `json:"seq"`
	Generation string     `json:"generation,omitempty"`
	From       spec.Color `json:"from,omitempty"`
	To         spec.Color `json:"to,omitempty"`
	FromImage  string     `json:"fromImage,omitempty"`
	ToImage    string     `json:"toImage,omitempty"`
	Outcome    string     `json:"outcome,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Time       time.Time  `json:"time"`
	// Start, SwitchedAt and End are an ended release's times.
	Start      *time.Time `json:"start,omitempty"`
	SwitchedAt *time.Time `json:"switchedAt,omitempty"`
	End        *time.Time `json:"end,omitempty"`
	// Color and Restarts are a crash loop's served color and the engine's
	// restart count of its container.
	Color    spec.Color `json:"color,omitempty"`
	Restarts int        `json:"restarts,omitempty"`
	// Step (from 1), Steps and Weight are a canary step's.
	Step   int `json:"step,omitempty"`
	Steps  int `json:"steps,omitempty"`
	Weight int `json:"weight,omitempty"`
	// Text says it in one line, for people.
	Text string `json:"text"`
}

func startedEvent(s *spec.Service, from spec.Color, at time.Time) Event {
	serving := "nothing serves yet"
	if from != "" {
		serving = string(from) + " serves now"
	}
	gen := s.Generation()
	return Event{Type: ReleaseStarted, Service: s.Name, Generation: gen, From: from, To: s.ActiveColor,
		ToImage: s.Image, Time: at,
		Text: fmt.Sprintf("%s: release %s started: %s to serve %s (%s)", s.Name, gen, s.ActiveColor, s.Image, serving)}
}

func endedEvent(r state.Release) Event {
	typ, ok := endedTypes[r.Outcome]
	if !ok {
		typ = "Release" + r.Outcome
	}
	at := r.End
	if at.IsZero() {
		at = time.Now()
	}
	e := Event{Type: typ, Service: r.Service, Generation: r.Generation, From: r.From, To: r.To,
		FromImage: r.FromImage, ToImage: r.ToImage, Outcome: r.Outcome, Reason: r.Reason, Time: at,
		SwitchedAt: r.SwitchedAt, End: timeOrNil(r.End), Start: timeOrNil(r.Start)}
	if e.SwitchedAt != nil && e.SwitchedAt.IsZero() {
		e.SwitchedAt = nil
	}
	what := map[string]string{
		planner.OutcomeSucceeded:  "succeeded",
		planner.OutcomeFailed:     "failed",
		planner.OutcomeRolledBack: "was rolled back",
		planner.OutcomeSuperseded: "was superseded",
	}[r.Outcome]
	if what == "" {
		what = "ended " + r.Outcome
	}
	e.Text = fmt.Sprintf("%s: release of %s to %s %s", r.Service, r.ToImage, r.To, what)
	if r.Reason != "" {
		e.Text += ": " + r.Reason
	}
	if r.Outcome == planner.OutcomeRolledBack && r.From != "" {
		e.Text += fmt.Sprintf("; %s serves %s again", r.From, orNone(r.FromImage))
	}
	return e
}

func crashLoopEvent(v reconcile.ServiceView, d planner.Decision, at time.Time) Event {
	return Event{Type: CrashLoop, Service: v.Service, Generation: v.Generation, Color: v.Served,
		Restarts: v.ServedRestarts, Reason: d.Message, Time: at,
		Text: fmt.Sprintf("%s: %s serves but keeps crashing (restarted %d times): %s", v.Service, orNone(string(v.Served)), v.ServedRestarts, d.Message)}
}

func servedDownEvent(v reconcile.ServiceView, d planner.Decision, at time.Time) Event {
	return Event{Type: ServedColorDown, Service: v.Service, Generation: v.Generation, Color: v.Served,
		Reason: d.Message, Time: at, Text: fmt.Sprintf("%s: outage: %s", v.Service, d.Message)}
}

func canaryStepEvent(v reconcile.ServiceView, at time.Time) Event {
	c := v.Canary
	return Event{Type: CanaryStep, Service: v.Service, Generation: v.Generation, From: c.From, To: c.To, Time: at,
		Step: c.Step, Steps: c.Steps, Weight: c.Weight,
		Text: fmt.Sprintf("%s: canary step %d of %d: %s gets %d %% of new users, %s the rest", v.Service, c.Step, c.Steps, c.To, c.Weight, c.From)}
}

func restartedEvent(service string, st planner.Step, at time.Time) Event {
	return Event{Type: ServedColorRestarted, Service: service, Color: st.Color, Reason: st.Cause, Time: at,
		Text: fmt.Sprintf("%s: restarted %s (%s): %s", service, st.Target, st.Color, st.Cause)}
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// newID is 16 random bytes in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
