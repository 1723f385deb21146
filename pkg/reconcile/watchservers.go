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
// seen within every, not at the next resync. A server that went UP and
// DOWN again between two reads shows the same status both times; its count
// of transitions to DOWN (chkdown) tells. It reads the servers' statuses
// (ServerStatuses: "show stat" of the servers only, four of its columns)
// at each runtime API the desired state names (runtimes, asked afresh each
// time), one command per address; a read that fails is logged and tried
// again. Nudges never block: a nudge already pending covers the new one.
func WatchServers(ctx context.Context, runtimes func() []string, clients func(addr string) (HAProxy, error),
	every time.Duration, log logr.Logger, nudge chan<- struct{}) {
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
			changed := false
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
				if prev, ok := seen[addr]; ok && !slices.Equal(prev, st) {
					changed = true
				}
			}
			seen = now
			if changed {
				log.V(1).Info("HAProxy changed a server's status")
				select {
				case nudge <- struct{}{}:
				default:
				}
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
