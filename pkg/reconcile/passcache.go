package reconcile

import (
	"context"
	"slices"
	"sync"

	"github.com/bluegreen-host/controller/pkg/haproxy"
)

// passCache memoizes the runtime API reads of one pass, per address: all
// the services behind one HAProxy share one "show stat", one "show servers
// state" and one "show map" per map file, and a broken socket is asked
// once per pass, not once per service. A narrow pass (of
// one service: a step ended, a gate, a nudge of its own) reads the stats
// and server states of its backends only, one command each, so that its
// cost does not grow with the services it does not look at. Writes go
// through uncached. The executor never reads through it: its safety checks
// ask HAProxy afresh.
type passCache struct {
	next   func(addr string) (HAProxy, error)
	narrow bool
	mu     sync.Mutex
	byAddr map[string]*cachedHAProxy
}

// narrowPass is the most services a pass may look at to be narrow.
const narrowPass = 1

func newPassCache(next func(addr string) (HAProxy, error), services int) *passCache {
	return &passCache{next: next, narrow: services <= narrowPass, byAddr: map[string]*cachedHAProxy{}}
}

func (p *passCache) client(addr string) (HAProxy, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.byAddr[addr]; ok {
		return c, nil
	}
	h, err := p.next(addr)
	if err != nil {
		return nil, err
	}
	c := &cachedHAProxy{HAProxy: h, narrow: p.narrow, maps: map[string]*memo[map[string]string]{},
		statOf: map[string]*memo[[]haproxy.StatRow]{}, statesOf: map[string]*memo[[]haproxy.ServerState]{}}
	p.byAddr[addr] = c
	return c, nil
}

