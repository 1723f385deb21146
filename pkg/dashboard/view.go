package dashboard

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/internal/termtext"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Page is what the page template draws.
type Page struct {
	Desired   string
	SpecError string
	Source    string
	Services  []Card
	// ReadOnly: the controller has no tokens; Signed: the request's
	// session has one (By names it).
	ReadOnly bool
	Signed   bool
	By       string
	// CSRF is the signed session's token, for the forms of cards pushed
	// later.
	CSRF    string
	Version uint64
	// Known counts the services in the status (Services may hold only
	// those that changed).
	Known int
}

// Card is one service's card.
type Card struct {
	ID, Name   string
	Phase      string
	Reason     string
	Message    string
	Active     string
	Served     string
	Image      string
	Generation string
	Since      string
	Colors     []ColorRow
	Conditions []ConditionRow
	Gate       *Gate
	Chart      Chart
	Timeline   []Moment
	History    []HistoryRow
	LastStep   string
	LastError  string
	Logs       string
	// CanPromote: the release waits for promotion (the button is shown;
	// whether the request may act is checked when it comes).
	CanPromote bool
	// RollbackTo is the color kept warm that a release being verified
	// can be rolled back to ("" when there is none).
	RollbackTo string
	// CanRetry: the release was rolled back or failed its checks or a
	// job, and can be tried again.
	CanRetry bool
	// CSRF is the session's token for the card's forms ("" unsigned).
	CSRF string
}

// ColorRow is one replica's line; Replica is "" for a color's first, "#2"
// for its second, ...
type ColorRow struct {
	Color, Replica, Container, ImageID, HAProxy, Addr, LastExit string
	Sessions, Restarts                                          int
	Serves, Active                                              bool
}

// ConditionRow is one condition.
type ConditionRow struct {
	Type, Status, Reason, Message, Since string
}

// Gate is where the current release stands: its verification or checks.
type Gate struct {
	Title   string
	Figures string
	Outcome string
	Reason  string
}

// Moment is one step of a release's timeline.
type Moment struct {
	What, At, After string
	Class           string
	at              time.Time
}

// HistoryRow is one past release, or an action on one.
type HistoryRow struct {
	Start, From, To, Outcome, Reason, Took, By string
}

// text makes text from outside safe to show (termtext), beyond the HTML
// escaping every value gets.
func text(s string) string { return termtext.Escape(s) }

// cardID is the element id of a service's card (service names are DNS
// labels, safe in an id; escaped regardless).
func cardID(service string) string { return "svc-" + service }

