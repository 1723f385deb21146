package reconcile

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/haproxy"
)

// TestWatchServersNudges: a server's status change between two reads of
// HAProxy nudges a pass of its backend's service, and so does a trip UP
// and DOWN again that both reads saw as DOWN (its chkdown count moved);
// nothing else does.
func TestWatchServersNudges(t *testing.T) {
	w := newFakeWorld()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nudges := NewNudges()
	WatchServers(ctx, func() []string { return []string{"unix:///run/haproxy/admin.sock"} }, w.deps().HAProxy, 10*time.Millisecond, logr.Discard(), nudges)
	nudged := func(within time.Duration) bool {
		select {
		case <-nudges.c:
			if all, svcs, backends := nudges.take(); all || len(svcs) > 0 || !slices.Equal(backends, []string{"web_blue"}) {
				t.Fatalf("nudged all=%v, services %v, backends %v; want backend web_blue only", all, svcs, backends)
			}
			return true
		case <-time.After(within):
			return false
		}
	}
	edit := func(f func()) {
		w.big.Lock()
		defer w.big.Unlock()
		f()
	}
	if nudged(100 * time.Millisecond) {
		t.Fatal("nudged while nothing changed")
	}
	edit(func() { w.servers["web_blue/app"].Status = "UP" })
	if !nudged(2 * time.Second) {
		t.Fatal("a server going UP did not nudge")
	}
	edit(func() { w.servers["web_blue/app"].Status = "DOWN" })
	if !nudged(2 * time.Second) {
		t.Fatal("a server going DOWN did not nudge")
	}
	// UP and DOWN again between two reads: the status read is the same.
	edit(func() { w.servers["web_blue/app"].Fields = haproxy.NewStatFields(map[string]string{"chkdown": "1"}) })
	if !nudged(2 * time.Second) {
		t.Fatal("a trip UP and back DOWN between two reads (chkdown 0 -> 1) did not nudge")
	}
	if nudged(100 * time.Millisecond) {
		t.Fatal("nudged again with nothing changed")
	}
}

// TestChangedBackends: the backends named are those of which a server
// changed status or chkdown, appeared or went.
func TestChangedBackends(t *testing.T) {
	st := func(b, s, status string, chkdown int64) haproxy.ServerStatus {
		return haproxy.ServerStatus{Proxy: b, Server: s, Status: status, Chkdown: chkdown}
	}
	prev := []haproxy.ServerStatus{st("a", "app", "UP", 0), st("b", "app", "DOWN", 1), st("c", "app", "UP", 0), st("c", "app2", "UP", 0), st("d", "app", "UP", 0)}
	now := []haproxy.ServerStatus{st("a", "app", "UP", 0), st("b", "app", "DOWN", 2), st("c", "app", "UP", 0), st("d", "app", "DOWN", 0), st("e", "app", "UP", 0)}
	if got, want := changedBackends(prev, now), []string{"b", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Fatalf("changedBackends = %v, want %v", got, want)
	}
	if got := changedBackends(prev, prev); len(got) != 0 {
		t.Fatalf("changedBackends of the same read = %v, want none", got)
	}
}
