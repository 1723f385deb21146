package reconcile

import (
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
)

// TestStoppedBy: a stop record accounts for an exit only of the same
// container, stopped during this run, at about the time it was asked.
func TestStoppedBy(t *testing.T) {
	ct := planner.Container{ID: "c1", StartedAt: plantest.T0, FinishedAt: plantest.T0.Add(time.Hour + 2*time.Second)}
	asked := plantest.T0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		r    state.StopRecord
		ct   planner.Container
		want bool
	}{
		{"stopped as asked", state.StopRecord{ID: "c1", At: asked}, ct, true},
		{"another container of the same name", state.StopRecord{ID: "c0", At: asked}, ct, false},
		{"asked before this run started", state.StopRecord{ID: "c1", At: plantest.T0.Add(-time.Minute)}, ct, false},
		{"exited long after the stop could have ended", state.StopRecord{ID: "c1", At: plantest.T0.Add(time.Minute)}, ct, false},
		{"exited before the stop was asked", state.StopRecord{ID: "c1", At: plantest.T0.Add(time.Hour + time.Minute)}, ct, false},
		{"never exited", state.StopRecord{ID: "c1", At: asked}, planner.Container{ID: "c1", StartedAt: plantest.T0}, false},
	} {
		if got := stoppedBy(tc.r, tc.ct, 10*time.Second); got != tc.want {
			t.Errorf("%s: stoppedBy = %v, want %v", tc.name, got, tc.want)
		}
	}
}
