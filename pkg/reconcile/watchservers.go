package reconcile

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/haproxy"
)

// WatchServers nudges when HAProxy changes a server's status (UP, DOWN,
// DRAIN, ...) between passes: a served color that its checks take DOWN is
// seen within every, not at the next resync. The nudge names the backends
// whose servers changed, so that only their services are looked at. A server that went UP and
// DOWN again between two reads shows the same status both times; its count
// of transitions to DOWN (chkdown) tells. It reads the servers' statuses
// (ServerStatuses: "show stat" of the servers only, four of its columns)
// at each runtime API the desired state names (runtimes, asked afresh each
// time), one command per address; a read that fails is logged and tried
// again. Nudges never block: a nudge already pending covers the new one.
func WatchServers(ctx context.Context, runtimes func() []string, clients func(addr string) (HAProxy, error),
	every time.Duration, log logr.Logger, nudges *Nudges) {
	if every <= 0 {
		return
	}
	go func() {
		seen := map[string][]haproxy.ServerStatus{} // runtime address -> its servers' statuses
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var changed []string
			now := map[string][]haproxy.ServerStatus{}
			for _, addr := range runtimes() {
				st, err := serverStatuses(ctx, clients, addr, every)
				if err != nil {
					log.V(1).Info("Cannot read HAProxy's server states; the periodic resync still applies", "runtime", addr, "error", err.Error())
					if prev, ok := seen[addr]; ok {
						now[addr] = prev
					}
					continue
				}
				now[addr] = st
				if prev, ok := seen[addr]; ok {
					changed = append(changed, changedBackends(prev, st)...)
				}
			}
			seen = now
			if len(changed) > 0 {
				log.V(1).Info("HAProxy changed a server's status", "backends", changed)
			}
			for _, b := range changed {
				nudges.Backend(b)
			}
		}
	}()
}

// serverStatuses is every server's status and chkdown at the runtime API
// addr, by backend and server name.
func serverStatuses(ctx context.Context, clients func(addr string) (HAProxy, error), addr string, timeout time.Duration) ([]haproxy.ServerStatus, error) {
	ha, err := clients(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := ha.ServerStatuses(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(st, func(a, b haproxy.ServerStatus) int {
		return cmp.Or(cmp.Compare(a.Proxy, b.Proxy), cmp.Compare(a.Server, b.Server))
	})
	return st, nil
}

// changedBackends lists the backends of which a server's status or chkdown
// differs between two reads (both sorted by backend and server), or that
// gained or lost a server.
func changedBackends(prev, now []haproxy.ServerStatus) []string {
	var out []string
	add := func(b string) {
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	i, j := 0, 0
	for i < len(prev) || j < len(now) {
		switch c := compareServers(prev, now, i, j); {
		case c < 0:
			add(prev[i].Proxy)
			i++
		case c > 0:
			add(now[j].Proxy)
			j++
		default:
			if prev[i] != now[j] {
				add(now[j].Proxy)
			}
			i, j = i+1, j+1
		}
	}
	return out
}

// compareServers orders prev[i] and now[j] by backend and server, an
// index past the end coming last.
func compareServers(prev, now []haproxy.ServerStatus, i, j int) int {
	switch {
	case i == len(prev):
		return 1
	case j == len(now):
		return -1
	}
	return cmp.Or(cmp.Compare(prev[i].Proxy, now[j].Proxy), cmp.Compare(prev[i].Server, now[j].Server))
}
