package planner_test

import (
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// onBridge: the color's container runs at ip on the bridge, and Observe
// probed it there (the probes counted are the world's).
func onBridge(ip string) func(*planner.ReplicaState) {
	return func(st *planner.ReplicaState) {
		st.Container.IP = ip
		st.ProbedAddr = ip + ":8080"
	}
}

// at: HAProxy sends the color's traffic to addr.
func at(addr string) func(*planner.ReplicaState) {
	return func(st *planner.ReplicaState) { st.Server.Addr = addr }
}

// TestPlanServerAddress: HAProxy reaches a container on the bridge at its
// own address (the direct path), the published port being the fallback
// that haproxy.cfg and a reload put back. The map is switched only to a
// color whose server HAProxy sends to the very address that was probed.
func TestPlanServerAddress(t *testing.T) {
	v2Green := func() *spec.Service { return plantest.Service(t, spec.Green, "demo:v2") }
	v1Blue := func() *spec.Service { return plantest.Service(t, spec.Blue, "demo:v1") }
	released := func() *plantest.World { // blue serves v1; green/v2 runs at 172.17.0.9
		return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Edit(spec.Blue, onBridge("172.17.0.5")).
			Edit(spec.Blue, at("172.17.0.5:8080")).Serving(spec.Blue).
			Running(spec.Green, plantest.ImageV2).Edit(spec.Green, onBridge("172.17.0.9"))
	}
	tests := []struct {
		name  string
		world func() *plantest.World
		want  plantest.Want
	}{
		{"new color at its published port: point HAProxy at its bridge address first", func() *plantest.World {
			return released()
		}, plantest.Want{Action: planner.SetServerAddr, Color: spec.Green, Target: "web_green/app addr 172.17.0.9:8080"}},
		{"new color at its bridge address, UP, probed there: switch", func() *plantest.World {
			return released().Edit(spec.Green, at("172.17.0.9:8080"))
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"}},
		{"new color recreated: HAProxy UP at the old container's address is not enough", func() *plantest.World {
			return released().Edit(spec.Green, at("172.17.0.4:8080"))
		}, plantest.Want{Action: planner.SetServerAddr, Color: spec.Green, Target: "web_green/app addr 172.17.0.9:8080"}},
		{"new color ready at its bridge address, its published port not yet: no switch", func() *plantest.World {
			return released().Edit(spec.Green, at("172.17.0.9:8080")).Edit(spec.Green, plantest.StartedAgo(time.Second, "UP", 2)).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.FallbackOK, st.FallbackError = false, "connection refused" })
		}, plantest.Want{Phase: planner.Progressing, Reason: "WaitingForReady"}},
		{"served color at its bridge address, its published port not yet: not converged", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Edit(spec.Blue, onBridge("172.17.0.5")).
				Edit(spec.Blue, at("172.17.0.5:8080")).Serving(spec.Blue).
				Edit(spec.Blue, func(st *planner.ReplicaState) { st.FallbackOK, st.FallbackError = false, "connection refused" }).Disabled(spec.Green)
		}, plantest.Want{Phase: planner.Progressing, Reason: "WaitingForFallback"}},
		{"new color at its bridge address, DOWN, probed there: mark it UP", func() *plantest.World {
			return released().Edit(spec.Green, at("172.17.0.9:8080")).Edit(spec.Green, plantest.StartedAgo(time.Second, "DOWN", 2))
		}, plantest.Want{Action: planner.MarkServerUp, Color: spec.Green, Target: "web_green/app"}},
		{"new color at the old address, DOWN: no MarkServerUp there", func() *plantest.World {
			return released().Edit(spec.Green, at("172.17.0.4:8080")).Edit(spec.Green, plantest.StartedAgo(time.Second, "DOWN", 2))
		}, plantest.Want{Action: planner.SetServerAddr, Color: spec.Green, Target: "web_green/app addr 172.17.0.9:8080"}},
		{"served color on the fallback after a reload, probed at its own address: point HAProxy there", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Edit(spec.Blue, onBridge("172.17.0.5")).Serving(spec.Blue)
		}, plantest.Want{Action: planner.SetServerAddr, Color: spec.Blue, Target: "web_blue/app addr 172.17.0.5:8080"}},
		{"served color on the fallback, its own address does not answer: stays there", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Edit(spec.Blue, onBridge("172.17.0.5")).Serving(spec.Blue).
				Edit(spec.Blue, func(st *planner.ReplicaState) { st.Probes, st.ProbeError = 0, "connection refused" }).Disabled(spec.Green)
		}, plantest.Want{Phase: planner.Converged, Reason: "Converged"}},
		{"served color died: HAProxy goes back to its published port, then it is started", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Edit(spec.Blue, at("172.17.0.5:8080")).Serving(spec.Blue).
				Edit(spec.Blue, plantest.Exited(2))
		}, plantest.Want{Action: planner.SetServerAddr, Color: spec.Blue, Target: "web_blue/app addr 127.0.0.1:18081"}},
		{"served color died, HAProxy at its published port: started", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Edit(spec.Blue, plantest.Exited(2))
		}, plantest.Want{Action: planner.StartContainer, Color: spec.Blue, Target: "bg-web-blue"}},
		{"stopped color at its old bridge address: back to its published port", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Edit(spec.Blue, onBridge("172.17.0.5")).
				Edit(spec.Blue, at("172.17.0.5:8080")).Serving(spec.Blue).
				Running(spec.Green, plantest.ImageV1).Edit(spec.Green, plantest.Exited(2)).Edit(spec.Green, stoppedByUs).Edit(spec.Green, at("172.17.0.9:8080"))
		}, plantest.Want{Action: planner.SetServerAddr, Color: spec.Green, Target: "web_green/app addr 127.0.0.1:18082"}},
		{"stopped color drained at its published port: in maintenance, HAProxy stops checking it", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Running(spec.Green, plantest.ImageV1).Edit(spec.Green, plantest.Exited(2)).Edit(spec.Green, stoppedByUs).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.Status, st.Server.AdminDrain = "DOWN", true })
		}, plantest.Want{Action: planner.DisableServer, Color: spec.Green, Target: "web_green/app"}},
		{"stopped color in maintenance: nothing to do", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Running(spec.Green, plantest.ImageV1).Edit(spec.Green, plantest.Exited(2)).Edit(spec.Green, stoppedByUs).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.Status, st.Server.AdminMaint = "MAINT", true })
		}, plantest.Want{Phase: planner.Converged, Reason: "Converged"}},
		{"stopped color put back in service by an HAProxy reload: left to its checks", func() *plantest.World {
			return plantest.NewWorld(v1Blue(), plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
				Running(spec.Green, plantest.ImageV1).Edit(spec.Green, plantest.Exited(2)).Edit(spec.Green, stoppedByUs).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.Status = "DOWN" })
		}, plantest.Want{Phase: planner.Converged, Reason: "Converged"}},
		{"maintenance of a stopped color: a release takes it out, DOWN, once it runs", func() *plantest.World {
			return released().Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.Status, st.Server.AdminMaint = "MAINT", true })
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Green, Target: "web_green/app health down"}},
		{"host networking: the published port is the only address", func() *plantest.World {
			s := plantest.Service(t, spec.Green, "demo:v2", "  network: host")
			return plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2)
		}, plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world()
			plantest.Expect(t, planner.Plan(w.S, w.O, plantest.T0), tc.want)
		})
	}
}

