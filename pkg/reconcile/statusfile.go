package reconcile

import "github.com/bluegreen-host/controller/pkg/reconcile/state"

// StatusSnapshot returns a copy of the status as it is in memory, with
// the decisions of the pass under way. It may be called from any
// goroutine, except from a Listener's methods (the loop holds the status
// while it calls them).
func (l *Loop) StatusSnapshot() state.Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Status.Snapshot()
}

// flush writes the status if it changed.
func (l *Loop) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.Status.Flush(); err != nil {
		l.Log.Error(err, "Cannot write status")
	}
}

// flushSoon hands the status to be written, if it changed, without
// waiting for the disk (Pass, RunOnce and the end of Run wait).
func (l *Loop) flushSoon() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.Status.FlushSoon(); err != nil {
		l.Log.Error(err, "Cannot write status")
	}
}
