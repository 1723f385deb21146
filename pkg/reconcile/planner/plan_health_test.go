package planner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// checkFailed: HAProxy's last check of the server reached the app and got
// code (L7STS), so the server is DOWN.
func checkFailed(code, desc string) func(*planner.ReplicaState) {
	return func(st *planner.ReplicaState) {
		st.Server.Status, st.Server.CheckStatus, st.Server.CheckPassed = "DOWN", "L7STS", false
		st.Server.CheckCode, st.Server.CheckDesc = code, desc
		st.OutOfServiceSince = plantest.T0.Add(-time.Minute)
	}
}

// markedUp: the controller set this very run UP once already.
func markedUp(st *planner.ReplicaState) { st.MarkedUp = st.Container.Run() }

// probeFails: the controller's probe of the color's address fails, and has
// since d before T0 while HAProxy says DOWN.
func probeFails(d time.Duration) func(*planner.ReplicaState) {
	return func(st *planner.ReplicaState) {
		st.Probes, st.ProbeError = 0, "probe http://"+st.ProbedAddr+"/healthz: answered 503 Service Unavailable"
		st.UnhealthySince = plantest.T0.Add(-d)
	}
}

// warm: the color runs, drained and kept warm, its checks and probes pass.
func warm(st *planner.ReplicaState) {
	st.Server.Status, st.Server.AdminDrain = "DRAIN", true
	st.OutOfServiceSince = plantest.T0.Add(-time.Hour)
}

