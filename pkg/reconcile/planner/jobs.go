package planner

import (
	"fmt"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// JobPoll is how often a running job is looked at; its exit also nudges
// the loop, through the engine's events.
const JobPoll = 250 * time.Millisecond

// Job outcomes, in a job's record.
const (
	JobSucceeded = "Succeeded"
	JobFailed    = "Failed"
)

// JobRecord is one run of a release job, persisted in status: written
// before its container is created, completed once it ended (with its last
// log lines), kept while its generation is the spec's. So a job runs once
// per release even after its container is removed, or when the controller
// is killed at any point.
type JobRecord struct {
	Generation string     `json:"generation"`
	Job        string     `json:"job"`
	Container  string     `json:"container"` // its name
	Color      spec.Color `json:"color"`     // the new color it ran for
	// ID, the times and the exit are the container's once it ended.
	ID         string    `json:"id,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitempty"`
	FinishedAt time.Time `json:"finishedAt,omitempty"`
	ExitCode   int       `json:"exitCode"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	// Outcome is "" until it ended, then JobSucceeded or JobFailed, with
	// Failure saying how.
	Outcome string `json:"outcome,omitempty"`
	Failure string `json:"failure,omitempty"`
	// Logs are its last log lines.
	Logs string `json:"logs,omitempty"`
}

// Duration is how long the job ran.
func (r JobRecord) Duration() time.Duration {
	if r.StartedAt.IsZero() || r.FinishedAt.Before(r.StartedAt) {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// JobState is what is observed of one job container: one of the spec's
// jobs in this generation, or one a record names.
type JobState struct {
	Generation string
	Job        string
	// Name is the container's name (spec.Service.JobContainerName).
	Name      string
	Container Container
	// Record is the job's record in status, nil if none.
	Record *JobRecord
}

// Ended reports a job container that ran and exited.
func (js JobState) Ended() bool {
	ct := js.Container
	return ct.Exists && !ct.Running && !ct.Restarting && ct.State != "created" && !ct.FinishedAt.IsZero()
}

// EndJob completes record r from container ct, which ran job r.Job and
// ended, judged against the job's timeout: it succeeded only when it
// exited 0 and was not OOM-killed.
func EndJob(r JobRecord, ct Container, timeout time.Duration) JobRecord {
	r.ID, r.StartedAt, r.FinishedAt, r.ExitCode, r.OOMKilled = ct.ID, ct.StartedAt, ct.FinishedAt, ct.ExitCode, ct.OOMKilled
	ran := r.Duration().Round(time.Millisecond)
	switch {
	case ct.ExitCode == 0 && !ct.OOMKilled:
		r.Outcome, r.Failure = JobSucceeded, ""
		return r
	case ct.OOMKilled:
		r.Failure = fmt.Sprintf("was killed for passing its memory limit (OOMKilled, exit code %d) after %s", ct.ExitCode, ran)
	case timeout > 0 && r.Duration() >= timeout:
		r.Failure = fmt.Sprintf("outlived its timeout %s and was stopped (exit code %d after %s)", timeout, ct.ExitCode, ran)
	default:
		r.Failure = fmt.Sprintf("exited with code %d after %s", ct.ExitCode, ran)
	}
	r.Outcome = JobFailed
	return r
}

// jobState is the observed state of job j of this generation (a zero
// state, named, when it was not observed).
func jobState(s *spec.Service, o Observed, j spec.Job) JobState {
	name := s.JobContainerName(j.Name, s.Generation())
	for _, js := range o.Jobs {
		if js.Name == name {
			return js
		}
	}
	return JobState{Generation: s.Generation(), Job: j.Name, Name: name}
}

// jobResult is how job j of this generation ended: its outcome ("" while
// it has not) and, when it failed, the record that says how.
func jobResult(s *spec.Service, o Observed, j spec.Job) (outcome string, r JobRecord) {
	js := jobState(s, o, j)
	if js.Ended() {
		r = JobRecord{Generation: js.Generation, Job: j.Name, Container: js.Name, Color: spec.Color(js.Container.Color)}
		if js.Record != nil {
			r = *js.Record
		}
		r = EndJob(r, js.Container, j.Timeout.Duration)
		return r.Outcome, r
	}
	if js.Record != nil && js.Record.Outcome != "" {
		return js.Record.Outcome, *js.Record
	}
	return "", JobRecord{}
}

// jobFailure ends a release one of whose jobs failed, before any traffic
// moved: the new color is drained and stopped, then the release is Failed (JobFailed)
// until the spec changes (spec.retry runs the jobs again, under a new
// generation).
func jobFailure(s *spec.Service, o Observed, served spec.Color, now time.Time) (d Decision, decided bool) {
	if v := o.Verification; v != nil && v.Generation == s.Generation() {
		// This release switched already, so its jobs had succeeded: the
		// verification decides, and the previous color stays warm.
		return Decision{}, false
	}
	for _, j := range s.Jobs {
		outcome, r := jobResult(s, o, j)
		if outcome != JobFailed || j.When == spec.JobAfterSwitch {
			continue
		}
		msg := fmt.Sprintf("job %s (%s) of the release of %s %s; no traffic moved", j.Name, r.Container, s.Image, r.Failure)
		if served != "" && o.Color(served).First().Container.Running {
			msg += fmt.Sprintf(", %s serves on", served)
		}
		if c := r.Color; c != "" && c != served {
			for _, st := range o.Color(c).Replicas {
				if !st.Container.Running {
					continue
				}
				// Drained first, as any color before it stops: the preview
				// key may send it requests.
				if d, decided := drainGate(s, st, now); decided {
					return d, true
				}
				return containerStep(StopContainer, s, st.Slot, st.Container, msg+": the new color's "+st.Slot.String()+" is stopped"), true
			}
		}
		msg += ". Fix the job or the image and change the spec, or run controller retry " + s.Name + " to run it again"
		if r.Logs != "" {
			msg += "; its last log lines:\n" + r.Logs
		}
		d := Decision{Phase: Failed, Reason: ReasonJobFailed, Message: msg}
		if jobState(s, o, j).Container.Exists {
			d.LogsOf = r.Container
		}
		return d, true
	}
	return Decision{}, false
}

// jobsGate runs the release's jobs of moment when, in the order written,
// one at a time, in containers of the new image made for color next: the
// BeforeSwitch jobs hold the switch to next until every one of them
// succeeded, the AfterSwitch ones the end of the verification window (see
// verdict). A job container of an earlier release that still runs is
// waited for: two migrations never run at once. decided is false once
// every job succeeded, or, AfterSwitch, once one failed (the verification
// fails).
func jobsGate(s *spec.Service, o Observed, next spec.Color, when spec.JobWhen, now time.Time) (d Decision, decided bool) {
	jobs := jobsOf(s, when)
	if len(jobs) == 0 {
		return Decision{}, false
	}
	gen := s.Generation()
	for _, js := range o.Jobs {
		if js.Generation != gen && js.Container.Running {
			return Decision{Phase: Progressing, Reason: ReasonWaitingForJob,
				Message: fmt.Sprintf("job %s of an earlier release (%s) still runs in %s: the jobs of this release wait for it to end",
					js.Job, js.Generation, js.Name),
				RequeueAfter: JobPoll}, true
		}
	}
	for i, j := range jobs {
		outcome, _ := jobResult(s, o, j)
		switch {
		case outcome == JobSucceeded:
			continue
		case outcome == JobFailed && when == spec.JobAfterSwitch:
			return Decision{}, false
		case outcome == JobFailed:
			return jobFailure(s, o, o.Served, now)
		}
		js := jobState(s, o, j)
		ct := js.Container
		order := fmt.Sprintf("%s job %d of %d, %s", when, i+1, len(jobs), j.Name)
		switch {
		case !ct.Exists && when == spec.JobAfterSwitch:
			return jobCreateStep(s, next, o.Image.ID, j, fmt.Sprintf("%s serves %s; %s runs once in a container of it during the verification window",
				next, s.Image, order)), true
		case !ct.Exists:
			state := "is ready"
			if !o.Color(next).First().Container.Exists {
				state = "is to be created" // a first start
			}
			return jobCreateStep(s, next, o.Image.ID, j, fmt.Sprintf("%s %s; %s runs once in a container of %s before any traffic moves",
				next, state, order, s.Image)), true
		case ct.State == "created":
			return jobStep(StartJob, s, js, j, fmt.Sprintf("%s: its container is created, not started yet", order)), true
		case ct.Running && now.Sub(ct.StartedAt) > j.Timeout.Duration:
			return jobStep(StopJob, s, js, j, fmt.Sprintf("%s has run %s, past its timeout %s: stop it (the release fails)",
				order, now.Sub(ct.StartedAt).Round(time.Second), j.Timeout.Duration)), true
		case ct.Running:
			left := j.Timeout.Duration - now.Sub(ct.StartedAt)
			return Decision{Phase: Progressing, Reason: ReasonRunningJob,
				Message: fmt.Sprintf("%s runs in %s since %s (timeout in %s); %s",
					order, js.Name, ct.StartedAt.UTC().Format(time.RFC3339), left.Round(time.Second), jobWait(when, next)),
				RequeueAfter: min(JobPoll, max(left, time.Millisecond))}, true
		}
		// Ended, and not yet judged (a pass with no record): look again.
		return Decision{Phase: Progressing, Reason: ReasonRunningJob,
			Message: fmt.Sprintf("%s: its container %s is %s", order, js.Name, ct.State), RequeueAfter: JobPoll}, true
	}
	return Decision{}, false
}

// cleanJobs removes, once the service is at rest (d: converged, or a
// release that ended Failed, rolled back or held), the job containers
// whose end is recorded in status, and those of an earlier release that
// were never started.
func cleanJobs(s *spec.Service, o Observed, d Decision) Decision {
	if d.Step != nil || !(d.Converged() || d.Phase == Failed) {
		return d
	}
	for _, js := range o.Jobs {
		ct := js.Container
		recorded := js.Record != nil && js.Record.Outcome != "" && js.Record.ID == ct.ID
		stale := js.Generation != s.Generation() && ct.State == "created"
		if ct.Exists && !ct.Running && !ct.Restarting && (recorded || stale) {
			rd := jobStep(RemoveJob, s, js, spec.Job{Name: js.Job}, fmt.Sprintf("the release of %s is at rest (%s): its job container is no longer needed", js.Generation, d.Reason))
			return rd
		}
	}
	return d
}

// jobCreateStep creates job j's container for color next on image imageID.
func jobCreateStep(s *spec.Service, next spec.Color, imageID string, j spec.Job, cause string) Decision {
	gen := s.Generation()
	js := JobState{Generation: gen, Job: j.Name, Name: s.JobContainerName(j.Name, gen)}
	d := jobStep(CreateJob, s, js, j, cause)
	d.Step.Color = next
	d.Step.Job.Create = JobSpecOf(s, next, imageID, j)
	return d
}

// jobStep acts on the job container of js.
func jobStep(a Action, s *spec.Service, js JobState, j spec.Job, cause string) Decision {
	d := step(a, s, spec.Color(js.Container.Color), js.Name, cause)
	d.Step.Job = &JobRef{Name: js.Name, Job: js.Job, Generation: js.Generation, ID: js.Container.ID}
	if a == StopJob {
		d.Step.Job.StopTimeout = s.StopTimeout.Duration
	}
	return d
}

// JobSpecOf is what job j's container is created from: color c's
// container spec on image imageID (the new version's env, env files,
// volumes, networks, user and resources), with the job's command, its own
// name and labels, no published port, and BLUEGREEN_JOB and
// BLUEGREEN_GENERATION added to its env.
func JobSpecOf(s *spec.Service, c spec.Color, imageID string, j spec.Job) *ContainerSpec {
	cs := ContainerSpecOf(s, s.Replica(c, 0), imageID)
	gen := s.Generation()
	cs.Name = s.JobContainerName(j.Name, gen)
	cs.Env = append(cs.Env, "BLUEGREEN_JOB="+j.Name, "BLUEGREEN_GENERATION="+gen)
	cs.Command = j.Command
	cs.Job, cs.Generation = j.Name, gen
	cs.HostPort = 0
	return cs
}

// irreversibleJob names the first job of this generation marked
// reversible: false that succeeded, "" when none did.
func irreversibleJob(s *spec.Service, o Observed) string {
	for _, j := range s.Jobs {
		if outcome, _ := jobResult(s, o, j); j.Irreversible() && outcome == JobSucceeded {
			return j.Name
		}
	}
	return ""
}

// holdRelease keeps a release that failed its verification after an
// irreversible job (v, Held) where it is: traffic on the new color, which
// is kept running as any served color is, and the previous color warm;
// status says so until a person rolls back or changes the spec.
func holdRelease(s *spec.Service, o Observed, v *Verification, now time.Time) Decision {
	if d, decided := keepServed(s, o, o.Served, now); decided {
		d.Record = v
		return d
	}
	return Decision{Phase: Failed, Reason: ReasonHeldAfterIrreversibleJob, Record: v,
		Message: fmt.Sprintf("the release of %s to %s failed its verification and is held: %s. Traffic stays on %s and %s is kept warm: "+
			"run controller rollback %s to switch back to it, or change the spec", v.ToImage, v.To, v.Reason, v.To, v.From, s.Name)}
}

// jobsOf are the spec's jobs of moment when, in the order written.
func jobsOf(s *spec.Service, when spec.JobWhen) []spec.Job {
	var out []spec.Job
	for _, j := range s.Jobs {
		if j.When == when || when == spec.JobBeforeSwitch && j.When == "" {
			out = append(out, j)
		}
	}
	return out
}

// jobWait says what a running job of moment when holds back.
func jobWait(when spec.JobWhen, next spec.Color) string {
	if when == spec.JobAfterSwitch {
		return "the verification window ends once every AfterSwitch job succeeded"
	}
	return string(next) + " gets traffic once every job succeeded"
}

// afterSwitchVerdict judges the AfterSwitch jobs of the release being
// verified: failure names one that failed ("" for none), done is true
// once every one of them succeeded.
func afterSwitchVerdict(s *spec.Service, o Observed) (failure string, done bool) {
	done = true
	for _, j := range jobsOf(s, spec.JobAfterSwitch) {
		switch outcome, r := jobResult(s, o, j); outcome {
		case JobFailed:
			msg := fmt.Sprintf("AfterSwitch job %s (%s) %s", j.Name, r.Container, r.Failure)
			if r.Logs != "" {
				msg += "; its last log lines:\n" + r.Logs
			}
			return msg, false
		case JobSucceeded:
		default:
			done = false
		}
	}
	return "", done
}
