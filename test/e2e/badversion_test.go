package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestBadVersionNeverGetsTraffic releases versions that cannot serve: one
// exits at start, one listens but fails its health check, one is too slow
// to become ready. The map never moves, blue keeps serving with zero failed
// requests, status says Failed with the reason and the container's last log
// lines, and a later spec change recovers without manual cleanup.
func TestBadVersionNeverGetsTraffic(t *testing.T) {
	e := newEnv(t)
	e.modes = map[string]string{"v2exit": "exit", "v2sick": "unhealthy", "v2slow": "slowstart=60s"}
	e.save(spec.Blue, "v1")
	if code, out := e.once(); code != 0 {
		t.Fatalf("first start: exit %d\n%s", code, out)
	}
	ctl := e.start()
	l := e.startLoad(20, 5)
	waitSent(t, l, 1000)

	cases := []struct {
		version string
		reason  planner.Reason
		logLine string
	}{
		{"v2exit", "ContainerExited", "APP_MODE=exit"},
		{"v2sick", "ReadyTimeout", "unhealthy"},
		{"v2slow", "ReadyTimeout", "slowstart"},
	}
	for _, c := range cases {
		e.readyTimeout = "3s"
		e.save(spec.Green, c.version)
		s := e.waitPhase(2*time.Minute, planner.Failed, c.reason)
		if !strings.Contains(strings.ToLower(s.Logs), strings.ToLower(c.logLine)) {
			t.Errorf("%s: status logs do not show the app's own lines (want %q):\n%s", c.version, c.logLine, s.Logs)
		}
		if rt, file := e.maps(); rt != e.svc+"_blue" || file != e.svc+"_blue" {
			t.Fatalf("%s: the map moved: runtime %q file %q", c.version, rt, file)
		}
		if got, err := e.get("/"); err != nil || got != "blue v1" {
			t.Fatalf("%s: the frontend answers %q (%v), want blue v1", c.version, got, err)
		}
		if state, _ := e.container(spec.Blue); state != "running" {
			t.Fatalf("%s: blue is %s", c.version, state)
		}
		t.Logf("%s: %s: %s", c.version, c.reason, readyMessage(s))
	}
	out, _ := e.command("status").CombinedOutput()
	if !strings.Contains(string(out), "Failed") || !strings.Contains(string(out), "last log lines") {
		t.Errorf("controller status does not show the failure:\n%s", out)
	}

	// A good version recovers with no manual cleanup.
	e.readyTimeout = "30s"
	e.save(spec.Green, "v3")
	e.waitConverged(2 * time.Minute)
	if got, err := e.get("/"); err != nil || got != "green v3" {
		t.Fatalf("after the recovery the frontend answers %q (%v)", got, err)
	}
	sent, failed, _, fails := l.stop()
	t.Logf("%d requests, %d failed", sent, failed)
	if failed != 0 {
		t.Fatalf("%d of %d requests failed: %+v", failed, sent, fails)
	}
	ctl.stop()
}
