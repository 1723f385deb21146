package spec

import (
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestJobsFields: spec.jobs is taken when good, with its defaults, and
// refused when bad at the field's own path, with the bad value shown.
func TestJobsFields(t *testing.T) {
	for _, tc := range []fieldCase{
		{extra: `  jobs: [{name: migrate, command: [migrate]}]`},
		{extra: `  jobs: [{name: migrate, command: [migrate], timeout: 30s, when: BeforeSwitch}, {name: warm-1, command: [warm, --all]}]`},
		{extra: `  jobs: [{name: Migrate, command: [migrate]}]`, path: "spec.jobs[0].name", shown: `"Migrate" is not a valid job name`},
		{extra: `  jobs: [{name: "", command: [migrate]}]`, path: "spec.jobs[0].name", shown: `"" is not a valid job name`},
		{extra: `  jobs: [{name: "a;b", command: [migrate]}]`, path: "spec.jobs[0].name", shown: `"a;b"`},
		{extra: `  jobs: [{name: m, command: [a]}, {name: m, command: [b]}]`, path: "spec.jobs[1].name", shown: `"m" names another job too`},
		{extra: `  jobs: [{name: m}]`, path: "spec.jobs[0].command", shown: "is empty"},
		{extra: `  jobs: [{name: m, command: [""]}]`, path: "spec.jobs[0].command", shown: "is empty"},
		{extra: `  jobs: [{name: m, command: ["a\u0000b"]}]`, path: "spec.jobs[0].command[0]", shown: "NUL"},
		{extra: `  jobs: [{name: m, command: [a], timeout: -1s}]`, path: "spec.jobs[0].timeout", shown: "-1s must be positive"},
		{extra: `  jobs: [{name: m, command: [a], when: AfterSwitch}]`},
		{extra: `  jobs: [{name: m, command: [a], when: Later}]`, path: "spec.jobs[0].when", shown: `"Later" is not a moment of a release`},
		{extra: "  verify: {window: 0s}\n  jobs: [{name: m, command: [a], when: AfterSwitch}]", path: "spec.jobs[0].when", shown: "verification window"},
		{extra: `  jobs: [{name: m, command: [a], reversible: false}]`},
	} {
		svcs := decodeCase(t, tc)
		if svcs == nil {
			continue
		}
		for _, j := range svcs[0].Jobs {
			if j.When == "" || j.Timeout.Duration <= 0 {
				t.Errorf("%s: job %s defaulted to when %q, timeout %s", tc.extra, j.Name, j.When, j.Timeout.Duration)
			}
		}
	}
}

// TestJobsDefaultsAndGeneration: a job's timeout defaults to ten minutes;
// a spec without jobs keeps its generation, a spec with jobs has another.
func TestJobsDefaultsAndGeneration(t *testing.T) {
	load := func(extra ...string) Service {
		t.Helper()
		svcs, err := Decode([]byte(spectest.Web(extra...).YAML()), "desired.yaml", t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return svcs[0]
	}
	plain, with := load(), load(`  jobs: [{name: migrate, command: [migrate]}]`)
	if got := with.Jobs[0].Timeout.Duration; got != 10*time.Minute {
		t.Errorf("default timeout %s, want 10m", got)
	}
	if plain.Generation() == with.Generation() {
		t.Errorf("adding a job left the generation %s", plain.Generation())
	}
	if got, want := with.JobContainerName("migrate", "abc123"), "bg-web-job-migrate-abc123"; got != want {
		t.Errorf("job container %q, want %q", got, want)
	}
}