// memo holds one read's answer.
type memo[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (m *memo[T]) get(read func() (T, error)) (T, error) {
	m.once.Do(func() { m.v, m.err = read() })
	return m.v, m.err
}

type cachedHAProxy struct {
	HAProxy
	narrow bool
	mu     sync.Mutex
	stats  memo[[]haproxy.StatRow]
	states memo[[]haproxy.ServerState]
	// statsBy and statesBy are stats and states by backend: in a pass
	// over every service each service picks its own rows from them, not
	// from the whole read (which grew with the square of the services).
	statsBy  memo[map[string][]haproxy.StatRow]
	statesBy memo[map[string][]haproxy.ServerState]
	maps     map[string]*memo[map[string]string]
	statOf   map[string]*memo[[]haproxy.StatRow]
	statesOf map[string]*memo[[]haproxy.ServerState]
}

// StatOf reads backend's rows: of the pass's one "show stat", or in a
// narrow pass one "show stat <backend>".
func (c *cachedHAProxy) StatOf(ctx context.Context, backend string) ([]haproxy.StatRow, error) {
	if !c.narrow {
		by, err := c.statsBy.get(func() (map[string][]haproxy.StatRow, error) {
			rows, err := c.ShowStat(ctx)
			return byBackend(rows, func(r haproxy.StatRow) string { return r.Proxy }), err
		})
		return slices.Clone(by[backend]), err // the caller may complete its rows
	}
	return memoOf(&c.mu, c.statOf, backend).get(func() ([]haproxy.StatRow, error) { return c.HAProxy.StatOf(ctx, backend) })
}

// ServersStateOf reads backend's servers' states: of the pass's one "show
// servers state", or in a narrow pass one "show servers state <backend>".
func (c *cachedHAProxy) ServersStateOf(ctx context.Context, backend string) ([]haproxy.ServerState, error) {
	if !c.narrow {
		by, err := c.statesBy.get(func() (map[string][]haproxy.ServerState, error) {
			states, err := c.ServersState(ctx)
			return byBackend(states, func(s haproxy.ServerState) string { return s.Backend }), err
		})
		return slices.Clone(by[backend]), err
	}
	return memoOf(&c.mu, c.statesOf, backend).get(func() ([]haproxy.ServerState, error) {
		return c.HAProxy.ServersStateOf(ctx, backend)
	})
}

// memoOf is m's memo of key, made if it has none; mu guards m.
func memoOf[T any](mu *sync.Mutex, m map[string]*memo[T], key string) *memo[T] {
	mu.Lock()
	defer mu.Unlock()
	if v, ok := m[key]; ok {
		return v
	}
	v := &memo[T]{}
	m[key] = v
	return v
}

// byBackend groups rows by their backend, as of names it.
func byBackend[T any](rows []T, of func(T) string) map[string][]T {
	by := map[string][]T{}
	for _, r := range rows {
		by[of(r)] = append(by[of(r)], r)
	}
	return by
}

func (c *cachedHAProxy) ShowStat(ctx context.Context) ([]haproxy.StatRow, error) {
	return c.stats.get(func() ([]haproxy.StatRow, error) { return c.HAProxy.ShowStat(ctx) })
}

func (c *cachedHAProxy) ServersState(ctx context.Context) ([]haproxy.ServerState, error) {
	return c.states.get(func() ([]haproxy.ServerState, error) { return c.HAProxy.ServersState(ctx) })
}

func (c *cachedHAProxy) GetMap(ctx context.Context, mapPath, key string) (string, bool, error) {
	c.mu.Lock()
	m, ok := c.maps[mapPath]
	if !ok {
		m = &memo[map[string]string]{}
		c.maps[mapPath] = m
	}
	c.mu.Unlock()
	entries, err := m.get(func() (map[string]string, error) {
		rows, err := c.HAProxy.ShowMap(ctx, mapPath)
		if err != nil {
			return nil, err
		}
		return firstOfEach(rows), nil
	})
	if err != nil {
		return "", false, err
	}
	v, found := entries[key]
	return v, found, nil
}

// passImages memoizes the engine's image lookups of one pass: services that
// run the same image share one image inspect, also when they are observed
// at the same moment (a lookup in flight is waited for, not repeated). A
// miss is shared only with the lookups that were waiting for it: an image
// that a step of this pass builds or pulls is looked up again later.
type passImages struct {
	Containers
	mu    sync.Mutex
	byRef map[string]*imageLookup
}

// imageLookup is one image inspect; done is closed when it has answered.
type imageLookup struct {
	done  chan struct{}
	id    string
	found bool
	err   error
}

func newPassImages(next Containers) *passImages {
	return &passImages{Containers: next, byRef: map[string]*imageLookup{}}
}

func (p *passImages) ImageID(ctx context.Context, ref string) (string, bool, error) {
	p.mu.Lock()
	l, ok := p.byRef[ref]
	if ok {
		select {
		case <-l.done:
			if !l.found || l.err != nil {
				ok = false // a past miss or error: ask again
			}
		default: // in flight: wait for it below
		}
	}
	if !ok {
		l = &imageLookup{done: make(chan struct{})}
		p.byRef[ref] = l
		p.mu.Unlock()
		l.id, l.found, l.err = p.Containers.ImageID(ctx, ref)
		close(l.done)
		return l.id, l.found, l.err
	}
	p.mu.Unlock()
	<-l.done
	return l.id, l.found, l.err
}

// firstOfEach is the value of each key of a map: the first of duplicates,
// as HAProxy uses it.
func firstOfEach(rows []haproxy.MapEntry) map[string]string {
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		if _, dup := out[r.Key]; !dup {
			out[r.Key] = r.Value
		}
	}
	return out
}

// mapEntries is implemented by the MapFiles that read a whole map file at
// once (HostMapFiles).
type mapEntries interface {
	Entries(path string) (map[string]string, error)
}

// passMapFiles memoizes the map file reads of one pass: the services that
// share a map file share one read of it, instead of one each. Writes go
// through. MapFiles that cannot read a whole file are asked key by key.
type passMapFiles struct {
	MapFiles
	mu     sync.Mutex
	byPath map[string]*memo[map[string]string]
}

func newPassMapFiles(next MapFiles) MapFiles {
	if _, ok := next.(mapEntries); !ok {
		return next
	}
	return &passMapFiles{MapFiles: next, byPath: map[string]*memo[map[string]string]{}}
}

func (p *passMapFiles) Lookup(path, key string) (string, bool, error) {
	entries, err := memoOf(&p.mu, p.byPath, path).get(func() (map[string]string, error) {
		return p.MapFiles.(mapEntries).Entries(path)
	})
	if err != nil {
		return "", false, err
	}
	v, found := entries[key]
	return v, found, nil
}
