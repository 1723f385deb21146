package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestManualPromotionPreviewAndChecks: with promotion Manual, a release
// whose pre-switch checks pass stops with green ready and reachable through
// the real frontend on the preview key, while blue keeps all other traffic;
// --once exits 4 while it waits. controller promote lets it switch; the
// next release is approved from the file. A release whose check fails never
// gets traffic.
func TestManualPromotionPreviewAndChecks(t *testing.T) {
	e := newEnv(t)
	gate := func(extra ...string) []string {
		return append([]string{
			"  promotion: {mode: Manual}",
			"  preview: {mapKey: preview." + e.svc + "}",
		}, extra...)
	}
	checks := func(body string) string {
		return fmt.Sprintf("  checks: [{path: /, bodyContains: %q, count: 3, interval: 50ms}, {path: /healthz}]", body)
	}
	e.save(spec.Blue, "v1", gate(checks("v1"))...)
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	l := e.startLoad(10, 2)
	waitSent(t, l, 500)

	// Release green v2: checks pass, then it waits for the promotion.
	e.save(spec.Green, "v2", gate(checks("green v2"))...)
	s := e.waitPhase(2*time.Minute, planner.Progressing, "WaitingForPromotion")
	if !strings.Contains(readyMessage(s), "controller promote "+e.svc) {
		t.Fatalf("waiting message: %q", readyMessage(s))
	}
	if got, err := e.getWith("/", "X-Preview", "1"); err != nil || got != "green v2" {
		t.Fatalf("through the preview key: %q (%v), want \"green v2\"", got, err)
	}
	if got, err := e.get("/"); err != nil || got != "blue v1" {
		t.Fatalf("without the preview header: %q (%v), want \"blue v1\"", got, err)
	}
	ctl.stop()
	if code, out := e.once("--timeout", "30s"); code != 4 || !strings.Contains(out, "waiting for promotion") {
		t.Fatalf("--once while waiting: exit %d, want 4:\n%s", code, out)
	}
	out, err := e.command("promote", e.svc).CombinedOutput()
	if err != nil {
		t.Fatalf("controller promote: %v\n%s", err, out)
	}
	ctl = e.start()
	e.waitConverged(time.Minute)
	if got, err := e.get("/"); err != nil || got != "green v2" {
		t.Fatalf("after controller promote: %q (%v)", got, err)
	}

	// Release blue v3, approved in the file (as from git).
	e.save(spec.Blue, "v3", gate(checks("blue v3"))...)
	s = e.waitPhase(2*time.Minute, planner.Progressing, "WaitingForPromotion")
	e.save(spec.Blue, "v3", gate(checks("blue v3"), fmt.Sprintf("  promotion: {mode: Manual, approved: %q}", s.ObservedGeneration))[1:]...)
	e.waitConverged(time.Minute)
	if got, err := e.get("/"); err != nil || got != "blue v3" {
		t.Fatalf("after the approval in the file: %q (%v)", got, err)
	}

	// Release green v4 whose check cannot pass: it never gets traffic.
	e.save(spec.Green, "v4", gate(checks("no such body"))...)
	s = e.waitPhase(2*time.Minute, planner.Failed, "CheckFailed")
	if msg := readyMessage(s); !strings.Contains(msg, "no such body") || !strings.Contains(msg, "green v4") {
		t.Fatalf("CheckFailed message lacks the failing answer: %q", msg)
	}
	sent, failed, _, fails := l.stop()
	t.Logf("%d requests, %d failed across two releases and a failed check", sent, failed)
	if failed != 0 {
		t.Fatalf("%d requests failed: %+v", failed, fails[:min(3, len(fails))])
	}
	if v, _ := e.maps(); v != e.svc+"_blue" {
		t.Fatalf("the map moved to %s after a failed check", v)
	}
	testenv.WaitFor(t, 10*time.Second, "history records the failed check", func() bool {
		rs := e.history()
		return len(rs) > 0 && rs[len(rs)-1].Outcome == planner.OutcomeFailed && strings.Contains(rs[len(rs)-1].Reason, "CheckFailed")
	})
	ctl.stop()
}
