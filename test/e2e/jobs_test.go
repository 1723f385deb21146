package e2e

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// jobsEnv is the rude app with a named volume on /data, where its first
// GET / is recorded (served.log), and where its release job, "migrate",
// appends one line per run (jobs.log); args are the job's own
// (sleep=..., exit=...).
func jobsEnv(t *testing.T) (*env, string) {
	e := newEnv(t)
	e.appCtx = testenv.RudeContext(t)
	vol := e.repo + "-data"
	t.Cleanup(func() { _ = exec.Command("docker", "volume", "rm", "-f", vol).Run() })
	return e, vol
}

func jobLines(vol string, timeout string, args ...string) []string {
	cmd := append([]string{"job", "append=/data/jobs.log"}, args...)
	q := make([]string, len(cmd))
	for i, a := range cmd {
		q[i] = strconv.Quote(a)
	}
	return []string{
		"  volumes: [\"" + vol + ":/data\"]",
		"  env: {FIRST_SERVED_FILE: /data/served.log}",
		"  jobs: [{name: migrate, timeout: " + timeout + ", command: [" + strings.Join(q, ", ") + "]}]",
	}
}

// volumeFile reads file name on volume vol ("" when it does not exist).
func volumeFile(t *testing.T, vol, name string) string {
	t.Helper()
	out, err := exec.Command("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", vol).Output()
	if err != nil {
		t.Fatalf("inspect volume %s: %v", vol, err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), name))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jobRuns counts the lines of jobs.log per generation.
func jobRuns(t *testing.T, vol string) map[string]int {
	t.Helper()
	runs := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(volumeFile(t, vol, "jobs.log")), "\n") {
		if f := strings.Fields(l); len(f) == 5 && f[0] == "job" && f[1] == "migrate" {
			runs[f[2]]++
		} else if l != "" {
			t.Fatalf("jobs.log line %q", l)
		}
	}
	return runs
}

// firstServed is when version (e.g. "green v2") answered its first GET /.
func firstServed(t *testing.T, vol, version string) time.Time {
	t.Helper()
	for _, l := range strings.Split(volumeFile(t, vol, "served.log"), "\n") {
		if rest, ok := strings.CutPrefix(l, "served "+version+" "); ok {
			n, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				t.Fatalf("served.log line %q", l)
			}
			return time.Unix(0, n)
		}
	}
	t.Fatalf("%s never served (served.log: %q)", version, volumeFile(t, vol, "served.log"))
	return time.Time{}
}

func jobContainerGone(t *testing.T, e *env, gen string) {
	t.Helper()
	name := "bg-" + e.svc + "-job-migrate-" + gen
	testenv.WaitFor(t, time.Minute, "job container "+name+" removed", func() bool {
		return exec.Command("docker", "inspect", name).Run() != nil
	})
}

// TestJobRunsOnceBeforeTheSwitch (issue 21, acceptance 1): under load, a
// release whose BeforeSwitch job appends a line to a file on the shared
// volume: the file has exactly one line for each generation, the job
// ended before the first request reached the new color, no request
// failed, the job's container is removed once the release is at rest, and
// the history shows the job.
func TestJobRunsOnceBeforeTheSwitch(t *testing.T) {
	e, vol := jobsEnv(t)
	e.save(spec.Blue, "v1", jobLines(vol, "1m", "sleep=1s")...)
	gen1 := e.generation()
	e.start()
	e.waitConverged(2 * time.Minute)
	l := e.startLoad(2, 2)
	waitSent(t, l, 500)

	e.save(spec.Green, "v2", jobLines(vol, "1m", "sleep=1s")...)
	gen2 := e.generation()
	e.waitConverged(2 * time.Minute)
	waitSent(t, l, l.sent()+200)
	sent, failed, _, fails := l.stop()
	t.Logf("%d requests, %d failed", sent, failed)
	if failed != 0 {
		t.Fatalf("%d of %d requests failed; first failures: %+v", failed, sent, fails)
	}
	if runs := jobRuns(t, vol); runs[gen1] != 1 || runs[gen2] != 1 || len(runs) != 2 {
		t.Fatalf("job runs per generation %v, want one for %s and one for %s", runs, gen1, gen2)
	}
	recs := e.serviceStatus().JobsOf(gen2)
	if len(recs) != 1 || recs[0].Outcome != planner.JobSucceeded {
		t.Fatalf("status job records of %s: %+v", gen2, recs)
	}
	served := firstServed(t, vol, "green v2")
	if !recs[0].FinishedAt.Before(served) {
		t.Fatalf("green v2 served its first request at %s, before its job ended at %s", served.Format(time.RFC3339Nano), recs[0].FinishedAt.Format(time.RFC3339Nano))
	}
	t.Logf("job ended %s before green v2's first request", served.Sub(recs[0].FinishedAt))
	jobContainerGone(t, e, gen2)
	rs, err := state.ReadHistory(filepath.Join(e.stateDir, "history.jsonl"), e.svc)
	if err != nil {
		t.Fatal(err)
	}
	last := rs[len(rs)-1]
	// The job sleeps 1 s; the engine's start and finish times of its
	// container may shave a few milliseconds off that (997 ms seen).
	if last.Generation != gen2 || len(last.Jobs) != 1 || last.Jobs[0].ExitCode != 0 || last.Jobs[0].Duration() < 900*time.Millisecond {
		t.Fatalf("history's last release %+v, want %s with its job, exit code 0, ran about 1s", last, gen2)
	}
}

