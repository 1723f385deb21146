package planner

import (
	"fmt"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// WarmupRecord says that the new color was warmed up (spec.warmup),
// persisted in status: for which release, which runs of its replicas'
// containers, and when.
type WarmupRecord struct {
	Generation string     `json:"generation"`
	Color      spec.Color `json:"color"`
	// Runs are the runs of the replicas' containers warmed up: a container
	// restarted since is cold again.
	Runs     []Run     `json:"runs"`
	Requests int       `json:"requests"`
	At       time.Time `json:"at"`
}

// of reports whether r is about color c of this release as its replicas
// run now.
func (r *WarmupRecord) of(s *spec.Service, c spec.Color, cs ColorState) bool {
	if r == nil || r.Generation != s.Generation() || r.Color != c || len(r.Runs) != len(cs.Replicas) {
		return false
	}
	for i, st := range cs.Replicas {
		if !r.Runs[i].Is(st.Container.Run()) {
			return false
		}
	}
	return true
}

// WarmupRun is what a WarmUp step sends: Requests GETs of Path to each
// target, Concurrency at a time.
type WarmupRun struct {
	Path        string `json:"path"`
	Requests    int    `json:"requests"`
	Concurrency int    `json:"concurrency"`
	// Targets are the replicas: http:// and the address their probes
	// passed at, and the run warmed up.
	Targets []WarmupTarget `json:"targets"`
}

// WarmupTarget is one replica a warm-up goes to.
type WarmupTarget struct {
	Base string `json:"base"`
	Run  Run    `json:"run"`
}

// warmupStep warms up every replica of color c, observed as cs, at the
// addresses its probes passed at.
func warmupStep(s *spec.Service, c spec.Color, cs ColorState) Decision {
	w := s.Warmup
	d := step(WarmUp, s, c, fmt.Sprintf("%s %s", c, w.Path), fmt.Sprintf(
		"%s is ready: %d requests of %s to each of its %d replicas, %d at a time, before its first users", c, w.Requests, w.Path, len(cs.Replicas), w.Concurrency))
	run := &WarmupRun{Path: w.Path, Requests: w.Requests, Concurrency: w.Concurrency}
	for _, st := range cs.Replicas {
		run.Targets = append(run.Targets, WarmupTarget{Base: "http://" + ServerAddr(s, st.Slot, st.Container), Run: st.Container.Run()})
	}
	d.Step.Warmup = run
	return d
}
