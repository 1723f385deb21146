package e2e

import (
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

const (
	minRequests = 20000
	keepAlive   = 50 // connections reused across requests
	fresh       = 10 // a new connection per request
)

// TestReleaseRollbackDone is the product's promise end to end: blue serves
// v1; the desired file changes to green/v2 while load runs; then a rollback
// to blue/v1; blue/v2 (through green); a release of green/v3; then "done"
// (blue/v3). Each transition: zero failed requests,
// every response after the switch from the new color and version, the
// runtime map and the map file agree, the idle color ends as the spec says,
// and HAProxy reaches the serving container at its own address on the
// bridge (the direct path, past Docker's port forwarder).
func TestReleaseRollbackDone(t *testing.T) {
	e := newEnv(t)
	e.save(spec.Blue, "v1")
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	if got, err := e.get("/"); err != nil || got != "blue v1" {
		t.Fatalf("before the release the frontend answers %q (%v), want \"blue v1\"", got, err)
	}

	steps := []struct {
		name          string
		active        spec.Color
		version       string
		want          string // body every request after the switch gets
		idle          spec.Color
		idleState     string
		activeVersion string
		via           bool // traffic goes through the other color first
	}{
		{"release green v2", spec.Green, "v2", "green v2", spec.Blue, "exited", "v2", false},
		{"rollback to blue v1", spec.Blue, "v1", "blue v1", spec.Green, "exited", "v1", false},
		// blue serves v1 and must run v2: green (v2) takes the traffic while blue is replaced.
		{"blue v2 from the rollback", spec.Blue, "v2", "blue v2", spec.Green, "exited", "v2", true},
		{"release green v3", spec.Green, "v3", "green v3", spec.Blue, "exited", "v3", false},
		// the seed's "done": idle blue is replaced with v3, traffic moves back, green drains.
		{"done: blue v3", spec.Blue, "v3", "blue v3", spec.Green, "exited", "v3", false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.t = t
			backend := e.svc + "_" + string(st.active)
			switched := e.watchSwitch(backend, st.via)
			l := e.startLoad(keepAlive, fresh)
			waitSent(t, l, 2000) // load is flowing before the edit
			e.save(st.active, st.version)
			e.waitConverged(2 * time.Minute)
			var at time.Time
			select {
			case at = <-switched.at:
			case <-time.After(5 * time.Second):
				t.Fatalf("the runtime map never said %s", backend)
			}
			waitSent(t, l, minRequests)
			sent, failed, samples, fails := l.stop()
			t.Logf("%s: %d requests, %d failed, map switched at %s", st.name, sent, failed, at.Format("15:04:05.000"))
			if failed != 0 {
				t.Fatalf("%d of %d requests failed; first failures: %+v", failed, sent, fails)
			}
			after, wrong := 0, 0
			for _, s := range samples {
				if s.Start.After(at) {
					after++
					if s.Body != st.want {
						wrong++
						if wrong <= 5 {
							t.Errorf("request started %s after the switch got %q, want %q", s.Start.Sub(at), s.Body, st.want)
						}
					}
				}
			}
			if wrong > 0 || after == 0 {
				t.Fatalf("%d of %d requests after the switch came from the wrong color", wrong, after)
			}
			if rt, file := e.maps(); rt != backend || file != backend {
				t.Fatalf("map: runtime %q, file %q, want both %q", rt, file, backend)
			}
			if state, img := e.container(st.active); state != "running" || img != e.repo+":"+st.activeVersion {
				t.Fatalf("%s container: %s on %s, want running on %s:%s", st.active, state, img, e.repo, st.activeVersion)
			}
			if state, _ := e.container(st.idle); state != st.idleState {
				t.Fatalf("%s container is %s, want %s", st.idle, state, st.idleState)
			}
			// The direct path: HAProxy sends the traffic to the
			// container's own address, not through docker-proxy; the
			// stopped color is back on its published port.
			if got, want := e.serverAddr(st.active), e.directAddr(st.active); want == "" || got != want {
				t.Fatalf("HAProxy sends %s's traffic to %s, want its container's address %q", st.active, got, want)
			}
			if got, want := e.serverAddr(st.idle), e.fallbackAddr(st.idle); got != want {
				t.Fatalf("HAProxy sends stopped %s's traffic to %s, want its published port %s", st.idle, got, want)
			}
		})
	}
	ctl.stop()
}

func waitSent(t testing.TB, l *load, n int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for l.sent() < n {
		if time.Now().After(deadline) {
			t.Fatalf("load sent only %d requests in 2 minutes, want %d", l.sent(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