// TestPlanServedColorHealth: the controller never overrides a check HAProxy
// made and failed, calls a served color that HAProxy says is DOWN an
// outage (never Converged), explains a check that disagrees with its
// probe, and heals a served color that fails both.
func TestPlanServedColorHealth(t *testing.T) {
	v1Blue := func(extra ...string) *spec.Service { return plantest.Service(t, spec.Blue, "demo:v1", extra...) }
	v2Green := func() *spec.Service { return plantest.Service(t, spec.Green, "demo:v2") }
	served := func(s *spec.Service) *plantest.World {
		return plantest.NewWorld(s, plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue)
	}
	tests := []struct {
		name  string
		world func() *plantest.World
		want  plantest.Want
		// says lists parts of the message; sayNot parts it must not hold.
		says, sayNot []string
	}{
		// Marking UP gets ahead of HAProxy's first checks of a run, once.
		{"served color back from a crash, probes pass: marked UP", func() *plantest.World {
			return served(v1Blue()).Edit(spec.Blue, plantest.StartedAgo(time.Second, "DOWN", 2))
		}, plantest.Want{Action: planner.MarkServerUp, Color: spec.Blue, Target: "web_blue/app"}, nil, nil},
		{"a run marked UP before is not marked again: HAProxy's failed check stands", func() *plantest.World {
			return served(v1Blue()).Edit(spec.Blue, checkFailed("404", "Not Found")).Edit(spec.Blue, markedUp)
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown},
			[]string{"web_blue/app is DOWN", "L7STS, HTTP 404", "probe of http://127.0.0.1:18081/healthz passed", "probably uses another path",
				"option httpchk GET /healthz", "http-check expect status 200"},
			[]string{"restarted at"}},
		{"a new run of the same container may be marked UP once", func() *plantest.World {
			return served(v1Blue()).Edit(spec.Blue, markedUp).Edit(spec.Blue, plantest.StartedAgo(time.Second, "DOWN", 2))
		}, plantest.Want{Action: planner.MarkServerUp, Color: spec.Blue, Target: "web_blue/app"}, nil, nil},
		{"a new color marked UP once and taken DOWN by HAProxy waits for HAProxy", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(5*time.Second, "DOWN", 2)).Edit(spec.Green, checkFailed("404", "Not Found")).Edit(spec.Green, markedUp)
		}, plantest.Want{Phase: planner.Progressing, Reason: "WaitingForReady"}, []string{"L7STS, HTTP 404"}, nil},
		{"a new color's check that disagrees with the probe fails the release with the likely cause", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(61*time.Second, "DOWN", 2)).Edit(spec.Green, checkFailed("404", "Not Found")).Edit(spec.Green, markedUp)
		}, plantest.Want{Phase: planner.Failed, Reason: "ReadyTimeout"}, []string{"probably uses another path", "option httpchk GET /healthz"}, nil},

		// A served color that HAProxy says is DOWN is an outage.
		{"haproxy.cfg at hand: the difference is named exactly", func() *plantest.World {
			return served(v1Blue()).Edit(spec.Blue, checkFailed("404", "Not Found")).Edit(spec.Blue, markedUp).
				Edit(spec.Blue, func(st *planner.ReplicaState) {
					st.CheckConfig = &planner.CheckConfig{Where: "/etc/haproxy/haproxy.cfg:38", Mismatch: "checks GET /status, not spec.healthPath /healthz"}
				})
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown},
			[]string{"backend web_blue (/etc/haproxy/haproxy.cfg:38) checks GET /status, not spec.healthPath /healthz"}, []string{"probably"}},
		{"served DOWN while a release prepares the other color: Degraded, and the release goes on", func() *plantest.World {
			return plantest.NewWorld(v2Green(), plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2).
				Edit(spec.Green, plantest.StartedAgo(time.Second, "DOWN", 0)).
				Edit(spec.Blue, checkFailed("503", "Service Unavailable")).Edit(spec.Blue, probeFails(time.Second))
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown}, []string{"meanwhile: waiting for green to become ready"}, nil},
		{"served DOWN, probe failing for less than restartAfter: says when it is restarted", func() *plantest.World {
			return served(v1Blue()).Edit(spec.Blue, checkFailed("503", "Service Unavailable")).Edit(spec.Blue, probeFails(10*time.Second))
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown},
			[]string{"failed too", "503 Service Unavailable", "restarted at 2026-11-25T12:00:50Z unless it recovers"}, []string{"probably"}},

		// Healing.
		{"served DOWN, probe failing for restartAfter: restarted", func() *plantest.World {
			return served(v1Blue()).Edit(spec.Blue, checkFailed("503", "Service Unavailable")).Edit(spec.Blue, probeFails(61*time.Second))
		}, plantest.Want{Action: planner.RestartContainer, Color: spec.Blue, Target: "bg-web-blue"}, nil, nil},
		{"restartAfter of the spec", func() *plantest.World {
			return served(v1Blue("  health: {restartAfter: 10s}")).Edit(spec.Blue, checkFailed("503", "Service Unavailable")).Edit(spec.Blue, probeFails(11*time.Second))
		}, plantest.Want{Action: planner.RestartContainer, Color: spec.Blue, Target: "bg-web-blue"}, nil, nil},
		{"restartAfter 0s: never restarted, and says so", func() *plantest.World {
			return served(v1Blue("  health: {restartAfter: 0s}")).Edit(spec.Blue, checkFailed("503", "Service Unavailable")).Edit(spec.Blue, probeFails(time.Hour))
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown}, []string{"not restarted (spec.health.restartAfter: 0s)"}, nil},
		{"HAProxy DOWN but the probe passes: never restarted, whatever how long", func() *plantest.World {
			return served(v1Blue()).Edit(spec.Blue, checkFailed("404", "Not Found")).Edit(spec.Blue, markedUp).
				Edit(spec.Blue, func(st *planner.ReplicaState) { st.UnhealthySince = plantest.T0.Add(-time.Hour) })
		}, plantest.Want{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown}, []string{"restarting the app would not help"}, nil},
		{"previous color warm and healthy: traffic goes back to it first", func() *plantest.World {
			return served(v1Blue()).Running(spec.Green, plantest.ImageV2).Edit(spec.Green, warm).
				Edit(spec.Blue, checkFailed("503", "Service Unavailable")).Edit(spec.Blue, probeFails(time.Second))
		}, plantest.Want{Action: planner.SetServerReady, Color: spec.Green, Target: "web_green/app"}, nil, nil},
		{"previous color warm but failing its checks: the served color is restarted instead", func() *plantest.World {
			return served(v1Blue()).Running(spec.Green, plantest.ImageV2).Edit(spec.Green, warm).
				Edit(spec.Green, func(st *planner.ReplicaState) { st.Server.CheckPassed, st.Server.Status = false, "DOWN" }).
				Edit(spec.Blue, checkFailed("503", "Service Unavailable")).Edit(spec.Blue, probeFails(61*time.Second))
		}, plantest.Want{Action: planner.RestartContainer, Color: spec.Blue, Target: "bg-web-blue"}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world()
			d := planner.Plan(w.S, w.O, plantest.T0)
			plantest.Expect(t, d, tc.want)
			for _, part := range tc.says {
				if !strings.Contains(d.Message, part) {
					t.Errorf("message %q does not say %q", d.Message, part)
				}
			}
			for _, part := range tc.sayNot {
				if strings.Contains(d.Message, part) {
					t.Errorf("message %q says %q", d.Message, part)
				}
			}
		})
	}
}

