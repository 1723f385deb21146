package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestCrashAnywhereConverges kills the controller with SIGKILL at every
// distinct point of a release, then of a rollback, starting it again each
// time, with load running across the whole sequence: it converges to the
// spec and no request fails. Nothing depends on memory of earlier steps.
func TestCrashAnywhereConverges(t *testing.T) {
	e := newEnv(t)
	e.save(spec.Blue, "v1")
	if code, out := e.once(); code != 0 {
		t.Fatalf("first start: exit %d\n%s", code, out)
	}
	l := e.startLoad(keepAlive, fresh)
	waitSent(t, l, 2000)

	// The release is killed between the runtime map and the map file, the
	// rollback after both: each of these points is reached only once.
	release := []string{
		"after:BuildImage",      // image ready
		"after:CreateContainer", // green created
		"after:StartContainer",  // green started
		"before:SwitchMap",      // green UP and ready, map not switched yet
		"mid:SwitchMap",         // runtime map switched, map file not yet written
		"after:WriteMapFile",    // the next controller wrote the map file
		"after:DrainServer",     // blue draining
		"after:StopContainer",   // blue stopped
	}
	rollback := []string{
		"after:StartContainer", // blue restarted
		"after:SetServerReady", // blue accepts traffic again (its drain is undone)
		"before:SwitchMap",     // blue ready again
		"after:SwitchMap",      // map back on blue (runtime and file)
		"after:DrainServer",    // green draining
	}
	kills := 0
	crashThrough := func(from, to spec.Color, points []string) {
		for _, at := range points {
			e.ctlEnv = []string{"BLUEGREEN_CRASH_AT=" + at}
			c := e.start()
			log := c.exited(t, 2*time.Minute)
			if !strings.Contains(log, "killing myself "+strings.Replace(at, ":", " ", 1)) {
				t.Fatalf("controller did not die %s; log:\n%s", at, log)
			}
			if c.cmd.ProcessState.Exited() {
				t.Fatalf("controller exited normally at %s, want killed by SIGKILL", at)
			}
			if at == "mid:SwitchMap" {
				// Killed in the gap: a reload now would move traffic back,
				// so the next controller must write the file first.
				if rt, file := e.maps(); rt != e.svc+"_"+string(to) || file != e.svc+"_"+string(from) {
					t.Fatalf("killed %s: map runtime %q file %q, want runtime on %s and file still on %s", at, rt, file, to, from)
				}
			}
			kills++
			t.Logf("killed %s; %d requests so far, %d failed", at, l.sent(), l.failed())
		}
		e.ctlEnv = nil
		if code, out := e.once(); code != 0 {
			t.Fatalf("after the crashes: exit %d\n%s", code, out)
		}
	}

	e.save(spec.Green, "v2")
	crashThrough(spec.Blue, spec.Green, release)
	if rt, file := e.maps(); rt != e.svc+"_green" || file != e.svc+"_green" {
		t.Fatalf("after the release: map runtime %q file %q", rt, file)
	}
	if state, _ := e.container(spec.Blue); state != "exited" {
		t.Fatalf("blue is %s after the release, want exited", state)
	}

	e.save(spec.Blue, "v1")
	crashThrough(spec.Green, spec.Blue, rollback)
	if rt, file := e.maps(); rt != e.svc+"_blue" || file != e.svc+"_blue" {
		t.Fatalf("after the rollback: map runtime %q file %q", rt, file)
	}
	if got, err := e.get("/"); err != nil || got != "blue v1" {
		t.Fatalf("after the rollback the frontend answers %q (%v)", got, err)
	}

	sent, failed, _, fails := l.stop()
	t.Logf("controller killed at %d points; %d requests sent, %d failed", kills, sent, failed)
	if failed != 0 {
		t.Fatalf("%d of %d requests failed; first failures: %+v", failed, sent, fails)
	}
}
