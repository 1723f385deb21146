package reconcile

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// verifiedService: green/v2 with a 30 s window, 5 % of at least 20 requests.
func verifiedService(t *testing.T) *spec.Service {
	return testService(t, spec.Green, "demo:v2", "  verify: {window: 30s, maxErrorRate: 0.05, minRequests: 20}")
}

// switched: green/v2 serves since switchedAgo, blue/v1 is drained and warm,
// and the verification window opened then with green's counters at base.
func switched(s *spec.Service, switchedAgo time.Duration, base Counters) *world {
	w := newWorld(s, idV2).running(spec.Blue, idV1).running(spec.Green, idV2).serving(spec.Green).
		edit(spec.Blue, draining(0, switchedAgo))
	w.edit(spec.Green, func(st *ColorState) { st.Backend = base })
	w.o.Verification = &Verification{Generation: s.Generation(), From: spec.Blue, To: spec.Green, ToImage: s.Image,
		FromContainer: "c-blue", SwitchedAt: t0.Add(-switchedAgo), Baseline: base, Seen: base}
	return w
}

func traffic(c Counters) func(*ColorState) { return func(st *ColorState) { st.Backend = c } }

func TestPlanVerification(t *testing.T) {
	base := Counters{Responses: 1000, Status5xx: 3}
	tests := []struct {
		name    string
		world   func(s *spec.Service) *world
		want    want
		outcome string // of the record the decision carries ("-": none)
		message string
	}{
		{"the switch opens the window, blue is the way back", func(s *spec.Service) *world {
			return newWorld(s, idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2)
		}, want{action: SwitchMap, color: spec.Green, target: "web -> web_green"}, "", ""},
		{"during the window blue is drained first", func(s *spec.Service) *world {
			w := switched(s, time.Second, base)
			w.edit(spec.Blue, func(st *ColorState) { st.Server.Status, st.DrainingSince = "UP", time.Time{} })
			return w
		}, want{action: DrainServer, color: spec.Blue, target: "web_blue/app"}, "", ""},
		{"during the window blue is drained but kept running", func(s *spec.Service) *world {
			return switched(s, 10*time.Second, base).edit(spec.Green, traffic(Counters{Responses: 1500, Status5xx: 5}))
		}, want{phase: Progressing, reason: "Verifying"}, "", "500 responses, 2 of them 5xx"},
		{"few requests, all 5xx: not judged by the rate yet", func(s *spec.Service) *world {
			return switched(s, 10*time.Second, base).edit(spec.Green, traffic(Counters{Responses: 1010, Status5xx: 13}))
		}, want{phase: Progressing, reason: "Verifying"}, "", ""},
		{"the window passed: succeeded, blue settles", func(s *spec.Service) *world {
			return switched(s, 31*time.Second, base).edit(spec.Green, traffic(Counters{Responses: 9000, Status5xx: 40}))
		}, want{action: StopContainer, color: spec.Blue, target: "bg-web-blue"}, OutcomeSucceeded, ""},
		{"5xx over the threshold: rolled back to warm blue", func(s *spec.Service) *world {
			return switched(s, 5*time.Second, base).edit(spec.Green, traffic(Counters{Responses: 1100, Status5xx: 23}))
		}, want{action: SetServerReady, color: spec.Blue, target: "web_blue/app"}, OutcomeRolledBack, "20 of 100 requests were 5xx"},
		{"requests without a response count as failed", func(s *spec.Service) *world {
			return switched(s, 5*time.Second, base).edit(spec.Green, traffic(Counters{Responses: 1050, Status5xx: 3, Failed: 50}))
		}, want{action: SetServerReady, color: spec.Blue, target: "web_blue/app"}, OutcomeRolledBack, "50 of 100 requests"},
		{"green went DOWN: rolled back", func(s *spec.Service) *world {
			return switched(s, 5*time.Second, base).edit(spec.Green, func(st *ColorState) { st.Server.Status, st.Server.CheckStatus = "DOWN", "L7STS" })
		}, want{action: SetServerReady, color: spec.Blue, target: "web_blue/app"}, OutcomeRolledBack, "HAProxy says green is DOWN"},
		{"green's container died: rolled back, not restarted", func(s *spec.Service) *world {
			return switched(s, 5*time.Second, base).edit(spec.Green, exited(2)).edit(spec.Green, restarting(1))
		}, want{action: SetServerReady, color: spec.Blue, target: "web_blue/app"}, OutcomeRolledBack, "exited with code 2"},
		{"HAProxy reloaded: counters start again, the count goes on", func(s *spec.Service) *world {
			w := switched(s, 5*time.Second, base)
			w.o.Verification.Seen = Counters{Responses: 1090, Status5xx: 3} // 90 before the reload
			return w.edit(spec.Green, traffic(Counters{Responses: 10}))
		}, want{phase: Progressing, reason: "Verifying"}, "", "100 responses, 0 of them 5xx"},
		{"HAProxy reloaded: 5xx after the reload still roll back", func(s *spec.Service) *world {
			w := switched(s, 5*time.Second, base)
			w.o.Verification.Seen = Counters{Responses: 1090, Status5xx: 3}
			return w.edit(spec.Green, traffic(Counters{Responses: 30, Status5xx: 30}))
		}, want{action: SetServerReady, color: spec.Blue, target: "web_blue/app"}, OutcomeRolledBack, "30 of 120 requests"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := verifiedService(t)
			w := tc.world(s)
			d := Plan(w.s, w.o, t0)
			checkDecision(t, d, tc.want)
			switch {
			case d.Record == nil && tc.want.action == SwitchMap:
				t.Fatalf("the switch carries no verification")
			case d.Record != nil && d.Record.Outcome != tc.outcome:
				t.Fatalf("record outcome %q, want %q", d.Record.Outcome, tc.outcome)
			case d.Record == nil && tc.outcome != "":
				t.Fatalf("no record, want outcome %q", tc.outcome)
			}
			if tc.want.action == SwitchMap && (d.Record.From != spec.Blue || d.Record.FromContainer != "c-blue" || !d.Record.SwitchedAt.Equal(t0)) {
				t.Fatalf("record %+v", d.Record)
			}
			text := d.Message
			if d.Record != nil {
				text += " | " + d.Record.Reason
			}
			if !strings.Contains(text, tc.message) {
				t.Fatalf("%q does not say %q", text, tc.message)
			}
		})
	}
}