// TestJobKillSafe (issue 21, acceptance 2): the controller is SIGKILLed
// at every crash point of the job's steps, and at random moments while
// the job runs, through two releases under load: each release completes,
// the job ran exactly once per generation, and no request failed.
func TestJobKillSafe(t *testing.T) {
	e, vol := jobsEnv(t)
	e.save(spec.Blue, "v1", jobLines(vol, "1m")...)
	gen1 := e.generation()
	if code, out := e.once(); code != 0 {
		t.Fatalf("first start: exit %d\n%s", code, out)
	}
	l := e.startLoad(2, 2)
	waitSent(t, l, 500)
	points := []string{
		"after:CreateJob",            // created, not started
		"before:StartJob",            // the next controller is about to start it
		"after:StartJob",             // the job runs
		"random", "random", "random", // killed at random while it runs
		"before:SwitchMap", // the job ended; the map not yet moved
		"before:RemoveJob", // released, the job's end recorded
		"after:RemoveJob",
	}
	kills, whileRunning := 0, 0
	release := func(to spec.Color, version string) string {
		e.save(to, version, jobLines(vol, "1m", "sleep=4s")...)
		gen := e.generation()
		for _, at := range points {
			if at == "random" {
				e.ctlEnv = nil
				c := e.start()
				time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
				out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Status}}", "bg-"+e.svc+"-job-migrate-"+gen).Output()
				c.kill()
				kills++
				if state := strings.TrimSpace(string(out)); state == "running" {
					whileRunning++
				}
				t.Logf("killed at random; the job of %s was %s", gen, strings.TrimSpace(string(out)))
				continue
			}
			e.ctlEnv = []string{"BLUEGREEN_CRASH_AT=" + at}
			c := e.start()
			log := c.exited(t, 2*time.Minute)
			if !strings.Contains(log, "killing myself "+strings.Replace(at, ":", " ", 1)) {
				t.Fatalf("controller did not die %s; log:\n%s", at, log)
			}
			kills++
			t.Logf("killed %s; %d requests so far, %d failed", at, l.sent(), l.failed())
		}
		e.ctlEnv = nil
		if code, out := e.once(); code != 0 {
			t.Fatalf("after the crashes: exit %d\n%s", code, out)
		}
		if got, err := e.get("/"); err != nil || got != string(to)+" "+version {
			t.Fatalf("after the release of %s the frontend answers %q (%v)", version, got, err)
		}
		return gen
	}
	gen2 := release(spec.Green, "v2")
	gen3 := release(spec.Blue, "v3")
	sent, failed, _, fails := l.stop()
	t.Logf("controller killed %d times; %d requests sent, %d failed", kills, sent, failed)
	if failed != 0 {
		t.Fatalf("%d of %d requests failed; first failures: %+v", failed, sent, fails)
	}
	if whileRunning == 0 {
		t.Fatalf("no controller was killed while a job ran")
	}
	if runs := jobRuns(t, vol); runs[gen1] != 1 || runs[gen2] != 1 || runs[gen3] != 1 || len(runs) != 3 {
		t.Fatalf("job runs per generation %v, want one for each of %s, %s, %s", runs, gen1, gen2, gen3)
	}
}

