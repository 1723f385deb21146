package reconcile

import (
	"slices"
	"sort"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// desired reads the desired state of a pass. Each service stands on its
// own: a document that is refused (spec.PartlyRefused) holds back only the
// service it names, which runs on at its last valid spec (held: its name
// and why), and every other service goes on. Of a service that was never
// valid nothing is acted on. err is the refusal; svcs is nil when the
// whole desired state is refused (it cannot be read at all).
func (l *Loop) desired() (svcs []spec.Service, held map[string]string, err error) {
	svcs, err = l.Load()
	partly := spec.Refused(err)
	if err != nil && partly == nil {
		return nil, nil, err
	}
	if partly == nil {
		l.remember(svcs)
		return svcs, nil, nil
	}
	partly.Valid = spec.NotRefused(partly.Valid, partly.Refused)
	valid := map[string]bool{}
	for _, s := range partly.Valid {
		valid[s.Name] = true
	}
	held = map[string]string{}
	var all []spec.Service
	for _, name := range l.validOrder {
		s := l.lastValid[name]
		if valid[name] {
			continue
		}
		for _, r := range partly.Refused {
			if r.Holds(&s) {
				all, held[name] = append(all, s), r.Err.Error()
				break
			}
		}
	}
	// A held service keeps what it holds (ports, backends, map key): one
	// that stands now and takes any of it is held back in turn, at its own
	// last valid spec if it has one, else left out.
	kept, again := spec.CheckAcrossEach(append(all, partly.Valid...), func(name string) bool { return held[name] != "" })
	for _, r := range again {
		if s, ok := l.lastValid[r.Name]; ok && held[r.Name] == "" {
			kept, held[r.Name] = append(kept, s), r.Err.Error()
		}
		partly.Refused = append(partly.Refused, r)
	}
	var fresh []spec.Service
	for _, s := range kept {
		if held[s.Name] == "" {
			fresh = append(fresh, s)
		}
	}
	l.remember(fresh)
	return kept, held, partly
}

// remember keeps svcs as their services' last valid specs.
func (l *Loop) remember(svcs []spec.Service) {
	if l.lastValid == nil {
		l.lastValid = map[string]spec.Service{}
	}
	for _, s := range svcs {
		if _, ok := l.lastValid[s.Name]; !ok {
			l.validOrder = append(l.validOrder, s.Name)
		}
		l.lastValid[s.Name] = s
	}
}

// logRefused logs a refusal that holds back some services, once per
// distinct refusal.
func (l *Loop) logRefused(err error, held map[string]string) {
	if msg := err.Error(); msg != l.refusedLogged {
		l.refusedLogged = msg
		names := make([]string, 0, len(held))
		for name := range held {
			names = append(names, name)
		}
		sort.Strings(names)
		l.Log.Error(err, "Part of the desired state is refused: the services it names run on at their last valid spec, the others go on", "held", names)
	}
}

// keepRuntimes records the HAProxy runtime API addresses svcs name.
func (l *Loop) keepRuntimes(svcs []spec.Service) {
	var addrs []string
	for i := range svcs {
		if a := svcs[i].HAProxy.Runtime; !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	l.mu.Lock()
	l.runtimes = addrs
	l.mu.Unlock()
}

// keepBackends records the service of each backend svcs name, its
// canary backend included: its servers track the colors' servers, so
// that every change of a color's status shows there too.
func (l *Loop) keepBackends(svcs []spec.Service) {
	l.backendOwner = map[string]string{}
	for i := range svcs {
		for _, c := range spec.Colors() {
			l.backendOwner[svcs[i].Color(c).Backend] = svcs[i].Name
		}
		l.backendOwner[planner.CanaryBackend(&svcs[i])] = svcs[i].Name
	}
}

// Runtimes returns the HAProxy runtime API addresses of the desired state
// last read (for WatchServers). It may be called from any goroutine.
func (l *Loop) Runtimes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.runtimes)
}

// load reads the desired state, kept for the passes that do not read it.
func (l *Loop) load() {
	svcs, held, err := l.desired()
	svcs = slices.Clone(svcs) // kept until the next read: each encodes its spec once
	for i := range svcs {
		svcs[i].Memoize()
	}
	l.loaded = &loadedState{svcs: svcs, names: make(map[string]bool, len(svcs)), held: held, err: err}
	for i := range svcs {
		l.loaded.names[svcs[i].Name] = true
	}
	if len(svcs) > 0 { // what they name is kept for the passes that reuse them
		l.keepRuntimes(svcs)
		l.keepBackends(svcs)
	}
}

// keep forgets the services not in svcs: their schedule, their last
// decision and their status.
func (l *Loop) keep(svcs []spec.Service) {
	keep := make(map[string]bool, len(svcs))
	for i := range svcs {
		keep[svcs[i].Name] = true
	}
	for name := range l.dueAt {
		if !keep[name] {
			delete(l.dueAt, name)
		}
	}
	for name := range l.last {
		if !keep[name] {
			delete(l.last, name)
		}
	}
	l.mu.Lock()
	l.Status.Keep(keep)
	l.mu.Unlock()
}
