package reconcile

import "sync"

// Nudges are the watchers' asks for a pass: of every service, or of the
// services one event concerns (a container or a server of theirs
// changed), so that an event of one service does not have every other one
// observed again: with hundreds of services, a full pass is what would
// stand between a release's container coming up and its switch. Asking
// never blocks; asks made before the loop takes them are merged.
type Nudges struct {
	c        chan struct{}
	mu       sync.Mutex
	all      bool
	services map[string]bool
	backends map[string]bool
}

// NewNudges returns a Nudges with nothing asked.
func NewNudges() *Nudges {
	return &Nudges{c: make(chan struct{}, 1), services: map[string]bool{}, backends: map[string]bool{}}
}

// All asks for a pass over every service.
func (n *Nudges) All() { n.ask(func() { n.all = true }) }

// Service asks for a pass of service name ("": of every service).
func (n *Nudges) Service(name string) {
	if name == "" {
		n.All()
		return
	}
	n.ask(func() { n.services[name] = true })
}

// Backend asks for a pass of the service that uses HAProxy backend name
// (of every service when none does).
func (n *Nudges) Backend(name string) { n.ask(func() { n.backends[name] = true }) }

func (n *Nudges) ask(add func()) {
	n.mu.Lock()
	add()
	n.mu.Unlock()
	select {
	case n.c <- struct{}{}:
	default: // one pending covers it
	}
}

// take returns what was asked since the last take, and forgets it.
func (n *Nudges) take() (all bool, services, backends []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	all = n.all
	for s := range n.services {
		services = append(services, s)
	}
	for b := range n.backends {
		backends = append(backends, b)
	}
	n.all = false
	clear(n.services)
	clear(n.backends)
	return all, services, backends
}

// nudged makes the services l.Nudges named due now, and says whether a
// pass over every service was asked. A service the desired state last read
// does not name (its containers outlived it, or they are another
// controller's) is not made due: no pass would look at it, and its due
// time would stay in the past.
func (l *Loop) nudged() (all bool) {
	all, services, backends := l.Nudges.take()
	now := l.Now()
	for _, b := range backends {
		if s, ok := l.backendOwner[b]; ok {
			services = append(services, s)
		} else {
			all = true // a backend of no service: let a full pass tell
		}
	}
	for _, s := range services {
		if l.loaded != nil && l.loaded.names[s] {
			l.dueAt[s] = now
		}
	}
	return all
}