// TestJobFailedRelease (issue 21, acceptance 3): a job exiting 1 fails
// the release with JobFailed, its last log lines in status, in the history
// and in the ReleaseFailed webhook; the map never moves, the old color serves throughout with no
// failed request, and the new color is stopped. Changing spec.retry runs
// the job again, once.
func TestJobFailedRelease(t *testing.T) {
	e, vol := jobsEnv(t)
	e.save(spec.Blue, "v1", jobLines(vol, "1m")...)
	rec, secretFile := newReceiver(t, e.dir)
	e.start("--webhook", rec.url, "--webhook-secret-file", secretFile)
	e.waitConverged(2 * time.Minute)
	l := e.startLoad(2, 2)
	waitSent(t, l, 500)
	moved := e.watchSwitch(e.svc+"_green", false)

	e.save(spec.Green, "v2", jobLines(vol, "1m", "exit=1")...)
	gen := e.generation()
	st := e.waitPhase(2*time.Minute, planner.Failed, planner.ReasonJobFailed)
	msg := readyMessage(st)
	t.Logf("status: %s", msg)
	for _, want := range []string{"job migrate", "exited with code 1", "rudeapp job: done, exiting with 1", "blue serves on"} {
		if !strings.Contains(msg, want) && !strings.Contains(st.Logs, want) {
			t.Fatalf("status does not say %q: %s\nlogs: %s", want, msg, st.Logs)
		}
	}
	testenv.WaitFor(t, time.Minute, "green stopped", func() bool { s, _ := e.container(spec.Green); return s == "exited" })
	jobContainerGone(t, e, gen)
	waitSent(t, l, l.sent()+200)
	select {
	case at := <-moved.at:
		t.Fatalf("the map moved to green at %s", at)
	default:
	}
	if got, err := e.get("/"); err != nil || got != "blue v1" {
		t.Fatalf("the frontend answers %q (%v), want blue v1", got, err)
	}
	rs, err := state.ReadHistory(filepath.Join(e.stateDir, "history.jsonl"), e.svc)
	if err != nil {
		t.Fatal(err)
	}
	last := rs[len(rs)-1]
	if last.Generation != gen || last.Outcome != planner.OutcomeFailed || !strings.Contains(last.Reason, "JobFailed") ||
		len(last.Jobs) != 1 || last.Jobs[0].ExitCode != 1 || !strings.Contains(last.Jobs[0].Logs, "exiting with 1") {
		t.Fatalf("history's last release %+v", last)
	}

	testenv.WaitFor(t, 30*time.Second, "the ReleaseFailed webhook with the job's last log lines", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for i, ev := range rec.events {
			if ev.Type == "ReleaseFailed" && ev.Generation == gen && strings.Contains(rec.bodies[i], "exiting with 1") {
				return true
			}
		}
		return false
	})

	// A retry: the same release, under a new generation, runs the job again.
	e.save(spec.Green, "v2", append(jobLines(vol, "1m", "exit=1"), "  retry: \"1\"")...)
	retry := e.generation()
	e.waitPhase(2*time.Minute, planner.Failed, planner.ReasonJobFailed)
	sent, failed, _, fails := l.stop()
	t.Logf("%d requests, %d failed", sent, failed)
	if failed != 0 {
		t.Fatalf("%d of %d requests failed; first failures: %+v", failed, sent, fails)
	}
	if runs := jobRuns(t, vol); runs[gen] != 1 || runs[retry] != 1 {
		t.Fatalf("job runs per generation %v, want one for %s and one for the retry %s", runs, gen, retry)
	}
}

