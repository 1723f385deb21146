package main

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
)

// callTimes records how long each kind of call took.
type callTimes struct {
	mu sync.Mutex
	by map[string][]time.Duration
}

func (c *callTimes) add(name string, start time.Time) {
	d := time.Since(start)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by = map[string][]time.Duration{}
	}
	c.by[name] = append(c.by[name], d)
}

// The wrappers time the calls an observation makes through the controller's
// own Deps. Calls they do not name pass through the embedded interface
// untimed (they show up as "other").
type timedHAProxy struct {
	reconcile.HAProxy
	ct *callTimes
}

func (h timedHAProxy) GetMap(ctx context.Context, mapPath, key string) (string, bool, error) {
	defer h.ct.add("HAProxy: map value", time.Now())
	return h.HAProxy.GetMap(ctx, mapPath, key)
}

func (h timedHAProxy) StatOf(ctx context.Context, backend string) ([]haproxy.StatRow, error) {
	defer h.ct.add("HAProxy: stats of a backend", time.Now())
	return h.HAProxy.StatOf(ctx, backend)
}

func (h timedHAProxy) ShowStat(ctx context.Context) ([]haproxy.StatRow, error) {
	defer h.ct.add("HAProxy: show stat", time.Now())
	return h.HAProxy.ShowStat(ctx)
}

type timedContainers struct {
	reconcile.Containers
	ct *callTimes
}

func (c timedContainers) ImageID(ctx context.Context, ref string) (string, bool, error) {
	defer c.ct.add("Docker: image inspect", time.Now())
	return c.Containers.ImageID(ctx, ref)
}

func (c timedContainers) Inspect(ctx context.Context, name string) (docker.Container, bool, error) {
	defer c.ct.add("Docker: container inspect", time.Now())
	return c.Containers.Inspect(ctx, name)
}

type timedMapFiles struct {
	reconcile.MapFiles
	ct *callTimes
}

func (m timedMapFiles) Lookup(path, key string) (string, bool, error) {
	defer m.ct.add("map file read", time.Now())
	return m.MapFiles.Lookup(path, key)
}

type timedProber struct {
	reconcile.Prober
	ct      *callTimes
	serving string // URL of the serving color
}

func (p timedProber) Probe(ctx context.Context, url string) error {
	name := "probe of the idle color"
	if url == p.serving {
		name = "probe of the serving color"
	}
	defer p.ct.add(name, time.Now())
	return p.Prober.Probe(ctx, url)
}

// observeCost is where one observation of one service spends its time.
type observeCost struct {
	N     int
	Total []time.Duration
	Calls map[string][]time.Duration // per call kind, every call
	Per   map[string]float64         // calls per observation
}

// measureObserve runs n observations of service i through the controller's
// own code (reconcile.Deps.Observe with the real HAProxy, Docker and probe
// clients), pausing planner.ReadyPoll between them as a waiting controller
// does, and times each call. Observing changes nothing.
func (w *world) measureObserve(i, n int) (*observeCost, error) {
	drv, err := docker.Open()
	if err != nil {
		return nil, err
	}
	ct := &callTimes{}
	svcs, err := specfile.Load(w.desired)
	if err != nil {
		return nil, err
	}
	s := &svcs[i]
	serving := "http://127.0.0.1:" + strconv.Itoa(w.svcs[i].port(w.active[i])) + s.HealthPath
	clients := reconcile.HAProxyClients(2 * time.Second)
	deps := &reconcile.Deps{
		HAProxy: func(addr string) (reconcile.HAProxy, error) {
			c, err := clients(addr)
			if err != nil {
				return nil, err
			}
			return timedHAProxy{c, ct}, nil
		},
		Containers: timedContainers{drv, ct},
		MapFiles:   timedMapFiles{reconcile.HostMapFiles{}, ct},
		Prober:     timedProber{reconcile.NewHTTPProber(time.Second), ct, serving},
	}
	oc := &observeCost{N: n, Calls: map[string][]time.Duration{}, Per: map[string]float64{}}
	for k := 0; k < n; k++ {
		start := time.Now()
		if _, err := deps.Observe(context.Background(), s, nil, time.Now()); err != nil {
			return nil, err
		}
		oc.Total = append(oc.Total, time.Since(start))
		time.Sleep(planner.ReadyPoll)
	}
	for name, ds := range ct.by {
		oc.Calls[name] = ds
		oc.Per[name] = float64(len(ds)) / float64(n)
	}
	return oc, nil
}

// rows returns the call kinds by their share of an observation, largest
// first, with the remainder as "other".
func (oc *observeCost) rows() (names []string, median map[string]time.Duration, share map[string]time.Duration) {
	median, share = map[string]time.Duration{}, map[string]time.Duration{}
	var sum time.Duration
	for name, ds := range oc.Calls {
		median[name] = pct(ds, 50)
		var tot time.Duration
		for _, d := range ds {
			tot += d
		}
		share[name] = tot / time.Duration(oc.N)
		sum += share[name]
		names = append(names, name)
	}
	sort.Slice(names, func(a, b int) bool {
		if share[names[a]] != share[names[b]] {
			return share[names[a]] > share[names[b]]
		}
		return strings.Compare(names[a], names[b]) < 0
	})
	var tot time.Duration
	for _, d := range oc.Total {
		tot += d
	}
	mean := tot / time.Duration(max(1, len(oc.Total)))
	if other := mean - sum; other > 0 {
		names = append(names, "other (untimed calls, parsing)")
		share["other (untimed calls, parsing)"] = other
		median["other (untimed calls, parsing)"] = -1
	}
	return names, median, share
}
