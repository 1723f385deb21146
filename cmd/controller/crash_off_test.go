//go:build !crashpoints

package main

import (
	"testing"

	"github.com/bluegreen-host/controller/pkg/reconcile"
)

// TestShippedBinaryHasNoCrashPoints: built without the tag crashpoints (as
// go build and go install build it), the controller ignores
// BLUEGREEN_CRASH_AT: no hook is set around the steps, and no value is
// refused.
func TestShippedBinaryHasNoCrashPoints(t *testing.T) {
	for _, at := range []string{"before:SwitchMap", "after:StartContainer", "mid:SwitchMap", "nonsense"} {
		l := &reconcile.Loop{Deps: &reconcile.Deps{}}
		if err := injectCrash(l, at); err != nil || l.BeforeStep != nil || l.AfterStep != nil || l.Deps.MapFiles != nil {
			t.Errorf("%s=%s: err %v, hooks set: %v %v %v", crashEnv, at, err, l.BeforeStep != nil, l.AfterStep != nil, l.Deps.MapFiles != nil)
		}
	}
}
