package reconcile

import (
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// onBridge: the color's container runs at ip on the bridge, and Observe
// probed it there (the probes counted are the world's).
func onBridge(ip string) func(*ColorState) {
	return func(st *ColorState) {
		st.Container.IP = ip
		st.ProbedAddr = ip + ":8080"
	}
}

// at: HAProxy sends the color's traffic to addr.
func at(addr string) func(*ColorState) {
	return func(st *ColorState) { st.Server.Addr = addr }
}

// TestPlanServerAddress: HAProxy reaches a container on the bridge at its
// own address (the direct path), the published port being the fallback
// that haproxy.cfg and a reload put back. The map is switched only to a
// color whose server HAProxy sends to the very address that was probed.
func TestPlanServerAddress(t *testing.T) {
	v2Green := func() *spec.Service { return testService(t, spec.Green, "demo:v2") }
	v1Blue := func() *spec.Service { return testService(t, spec.Blue, "demo:v1") }
	released := func() *world { // blue serves v1; green/v2 runs at 172.17.0.9
		return newWorld(v2Green(), idV2).running(spec.Blue, idV1).edit(spec.Blue, onBridge("172.17.0.5")).
			edit(spec.Blue, at("172.17.0.5:8080")).serving(spec.Blue).
			running(spec.Green, idV2).edit(spec.Green, onBridge("172.17.0.9"))
	}
	tests := []struct {
		name  string
		world func() *world
		want  want
	}{
		{"new color at its published port: point HAProxy at its bridge address first", func() *world {
			return released()
		}, want{action: SetServerAddr, color: spec.Green, target: "web_green/app addr 172.17.0.9:8080"}},
		{"new color at its bridge address, UP, probed there: switch", func() *world {
			return released().edit(spec.Green, at("172.17.0.9:8080"))
		}, want{action: SwitchMap, color: spec.Green, target: "web -> web_green"}},
		{"new color recreated: HAProxy UP at the old container's address is not enough", func() *world {
			return released().edit(spec.Green, at("172.17.0.4:8080"))
		}, want{action: SetServerAddr, color: spec.Green, target: "web_green/app addr 172.17.0.9:8080"}},
		{"new color ready at its bridge address, its published port not yet: no switch", func() *world {
			return released().edit(spec.Green, at("172.17.0.9:8080")).edit(spec.Green, startedAgo(time.Second, "UP", 2)).
				edit(spec.Green, func(st *ColorState) { st.FallbackOK, st.FallbackError = false, "connection refused" })
		}, want{phase: Progressing, reason: "WaitingForReady"}},
		{"served color at its bridge address, its published port not yet: not converged", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).edit(spec.Blue, onBridge("172.17.0.5")).
				edit(spec.Blue, at("172.17.0.5:8080")).serving(spec.Blue).
				edit(spec.Blue, func(st *ColorState) { st.FallbackOK, st.FallbackError = false, "connection refused" })
		}, want{phase: Progressing, reason: "WaitingForFallback"}},
		{"new color at its bridge address, DOWN, probed there: mark it UP", func() *world {
			return released().edit(spec.Green, at("172.17.0.9:8080")).edit(spec.Green, startedAgo(time.Second, "DOWN", 2))
		}, want{action: MarkServerUp, color: spec.Green, target: "web_green/app"}},
		{"new color at the old address, DOWN: no MarkServerUp there", func() *world {
			return released().edit(spec.Green, at("172.17.0.4:8080")).edit(spec.Green, startedAgo(time.Second, "DOWN", 2))
		}, want{action: SetServerAddr, color: spec.Green, target: "web_green/app addr 172.17.0.9:8080"}},
		{"served color on the fallback after a reload, probed at its own address: point HAProxy there", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).edit(spec.Blue, onBridge("172.17.0.5")).serving(spec.Blue)
		}, want{action: SetServerAddr, color: spec.Blue, target: "web_blue/app addr 172.17.0.5:8080"}},
		{"served color on the fallback, its own address does not answer: stays there", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).edit(spec.Blue, onBridge("172.17.0.5")).serving(spec.Blue).
				edit(spec.Blue, func(st *ColorState) { st.Probes, st.ProbeError = 0, "connection refused" })
		}, want{phase: Converged, reason: "Converged"}},
		{"served color died: HAProxy goes back to its published port, then it is started", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).edit(spec.Blue, at("172.17.0.5:8080")).serving(spec.Blue).
				edit(spec.Blue, exited(2))
		}, want{action: SetServerAddr, color: spec.Blue, target: "web_blue/app addr 127.0.0.1:18081"}},
		{"served color died, HAProxy at its published port: started", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).serving(spec.Blue).edit(spec.Blue, exited(2))
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}},
		{"stopped color at its old bridge address: back to its published port", func() *world {
			return newWorld(v1Blue(), idV1).running(spec.Blue, idV1).edit(spec.Blue, onBridge("172.17.0.5")).
				edit(spec.Blue, at("172.17.0.5:8080")).serving(spec.Blue).
				running(spec.Green, idV1).edit(spec.Green, exited(2)).edit(spec.Green, stoppedByUs).edit(spec.Green, at("172.17.0.9:8080"))
		}, want{action: SetServerAddr, color: spec.Green, target: "web_green/app addr 127.0.0.1:18082"}},
		{"host networking: the published port is the only address", func() *world {
			s := testService(t, spec.Green, "demo:v2", "  network: host")
			return newWorld(s, idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2)
		}, want{action: SwitchMap, color: spec.Green, target: "web -> web_green"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world()
			checkDecision(t, Plan(w.s, w.o, t0), tc.want)
		})
	}
}

// TestPlanServerAddressAroundVerification: the previous color, kept warm
// while the release is verified, is pointed back at its own address after
// a reload, and a rollback does not switch to it before.
func TestPlanServerAddressAroundVerification(t *testing.T) {
	s := testService(t, spec.Green, "demo:v2", "  verify: {window: 30s}")
	w := switched(s, 5*time.Second, Counters{}).edit(spec.Blue, onBridge("172.17.0.5")).
		edit(spec.Green, onBridge("172.17.0.9")).edit(spec.Green, at("172.17.0.9:8080"))
	checkDecision(t, Plan(s, w.o, t0), want{action: SetServerAddr, color: spec.Blue, target: "web_blue/app addr 172.17.0.5:8080"})

	w.edit(spec.Blue, func(st *ColorState) { st.Server.Status, st.DrainingSince = "UP", time.Time{} })
	w.o.Verification = w.o.Verification.end(OutcomeRolledBack, "40 of 100 requests were 5xx", t0)
	checkDecision(t, Plan(s, w.o, t0), want{action: SetServerAddr, color: spec.Blue, target: "web_blue/app addr 172.17.0.5:8080"})
	w.edit(spec.Blue, at("172.17.0.5:8080"))
	checkDecision(t, Plan(s, w.o, t0), want{action: SwitchMap, color: spec.Blue, target: "web -> web_blue"})
}
