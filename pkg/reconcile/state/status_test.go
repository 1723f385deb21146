package state

import (
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
)

// TestConditions: each phase sets Ready, Reconciling and Stalled as kstatus
// reads them, each with the spec digest it was judged on, and the phase
// is derived back from the conditions; a transition time moves only when
// a condition's status changes.
func TestConditions(t *testing.T) {
	want := map[planner.Phase][3]string{ // Ready, Reconciling, Stalled
		planner.Converged:   {"True", "False", "False"},
		planner.Progressing: {"False", "True", "False"},
		planner.Degraded:    {"False", "True", "True"},
		planner.Failed:      {"False", "False", "True"},
	}
	s := &ServiceStatus{ObservedGeneration: "abc123"}
	for i, p := range []planner.Phase{planner.Progressing, planner.Degraded, planner.Failed, planner.Converged, planner.Progressing} {
		now := plantest.T0.Add(time.Duration(i) * time.Second)
		before := map[string]Condition{}
		for _, c := range s.Conditions {
			before[c.Type] = c
		}
		s.Decided(planner.Decision{Phase: p, Reason: planner.Reason("R" + string(p)), Message: "m"}, now)
		if s.Phase != p || PhaseOf(s.Conditions) != p {
			t.Fatalf("%s: phase %s, derived %s", p, s.Phase, PhaseOf(s.Conditions))
		}
		if len(s.Conditions) != 3 {
			t.Fatalf("%s: conditions %+v", p, s.Conditions)
		}
		for j, typ := range []string{ConditionReady, ConditionReconciling, ConditionStalled} {
			c := s.Conditions[j]
			if c.Type != typ || c.Status != want[p][j] || c.Reason != planner.Reason("R"+string(p)) || c.ObservedDigest != "abc123" {
				t.Errorf("%s: condition %d = %+v, want %s=%s", p, j, c, typ, want[p][j])
			}
			if b, ok := before[typ]; ok && b.Status == c.Status && !c.LastTransitionTime.Equal(b.LastTransitionTime) {
				t.Errorf("%s: %s moved its transition time without a change of status", p, typ)
			}
		}
	}
}
