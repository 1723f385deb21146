package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestDirectPathAcrossReloads reloads HAProxy under load while the direct
// path serves: at rest, in the middle of a release (the new color started,
// the map not switched yet) and right after the switch, while the old
// color is kept warm for the verification window. A reload puts back the
// published ports written in haproxy.cfg, so traffic flows through Docker's
// port forwarder until the controller points the servers at the containers
// again, within one pass: no request fails, and "show servers state" shows
// the containers' own addresses afterwards.
//
// As in TestReloadKeepsActiveColor, the load re-sends an idempotent GET on
// a keep-alive connection HAProxy closed when its worker was replaced.
func TestDirectPathAcrossReloads(t *testing.T) {
	e := newEnv(t)
	e.verify = "{window: 3s}"
	e.save(spec.Blue, "v1")
	// A pass at least every 500 ms: the controller learns of a reload
	// only by looking.
	ctl := e.start("--resync", "500ms")
	e.waitConverged(2 * time.Minute)

	waitDirect := func(when string, c spec.Color) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, want := e.serverAddr(c), e.directAddr(c)
			if want != "" && got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: HAProxy sends %s's traffic to %s 10 s on, want its container's address %q\ncontroller log:\n%s",
					when, c, got, want, ctl.output())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	reload := func(when string, c spec.Color) {
		t.Helper()
		e.ha.Reload(t)
		// Read at once, the controller may already have acted.
		t.Logf("%s: right after the reload HAProxy sends %s's traffic to %s", when, c, e.serverAddr(c))
	}
	waitDirect("first start", spec.Blue)

	url := fmt.Sprintf("http://127.0.0.1:%d/", e.front)
	lr := loadgen.Start(context.Background(), loadgen.Config{URL: url, Concurrency: keepAlive, KeepAlive: true})
	ln := loadgen.Start(context.Background(), loadgen.Config{URL: url, Concurrency: fresh})
	t.Cleanup(func() { lr.Stop(); ln.Stop() })
	for lr.Sent()+ln.Sent() < 2000 {
		time.Sleep(10 * time.Millisecond)
	}

	reload("at rest", spec.Blue)
	waitDirect("reload at rest", spec.Blue)

	green := e.svc + "_green"
	switched := e.watchSwitch(green, false)
	e.save(spec.Green, "v2")
	deadline := time.Now().Add(2 * time.Minute) // the build of v2 comes first
	for e.directAddr(spec.Green) == "" {
		if time.Now().After(deadline) {
			t.Fatalf("green never ran\ncontroller log:\n%s", ctl.output())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rt, _ := e.maps(); rt != e.svc+"_blue" {
		t.Logf("the switch came before the mid-release reload (map %s)", rt)
	}
	reload("mid-release", spec.Green)

	select {
	case <-switched.at:
	case <-time.After(time.Minute):
		t.Fatalf("the map never switched to %s\ncontroller log:\n%s", green, ctl.output())
	}
	reload("right after the switch", spec.Blue)
	// Blue is kept warm while green is verified: both get their own
	// addresses back.
	waitDirect("reload after the switch", spec.Green)
	e.waitConverged(2 * time.Minute)
	waitDirect("release done", spec.Green)
	if got, want := e.serverAddr(spec.Blue), e.fallbackAddr(spec.Blue); got != want {
		t.Errorf("stopped blue: HAProxy sends its traffic to %s, want its published port %s", got, want)
	}

	rk, rn := lr.Stop(), ln.Stop()
	t.Logf("keep-alive load: %s", rk.Summary())
	t.Logf("new-connection load: %s", rn.Summary())
	if rk.Failed+rn.Failed != 0 {
		t.Fatalf("%d requests failed across the reloads: %+v %+v\nHAProxy's log (errors only):\n%s\ncontroller log:\n%s",
			rk.Failed+rn.Failed, rk.FailSamples, rn.FailSamples, e.ha.LogTail(40), ctl.output())
	}
	if st := e.serviceStatus(); st.Phase != "Converged" || st.ServedColor != spec.Green {
		t.Fatalf("status %s, served %s; want Converged on green", st.Phase, st.ServedColor)
	}
	ctl.stop()
}