// TestPlanRollback: after a failed verification, traffic goes back to the
// very container that served before; the failed color is drained and
// stopped; the same spec is not tried again.
func TestPlanRollback(t *testing.T) {
	rolledBack := func(s *spec.Service, served spec.Color) *world {
		w := switched(s, 5*time.Second, Counters{})
		if served == spec.Blue {
			w.serving(spec.Blue)
		}
		w.o.Verification = w.o.Verification.end(OutcomeRolledBack, "40 of 100 requests were 5xx", t0)
		return w
	}
	tests := []struct {
		name  string
		world func(s *spec.Service) *world
		want  want
	}{
		{"blue ready: switch back", func(s *spec.Service) *world {
			return rolledBack(s, spec.Green).edit(spec.Blue, func(st *ColorState) { st.Server.Status, st.DrainingSince = "UP", time.Time{} })
		}, want{action: SwitchMap, color: spec.Blue, target: "web -> web_blue"}},
		{"blue probed, HAProxy behind: mark it UP", func(s *spec.Service) *world {
			return rolledBack(s, spec.Green).edit(spec.Blue, func(st *ColorState) { st.Server.Status, st.DrainingSince = "DOWN", time.Time{} })
		}, want{action: MarkServerUp, color: spec.Blue, target: "web_blue/app"}},
		{"blue died while warm: start it", func(s *spec.Service) *world {
			return rolledBack(s, spec.Green).edit(spec.Blue, exited(2))
		}, want{action: StartContainer, color: spec.Blue, target: "bg-web-blue"}},
		{"back on blue: drain green", func(s *spec.Service) *world {
			return rolledBack(s, spec.Blue).edit(spec.Green, func(st *ColorState) { st.Server.Status = "UP" })
		}, want{action: DrainServer, color: spec.Green, target: "web_green/app"}},
		{"green drained: it loses its restart policy", func(s *spec.Service) *world {
			return rolledBack(s, spec.Blue).edit(spec.Green, draining(0, time.Second)).
				edit(spec.Green, func(st *ColorState) { st.Container.RestartPolicy = "unless-stopped" })
		}, want{action: SetRestartPolicy, color: spec.Green, target: "bg-web-green"}},
		{"green drained: stopped", func(s *spec.Service) *world {
			return rolledBack(s, spec.Blue).edit(spec.Green, draining(0, time.Second)).
				edit(spec.Green, func(st *ColorState) { st.Container.RestartPolicy = "no" })
		}, want{action: StopContainer, color: spec.Green, target: "bg-web-green"}},
		{"all done: Failed, RolledBack, nothing retried", func(s *spec.Service) *world {
			return rolledBack(s, spec.Blue).edit(spec.Green, exited(2)).edit(spec.Green, stoppedByUs)
		}, want{phase: Failed, reason: "RolledBack"}},
		{"blue's container was replaced: no way back", func(s *spec.Service) *world {
			return rolledBack(s, spec.Green).edit(spec.Blue, func(st *ColorState) { st.Container.ID = "c-other" })
		}, want{phase: Failed, reason: "RollbackImpossible"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := verifiedService(t)
			w := tc.world(s)
			checkDecision(t, Plan(w.s, w.o, t0), tc.want)
		})
	}
	// A changed spec is a new attempt: the rollback no longer holds it back.
	s := testService(t, spec.Green, "demo:v2", "  verify: {window: 30s}", "  retry: again")
	w := rolledBack(verifiedService(t), spec.Blue)
	w.s = s
	w.edit(spec.Green, func(st *ColorState) { st.Server.Status = "UP" })
	if d := Plan(s, w.o, t0); d.Step == nil || d.Step.Action != SwitchMap || d.Step.Color != spec.Green {
		t.Fatalf("a new retry: got %s, want the switch to green", d)
	}
}