// TestJobTimeout (issue 21, acceptance 4): a job that outlives its
// timeout is stopped and fails the release; nothing moved.
func TestJobTimeout(t *testing.T) {
	e, vol := jobsEnv(t)
	e.save(spec.Blue, "v1", jobLines(vol, "1m")...)
	e.start()
	e.waitConverged(2 * time.Minute)
	moved := e.watchSwitch(e.svc+"_green", false)

	e.save(spec.Green, "v2", jobLines(vol, "2s", "sleep=1h")...)
	gen := e.generation()
	st := e.waitPhase(2*time.Minute, planner.Failed, planner.ReasonJobFailed)
	if msg := readyMessage(st); !strings.Contains(msg, "outlived its timeout 2s") {
		t.Fatalf("status: %s", msg)
	}
	recs := st.JobsOf(gen)
	if len(recs) != 1 || recs[0].Outcome != planner.JobFailed || recs[0].Duration() > time.Minute {
		t.Fatalf("job records %+v: want one, failed, stopped long before its hour", recs)
	}
	select {
	case at := <-moved.at:
		t.Fatalf("the map moved to green at %s", at)
	default:
	}
	if rt, file := e.maps(); rt != e.svc+"_blue" || file != e.svc+"_blue" {
		t.Fatalf("map runtime %q file %q, want blue", rt, file)
	}
	if got, err := e.get("/"); err != nil || got != "blue v1" {
		t.Fatalf("the frontend answers %q (%v), want blue v1", got, err)
	}
}

// TestJobIrreversibleHeld (issue 21, acceptance 5): after a job marked
// reversible: false, a version answering 500 is not switched back: status
// says Failed / HeldAfterIrreversibleJob, the traffic stays on it, the
// previous color stays warm, the ReleaseHeld webhook is sent; controller
// rollback then switches back to the warm color, losing no request (the
// only failures are the new version's own 500s before the switch). With
// reversible: true the same kind of version is rolled back on its own.
func TestJobIrreversibleHeld(t *testing.T) {
	e, vol := jobsEnv(t)
	e.modes = map[string]string{"v2": "fail500", "v3": "fail500"}
	e.verify = "{window: 20s, maxErrorRate: 0.05, minRequests: 20}"
	lines := func(reversible bool) []string {
		l := jobLines(vol, "1m")
		l[2] = strings.Replace(l[2], "]}]", "], reversible: "+strconv.FormatBool(reversible)+"}]", 1)
		return l
	}
	rec, secretFile := newReceiver(t, e.dir)
	e.save(spec.Blue, "v1", lines(false)...)
	e.start("--webhook", rec.url, "--webhook-secret-file", secretFile)
	e.waitConverged(2 * time.Minute)
	l := e.startLoad(2, 2)
	waitSent(t, l, 300)

	e.save(spec.Green, "v2", lines(false)...)
	gen := e.generation()
	st := e.waitPhase(2*time.Minute, planner.Failed, planner.ReasonHeldAfterIrreversibleJob)
	t.Logf("status: %s", readyMessage(st))
	if msg := readyMessage(st); !strings.Contains(msg, "job migrate ran and cannot be undone") || !strings.Contains(msg, "controller rollback "+e.svc) {
		t.Fatalf("status: %s", msg)
	}
	time.Sleep(2 * time.Second) // held: nothing moves
	if rt, file := e.maps(); rt != e.svc+"_green" || file != e.svc+"_green" {
		t.Fatalf("held: map runtime %q file %q, want green", rt, file)
	}
	if state, _ := e.container(spec.Blue); state != "running" {
		t.Fatalf("held: blue is %s, want running (warm)", state)
	}
	testenv.WaitFor(t, 30*time.Second, "the ReleaseHeld webhook", func() bool {
		for _, ev := range rec.of(gen) {
			if ev.Type == "ReleaseHeld" && ev.Outcome == planner.OutcomeHeld {
				return true
			}
		}
		return false
	})
	l.stop() // its requests to green were answered 500

	l = e.startLoad(2, 2)
	waitSent(t, l, 200)
	if out, err := e.command("rollback", e.svc).CombinedOutput(); err != nil {
		t.Fatalf("controller rollback: %v\n%s", err, out)
	}
	e.waitPhase(2*time.Minute, planner.Failed, planner.ReasonRolledBack)
	waitSent(t, l, l.sent()+300)
	sent, failed, samples, _ := l.stop()
	lost := 0
	for _, s := range samples {
		if s.Failed() && !(s.Status == 500 && strings.Contains(s.Body, "internal error")) {
			lost++
			if lost <= 5 {
				t.Logf("lost: %+v", s)
			}
		}
	}
	t.Logf("across the rollback: %d requests, %d failed, %d of them not green's own 500", sent, failed, lost)
	if lost != 0 {
		t.Fatalf("%d requests were lost across the rollback", lost)
	}
	if got, err := e.get("/"); err != nil || got != "blue v1" {
		t.Fatalf("after the rollback the frontend answers %q (%v), want blue v1", got, err)
	}

	jobContainerGone(t, e, gen)

	// The same with a job that can be undone: rolled back on its own.
	l = e.startLoad(2, 2)
	waitSent(t, l, 200)
	e.save(spec.Green, "v3", lines(true)...)
	e.waitPhase(2*time.Minute, planner.Failed, planner.ReasonRolledBack)
	l.stop()
	if got, err := e.get("/"); err != nil || got != "blue v1" {
		t.Fatalf("after the automatic rollback the frontend answers %q (%v), want blue v1", got, err)
	}
}

