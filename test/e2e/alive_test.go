package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// inspect reads one field of a color's container with a Go template.
func (e *env) inspect(c spec.Color, format string) string {
	e.t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", format, "bg-"+e.svc+"-"+string(c)).Output()
	if err != nil {
		e.t.Fatalf("docker inspect %s of %s: %v", format, c, err)
	}
	return strings.TrimSpace(string(out))
}

// waitPolicy waits until color c's container has the engine restart policy.
func (e *env) waitPolicy(c spec.Color, policy string, timeout time.Duration) {
	e.t.Helper()
	testenv.WaitFor(e.t, timeout, fmt.Sprintf("%s gets restart policy %s", c, policy), func() bool {
		out, err := exec.Command("docker", "inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "bg-"+e.svc+"-"+string(c)).Output()
		return err == nil && strings.TrimSpace(string(out)) == policy
	})
}

// rudeEnv is an env whose app is the rude test app: no signal handler (as
// PID 1 it exits 2 when stopped), and faults on request (APP_MODE).
func rudeEnv(t *testing.T) *env {
	e := newEnv(t)
	e.appCtx = testenv.RudeContext(t)
	return e
}

// TestServedColorKeptRunning is invariant 10: the serving container is
// killed through the engine (docker kill: the engine does not restart it,
// the controller does), killed on the host (kill -9: the engine's restart
// policy brings it back), then crashes (a Go panic, exit 2), under load. Each time it is started again, and requests fail only while it is
// down: none before the fault, none once it answers again.
func TestServedColorKeptRunning(t *testing.T) {
	e := rudeEnv(t)
	e.save(spec.Blue, "v1")
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	e.waitPolicy(spec.Blue, "unless-stopped", 10*time.Second)
	l := e.startLoad(10, 2)
	waitSent(t, l, 500)

	type window struct{ from, to time.Time }
	var outages []window
	faults := []struct {
		name string
		do   func() error
	}{
		{"docker kill (SIGKILL through the engine)", func() error {
			return exec.Command("docker", "kill", "-s", "KILL", "bg-"+e.svc+"-blue").Run()
		}},
		{"kill -9 of its process on the host (as the OOM killer does)", func() error {
			pid, err := strconv.Atoi(e.inspect(spec.Blue, "{{.State.Pid}}"))
			if err != nil || pid <= 0 {
				return fmt.Errorf("pid of blue: %q: %v", e.inspect(spec.Blue, "{{.State.Pid}}"), err)
			}
			return syscall.Kill(pid, syscall.SIGKILL)
		}},
		{"crash (Go panic)", func() error {
			resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/crash", e.bluePort), "text/plain", nil)
			if err == nil {
				resp.Body.Close()
			}
			return nil // the connection may die with the process
		}},
	}
	for _, f := range faults {
		started := e.inspect(spec.Blue, "{{.State.StartedAt}}")
		from := time.Now()
		if err := f.do(); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		var to time.Time
		testenv.WaitFor(t, 30*time.Second, "blue answers again after "+f.name, func() bool {
			got, err := e.get("/")
			if err == nil && got == "blue v1" && e.inspect(spec.Blue, "{{.State.StartedAt}}") != started {
				to = time.Now()
				return true
			}
			return false
		})
		outages = append(outages, window{from, to})
		t.Logf("%s: blue answers again through HAProxy %s after the fault (engine restarts so far: %s)",
			f.name, to.Sub(from).Round(time.Millisecond), e.inspect(spec.Blue, "{{.RestartCount}}"))
		if got := e.inspect(spec.Blue, "{{.State.Status}}"); got != "running" {
			t.Fatalf("after %s blue is %s", f.name, got)
		}
		// Space the faults so that the engine's backoff starts afresh.
		time.Sleep(time.Second)
	}
	waitSent(t, l, l.sent()+500)
	sent, failed, _, fails := l.stop()
	t.Logf("%d requests, %d failed", sent, failed)
	for _, f := range fails {
		inside := false
		for _, w := range outages {
			// A request already in flight when the fault came may fail too.
			if f.End.After(w.from) && f.Start.Before(w.to) {
				inside = true
			}
		}
		if !inside {
			t.Errorf("a request failed outside the outages (%s .. %s): %+v", f.Start.Format("15:04:05.000"), f.End.Format("15:04:05.000"), f)
		}
	}
	if v, _ := e.maps(); v != e.svc+"_blue" {
		t.Fatalf("the map moved to %s", v)
	}
	e.waitConverged(30 * time.Second)
	ctl.stop()
}

// TestRollbackOfAppWithoutSignalHandler: release, rollback and "done" with
// an app that exits 2 when stopped, as most Go apps do (a JVM exits 143,
// Node is killed, 137): the controller knows it stopped the old color, from
// its own record, so the rollback goes through, with no failed request.
func TestRollbackOfAppWithoutSignalHandler(t *testing.T) {
	e := rudeEnv(t)
	e.save(spec.Blue, "v1")
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	for _, st := range []struct {
		name    string
		active  spec.Color
		version string
		want    string
		idle    spec.Color
	}{
		{"release green v2", spec.Green, "v2", "green v2", spec.Blue},
		{"rollback to blue v1", spec.Blue, "v1", "blue v1", spec.Green},
		{"done: blue v2", spec.Blue, "v2", "blue v2", spec.Green},
	} {
		l := e.startLoad(20, 4)
		waitSent(t, l, 500)
		e.save(st.active, st.version)
		e.waitConverged(2 * time.Minute)
		waitSent(t, l, l.sent()+2000)
		sent, failed, _, fails := l.stop()
		t.Logf("%s: %d requests, %d failed", st.name, sent, failed)
		if failed != 0 {
			t.Fatalf("%s: %d of %d requests failed; first: %+v", st.name, failed, sent, fails[:min(len(fails), 3)])
		}
		if got, err := e.get("/"); err != nil || got != st.want {
			t.Fatalf("%s: the frontend answers %q (%v), want %q", st.name, got, err, st.want)
		}
		if code := e.inspect(st.idle, "{{.State.ExitCode}}"); code != "2" {
			t.Fatalf("%s: the stopped %s exited with %s; the test needs an app that exits 2 when stopped", st.name, st.idle, code)
		}
	}
	ctl.stop()
}

// TestServedCrashLoopBacksOff: a served color that dies two seconds after
// every start is started again by the engine with a delay that doubles;
// status says CrashLoop with the exit code and the app's last log lines.
func TestServedCrashLoopBacksOff(t *testing.T) {
	e := rudeEnv(t)
	e.modes = map[string]string{"v1": "crashafter=2s"}
	e.save(spec.Blue, "v1")
	ctl := e.start()
	e.waitPolicy(spec.Blue, "unless-stopped", 2*time.Minute)
	const window = 60 * time.Second
	first, _ := strconv.Atoi(e.inspect(spec.Blue, "{{.RestartCount}}"))
	var crashLoop *state.ServiceStatus
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		// While the engine waits to restart it, status gives the exit code.
		if s := e.serviceStatus(); crashLoop == nil && readyReason(s) == "CrashLoop" && strings.Contains(readyMessage(s), "exited with code") {
			crashLoop = s
		}
		time.Sleep(50 * time.Millisecond)
	}
	last, _ := strconv.Atoi(e.inspect(spec.Blue, "{{.RestartCount}}"))
	n := last - first
	// Restarted at once every time, it would run 2 s and restart about 29
	// times in 60 s; with the delay doubling from 100 ms (0.1+0.2+...+25.6 s
	// of waiting besides the runs) it restarts 8 or 9 times.
	t.Logf("restarts in %s: %d", window, n)
	if n < 4 || n > 13 {
		t.Fatalf("restarted %d times in %s, want 4 to 13 (backing off)", n, window)
	}
	if crashLoop == nil {
		t.Fatalf("status never said CrashLoop; last: %+v", e.serviceStatus())
	}
	msg := readyMessage(crashLoop)
	if !strings.Contains(msg, "exited with code 2") || !strings.Contains(msg, "restarted") || !strings.Contains(crashLoop.Logs, "crashing on purpose") {
		t.Fatalf("CrashLoop status lacks the exit code, the count or the logs: %q, logs %q", msg, crashLoop.Logs)
	}
	if v, _ := e.maps(); v != e.svc+"_blue" {
		t.Fatalf("the map moved to %s", v)
	}
	ctl.stop()
}