func TestPlanVerificationSuperseded(t *testing.T) {
	s := verifiedService(t)
	w := switched(s, 5*time.Second, Counters{})
	back := testService(t, spec.Blue, "demo:v1", "  verify: {window: 30s}")
	w.s = back
	d := Plan(back, w.o, t0)
	if d.Record == nil || d.Record.Outcome != OutcomeSuperseded {
		t.Fatalf("record %+v, want Superseded", d.Record)
	}
}

func checkDecision(t *testing.T, d Decision, w want) {
	t.Helper()
	if w.action != "" {
		if d.Step == nil {
			t.Fatalf("got %s, want step %s %s", d, w.action, w.target)
		}
		got := want{action: d.Step.Action, color: d.Step.Color, target: d.Step.Target}
		exp := want{action: w.action, color: w.color, target: w.target}
		if got != exp {
			t.Fatalf("got step %+v (%s), want %+v", got, d, exp)
		}
		return
	}
	if d.Step != nil || d.Phase != w.phase || d.Reason != w.reason {
		t.Fatalf("got %s, want %s (%s)", d, w.phase, w.reason)
	}
}

// TestPlanManualPromotion: with promotion Manual, a ready new color waits
// for an approval from the file or from controller promote.
func TestPlanManualPromotion(t *testing.T) {
	s := testService(t, spec.Green, "demo:v2", "  promotion: {mode: Manual}")
	ready := func() *world {
		return newWorld(s, idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2)
	}
	d := Plan(s, ready().o, t0)
	checkDecision(t, d, want{phase: Progressing, reason: "WaitingForPromotion"})
	if !strings.Contains(d.Message, "controller promote web") || !strings.Contains(d.Message, s.Generation()) || d.RequeueAfter != PromotionPoll {
		t.Fatalf("waiting message %q, requeue %s", d.Message, d.RequeueAfter)
	}
	// Before it is ready, it is prepared as usual.
	notYet := newWorld(s, idV2).running(spec.Blue, idV1).serving(spec.Blue)
	checkDecision(t, Plan(s, notYet.o, t0), want{action: CreateContainer, color: spec.Green, target: "bg-web-green"})
	// Approved at the host for this generation.
	w := ready()
	w.o.Approved = s.Generation()
	checkDecision(t, Plan(s, w.o, t0), want{action: SwitchMap, color: spec.Green, target: "web -> web_green"})
	// An approval of another generation does not count.
	w.o.Approved = "0123456789ab"
	checkDecision(t, Plan(s, w.o, t0), want{phase: Progressing, reason: "WaitingForPromotion"})
	// Approved in the file: the approval is not part of the generation.
	approved := testService(t, spec.Green, "demo:v2", "  promotion: {mode: Manual, approved: \""+s.Generation()+"\"}")
	if approved.Generation() != s.Generation() {
		t.Fatalf("approving changed the generation: %s, was %s", approved.Generation(), s.Generation())
	}
	checkDecision(t, Plan(approved, ready().o, t0), want{action: SwitchMap, color: spec.Green, target: "web -> web_green"})
}
