package state

import (
	"slices"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
)

// SetJob keeps record r of a release job, replacing the one of the same
// container.
func (s *ServiceStatus) SetJob(r planner.JobRecord) {
	for i := range s.Jobs {
		if s.Jobs[i].Container == r.Container {
			s.Jobs[i] = r
			return
		}
	}
	s.Jobs = append(s.Jobs, r)
}

// JobsOf returns the records of the jobs of generation gen, in the order
// they were kept.
func (s *ServiceStatus) JobsOf(gen string) []planner.JobRecord {
	var out []planner.JobRecord
	for _, r := range s.Jobs {
		if r.Generation == gen {
			out = append(out, r)
		}
	}
	return out
}

// DropJobs forgets the records for which gone says yes.
func (s *ServiceStatus) DropJobs(gone func(planner.JobRecord) bool) {
	s.Jobs = slices.DeleteFunc(s.Jobs, gone)
	if len(s.Jobs) == 0 {
		s.Jobs = nil
	}
}
