package dashboard

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// event is one server-sent event: a card (key: its service), the banner,
// or a service gone.
type event struct {
	name, key string
	data      []byte
}

// subscriber is one open page's stream.
type subscriber struct {
	ch chan push
}

// push is one publish: its events, and the version it brings a page to.
type push struct {
	events  []event
	version uint64
}

// hub fans pushes out to the open pages. It keeps the last card sent per
// service, so that a card that did not change is not sent again, and a
// page that missed pushes (it connected after being drawn, or
// reconnected) gets every card at once.
type hub struct {
	mu      sync.Mutex
	subs    map[*subscriber]bool
	version uint64            // pushes so far
	cards   map[string][]byte // key -> last data sent or drawn
}

func (h *hub) listened() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

// shown returns the services whose cards the pages were sent.
func (h *hub) shown() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for k := range h.cards {
		if k != "banner" {
			out = append(out, k)
		}
	}
	return out
}

// remember keeps what a page was drawn with, and returns the version the
// page is at.
func (h *hub) remember(cards map[string][]byte) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, b := range cards {
		h.cards[k] = b
	}
	return h.version
}

// publish sends the events whose data changed to every page.
func (h *hub) publish(events []event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []event
	for _, e := range events {
		if e.name == "gone" {
			if _, ok := h.cards[e.key]; ok {
				delete(h.cards, e.key)
				out = append(out, e)
			}
			continue
		}
		if bytes.Equal(h.cards[e.key], e.data) {
			continue
		}
		h.cards[e.key] = e.data
		out = append(out, e)
	}
	if len(out) == 0 {
		return
	}
	h.version++
	for s := range h.subs {
		select {
		case s.ch <- push{out, h.version}:
		default:
			// A page that does not read is dropped; its browser
			// reconnects and is sent every card.
			close(s.ch)
			delete(h.subs, s)
		}
	}
}

// subscribe opens a stream for a page drawn at version; a page behind
// gets every card first.
func (h *hub) subscribe(version uint64) (*subscriber, []event, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &subscriber{ch: make(chan push, 16)}
	h.subs[s] = true
	var first []event
	if version != h.version {
		keys := make([]string, 0, len(h.cards))
		for k := range h.cards {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			name := "card"
			if k == "banner" {
				name = "banner"
			}
			first = append(first, event{name: name, key: k, data: h.cards[k]})
		}
	}
	return s, first, h.version
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[s] {
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		close(s.ch)
		delete(h.subs, s)
	}
}

// keepAlive is how often an idle stream gets a comment line, so that a
// page gone away is noticed and its stream ended.
const keepAlive = 25 * time.Second

// serveEvents streams the pushes to one page: GET /events?v=VERSION, the
// version the page was drawn at.
func (d *Dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	version, _ := strconv.ParseUint(r.URL.Query().Get("v"), 10, 64)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	s, first, v := d.hub.subscribe(version)
	defer d.hub.unsubscribe(s)
	write := func(evs []event, v uint64) error {
		// The server's write timeout bounds each write, not the stream.
		_ = rc.SetWriteDeadline(time.Now().Add(deadlines.Write))
		var b bytes.Buffer
		for _, e := range evs {
			fmt.Fprintf(&b, "event: %s\n", e.name)
			for _, line := range bytes.Split(e.data, []byte("\n")) {
				fmt.Fprintf(&b, "data: %s\n", line)
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "event: version\ndata: %d\n\n", v)
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write(first, v); err != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case p, ok := <-s.ch:
			if !ok || write(p.events, p.version) != nil {
				return
			}
		case <-tick.C:
			_ = rc.SetWriteDeadline(time.Now().Add(deadlines.Write))
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
