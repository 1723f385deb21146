package reconcile

import (
	"sync"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
)

// publishedAnswers remembers, per container name, the run whose published
// port answered a probe. Docker's port forwarder listens for as long as
// the container runs, so a color that answered there once in this run is
// not asked again at every pass: with many services that was one new
// connection per service per resync for the served colors, and one per
// pass of a release for the color being prepared. A restart or another
// container under the name is a new run and is probed again. Kept in
// memory only: a controller that starts again probes once more.
type publishedAnswers struct {
	mu sync.Mutex
	m  map[string]planner.Run
}

// answered reports whether name's published port answered in run. A nil
// p remembers nothing.
func (p *publishedAnswers) answered(name string, run planner.Run) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	prev, ok := p.m[name]
	return ok && prev.Is(run)
}

// set records whether name's published port answered in run.
func (p *publishedAnswers) set(name string, run planner.Run, ok bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ok {
		delete(p.m, name)
		return
	}
	if p.m == nil {
		p.m = map[string]planner.Run{}
	}
	p.m[name] = run
}
