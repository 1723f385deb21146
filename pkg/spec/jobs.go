package spec

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// JobWhen says at which point of a release a job runs.
type JobWhen string

// BeforeSwitch: once the new color is ready and its checks passed, before
// the promotion gate and the switch. AfterSwitch: once traffic moved,
// during the verification window, which it must pass: its failure fails
// the verification.
const (
	JobBeforeSwitch JobWhen = "BeforeSwitch"
	JobAfterSwitch  JobWhen = "AfterSwitch"
)

// DefaultJobTimeout bounds a job whose spec gives no timeout.
const DefaultJobTimeout = 10 * time.Minute

// Job is a one-shot command run once per release in a container of the new
// image, with the same env, env files, volumes, networks, user and
// resources as the new color: a schema migration, for instance.
type Job struct {
	// Name names the job in its container's name, in status and history:
	// 1 to 30 lower-case letters, digits and '-'.
	Name string `json:"name"`
	// Command replaces the image's CMD for the job (the entrypoint stays
	// spec.entrypoint, else the image's).
	Command []string `json:"command"`
	// Timeout bounds the job's run (default DefaultJobTimeout): a job that
	// outlives it is stopped and fails the release.
	Timeout Duration `json:"timeout,omitempty"`
	// When is "BeforeSwitch" (the default) or "AfterSwitch".
	When JobWhen `json:"when,omitempty"`
	// Reversible false marks a job whose effect cannot be undone: once it
	// succeeded, a release that fails its verification is held on the new
	// color (the previous one kept warm) instead of rolled back, until a
	// person decides (default true).
	Reversible *bool `json:"reversible,omitempty"`
}

// Irreversible reports a job marked reversible: false.
func (j Job) Irreversible() bool { return j.Reversible != nil && !*j.Reversible }

var jobNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$`)

func (s *Service) jobDefaults() {
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if j.Timeout.Duration == 0 {
			j.Timeout.Duration = DefaultJobTimeout
		}
		if j.When == "" {
			j.When = JobBeforeSwitch
		}
	}
}

// validateJobs checks spec.jobs: unique names fit for a container name, a
// command, a positive timeout and a known moment.
func (s *Service) validateJobs(bad func(path, format string, args ...any)) {
	seen := map[string]bool{}
	for i, j := range s.Jobs {
		at := "spec.jobs[" + strconv.Itoa(i) + "]"
		switch {
		case !jobNameRe.MatchString(j.Name):
			bad(at+".name", "%q is not a valid job name: use 1 to 30 lower-case letters, digits and '-', starting and ending with a letter or digit", j.Name)
		case seen[j.Name]:
			bad(at+".name", "%q names another job too: each job needs a name of its own", j.Name)
		}
		seen[j.Name] = true
		if len(j.Command) == 0 || j.Command[0] == "" {
			bad(at+".command", "is empty: give the command the job runs in the new image, e.g. [\"migrate\"]")
		}
		for k, a := range j.Command {
			if strings.ContainsRune(a, 0) {
				bad(fmt.Sprintf("%s.command[%d]", at, k), "%q holds a NUL character", a)
			}
		}
		if j.Timeout.Duration <= 0 {
			bad(at+".timeout", "%s must be positive", j.Timeout.Duration)
		}
		switch {
		case j.When != JobBeforeSwitch && j.When != JobAfterSwitch:
			bad(at+".when", "%q is not a moment of a release: want %q (the default: once the new color is ready, before the switch) or %q (during the verification window)",
				j.When, JobBeforeSwitch, JobAfterSwitch)
		case j.When == JobAfterSwitch && s.Verify.Window != nil && s.Verify.Window.Duration <= 0:
			bad(at+".when", "AfterSwitch runs the job during the verification window, which spec.verify.window turns off (0s): give a window, or run it BeforeSwitch")
		}
	}
}

// JobContainerName is the container of job name in the release of
// generation gen: the same name for the same release, whichever
// controller process runs it, so that a job runs once per release.
func (s *Service) JobContainerName(job, gen string) string {
	return "bg-" + s.Name + "-job-" + job + "-" + gen
}