// TestPlanServerAddressAroundVerification: the previous color, kept warm
// while the release is verified, is pointed back at its own address after
// a reload, and a rollback does not switch to it before.
func TestPlanServerAddressAroundVerification(t *testing.T) {
	s := plantest.Service(t, spec.Green, "demo:v2", "  verify: {window: 30s}")
	w := switched(s, 5*time.Second, planner.Counters{}).Edit(spec.Blue, onBridge("172.17.0.5")).
		Edit(spec.Green, onBridge("172.17.0.9")).Edit(spec.Green, at("172.17.0.9:8080"))
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Action: planner.SetServerAddr, Color: spec.Blue, Target: "web_blue/app addr 172.17.0.5:8080"})

	w.Edit(spec.Blue, func(st *planner.ReplicaState) { st.Server.Status, st.OutOfServiceSince = "UP", time.Time{} })
	w.O.Verification = ended(w.O.Verification, planner.OutcomeRolledBack, "40 of 100 requests were 5xx")
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Action: planner.SetServerAddr, Color: spec.Blue, Target: "web_blue/app addr 172.17.0.5:8080"})
	w.Edit(spec.Blue, at("172.17.0.5:8080"))
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Action: planner.SwitchMap, Color: spec.Blue, Target: "web -> web_blue"})
}

// TestMarkUpNeedsARunningContainerProbedWhereItAnswers: probes count only
// for a container that runs, taken at the address it answers on now; the
// served color coming back from a crash is not marked UP on stale ones.
func TestMarkUpNeedsARunningContainerProbedWhereItAnswers(t *testing.T) {
	s := plantest.Service(t, spec.Blue, "demo:v1")
	back := func() *plantest.World { // blue serves, came back on its bridge address, HAProxy still says DOWN
		return plantest.NewWorld(s, plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Edit(spec.Blue, onBridge("172.17.0.5")).
			Edit(spec.Blue, at("172.17.0.5:8080")).Serving(spec.Blue).Edit(spec.Blue, plantest.StartedAgo(time.Second, "DOWN", 2))
	}
	plantest.Expect(t, planner.Plan(s, back().O, plantest.T0), plantest.Want{Action: planner.MarkServerUp, Color: spec.Blue, Target: "web_blue/app"})

	for name, edit := range map[string]func(*planner.ReplicaState){
		"restarting, not running": func(st *planner.ReplicaState) {
			st.Container.Running, st.Container.Restarting, st.Container.State = false, true, "restarting"
		},
		"probed at an address it no longer answers on": func(st *planner.ReplicaState) {
			st.Container.IP = "172.17.0.6" // restarted with a new address; HAProxy and the probes at the old one
		},
	} {
		d := planner.Plan(s, back().Edit(spec.Blue, edit).O, plantest.T0)
		if d.Step != nil && d.Step.Action == planner.MarkServerUp {
			t.Errorf("%s: got %s, want no MarkServerUp", name, d)
		}
	}
}