// view builds the page from the status and the dashboard's memory, with
// only the services in only (all when nil).
func (d *Dashboard) view(st state.Status, only map[string]bool) Page {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := Page{Desired: text(st.Desired), SpecError: text(st.SpecError), ReadOnly: len(d.opt.Tokens) == 0, Known: len(st.Services)}
	if s := st.Source; s != nil {
		p.Source = text(fmt.Sprintf("%s %s at %.12s %s", s.URL, s.Ref, s.Commit, s.Subject))
	}
	names := make([]string, 0, len(st.Services))
	for n := range st.Services {
		if only == nil || only[n] {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	now := d.opt.Now()
	for _, n := range names {
		p.Services = append(p.Services, d.card(n, st.Services[n], now))
	}
	return p
}

// card builds one service's card. d.mu is held.
func (d *Dashboard) card(name string, s *state.ServiceStatus, now time.Time) Card {
	c := Card{ID: cardID(name), Name: text(name), Phase: string(s.Phase), Active: string(s.ActiveColor),
		Served: string(s.ServedColor), Image: text(s.Image), Generation: s.ObservedGeneration,
		LastStep: text(s.LastStep), LastError: text(s.LastError), Logs: text(s.Logs)}
	if s.Since != nil {
		c.Since = clock(*s.Since)
	}
	for _, cd := range s.Conditions {
		c.Conditions = append(c.Conditions, ConditionRow{Type: cd.Type, Status: cd.Status, Reason: text(string(cd.Reason)),
			Message: text(cd.Message), Since: clock(cd.LastTransitionTime)})
		if cd.Type == state.ConditionReady {
			c.Reason, c.Message = text(string(cd.Reason)), text(cd.Message)
		}
	}
	c.CanPromote = planner.Reason(c.Reason) == planner.ReasonWaitingForPromotion
	c.CanRetry = s.Phase == planner.Failed && readyReason(s).Retriable()
	if v := s.Verification; v != nil && v.Outcome == "" && rollbackable(readyReason(s)) {
		c.RollbackTo = string(v.From)
	}
	for _, col := range spec.Colors() {
		// One row per replica (spec.replicas): the first is the color's.
		for i, rs := range s.Colors[col].Each() {
			row := ColorRow{Color: string(col), Container: text(rs.Container), ImageID: text(rs.ImageID),
				HAProxy: text(rs.HAProxy), Addr: text(rs.Addr), LastExit: text(rs.LastExit), Sessions: rs.Sessions,
				Restarts: rs.Restarts, Serves: col == s.ServedColor, Active: col == s.ActiveColor}
			if i > 0 {
				row.Replica = fmt.Sprintf("#%d", i+1)
			}
			c.Colors = append(c.Colors, row)
		}
	}
	c.Gate = gate(s)
	tr := d.traffic[name]
	if tr == nil {
		tr = &traffic{}
	}
	end := now
	if n := len(tr.samples); n > 0 {
		end = tr.samples[n-1].at
	}
	c.Chart = tr.chart(end)
	c.Timeline = timeline(s, tr, d.history[name])
	h := d.history[name]
	for i := len(h) - 1; i >= 0; i-- {
		r := h[i]
		row := HistoryRow{Start: clock(r.Start), From: text(string(r.From) + " " + r.FromImage), To: text(string(r.To) + " " + r.ToImage),
			Outcome: text(r.Outcome), Reason: text(r.Reason), By: text(r.By)}
		if !r.IsRequest() && !r.End.IsZero() {
			row.Took = r.End.Sub(r.Start).Round(100 * time.Millisecond).String()
		}
		c.History = append(c.History, row)
	}
	return c
}

// gate says where the release stands: verification on real traffic (with
// its figures), or the pre-switch checks.
func gate(s *state.ServiceStatus) *Gate {
	if v := s.Verification; v != nil {
		counted := v.Seen
		counted.Responses += v.Carried.Responses - v.Baseline.Responses
		counted.Status5xx += v.Carried.Status5xx - v.Baseline.Status5xx
		counted.Failed += v.Carried.Failed - v.Baseline.Failed
		g := &Gate{Title: text(fmt.Sprintf("verification of %s (%s → %s), switched at %s", v.ToImage, v.From, v.To, clock(v.SwitchedAt))),
			Figures: fmt.Sprintf("%d responses, %d of them 5xx, %d without a response since the switch", counted.Responses, counted.Status5xx, counted.Failed),
			Outcome: text(v.Outcome), Reason: text(v.Reason)}
		if g.Outcome == "" {
			g.Outcome = "being verified"
		}
		return g
	}
	if ch := s.Checks; ch != nil {
		g := &Gate{Title: text(fmt.Sprintf("pre-switch checks of %s", ch.Color)), Outcome: "passed"}
		if !ch.Passed {
			g.Outcome, g.Reason = "failed", text(ch.Failure)
		}
		return g
	}
	return nil
}

// timeline lists the moments of the release in progress, or of the last
// one: saved, ready, switched, verified or ended.
func timeline(s *state.ServiceStatus, tr *traffic, hist []state.Release) []Moment {
	var start, end time.Time
	var outcome, to string
	switch {
	case s.Release != nil:
		start, to = s.Release.Start, string(s.Release.To)
	case len(hist) > 0:
		for i := len(hist) - 1; i >= 0; i-- {
			if r := hist[i]; !r.IsRequest() {
				start, end, outcome, to = r.Start, r.End, r.Outcome, string(r.To)
				break
			}
		}
	}
	if start.IsZero() {
		return nil
	}
	ms := []Moment{{What: "saved", At: clock(start), Class: "saved", at: start}}
	add := func(what, class string, at time.Time) {
		ms = append(ms, Moment{What: what, At: clock(at), After: "+" + at.Sub(start).Round(100*time.Millisecond).String(), Class: class, at: at})
	}
	ready := false
	for _, m := range tr.marks {
		if m.at.Before(start) || !end.IsZero() && m.at.After(end) {
			continue
		}
		switch {
		case m.kind == markReady && m.color == to && !ready:
			ready = true // set ready, then marked UP: one moment
			add(m.color+" ready", "ready", m.at)
		case m.kind == markSwitch:
			add("switched to "+m.color, "switched", m.at)
		case m.kind == markRollback:
			add("rolled back to "+m.color, "rolledback", m.at)
		}
	}
	if w := s.Warmup; w != nil && !w.At.Before(start) && (end.IsZero() || !w.At.After(end)) {
		add(fmt.Sprintf("%s warmed up (%d requests)", w.Color, w.Requests), "warmed", w.At)
	}
	if v := s.Verification; v != nil && !v.SwitchedAt.Before(start) && v.EndedAt != nil && v.Outcome == planner.OutcomeSucceeded {
		add("verified", "verified", *v.EndedAt)
	}
	if !end.IsZero() {
		add("ended: "+outcome, "ended "+strings.ToLower(outcome), end)
	}
	slices.SortStableFunc(ms, func(a, b Moment) int { return a.at.Compare(b.at) })
	return ms
}

// clock is a time as the page shows it: UTC, to the second.
func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("15:04:05")
}
