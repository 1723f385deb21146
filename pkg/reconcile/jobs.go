package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// ErrJobRan is returned for a start of a job container that is not
// freshly created: it ran already, and a job runs once per release.
var ErrJobRan = errors.New("it ran already: a job runs once per release")

// ObserveJobs inspects the containers of service s's jobs in this
// generation, and those the job records in status name (records: the
// status's), and pairs each with its record.
func (d *Deps) ObserveJobs(ctx context.Context, s *spec.Service, records []planner.JobRecord, now time.Time) ([]planner.JobState, error) {
	gen := s.Generation()
	var out []planner.JobState
	seen := map[string]bool{}
	add := func(g, job, name string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, planner.JobState{Generation: g, Job: job, Name: name})
		}
	}
	for _, j := range s.Jobs {
		add(gen, j.Name, s.JobContainerName(j.Name, gen))
	}
	for _, r := range records {
		add(r.Generation, r.Job, r.Container)
	}
	for i := range out {
		js := &out[i]
		ct, found, err := d.Containers.Inspect(ctx, js.Name)
		if err != nil {
			return nil, fmt.Errorf("inspect job container %s: %w", js.Name, err)
		}
		if found {
			if !ct.Managed || ct.Labels[docker.LabelService] != s.Name || ct.Labels[docker.LabelJob] != js.Job {
				return nil, fmt.Errorf("container %s exists but is not the controller's container of job %s of service %s (labels %v), so it is left alone: rename or remove it to let the job run: %w",
					js.Name, js.Job, s.Name, ct.Labels, docker.ErrNotManaged)
			}
			js.Container = fromDocker(ct, s.Network)
			if err := d.completeOOM(ctx, &js.Container, now); err != nil {
				return nil, err
			}
		}
		for _, r := range records {
			if r.Container == js.Name {
				js.Record = &r
			}
		}
	}
	return out, nil
}

// keepJobRecords completes in status the record of every job container
// that ended (its outcome, exit code, times and last log lines), which
// is on disk before the container is removed (flushJobRecords); it
// forgets the records of earlier generations whose containers are gone.
// Status is written with the pass, not here: a status read mid-pass must
// not show this generation with the last pass's phase. l.mu is held.
func (l *Loop) keepJobRecords(ctx context.Context, log logr.Logger, s *spec.Service, st *state.ServiceStatus, o *planner.Observed) {
	gen := s.Generation()
	for i, js := range o.Jobs {
		if !js.Ended() || js.Record != nil && js.Record.Outcome != "" && js.Record.ID == js.Container.ID {
			continue
		}
		r := planner.JobRecord{Generation: js.Generation, Job: js.Job, Container: js.Name, Color: spec.Color(js.Container.Color)}
		if js.Record != nil {
			r = *js.Record
		}
		var timeout time.Duration
		for _, j := range s.Jobs {
			if j.Name == js.Job && js.Generation == gen {
				timeout = j.Timeout.Duration
			}
		}
		r = planner.EndJob(r, js.Container, timeout)
		r.Logs = l.logsOf(ctx, js.Name)
		st.SetJob(r)
		o.Jobs[i].Record = &r
		if r.Outcome == planner.JobSucceeded {
			log.Info("Job succeeded", "job", r.Job, "container", r.Container, "duration", r.Duration().String())
		} else {
			log.Info("Job failed", "job", r.Job, "container", r.Container, "failure", r.Failure)
		}
	}
	st.DropJobs(func(r planner.JobRecord) bool {
		if r.Generation == gen {
			return false
		}
		for _, js := range o.Jobs {
			if js.Name == r.Container && js.Container.Exists {
				return false
			}
		}
		return true
	})
}

// flushJobRecords writes status, with the record of the job whose
// container step removes, before it is removed: the record is then all
// that says the job ran.
func (l *Loop) flushJobRecords(_ *spec.Service, step planner.Step) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.Status.Flush(); err != nil {
		return fmt.Errorf("remove job container %s: write its record to status first: %w; not removed", step.Job.Name, err)
	}
	return nil
}

// recordJobStart writes the record of the job step creates to status
// before its container is created, so that the job's run is known to
// every later pass, whatever happens to the process or the container.
func (l *Loop) recordJobStart(s *spec.Service, step planner.Step) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	j := step.Job
	l.Status.Service(s.Name).SetJob(planner.JobRecord{Generation: j.Generation, Job: j.Job, Container: j.Name, Color: step.Color})
	if err := l.Status.Flush(); err != nil {
		return fmt.Errorf("create job container %s: record it in status first: %w; not created", j.Name, err)
	}
	return nil
}

// executeJob performs a job step: create its container, start it once,
// stop it, or remove it once it ended.
func (d *Deps) executeJob(ctx context.Context, st planner.Step) error {
	j := st.Job
	switch st.Action {
	case planner.CreateJob:
		cs, err := createWithEnvFiles(j.Create)
		if err != nil {
			return err
		}
		_, err = d.Containers.Create(ctx, cs)
		return err
	case planner.StartJob:
		if err := d.checkJobContainer(ctx, "start", j, func(ct docker.Container) error {
			if ct.State != "created" {
				return fmt.Errorf("it is %s: %w; not started again", ct.State, ErrJobRan)
			}
			return nil
		}); err != nil {
			return err
		}
		return d.Containers.Start(ctx, j.Name)
	case planner.StopJob:
		return d.Containers.Stop(ctx, j.Name, j.StopTimeout)
	}
	if err := d.checkJobContainer(ctx, "remove", j, func(ct docker.Container) error {
		if ct.Running {
			return errors.New("it runs; a job container is removed only once it ended")
		}
		return nil
	}); err != nil {
		return err
	}
	return d.Containers.Remove(ctx, j.Name)
}

// checkJobContainer inspects job j's container live before verb acts on
// it: it must be the job's own, and pass ok.
func (d *Deps) checkJobContainer(ctx context.Context, verb string, j *planner.JobRef, ok func(docker.Container) error) error {
	ct, found, err := d.Containers.Inspect(ctx, j.Name)
	switch {
	case err != nil:
		return fmt.Errorf("%s job container %s: %w", verb, j.Name, err)
	case !found:
		return fmt.Errorf("%s job container %s: it is gone: %w", verb, j.Name, docker.ErrNotFound)
	case !ct.Managed || ct.Labels[docker.LabelJob] != j.Job || ct.Labels[docker.LabelGeneration] != j.Generation:
		return fmt.Errorf("%s job container %s: it is not the container of job %s of release %s (labels %v): %w",
			verb, j.Name, j.Job, j.Generation, ct.Labels, docker.ErrNotManaged)
	}
	if err := ok(ct); err != nil {
		return fmt.Errorf("%s job container %s: %w", verb, j.Name, err)
	}
	return nil
}