// TestJobAfterSwitch: an AfterSwitch job runs once traffic moved, during
// the verification window: the release ends Succeeded only after it did,
// and when it exits 1 the verification fails and traffic goes back to the
// warm previous color; no request fails either way.
func TestJobAfterSwitch(t *testing.T) {
	e, vol := jobsEnv(t)
	e.verify = "{window: 2s, maxErrorRate: 0.05, minRequests: 20}"
	after := func(args ...string) []string {
		l := jobLines(vol, "1m", args...)
		l[2] = strings.Replace(l[2], "]}]", "], when: AfterSwitch}]", 1)
		return l
	}
	e.save(spec.Blue, "v1", jobLines(vol, "1m")...)
	e.start()
	e.waitConverged(2 * time.Minute)
	l := e.startLoad(2, 2)
	waitSent(t, l, 300)

	e.save(spec.Green, "v2", after("sleep=4s")...)
	gen := e.generation()
	e.waitConverged(2 * time.Minute)
	recs := e.serviceStatus().JobsOf(gen)
	served := firstServed(t, vol, "green v2")
	if len(recs) != 1 || recs[0].Outcome != planner.JobSucceeded || !recs[0].StartedAt.After(served) {
		t.Fatalf("AfterSwitch job records %+v; green v2 first served at %s: want one run, succeeded, started after", recs, served.Format(time.RFC3339Nano))
	}
	rs, err := state.ReadHistory(filepath.Join(e.stateDir, "history.jsonl"), e.svc)
	if err != nil {
		t.Fatal(err)
	}
	// The window is 2s, the job sleeps 4s once the map moved: a release
	// that ended more than 3s after its switch waited for the job.
	last := rs[len(rs)-1]
	if last.Generation != gen || last.Outcome != planner.OutcomeSucceeded || last.SwitchedAt == nil || last.End.Sub(*last.SwitchedAt) < 3*time.Second {
		t.Fatalf("history's last release: generation %s outcome %s switched %v ended %s; want %s Succeeded, ended more than 3s after its switch (its AfterSwitch job ran %s)",
			last.Generation, last.Outcome, last.SwitchedAt, last.End, gen, recs[0].Duration())
	}
	t.Logf("verified %s after the switch; the AfterSwitch job ran %s", last.End.Sub(*last.SwitchedAt).Round(time.Millisecond), recs[0].Duration().Round(time.Millisecond))

	e.save(spec.Blue, "v3", after("exit=1")...)
	st := e.waitPhase(2*time.Minute, planner.Failed, planner.ReasonRolledBack)
	if msg := readyMessage(st); !strings.Contains(msg, "AfterSwitch job migrate") {
		t.Fatalf("status: %s", msg)
	}
	if got, err := e.get("/"); err != nil || got != "green v2" {
		t.Fatalf("after the rollback the frontend answers %q (%v), want green v2", got, err)
	}
	waitSent(t, l, l.sent()+200)
	sent, failed, _, fails := l.stop()
	t.Logf("%d requests, %d failed", sent, failed)
	if failed != 0 {
		t.Fatalf("%d of %d requests failed; first failures: %+v", failed, sent, fails)
	}
	if runs := jobRuns(t, vol); runs[gen] != 1 || runs[e.generation()] != 1 {
		t.Fatalf("job runs per generation %v", runs)
	}
}
