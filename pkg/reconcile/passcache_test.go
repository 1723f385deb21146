package reconcile

import (
	"context"
	"maps"
	"sync/atomic"
	"testing"
)

// countedEntries is a MapFiles that reads whole files, counting the reads.
type countedEntries struct {
	fakeMapFiles
	reads *atomic.Int32
}

func (c countedEntries) Entries(path string) (map[string]string, error) {
	c.reads.Add(1)
	c.w.big.Lock()
	defer c.w.big.Unlock()
	return maps.Clone(c.w.fileMap), nil
}

// TestPassReadsAMapFileOnce: the services of a pass that share a map file
// share one read of it; MapFiles that cannot read a whole file are asked
// key by key, as before.
func TestPassReadsAMapFileOnce(t *testing.T) {
	w, web, api := twoServices(t)
	var reads atomic.Int32
	d := w.deps()
	d.MapFiles = countedEntries{fakeMapFiles{w}, &reads}
	loop := newTestLoop(t, d, api, web)
	loop.Pass(context.Background())
	if n := reads.Load(); n < 1 || n > 2 { // the pass's, and one of a step's own pass if a step was taken
		t.Fatalf("the map file was read %d times in a pass over two services (and its steps), want once per pass", n)
	}
	if w.count("lookup /etc/haproxy/hosts.map web")+w.count("lookup /etc/haproxy/hosts.map api") != 0 {
		t.Fatal("the services looked their keys up one by one")
	}
	if got := newPassMapFiles(fakeMapFiles{w}); got != (fakeMapFiles{w}) {
		t.Fatalf("MapFiles without Entries wrapped as %T, want them as they are", got)
	}
}