// TestNewColorOOMKilledFailsRelease: a new version that passes its memory
// limit at start is OOM-killed: the release ends Failed, reason OOMKilled,
// instead of starting it forever; blue keeps serving, no request fails.
func TestNewColorOOMKilledFailsRelease(t *testing.T) {
	e := rudeEnv(t)
	e.modes = map[string]string{"v2": "alloc=64"}
	resources := "  resources: {memory: 16m}"
	e.save(spec.Blue, "v1", resources)
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	l := e.startLoad(10, 2)
	waitSent(t, l, 500)
	e.save(spec.Green, "v2", resources)
	s := e.waitPhase(2*time.Minute, planner.Failed, "OOMKilled")
	if msg := readyMessage(s); !strings.Contains(msg, "OOMKilled") {
		t.Fatalf("status message %q does not say OOMKilled", msg)
	}
	waitSent(t, l, l.sent()+1000)
	sent, failed, _, _ := l.stop()
	t.Logf("%d requests during the failed release, %d failed", sent, failed)
	if failed != 0 {
		t.Fatalf("%d requests failed", failed)
	}
	if v, f := e.maps(); v != e.svc+"_blue" || f != e.svc+"_blue" {
		t.Fatalf("the map moved: runtime %s, file %s", v, f)
	}
	// The engine's own OOMKilled flag is not asked: it misses a kill in a
	// container's first milliseconds (containerd#12405), which the
	// controller reads from the kernel log instead.
	if got := e.inspect(spec.Green, "{{.State.ExitCode}} {{.RestartCount}}"); got != "137 0" {
		t.Fatalf("green: exit code and restarts %q, want \"137 0\"", got)
	}
	ctl.stop()
	if code, out := e.once("--timeout", "30s"); code != 1 || !strings.Contains(out, "OOMKilled") {
		t.Fatalf("--once on the failed release: exit %d, want 1 with OOMKilled; output:\n%s", code, out)
	}
}