// TestPlanHealsByRollingBack: a served color that turns unhealthy while the
// previous one is warm goes back to it as a rollback with its reason,
// recorded so that the same spec is not tried again until it changes.
func TestPlanHealsByRollingBack(t *testing.T) {
	s := plantest.Service(t, spec.Blue, "demo:v1")
	w := plantest.NewWorld(s, plantest.ImageV1).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).
		Running(spec.Green, plantest.ImageV2).
		Edit(spec.Blue, checkFailed("503", "Service Unavailable")).Edit(spec.Blue, probeFails(time.Second))
	d := planner.Plan(w.S, w.O, plantest.T0)
	plantest.Expect(t, d, plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"})
	r := d.Record
	if r == nil || r.Outcome != planner.OutcomeRolledBack || r.From != spec.Green || r.To != spec.Blue || r.FromContainer != "c-green" || r.Generation != s.Generation() {
		t.Fatalf("record %+v: want a RolledBack record of this generation from blue back to c-green", r)
	}
	if !strings.HasPrefix(r.Reason, string(planner.ReasonServedColorDown)+": ") || !strings.Contains(r.Reason, "green, still warm and healthy") {
		t.Errorf("reason %q does not say why", r.Reason)
	}

	// Once traffic is back, the failed color is drained and stopped, and
	// the rollback stands.
	w.O.Verification = r
	w.Serving(spec.Green)
	d = planner.Plan(w.S, w.O, plantest.T0.Add(time.Second))
	plantest.Expect(t, d, plantest.Want{Action: planner.DrainServer, Color: spec.Blue, Target: "web_blue/app"})
	w.Edit(spec.Blue, func(st *planner.ReplicaState) {
		st.Container.Running, st.Container.State, st.Server.AdminDrain = false, "exited", true
		st.Container.StoppedByController = true
	})
	d = planner.Plan(w.S, w.O, plantest.T0.Add(2*time.Second))
	if d.Step != nil && d.Step.Action == planner.SetServerAddr {
		w.Edit(spec.Blue, func(st *planner.ReplicaState) { st.Server.Addr = planner.FallbackAddr(s.Replica(spec.Blue, 0)) })
		d = planner.Plan(w.S, w.O, plantest.T0.Add(2*time.Second))
	}
	plantest.Expect(t, d, plantest.Want{Phase: planner.Failed, Reason: "RolledBack"})
	if !strings.Contains(d.Message, "ServedColorDown") {
		t.Errorf("message %q does not give the rollback's reason", d.Message)
	}

	// The color traffic went back to is healed in its turn: with nowhere
	// to go, it is restarted once unhealthy for restartAfter.
	w.Edit(spec.Green, checkFailed("503", "Service Unavailable")).Edit(spec.Green, probeFails(2*time.Minute))
	d = planner.Plan(w.S, w.O, plantest.T0.Add(3*time.Second))
	plantest.Expect(t, d, plantest.Want{Action: planner.RestartContainer, Color: spec.Green, Target: "bg-web-green"})
}
