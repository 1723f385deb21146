package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestCLI: each verb's flags, exit codes and machine-readable output. No
// HAProxy or Docker is needed: plan observes a desired state whose
// HAProxy is absent and says so.
func TestCLI(t *testing.T) {
	converged := t.TempDir()
	writeStatusFile(t, converged, `{"desired": "d.yaml", "services": {"web": {"phase": "Converged", "observedGeneration": "abc",
		"activeColor": "blue", "image": "demo:v1", "conditions": []}}}`)
	degraded := t.TempDir()
	writeStatusFile(t, degraded, `{"desired": "d.yaml", "services": {"web": {"phase": "Degraded", "observedGeneration": "abc",
		"activeColor": "blue", "image": "demo:v1", "conditions": []}}}`)
	empty := t.TempDir()
	jobs := t.TempDir()
	writeStatusFile(t, jobs, `{"desired": "d.yaml", "services": {"web": {"phase": "Progressing", "observedGeneration": "abc",
		"activeColor": "green", "image": "demo:v2", "conditions": [], "jobs": [
		{"generation": "abc", "job": "migrate", "container": "bg-web-job-migrate-abc", "color": "green", "exitCode": 0,
		 "startedAt": "2026-11-25T12:00:30Z", "finishedAt": "2026-11-25T12:00:31.5Z", "outcome": "Succeeded"},
		{"generation": "abc", "job": "seed", "container": "bg-web-job-seed-abc", "color": "green", "exitCode": 0,
		 "startedAt": "2026-11-25T12:00:32Z"}]}}}`)
	held := t.TempDir() // a release held after an irreversible job
	writeStatusFile(t, held, `{"desired": "d.yaml", "services": {"web": {"phase": "Failed", "observedGeneration": "abc",
		"activeColor": "green", "image": "demo:v2", "conditions": [], "verification": {"generation": "abc", "from": "blue", "to": "green",
		"toImage": "demo:v2", "outcome": "Held"}}}}`)
	rolledBack := t.TempDir() // a release rolled back, at rest
	writeStatusFile(t, rolledBack, `{"desired": "d.yaml", "services": {"web": {"phase": "Failed", "observedGeneration": "abc",
		"activeColor": "green", "image": "demo:v2", "conditions": [{"type": "Ready", "status": "False", "reason": "RolledBack"}],
		"retried": {"spec": "0123456789ab", "count": 1}}}}`)
	exited := t.TempDir() // a new color's container exited before it was ready
	writeStatusFile(t, exited, `{"desired": "d.yaml", "services": {"web": {"phase": "Failed", "observedGeneration": "abc",
		"activeColor": "green", "image": "demo:v2", "conditions": [{"type": "Ready", "status": "False", "reason": "ContainerExited"}]}}}`)
	withJobs := t.TempDir()
	var line bytes.Buffer
	if err := json.Compact(&line, []byte(`{"service": "web", "generation": "abc", "to": "green", "toImage": "demo:v2",
		"start": "2026-11-25T12:00:00Z", "end": "2026-11-25T12:01:00Z", "outcome": "Failed", "reason": "JobFailed: job migrate exited with code 1",
		"jobs": [{"generation": "abc", "job": "migrate", "container": "bg-web-job-migrate-abc", "color": "green", "exitCode": 1,
		"startedAt": "2026-11-25T12:00:30Z", "finishedAt": "2026-11-25T12:00:31.5Z", "outcome": "Failed"}]}`)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withJobs, "history.jsonl"), append(line.Bytes(), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	purple := spectest.Web()
	purple.Active = "purple"
	if err := os.WriteFile(bad, []byte(purple.YAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		out    string // a part of stdout
		errOut string // a part of stderr
		json   any    // when set, stdout decodes into it
	}{
		{"validate", []string{"validate", "-f", demoFile}, nil, exitOK, "1 service(s) valid", "", nil},
		{"validate shows the default logging", []string{"validate", "-f", demoFile}, nil, exitOK, "    logging: json-file (max-file=3, max-size=10m) (the default)\n", "", nil},
		{"validate shows the release path", []string{"validate", "-f", demoFile}, nil, exitOK, "    release: verified 10s on real traffic (at most 5 % errors)\n", "", nil},
		{"validate, -f before the verb", []string{"-f", demoFile, "validate"}, nil, exitOK, "1 service(s) valid", "", nil},
		{"validate refuses a flag of run", []string{"validate", "--once", "-f", demoFile}, nil, exitUsage, "", "unknown flag: --once", nil},
		{"validate of a bad file", []string{"validate", "-f", bad}, nil, exitUsage, "", "spec.activeColor", nil},
		{"validate takes no argument", []string{"validate", "web"}, nil, exitUsage, "", "unknown command \"web\"", nil},
		{"the file from the environment", []string{"validate"}, map[string]string{"BLUEGREEN_FILE": demoFile}, exitOK, "1 service(s) valid", "", nil},
		{"a flag wins over its variable", []string{"validate", "-f", demoFile}, map[string]string{"BLUEGREEN_FILE": bad}, exitOK, "valid", "", nil},
		{"status converged", []string{"status", "--state-dir", converged}, nil, exitOK, "Converged", "", nil},
		{"status -o json", []string{"status", "--state-dir", converged, "-o", "json"}, nil, exitOK, `"phase": "Converged"`, "", &state.Status{}},
		{"status -o yaml", []string{"status", "--state-dir", converged, "-o", "yaml"}, nil, exitOK, "phase: Converged", "", nil},
		{"status --json, as before -o", []string{"status", "--state-dir", converged, "--json"}, nil, exitOK, `"services"`, "", &state.Status{}},
		{"status not converged", []string{"status", "--state-dir", degraded}, nil, exitNotConverged, "Degraded", "", nil},
		{"status shows the release's jobs", []string{"status", "--state-dir", jobs}, nil, exitNotConverged,
			"  job migrate of release abc: succeeded after 1.5s (exit code 0)\n  job seed of release abc: runs in bg-web-job-seed-abc since 2026-11-25T12:00:32Z\n", "", nil},
		{"status from BLUEGREEN_STATE_DIR", []string{"status"}, map[string]string{"BLUEGREEN_STATE_DIR": converged}, exitOK, "Converged", "", nil},
		{"status with no status file", []string{"status", "--state-dir", empty}, nil, exitNotConverged, "", "status.json", nil},
		{"status -o xml", []string{"status", "--state-dir", converged, "-o", "xml"}, nil, exitUsage, "", `-o "xml"`, nil},
		{"status refuses --once", []string{"status", "--once"}, nil, exitUsage, "", "unknown flag: --once", nil},
		{"history -o json, none yet", []string{"history", "--state-dir", empty, "-o", "json"}, nil, exitOK, "[]", "", &[]state.Release{}},
		{"history of one service", []string{"history", "web", "--state-dir", empty}, nil, exitOK, "no release recorded", "", nil},
		{"history shows each job", []string{"history", "--state-dir", withJobs}, nil, exitOK, " web job migrate: Failed, exit code 1, ran 1.5s\n", "", nil},
		{"history takes one service at most", []string{"history", "web", "api"}, nil, exitUsage, "", "accepts at most 1 arg", nil},
		{"promote needs a service", []string{"promote", "-f", demoFile}, nil, exitUsage, "", "accepts 1 arg", nil},
		{"promote of an Auto service", []string{"promote", "web", "-f", demoFile, "--state-dir", empty}, nil, exitUsage, "", "need no approval", nil},
		{"promote of an unknown service", []string{"promote", "api", "-f", demoFile, "--state-dir", empty}, nil, exitUsage, "", `no service "api"`, nil},
		{"rollback needs a service", []string{"rollback", "--state-dir", converged}, nil, exitUsage, "", "accepts 1 arg", nil},
		{"rollback with no status file", []string{"rollback", "web", "--state-dir", empty}, nil, exitNotConverged, "", "status.json", nil},
		{"rollback of an unknown service", []string{"rollback", "api", "--state-dir", converged}, nil, exitUsage, "", `no service "api" in the status`, nil},
		{"rollback with nothing being verified", []string{"rollback", "web", "--state-dir", converged}, nil, exitUsage, "", "no release of web is being verified or held (it is Converged)", nil},
		{"rollback of a held release", []string{"rollback", "web", "--state-dir", held}, nil, exitOK, "web: rollback of release abc (green on demo:v2) asked", "", nil},
		{"status shows the retries asked at the host", []string{"status", "--state-dir", rolledBack}, nil, exitNotConverged,
			"  retried 1 time(s) at the host (controller retry): the spec as written has generation 0123456789ab\n", "", nil},
		{"retry needs a service", []string{"retry", "--state-dir", rolledBack}, nil, exitUsage, "", "accepts 1 arg", nil},
		{"retry with no status file", []string{"retry", "web", "--state-dir", empty}, nil, exitNotConverged, "", "status.json", nil},
		{"retry of an unknown service", []string{"retry", "api", "--state-dir", rolledBack}, nil, exitUsage, "", `no service "api" in the status`, nil},
		{"retry with nothing failed", []string{"retry", "web", "--state-dir", converged}, nil, exitUsage, "",
			"no release of web was rolled back or failed its checks or a job (it is Converged, no reason yet)", nil},
		{"retry of a container that exited before it was ready", []string{"retry", "web", "--state-dir", exited}, nil, exitUsage, "",
			"failed with ContainerExited: its new color's container is as it ended", nil},
		{"retry of a rolled back release", []string{"retry", "web", "--state-dir", rolledBack}, nil, exitOK,
			"web: retry of release abc (green on demo:v2, RolledBack) asked", "", nil},
		{"plan -o json with HAProxy absent", []string{"plan", "-f", demoFile, "--state-dir", empty, "-o", "json"}, nil, exitNotConverged,
			`"error": "cannot observe:`, "", &[]servicePlan{}},
		{"plan refuses --once", []string{"plan", "--once"}, nil, exitUsage, "", "unknown flag: --once", nil},
		{"export refuses -o", []string{"export", "-o", "json"}, nil, exitUsage, "", "unknown shorthand flag: 'o'", nil},
		{"version", []string{"version"}, nil, exitOK, "controller ", "", nil},
		{"version -o json", []string{"version", "-o", "json"}, nil, exitOK, `"goVersion"`, "", &buildInfo{}},
		{"version -o yaml", []string{"version", "-o", "yaml"}, nil, exitOK, "goVersion: go", "", nil},
		{"run: a bad variable", []string{"run", "--once"}, map[string]string{"BLUEGREEN_RESYNC": "soon"}, exitUsage, "", `BLUEGREEN_RESYNC="soon"`, nil},
		{"run refuses -o", []string{"run", "-o", "json"}, nil, exitUsage, "", "unknown shorthand flag: 'o'", nil},
		{"an unknown verb", []string{"deploy"}, nil, exitUsage, "", `unknown command "deploy"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCmd(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("stdout does not hold %q:\n%s", tc.out, out)
			}
			if !strings.Contains(errOut, tc.errOut) {
				t.Errorf("stderr does not hold %q:\n%s", tc.errOut, errOut)
			}
			if tc.json != nil {
				dec := json.NewDecoder(bytes.NewBufferString(out))
				dec.DisallowUnknownFields()
				if err := dec.Decode(tc.json); err != nil {
					t.Errorf("stdout is not the JSON of %T: %v\n%s", tc.json, err, out)
				}
			}
		})
	}
}

func writeStatusFile(t *testing.T, dir, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "status.json"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStatusWatch: status --watch -o json prints the status, then one line
// each time the controller writes it, until interrupted (exit 0).
func TestStatusWatch(t *testing.T) {
	dir := t.TempDir()
	writeStatusFile(t, dir, `{"desired": "d.yaml", "services": {"web": {"phase": "Progressing", "conditions": []}}}`)
	ctx, cancel := context.WithCancel(t.Context())
	var out, errOut testenv.SyncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"status", "--watch", "-o", "json", "--state-dir", dir}, &out, &errOut)
	}()
	waitOutput := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second) // a guard against a hang, not a timing goal
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("status --watch never printed %q:\n%s\nstderr:\n%s", want, out.String(), errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitOutput(`"phase":"Progressing"`)
	writeStatusFile(t, dir, `{"desired": "d.yaml", "services": {"web": {"phase": "Converged", "conditions": []}}}`)
	waitOutput(`"phase":"Converged"`)
	cancel()
	if c := <-code; c != exitOK {
		t.Errorf("exit %d after the interrupt, want 0", c)
	}
	if lines := strings.Count(strings.TrimSpace(out.String()), "\n") + 1; lines != 2 {
		t.Errorf("%d lines, want one per write (2):\n%s", lines, out.String())
	}
}

// TestRollbackWritesTheRequest: controller rollback writes the request for
// the generation of the release status shows held (or being verified),
// where the loop reads it, and records who asked in the history.
func TestRollbackWritesTheRequest(t *testing.T) {
	dir := t.TempDir()
	writeStatusFile(t, dir, `{"desired": "d.yaml", "services": {"web": {"phase": "Failed", "observedGeneration": "abc",
		"activeColor": "green", "image": "demo:v2", "conditions": [], "verification": {"generation": "abc", "from": "blue", "to": "green",
		"toImage": "demo:v2", "outcome": "Held"}}}}`)
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"rollback", "web", "--state-dir", dir}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got, err := state.NewRollbacks(filepath.Join(dir, "rollbacks.json")).All()
	if err != nil {
		t.Fatal(err)
	}
	if got["web"] != "abc" || !strings.Contains(out.String(), "abc") {
		t.Fatalf("requests %v; printed %q", got, out.String())
	}
	h, err := state.ReadHistory(filepath.Join(dir, "history.jsonl"), "web")
	if err != nil || len(h) != 1 || h[0].Outcome != state.ActionRollbackRequested || h[0].By == "" {
		t.Fatalf("history %+v (%v), want one RollbackRequested entry saying who", h, err)
	}
}

// TestRetryWritesTheRequest: controller retry writes the request for the
// generation of the release status shows rolled back, where the loop
// reads it, and records who asked in the history.
func TestRetryWritesTheRequest(t *testing.T) {
	dir := t.TempDir()
	writeStatusFile(t, dir, `{"desired": "d.yaml", "services": {"web": {"phase": "Failed", "observedGeneration": "abc",
		"activeColor": "green", "image": "demo:v2", "conditions": [{"type": "Ready", "status": "False", "reason": "JobFailed"}]}}}`)
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"retry", "web", "--state-dir", dir}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got, err := state.NewRetries(filepath.Join(dir, "retries.json")).All()
	if err != nil {
		t.Fatal(err)
	}
	if got["web"] != "abc" || !strings.Contains(out.String(), "release abc (green on demo:v2, JobFailed)") {
		t.Fatalf("requests %v; printed %q", got, out.String())
	}
	h, err := state.ReadHistory(filepath.Join(dir, "history.jsonl"), "web")
	if err != nil || len(h) != 1 || h[0].Outcome != state.ActionRetryRequested || h[0].By == "" || h[0].Generation != "abc" ||
		!strings.Contains(h[0].Reason, "controller retry") {
		t.Fatalf("history %+v (%v), want one RetryRequested entry of abc saying who, from controller retry", h, err)
	}
}

// TestPromoteAfterRetry: once a release was retried at the host, its
// generation is the retried one, which status counts: controller promote
// approves that one, the generation the controller waits on.
func TestPromoteAfterRetry(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "desired.yaml")
	if err := os.WriteFile(file, []byte(spectest.Web("  promotion: {mode: Manual}").YAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	svcs, err := specfile.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	s := svcs[0]
	written := s.Generation()
	s.HostRetries = 1
	writeStatusFile(t, dir, `{"desired": "d.yaml", "services": {"web": {"phase": "Progressing", "observedGeneration": "`+s.Generation()+`",
		"conditions": [], "retried": {"spec": "`+written+`", "count": 1}}}}`)
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"promote", "web", "-f", file, "--state-dir", dir, "--policy", ""}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got, err := state.NewApprovals(filepath.Join(dir, "approvals.json")).All()
	if err != nil || got["web"] != s.Generation() {
		t.Fatalf("approvals %v (%v), want web: %s, the retried generation (as written: %s)", got, err, s.Generation(), written)
	}
}
