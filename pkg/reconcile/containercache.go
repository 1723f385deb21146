package reconcile

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/bluegreen-host/controller/pkg/docker"
)

// ContainerCache keeps the engine's answers about the controller's
// containers between passes, as a Kubernetes informer does: a pass reads
// from it what no event and no step has changed since it was last read, so
// an idle pass makes no container inspection however many services there
// are. It is kept only while the engine's event stream is followed
// (Followed, Changed and Lost, from ContainerWatch): every event forgets its
// container before the pass it nudges; every step forgets the containers it
// changed when it returns; a reconnect forgets everything (events may have
// been missed); and Resync compares it with the engine's list of the
// controller's containers, so that a change no event told of (a container
// removed or stopped behind the controller's back while events were lost
// in a way the stream did not report) is seen at the next periodic resync.
//
// An answer read while the container was being changed is not kept: each
// name has a generation, bumped by every forget, and an answer is kept only
// if its name's generation did not move while it was read.
//
// The executor never reads through it: its safety checks (a color still
// ready before a switch, a job's container before acting on it) ask the
// engine afresh.
type ContainerCache struct {
	mu      sync.Mutex
	live    bool   // the event stream is followed: answers are kept
	epoch   uint64 // bumped whenever everything is forgotten
	gens    map[string]uint64
	entries map[string]inspected
	// lister lists the controller's containers for Resync (nil: Resync
	// forgets everything).
	lister ContainerLister
}

// inspected is one kept answer of Inspect.
type inspected struct {
	ct    docker.Container
	found bool
}

// ContainerLister lists the controller's containers in one call, without
// inspecting each.
type ContainerLister interface {
	Summaries(ctx context.Context) ([]docker.Summary, error)
}

// NewContainerCache returns an empty cache, kept only once Followed is
// called. lister (may be nil) serves Resync.
func NewContainerCache(lister ContainerLister) *ContainerCache {
	return &ContainerCache{gens: map[string]uint64{}, entries: map[string]inspected{}, lister: lister}
}

// Followed says the event stream is followed from now on: everything is
// forgotten (events may have been missed before) and answers are kept.
func (c *ContainerCache) Followed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetAll()
	c.live = true
}

// Lost says the event stream broke: nothing is kept until Followed.
func (c *ContainerCache) Lost() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetAll()
	c.live = false
}

// Changed forgets the container an event (or a step) named.
func (c *ContainerCache) Changed(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, name)
	c.gens[name]++
}

func (c *ContainerCache) forgetAll() {
	clear(c.entries)
	clear(c.gens) // the epoch covers the reads in flight
	c.epoch++
}

// Resync forgets every kept container that the engine's list shows
// otherwise (another ID or state, gone, or there where none was), and
// everything when the list cannot be had. It returns the number of
// containers forgotten.
func (c *ContainerCache) Resync(ctx context.Context) int {
	var list []docker.Summary
	var err error
	if c.lister != nil {
		list, err = c.lister.Summaries(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lister == nil || err != nil {
		n := len(c.entries)
		c.forgetAll()
		return n
	}
	byName := make(map[string]docker.Summary, len(list))
	for _, s := range list {
		byName[s.Name] = s
	}
	n := 0
	for name, e := range c.entries {
		s, listed := byName[name]
		if listed != e.found || listed && (s.ID != e.ct.ID || s.State != e.ct.State) {
			delete(c.entries, name)
			c.gens[name]++
			n++
		}
	}
	return n
}

// inspect answers from the cache, or asks next and keeps its answer.
func (c *ContainerCache) inspect(ctx context.Context, next Containers, name string) (docker.Container, bool, error) {
	c.mu.Lock()
	if e, ok := c.entries[name]; ok {
		c.mu.Unlock()
		return clone(e.ct), e.found, nil
	}
	live, epoch, gen := c.live, c.epoch, c.gens[name]
	c.mu.Unlock()
	ct, found, err := next.Inspect(ctx, name)
	if err != nil || !live {
		return ct, found, err
	}
	c.mu.Lock()
	if c.live && c.epoch == epoch && c.gens[name] == gen {
		c.entries[name] = inspected{ct: clone(ct), found: found}
	}
	c.mu.Unlock()
	return ct, found, nil
}

// clone copies ct's maps: a kept answer is shared by the passes.
func clone(ct docker.Container) docker.Container {
	ct.Labels, ct.IPs = maps.Clone(ct.Labels), maps.Clone(ct.IPs)
	return ct
}

// observed is the engine as the observations read it: through the cache,
// when there is one.
func (l *Loop) observed() Containers {
	if l.Cache == nil {
		return l.Deps.Containers
	}
	return l.Cache.observer(l.Deps.Containers)
}

// executor is next for the steps: every read is live, and every change of
// a container forgets it when the change returns.
func (c *ContainerCache) executor(next Containers) Containers {
	return forgetting{Containers: next, cache: c}
}

// observer is next for the observations: Inspect answers from the cache.
func (c *ContainerCache) observer(next Containers) Containers {
	return cached{forgetting: forgetting{Containers: next, cache: c}}
}

// forgetting forgets a container in cache once a change of it returns.
type forgetting struct {
	Containers
	cache *ContainerCache
}

func (f forgetting) Create(ctx context.Context, s docker.CreateSpec) (string, error) {
	defer f.cache.Changed(s.Name)
	return f.Containers.Create(ctx, s)
}

func (f forgetting) Start(ctx context.Context, name string) error {
	defer f.cache.Changed(name)
	return f.Containers.Start(ctx, name)
}

func (f forgetting) Stop(ctx context.Context, name string, timeout time.Duration) error {
	defer f.cache.Changed(name)
	return f.Containers.Stop(ctx, name, timeout)
}

func (f forgetting) Restart(ctx context.Context, name string, timeout time.Duration) error {
	defer f.cache.Changed(name)
	return f.Containers.Restart(ctx, name, timeout)
}

func (f forgetting) SetRestartPolicy(ctx context.Context, name, policy string) error {
	defer f.cache.Changed(name)
	return f.Containers.SetRestartPolicy(ctx, name, policy)
}

func (f forgetting) Remove(ctx context.Context, name string) error {
	defer f.cache.Changed(name)
	return f.Containers.Remove(ctx, name)
}

// cached is forgetting whose Inspect answers from the cache.
type cached struct{ forgetting }

func (c cached) Inspect(ctx context.Context, name string) (docker.Container, bool, error) {
	return c.cache.inspect(ctx, c.forgetting.Containers, name)
}
