package metrics

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Ready returns nil when the last pass ended ok no longer than staleAfter
// ago (0: no bound), or an error saying in one line why the controller is
// not ready: no pass has ended yet, the last pass refused the desired
// state or could not observe some services, or it ended too long ago.
func (m *Metrics) Ready(staleAfter time.Duration) error {
	now := m.now()
	m.mu.Lock()
	last := m.last
	m.mu.Unlock()
	switch {
	case last.at.IsZero():
		return errors.New("no reconcile pass has ended yet")
	case last.refused:
		return fmt.Errorf("the desired state was refused at the last pass, at %s", stamp(last.at))
	case !last.ok:
		return fmt.Errorf("the last pass, at %s, could not observe %s", stamp(last.at), strings.Join(last.failures, ", "))
	}
	if age := now.Sub(last.at); staleAfter > 0 && age > staleAfter {
		return fmt.Errorf("the last pass ended %s ago, longer than the %s allowed", age.Round(time.Millisecond), staleAfter)
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
