package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// serverStatus is HAProxy's status of color c's server now ("" when it
// cannot be read).
func (e *env) serverStatus(c spec.Color) string { return e.replicaStatus(c, "app") }

// replicaStatus is HAProxy's status of server srv of color c's backend
// now ("" when it cannot be read).
func (e *env) replicaStatus(c spec.Color, srv string) string {
	rows, err := e.runtime().ShowStat(context.Background())
	if err != nil {
		return ""
	}
	for _, r := range rows {
		if r.Proxy == e.svc+"_"+string(c) && r.Server == srv {
			return r.Status
		}
	}
	return ""
}

// statusWatch records when HAProxy's status of a color's server changes:
// the test's own view of HAProxy, polled every 20 ms.
type statusWatch struct {
	mu      sync.Mutex
	changes []statusChange
	stop    context.CancelFunc
}

type statusChange struct {
	at     time.Time
	status string
}

func (e *env) watchServer(c spec.Color) *statusWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &statusWatch{stop: cancel}
	go func() {
		last := ""
		for ctx.Err() == nil {
			if st := e.serverStatus(c); st != "" && st != last {
				w.mu.Lock()
				w.changes = append(w.changes, statusChange{time.Now(), st})
				w.mu.Unlock()
				last = st
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	e.t.Cleanup(cancel)
	return w
}

// wentDown is the first moment after since that the server went from an
// UP status to DOWN (zero while it has not).
func (w *statusWatch) wentDown(since time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, ch := range w.changes {
		if i > 0 && ch.at.After(since) && ch.status == "DOWN" && strings.HasPrefix(w.changes[i-1].status, "UP") {
			return ch.at
		}
	}
	return time.Time{}
}

// waitWentDown waits until the server went DOWN after since.
func (w *statusWatch) waitWentDown(t *testing.T, since time.Time, timeout time.Duration) time.Time {
	t.Helper()
	var at time.Time
	testenv.WaitFor(t, timeout, "HAProxy takes the server DOWN", func() bool { at = w.wentDown(since); return !at.IsZero() })
	return at
}

// post sends POST path straight to color c's container, at its published port.
func (e *env) post(c spec.Color, path string) {
	e.t.Helper()
	port := e.bluePort
	if c == spec.Green {
		port = e.greenPort
	}
	resp, err := e.client.Post(fmt.Sprintf("http://127.0.0.1:%d%s", port, path), "text/plain", nil)
	if err != nil {
		e.t.Fatalf("POST %s to %s: %v", path, c, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("POST %s to %s: %s", path, c, resp.Status)
	}
}

// waitReason waits until status shows reason for the current desired file
// and returns when it was first seen.
func (e *env) waitReason(timeout time.Duration, phase planner.Phase, reason planner.Reason) (time.Time, string) {
	e.t.Helper()
	s := e.waitPhase(timeout, phase, reason)
	return time.Now(), readyMessage(s)
}

// failedBetween counts the failed samples that ended in [from, to).
func failedBetween(samples []loadgen.Sample, from, to time.Time) (n int) {
	for _, s := range samples {
		if s.Failed() && !s.End.Before(from) && s.End.Before(to) {
			n++
		}
	}
	return n
}

// TestServedColorDownWhenHAProxyChecksAnotherPath: an app whose health
// endpoint is /api/health (it answers 404 on /healthz) behind backends
// that check GET /healthz. validate names the difference before anything
// runs; the controller gets ahead of HAProxy's checks of the container
// once, never again, and reports the outage (Degraded, ServedColorDown,
// with the likely cause) within 5 s of HAProxy taking the server DOWN, in
// status and in /metrics; --once exits 1.
func TestServedColorDownWhenHAProxyChecksAnotherPath(t *testing.T) {
	e := rudeEnv(t)
	e.modes = map[string]string{"v1": "healthpath=/api/health"}
	e.save(spec.Blue, "v1", "  healthPath: /api/health")

	// Before any container runs: validate against HAProxy's configuration.
	out, err := e.command("validate", "--haproxy-config", e.ha.Config).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	t.Logf("validate --haproxy-config: exit %d\n%s", code, out)
	for _, want := range []string{e.svc + "_blue", "/healthz", "/api/health"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate does not name %q", want)
		}
	}
	if code == 0 {
		t.Errorf("validate exited 0 on a health check that differs from spec.healthPath")
	}
	if st, _ := e.container(spec.Blue); st != "absent" {
		t.Fatalf("a container runs after validate: %s", st)
	}

	watch := e.watchServer(spec.Blue)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctl := e.start("--metrics-listen", addr)
	l := e.startLoad(10, 2)
	down := watch.waitWentDown(t, time.Time{}, 2*time.Minute)
	seen, msg := e.waitReason(time.Minute, planner.Degraded, planner.ReasonServedColorDown)
	t.Logf("HAProxy took blue DOWN at +0; status ServedColorDown at %+.2fs: %s", seen.Sub(down).Seconds(), msg)
	if late := seen.Sub(down); late > 5*time.Second {
		t.Errorf("status said ServedColorDown %s after HAProxy took the server DOWN, want within 5s", late)
	}
	for _, want := range []string{"L7STS", "/api/health passed", "probably uses another path", "option httpchk GET /api/health"} {
		if !strings.Contains(msg, want) {
			t.Errorf("status message does not say %q", want)
		}
	}

	// Past a resync (10 s): still Degraded, never set UP again. The
	// message quotes HAProxy's last check, code and words, even when the
	// pass falls on a check in progress (check_code 0, last_chk empty): at
	// the first pass they may be missing, before the controller has read
	// a finished check.
	time.Sleep(12 * time.Second)
	if s := e.serviceStatus(); s.Phase != planner.Degraded || readyReason(s) != planner.ReasonServedColorDown {
		t.Errorf("after a resync status says %s (%s), want Degraded (ServedColorDown)", s.Phase, readyReason(s))
	} else if msg := readyMessage(s); !strings.Contains(msg, `L7STS, HTTP 404 "Not Found"`) {
		t.Errorf("after a resync the status message does not quote HAProxy's check (L7STS, HTTP 404 \"Not Found\"): %s", msg)
	}
	run := e.inspect(spec.Blue, "{{.RestartCount}} {{.State.StartedAt}}")
	marks := strings.Count(ctl.output(), "step=MarkServerUp")
	t.Logf("MarkServerUp %d times; the container's engine restarts and start: %s", marks, run)
	if marks > 1 {
		t.Errorf("the server was set UP %d times for one run of its container, want at most once", marks)
	}
	if !strings.HasPrefix(run, "0 ") {
		t.Errorf("the container was restarted (%s): a run of its own was not what was tested", run)
	}
	_, body := ctl.get(t, addr, "/metrics")
	expectSeries(t, body,
		fmt.Sprintf(`bluegreen_served_up{service=%q} 0`, e.svc),
		fmt.Sprintf(`bluegreen_phase{phase="Degraded",service=%q} 1`, e.svc))
	sent, failed, _, _ := l.stop()
	t.Logf("load: %d of %d requests failed (the outage)", failed, sent)

	ctl.stop()
	code, out2 := e.once("--timeout", "5s")
	if code != 1 || !strings.Contains(out2, string(planner.ReasonServedColorDown)) {
		t.Errorf("--once: exit %d, want 1 naming ServedColorDown:\n%s", code, out2)
	}
}

// TestServedColorThatHangsIsDegraded: the served app accepts connections
// and never answers, under load: status says Degraded within HAProxy's
// check timeout (1 s here) plus 5 s, never Converged.
func TestServedColorThatHangsIsDegraded(t *testing.T) {
	e := rudeEnv(t)
	e.save(spec.Blue, "v1", "  health: {restartAfter: 0s}")
	e.start()
	e.waitConverged(2 * time.Minute)
	l := e.startLoad(10, 2)
	waitSent(t, l, 500)
	hung := time.Now()
	e.post(spec.Blue, "/hang")
	seen, msg := e.waitReason(30*time.Second, planner.Degraded, planner.ReasonServedColorDown)
	t.Logf("status Degraded %.2fs after the app hung: %s", seen.Sub(hung).Seconds(), msg)
	if late := seen.Sub(hung); late > 6*time.Second {
		t.Errorf("status said Degraded %s after the app hung, want within 6s (check timeout 1s + 5s)", late)
	}
	if !strings.Contains(msg, "L7TOUT") || !strings.Contains(msg, "failed too") {
		t.Errorf("status message does not say that HAProxy's check and the probe time out: %s", msg)
	}
	l.stop()
}

// TestServedColorThatTurnsUnhealthyIsHealed: a served app turns unhealthy
// after its verification window (its /healthz answers 503 from then on).
// Status says Degraded within 2 s of HAProxy taking it DOWN. With nothing
// warm to go back to, it is restarted after restartAfter (10 s) and serves
// again: requests fail only in that window. Then a good release to green,
// blue kept warm (idle: KeepWarm); when green turns unhealthy, traffic
// goes back to blue at once, as a rollback, and no request fails after the
// switch back.
func TestServedColorThatTurnsUnhealthyIsHealed(t *testing.T) {
	e := rudeEnv(t)
	healing := []string{"  health: {restartAfter: 10s}", "  idle: {policy: KeepWarm}"}
	e.save(spec.Blue, "v1", healing...)
	e.start()
	e.waitConverged(2 * time.Minute)
	blueWatch := e.watchServer(spec.Blue)
	l := e.startLoad(10, 2)
	waitSent(t, l, 500)

	// Nothing warm: restarted after restartAfter.
	firstStart := e.inspect(spec.Blue, "{{.State.StartedAt}}")
	sick := time.Now()
	e.post(spec.Blue, "/sick")
	down := blueWatch.waitWentDown(t, sick, 30*time.Second)
	seen, msg := e.waitReason(30*time.Second, planner.Degraded, planner.ReasonServedColorDown)
	t.Logf("HAProxy took blue DOWN %.2fs after it turned sick; status Degraded %.2fs after that: %s",
		down.Sub(sick).Seconds(), seen.Sub(down).Seconds(), msg)
	if late := seen.Sub(down); late > 2*time.Second {
		t.Errorf("status said Degraded %s after HAProxy took blue DOWN, want within 2s", late)
	}
	if !strings.Contains(msg, "failed too") || !strings.Contains(msg, "restarted at") {
		t.Errorf("status message does not say the probe failed too and when blue is restarted: %s", msg)
	}
	e.waitConverged(time.Minute)
	healed := time.Now()
	if got := e.inspect(spec.Blue, "{{.State.StartedAt}}"); got == firstStart {
		t.Fatalf("blue serves again but was not restarted (started %s)", got)
	}
	if got, err := e.get("/"); err != nil || got != "blue v1" {
		t.Fatalf("after the restart the frontend answers %q (%v)", got, err)
	}
	waitSent(t, l, l.sent()+500)
	_, _, samples, _ := l.stop()
	before, during, after := failedBetween(samples, time.Time{}, sick), failedBetween(samples, sick, healed), failedBetween(samples, healed, time.Now())
	t.Logf("failed requests: %d before blue turned sick, %d from then until it served again (%.1fs), %d after",
		before, during, healed.Sub(sick).Seconds(), after)
	if before != 0 || after != 0 {
		t.Errorf("requests failed outside the unhealthy window: %d before, %d after", before, after)
	}
	if h := e.serviceStatus().Colors[spec.Blue]; h == nil || h.HealthRestarts != 1 {
		t.Errorf("status counts %+v health restarts of blue, want 1", h)
	}

	// Blue warm: traffic goes back to it when green turns unhealthy.
	e.save(spec.Green, "v2", healing...)
	e.waitConverged(2 * time.Minute)
	if st, _ := e.container(spec.Blue); st != "running" {
		t.Fatalf("blue is %s, want running (kept warm)", st)
	}
	blueID := e.inspect(spec.Blue, "{{.Id}} {{.State.StartedAt}}")
	back := e.watchSwitch(e.svc+"_blue", false)
	l = e.startLoad(10, 2)
	waitSent(t, l, 500)
	sick2 := time.Now()
	e.post(spec.Green, "/sick")
	var switched time.Time
	select {
	case switched = <-back.at:
	case <-time.After(30 * time.Second):
		t.Fatalf("traffic did not go back to blue within 30s of green turning unhealthy")
	}
	_, msg = e.waitReason(30*time.Second, planner.Failed, "RolledBack")
	waitSent(t, l, l.sent()+2000)
	_, _, samples, _ = l.stop()
	t.Logf("%d requests failed between green turning sick and traffic back on blue (%.2fs); status: %s",
		failedBetween(samples, sick2, switched.Add(time.Second)), switched.Sub(sick2).Seconds(), msg)
	// A request in flight at the switch may still end on green.
	if n := failedBetween(samples, switched.Add(time.Second), time.Now()); n != 0 {
		t.Errorf("%d requests failed after traffic went back to blue", n)
	}
	if got := e.inspect(spec.Blue, "{{.Id}} {{.State.StartedAt}}"); got != blueID {
		t.Errorf("traffic went back to another blue (%s) than the warm one (%s)", got, blueID)
	}
	if !strings.Contains(msg, string(planner.ReasonServedColorDown)) {
		t.Errorf("status does not give the rollback's reason: %s", msg)
	}
	rs := e.history()
	if len(rs) == 0 || rs[len(rs)-1].Outcome != planner.OutcomeRolledBack || !strings.Contains(rs[len(rs)-1].Reason, string(planner.ReasonServedColorDown)) {
		t.Errorf("history does not end with the rollback for ServedColorDown: %+v", rs)
	}
}
