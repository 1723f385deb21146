package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"hash/fnv"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Options configure a Dashboard.
type Options struct {
	// Status returns the status as the loop has it in memory.
	Status func() state.Status
	// History, when set, is read once at start for each service's recent
	// releases; the releases that end later are heard as a Listener.
	History []state.Release
	// Approvals, Rollbacks, Retries and Record are where a promotion, a
	// rollback request or a retry request is written: the stores the
	// loop reads, and the history (Record may be nil).
	Approvals *state.Approvals
	Rollbacks *state.Rollbacks
	Retries   *state.Retries
	Record    *state.History
	// Tokens may act on releases; none: the page is read-only.
	Tokens []Token
	Log    logr.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Chart and history bounds: what a card shows.
const (
	chartWindow  = 3 * time.Minute
	chartBuckets = 90
	historyShown = 5
	// pushGap spaces the pushes to the pages: changes within it go out
	// together, so that a pass over many services is one push.
	pushGap = 100 * time.Millisecond
)

// Dashboard is the page's memory of what the loop did, and its server.
type Dashboard struct {
	opt      Options
	csrfKey  []byte
	sessions *sessions

	mu      sync.Mutex
	traffic map[string]*traffic        // per service: counters seen and marks
	history map[string][]state.Release // per service: the latest releases, oldest first
	changed map[string]bool            // services to render again
	sent    map[string]uint64          // per service: the key of the card last pushed (cardKey)
	nudge   chan struct{}

	hub hub
}

// New returns a Dashboard; call Run for its pages to hear of changes.
func New(o Options) *Dashboard {
	if o.Now == nil {
		o.Now = time.Now
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	d := &Dashboard{opt: o, csrfKey: key, sessions: newSessions(o.Now),
		traffic: map[string]*traffic{}, history: map[string][]state.Release{}, changed: map[string]bool{}, sent: map[string]uint64{},
		nudge: make(chan struct{}, 1)}
	for _, r := range o.History {
		d.addHistory(r)
	}
	d.hub.subs = map[*subscriber]bool{}
	d.hub.cards = map[string][]byte{}
	return d
}

var _ reconcile.Listener = (*Dashboard)(nil)

// Decided keeps the service's counters for the chart, and a switch mark
// when the served color changed.
func (d *Dashboard) Decided(v reconcile.ServiceView, _ planner.Decision, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	tr := d.trafficOf(v.Service)
	tr.add(at, v.Served, v.Traffic)
	d.touch(v.Service)
}

// ReleaseStarted marks the service changed.
func (d *Dashboard) ReleaseStarted(s *spec.Service, _ spec.Color, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.trafficOf(s.Name).mark(at, markRelease, string(s.ActiveColor))
	d.touch(s.Name)
}

// Stepped keeps when a color was set ready and when the map moved (the
// moment the step ended), for the chart and the timeline.
func (d *Dashboard) Stepped(service string, st planner.Step, took time.Duration, err error) {
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	at := d.opt.Now()
	switch st.Action {
	case planner.SetServerReady, planner.MarkServerUp:
		d.trafficOf(service).mark(at, markReady, string(st.Color))
	case planner.SwitchMap:
		d.trafficOf(service).switched(at, st.Color)
	default:
		return
	}
	d.touch(service)
}

// ReleaseEnded keeps the release in the service's history, and marks a
// rollback on its chart.
func (d *Dashboard) ReleaseEnded(r state.Release) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addHistory(r)
	if r.Outcome == planner.OutcomeRolledBack {
		d.trafficOf(r.Service).mark(r.End, markRollback, string(r.From))
	}
	d.touch(r.Service)
}

// ObserveFailed marks the service changed.
func (d *Dashboard) ObserveFailed(service string, _ planner.Reason, _ error, _ time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.touch(service)
}

// PassEnded pushes what the pass changed: one push per pass, however many
// services it looked at. (A step ends outside a pass; the pass that looks
// at its service again at once pushes it.)
func (d *Dashboard) PassEnded(bool, time.Time) { d.wake() }

// trafficOf returns the service's traffic record. d.mu is held.
func (d *Dashboard) trafficOf(service string) *traffic {
	tr := d.traffic[service]
	if tr == nil {
		tr = &traffic{}
		d.traffic[service] = tr
	}
	return tr
}

// addHistory keeps r as the service's latest release. d.mu is held.
func (d *Dashboard) addHistory(r state.Release) {
	h := append(d.history[r.Service], r)
	if len(h) > historyShown {
		h = h[len(h)-historyShown:]
	}
	d.history[r.Service] = h
}

// forget drops what the dashboard keeps of a service gone from the status.
func (d *Dashboard) forget(service string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.traffic, service)
	delete(d.history, service)
	delete(d.sent, service)
}

// cardKey sums up what a card shows: a card whose key did not change is
// not rendered again (rendering is most of a push's cost).
func cardKey(c Card) uint64 {
	h := fnv.New64a()
	_ = json.NewEncoder(h).Encode(c)
	return h.Sum64()
}

// touch marks service to be rendered again at the next push. d.mu is held.
func (d *Dashboard) touch(service string) { d.changed[service] = true }

// wake asks for a push of what changed.
func (d *Dashboard) wake() {
	select {
	case d.nudge <- struct{}{}:
	default:
	}
}

// Run pushes the cards of the services that changed to the open pages,
// until ctx ends.
func (d *Dashboard) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			d.hub.closeAll()
			return
		case <-d.nudge:
		}
		d.push()
		select {
		case <-ctx.Done():
		case <-time.After(pushGap):
		}
	}
}

// push renders the changed services' cards (and the banner) from the
// status and sends the ones that differ from what was sent last.
func (d *Dashboard) push() {
	d.mu.Lock()
	changed := d.changed
	d.changed = map[string]bool{}
	d.mu.Unlock()
	if !d.hub.listened() {
		return // rendered afresh when a page opens
	}
	st := d.opt.Status()
	page := d.view(st, changed)
	var events []event
	if b, err := render("banner", page); err == nil {
		events = append(events, event{name: "banner", key: "banner", data: b})
	} else {
		d.opt.Log.Error(err, "Cannot render the dashboard's banner")
	}
	for _, c := range page.Services {
		key := cardKey(c)
		d.mu.Lock()
		same := d.sent[c.Name] == key
		d.mu.Unlock()
		if same {
			continue // a pass that changed nothing the card shows: not drawn again
		}
		b, err := render("card", c)
		if err != nil {
			d.opt.Log.Error(err, "Cannot render a service's card", "service", c.Name)
			continue
		}
		events = append(events, event{name: "card", key: c.Name, data: b})
		d.mu.Lock()
		d.sent[c.Name] = key
		d.mu.Unlock()
	}
	// A service that left the desired state leaves the status: its card
	// goes from the pages, and its memory from the dashboard.
	for _, name := range d.hub.shown() {
		if _, ok := st.Services[name]; !ok {
			events = append(events, event{name: "gone", key: name, data: []byte(cardID(name))})
			d.forget(name)
		}
	}
	d.hub.publish(events)
}
