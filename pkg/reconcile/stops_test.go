package reconcile

import (
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
)

// TestStoppedBy: a stop record accounts for an exit only of the same
// container, stopped during this run, at about the time it was asked.
func TestStoppedBy(t *testing.T) {
	ct := planner.Container{ID: "c1", StartedAt: plantest.T0, FinishedAt: plantest.T0.Add(time.Hour + 2*time.Second)}
	asked := plantest.T0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		r    StopRecord
		ct   planner.Container
		want bool
	}{
		{"stopped as asked", StopRecord{ID: "c1", At: asked}, ct, true},
		{"another container of the same name", StopRecord{ID: "c0", At: asked}, ct, false},
		{"asked before this run started", StopRecord{ID: "c1", At: plantest.T0.Add(-time.Minute)}, ct, false},
		{"exited long after the stop could have ended", StopRecord{ID: "c1", At: plantest.T0.Add(time.Minute)}, ct, false},
		{"exited before the stop was asked", StopRecord{ID: "c1", At: plantest.T0.Add(time.Hour + time.Minute)}, ct, false},
		{"never exited", StopRecord{ID: "c1", At: asked}, planner.Container{ID: "c1", StartedAt: plantest.T0}, false},
	} {
		if got := stoppedBy(tc.r, tc.ct, 10*time.Second); got != tc.want {
			t.Errorf("%s: stoppedBy = %v, want %v", tc.name, got, tc.want)
		}
	}
}
