package main

import (
	"fmt"
	"strings"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// releasePath says in one line what a release of s goes through between
// the new color's start and the end of its verification: replicas, checks,
// jobs, warm-up, promotion and the verification window, for validate's
// summary.
func releasePath(s *spec.ServiceSpec) string {
	var parts []string
	if n := s.ReplicaCount(); n > 1 {
		parts = append(parts, fmt.Sprintf("%d replicas per color", n))
	}
	if len(s.Checks) > 0 {
		var names []string
		for _, c := range s.Checks {
			names = append(names, c.Method+" "+c.Path)
		}
		parts = append(parts, "checks "+strings.Join(names, ", "))
	}
	for _, when := range []spec.JobWhen{spec.JobBeforeSwitch, spec.JobAfterSwitch} {
		var names []string
		for _, j := range s.Jobs {
			if j.When == when {
				names = append(names, j.Name)
			}
		}
		if len(names) > 0 {
			parts = append(parts, fmt.Sprintf("jobs %s (%s)", strings.Join(names, ", "), when))
		}
	}
	if w := s.Warmup; w != nil {
		parts = append(parts, fmt.Sprintf("warm-up %d requests of %s, %d at a time", w.Requests, w.Path, w.Concurrency))
	}
	if s.Promotion.Mode == spec.PromotionManual {
		parts = append(parts, "promotion Manual (waits for controller promote)")
	}
	if w := s.Verify.Window; w != nil && w.Duration > 0 {
		parts = append(parts, fmt.Sprintf("verified %s on real traffic (at most %g %% errors)", w.Duration, *s.Verify.MaxErrorRate*100))
	} else {
		parts = append(parts, "not verified after the switch")
	}
	return strings.Join(parts, "; ")
}
