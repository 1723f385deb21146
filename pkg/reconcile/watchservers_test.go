package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/haproxy"
)

// TestWatchServersNudges: a server's status change between two reads of
// HAProxy nudges a pass, and so does a trip UP and DOWN again that both
// reads saw as DOWN (its chkdown count moved); nothing else does.
func TestWatchServersNudges(t *testing.T) {
	w := newFakeWorld()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nudge := make(chan struct{}, 1)
	WatchServers(ctx, func() []string { return []string{"unix:///run/haproxy/admin.sock"} }, w.deps().HAProxy, 10*time.Millisecond, logr.Discard(), nudge)
	nudged := func(within time.Duration) bool {
		select {
		case <-nudge:
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
