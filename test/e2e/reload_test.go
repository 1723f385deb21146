package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestReloadKeepsActiveColor reloads HAProxy right after a switch and in the
// middle of releases (controller killed just before the switch, between the
// runtime map and the map file, and just after the switch): traffic stays on
// a color that runs, the one the controller last completed a switch to,
// because the map file on disk is written together with the runtime map.
//
// HAProxy closes idle keep-alive connections when a worker is replaced;
// net/http re-sends an idempotent GET on such a connection, as browsers do,
// so this load runs with retries on and reports how many there were.
func TestReloadKeepsActiveColor(t *testing.T) {
	e := newEnv(t)
	e.save(spec.Blue, "v1")
	if code, out := e.once(); code != 0 {
		t.Fatalf("first start: exit %d\n%s", code, out)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", e.front)
	lr := loadgen.Start(context.Background(), loadgen.Config{URL: url, Concurrency: keepAlive, KeepAlive: true})
	ln := loadgen.Start(context.Background(), loadgen.Config{URL: url, Concurrency: fresh})
	t.Cleanup(func() { lr.Stop(); ln.Stop() })

	expect := func(when string, color spec.Color, version string) {
		t.Helper()
		backend := e.svc + "_" + string(color)
		if rt, file := e.maps(); rt != backend || file != backend {
			t.Fatalf("%s: map runtime %q file %q, want %q", when, rt, file, backend)
		}
		want := string(color) + " " + version
		for i := 0; i < 20; i++ {
			if got, err := e.get("/"); err != nil || got != want {
				t.Fatalf("%s: the frontend answers %q (%v), want %q", when, got, err, want)
			}
		}
	}

	// Right after a switch.
	e.save(spec.Green, "v2")
	if code, out := e.once(); code != 0 {
		t.Fatalf("release: exit %d\n%s", code, out)
	}
	e.ha.Reload(t)
	expect("reload after the release", spec.Green, "v2")

	// Mid-release, the new color ready but the map not switched yet.
	e.save(spec.Blue, "v1")
	e.ctlEnv = []string{"BLUEGREEN_CRASH_AT=before:SwitchMap"}
	e.start().exited(t, 2*time.Minute)
	e.ha.Reload(t)
	expect("reload before the switch", spec.Green, "v2")

	// Mid-switch: the runtime map already on the new color, the map file
	// not written yet. A reload now goes by the file, back to the old
	// color, which still runs: a color is drained only once the switch is
	// complete, runtime and file. The next controller switches again.
	e.ctlEnv = []string{"BLUEGREEN_CRASH_AT=mid:SwitchMap"}
	e.start().exited(t, 2*time.Minute)
	if rt, file := e.maps(); rt != e.svc+"_blue" || file != e.svc+"_green" {
		t.Fatalf("killed mid-switch: map runtime %q file %q, want runtime on blue, file on green", rt, file)
	}
	e.ha.Reload(t)
	expect("reload between the runtime map and the map file", spec.Green, "v2")

	// Mid-release, just after the switch, before the old color is drained.
	e.ctlEnv = []string{"BLUEGREEN_CRASH_AT=after:SwitchMap"}
	e.start().exited(t, 2*time.Minute)
	e.ha.Reload(t)
	expect("reload after the switch, old color not drained", spec.Blue, "v1")

	// The controller comes back and finishes the rollback on the new worker.
	e.ctlEnv = nil
	if code, out := e.once(); code != 0 {
		t.Fatalf("after the reloads: exit %d\n%s", code, out)
	}
	if state, _ := e.container(spec.Green); state != "exited" {
		t.Fatalf("green is %s, want exited", state)
	}
	e.ha.Reload(t)
	expect("reload after the rollback", spec.Blue, "v1")

	rk, rn := lr.Stop(), ln.Stop()
	t.Logf("keep-alive load: %s", rk.Summary())
	t.Logf("new-connection load: %s", rn.Summary())
	if rk.Failed+rn.Failed != 0 {
		t.Fatalf("%d requests failed across the reloads: %+v %+v\nhaproxy log tail:\n%s",
			rk.Failed+rn.Failed, rk.FailSamples, rn.FailSamples, e.ha.LogTail(40))
	}

	// A restart (stop, start from the same config) loads the map file too.
	e.ha.Restart(t)
	expect("restart", spec.Blue, "v1")
	if st := e.serviceStatus(); st.Phase != "Converged" {
		t.Fatalf("status after the restart: %s", st.Phase)
	}
	// The restart put back the published port of haproxy.cfg: the one
	// step left is to point blue's server at its container again.
	code, out := e.once()
	if steps := strings.Count(out, "msg=Step "); code != 0 || steps != 1 || !strings.Contains(out, "step=SetServerAddr color=blue") {
		t.Fatalf("after the restart: exit %d, %d steps, want one SetServerAddr of blue\n%s", code, steps, out)
	}
	if got, want := e.serverAddr(spec.Blue), e.directAddr(spec.Blue); got != want {
		t.Fatalf("after the restart HAProxy sends blue's traffic to %s, want %s", got, want)
	}
}
