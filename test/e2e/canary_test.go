package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// versions sends n requests through the frontend with client, one at a
// time, and counts the answers by body ("blue v1", "green v2"); a failed
// request counts under its error.
func (e *env) versions(client *http.Client, n int) map[string]int {
	e.t.Helper()
	got := map[string]int{}
	url := fmt.Sprintf("http://127.0.0.1:%d/", e.front)
	for range n {
		resp, err := client.Get(url)
		if err != nil {
			got["error: "+err.Error()]++
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			got[resp.Status]++
			continue
		}
		got[strings.TrimSpace(string(b))]++
	}
	return got
}

// canarySpec is the strategy line of a canary with the given steps.
func canarySpec(steps string) string {
	return "  strategy: {type: Canary, steps: [" + steps + "]}"
}

// blueUnderLoad saves blue v1 with the extra lines, starts the controller,
// waits until it converged and starts a load of keepAlive + 2 workers
// (l, its requests across HAProxy reloads when across).
func (e *env) blueUnderLoad(keepAlive int, across bool, extra ...string) (*controller, *load) {
	e.t.Helper()
	e.save(spec.Blue, "v1", extra...)
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	var l *load
	if across {
		l = e.startLoadAcrossReloads(keepAlive, 2)
	} else {
		l = e.startLoad(keepAlive, 2)
	}
	waitSent(e.t, l, 200)
	return ctl, l
}

// noneFailed stops load l and fails the test when one of its requests
// failed.
func noneFailed(t *testing.T, l *load) {
	t.Helper()
	sent, failed, _, fails := l.stop()
	t.Logf("%d requests, %d failed", sent, failed)
	if failed > 0 {
		t.Fatalf("%d of %d requests failed; first: %+v", failed, sent, fails[0])
	}
}

// TestCanaryShareAndStickiness: a release in three canary steps, under
// load from clients without cookies (0 failed requests from the first save
// to the end). During the 20 % step, which waits for controller promote,
// the new version answers 20 % ± 5 points of 5,000 cookie-less requests,
// and a client that keeps its cookies sees one version only for 1,000
// requests, in both groups. Promoted, the rollout goes on by itself and
// ends on green, Converged.
func TestCanaryShareAndStickiness(t *testing.T) {
	e := newEnv(t)
	steps := canarySpec("{weight: 20}, {weight: 50, pause: 2s}, {weight: 80, pause: 2s}")
	ctl, l := e.blueUnderLoad(4, false, steps)

	e.save(spec.Green, "v2", steps)
	st := e.waitPhase(2*time.Minute, planner.Progressing, planner.ReasonWaitingForPromotion)
	if msg := readyMessage(st); !strings.Contains(msg, "canary step 1 of 3") || !strings.Contains(msg, "20 %") {
		t.Fatalf("waiting at the first step, status says %q", msg)
	}
	if v, _ := e.maps(); v != e.svc+"_canary" {
		t.Fatalf("during the first step the map names %q, want the canary backend", v)
	}

	keepAlive := &http.Client{Timeout: 5 * time.Second}
	const n = 5000
	got := e.versions(keepAlive, n)
	share := 100 * float64(got["green v2"]) / n
	t.Logf("20 %% step, %d requests without cookies: %v (green %.1f %%)", n, got, share)
	if got["green v2"]+got["blue v1"] != n || share < 15 || share > 25 {
		t.Fatalf("20 %% step: green answered %.1f %% of %d requests, want 20 ± 5 (%v)", share, n, got)
	}

	seen := map[string]bool{}
	for try := 0; try < 100 && len(seen) < 2; try++ {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Timeout: 5 * time.Second, Jar: jar}
		first := e.versions(c, 1)
		var version string
		for v := range first {
			version = v
		}
		if seen[version] {
			continue
		}
		if got := e.versions(c, 1000); got[version] != 1000 {
			t.Fatalf("a client with a cookie jar first served %q then got %v in 1000 requests", version, got)
		}
		seen[version] = true
		t.Logf("a client with a cookie jar: %q for 1001 requests", version)
	}
	if !seen["blue v1"] || !seen["green v2"] {
		t.Fatalf("clients with cookie jars saw only %v in 100 tries", seen)
	}

	if out, err := e.command("promote", e.svc).CombinedOutput(); err != nil || !strings.Contains(string(out), "past step 1") {
		t.Fatalf("controller promote: %v: %s", err, out)
	}
	e.waitConverged(time.Minute)
	if v, _ := e.maps(); v != e.svc+"_green" {
		t.Fatalf("after the canary the map names %q, want green's backend", v)
	}
	if got, err := e.get("/"); err != nil || got != "green v2" {
		t.Fatalf("after the canary: %q, %v", got, err)
	}
	noneFailed(t, l)
	ctl.stop()
}

// TestCanaryAbortsA500Version: a version that answers 500 behind a healthy
// /healthz, released with a 10 % first step, is rolled back at that step:
// the key goes back to blue, status says RolledBack at canary step 1; the
// failed requests are about the step's share of those sent until the
// abort; blue serves afterwards.
func TestCanaryAbortsA500Version(t *testing.T) {
	e := rudeEnv(t)
	e.modes = map[string]string{"v2": "fail500"}
	steps := canarySpec("{weight: 10, pause: 1m}")
	e.verify = "{window: 1s, maxErrorRate: 0.05, minRequests: 20}"
	ctl, l := e.blueUnderLoad(4, false, steps)

	e.save(spec.Green, "v2", steps)
	testenv.WaitFor(t, 2*time.Minute, "the map names the canary backend", func() bool {
		v, _ := e.maps()
		return v == e.svc+"_canary"
	})
	split, before := time.Now(), l.sent()
	testenv.WaitFor(t, time.Minute, "the map leaves the canary backend", func() bool {
		v, _ := e.maps()
		return v != e.svc+"_canary"
	})
	aborted, sentDuring := time.Now(), l.sent()-before
	st := e.waitPhase(time.Minute, planner.Failed, planner.ReasonRolledBack)
	if msg := readyMessage(st); !strings.Contains(msg, "at canary step 1 of 1 (10 % of new users)") {
		t.Fatalf("rolled back, status says %q", msg)
	}
	if v, _ := e.maps(); v != e.svc+"_blue" {
		t.Fatalf("after the abort the map names %q", v)
	}
	time.Sleep(500 * time.Millisecond)
	if got, err := e.get("/"); err != nil || got != "blue v1" {
		t.Fatalf("after the abort: %q, %v", got, err)
	}
	sent, failed, _, _ := l.stop()
	t.Logf("split at %s, key back on blue %s later; %d requests sent in between, %d failed of %d in all (the step's share of those: %d)",
		split.Format("15:04:05.000"), aborted.Sub(split).Round(time.Millisecond), sentDuring, failed, sent, sentDuring/10)
	// The step's share, with room for the requests in flight and the
	// balance's grain over a short run.
	if limit := sentDuring/10 + sentDuring/20 + 20; failed > limit {
		t.Fatalf("%d requests failed, more than about the step's share of the %d sent until the abort (limit %d)", failed, sentDuring, limit)
	}
	ctl.stop()
}

// TestSlowVersionRolledBack: a version whose / answers 1.5 s late (its
// /healthz fast), with verify.maxLatencyRatio 2, is rolled back under
// load, released all at once and in canary steps alike; status names both
// colors' average response times.
func TestSlowVersionRolledBack(t *testing.T) {
	for _, tc := range []struct{ name, strategy string }{
		{"BlueGreen", ""},
		{"Canary", canarySpec("{weight: 50, pause: 1m}")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := rudeEnv(t)
			e.modes = map[string]string{"v2": "coldstart=1000000x1500ms"}
			e.verify = "{window: 1m, minRequests: 10, maxLatencyRatio: 2}"
			var extra []string
			if tc.strategy != "" {
				extra = append(extra, tc.strategy)
			}
			ctl, l := e.blueUnderLoad(8, false, extra...)
			e.save(spec.Green, "v2", extra...)
			st := e.waitPhase(2*time.Minute, planner.Failed, planner.ReasonRolledBack)
			msg := readyMessage(st)
			t.Logf("status: %s", msg)
			if !strings.Contains(msg, "green's average response time is 1.5") || !strings.Contains(msg, "blue's ") || !strings.Contains(msg, "above verify.maxLatencyRatio 2") {
				t.Fatalf("rolled back, status says %q", msg)
			}
			if got, err := e.get("/"); err != nil || got != "blue v1" {
				t.Fatalf("after the rollback: %q, %v", got, err)
			}
			noneFailed(t, l)
			ctl.stop()
		})
	}
}

// TestCanarySurvivesKills: the controller is SIGKILLed at random moments
// of a three-step canary, at least 10 times, and started again each
// time. The rollout goes on where it was: HAProxy's weight for the new
// color goes 20, 50, 80 in that order, each step for its whole pause at
// least once, and then the map switches to green; no request fails.
func TestCanarySurvivesKills(t *testing.T) {
	e := newEnv(t)
	steps := canarySpec("{weight: 20, pause: 3s}, {weight: 50, pause: 3s}, {weight: 80, pause: 3s}")
	ctl, l := e.blueUnderLoad(4, false, steps)

	// Watch green's weight in the canary backend and the map, every 20 ms.
	type seen struct {
		weight int64
		at     time.Time
	}
	var weights []seen
	done, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		rt := e.runtime()
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			r, err := rt.ServerStat(context.Background(), e.svc+"_canary", "green")
			if err != nil {
				continue
			}
			if w := r.Count("weight"); len(weights) == 0 || weights[len(weights)-1].weight != w {
				weights = append(weights, seen{w, time.Now()})
			}
		}
	}()

	e.save(spec.Green, "v2", steps)
	kills := 0
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); kills++ {
		time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
		if v, _ := e.maps(); kills >= 10 && v == e.svc+"_green" {
			break
		}
		ctl.kill()
		ctl = e.start()
	}
	e.waitConverged(time.Minute)
	close(done)
	<-watched
	ctl.stop()
	sent, failed, _, fails := l.stop()
	var shown []string
	for _, w := range weights {
		shown = append(shown, fmt.Sprintf("%d at %s", w.weight, w.at.Format("15:04:05.000")))
	}
	t.Logf("%d kills; green's weight in the canary backend: %s; %d requests, %d failed", kills, strings.Join(shown, ", "), sent, failed)
	if kills < 10 {
		t.Fatalf("only %d kills before the rollout ended", kills)
	}
	var order []int64
	for _, w := range weights {
		order = append(order, w.weight)
	}
	if got := fmt.Sprint(order); got != "[0 20 50 80]" {
		t.Fatalf("green's weight went %s, want [0 20 50 80]: a step was skipped, repeated or went back", got)
	}
	for i := 1; i < 3; i++ {
		if lasted := weights[i+1].at.Sub(weights[i].at); lasted < 3*time.Second-100*time.Millisecond {
			t.Fatalf("step %d (weight %d) lasted %s, its pause is 3s", i, weights[i].weight, lasted)
		}
	}
	if v, _ := e.maps(); v != e.svc+"_green" {
		t.Fatalf("after the canary the map names %q", v)
	}
	if failed > 0 {
		t.Fatalf("%d of %d requests failed; first: %+v", failed, sent, fails[0])
	}
}

// TestCanaryResumesAfterReload: HAProxy reloaded during a canary's second
// step puts all traffic back on blue (the map file) and forgets the
// weights; the controller splits again at that same step (50 %, not the
// first step's 20 %), which still waits for its promotion; promoted, the
// rollout ends on green. No request fails.
func TestCanaryResumesAfterReload(t *testing.T) {
	e := newEnv(t)
	steps := canarySpec("{weight: 20}, {weight: 50}, {weight: 80, pause: 1s}")
	ctl, l := e.blueUnderLoad(4, true, steps)

	e.save(spec.Green, "v2", steps)
	e.waitPhase(2*time.Minute, planner.Progressing, planner.ReasonWaitingForPromotion)
	if out, err := e.command("promote", e.svc).CombinedOutput(); err != nil || !strings.Contains(string(out), "past step 1") {
		t.Fatalf("controller promote: %v: %s", err, out)
	}
	greenWeight := func() int64 {
		r, err := e.runtime().ServerStat(context.Background(), e.svc+"_canary", "green")
		if err != nil {
			return -1
		}
		return r.Count("weight")
	}
	testenv.WaitFor(t, 30*time.Second, "the second step (50 %) in force", func() bool {
		v, _ := e.maps()
		return v == e.svc+"_canary" && greenWeight() == 50 && strings.Contains(readyMessage(e.serviceStatus()), "canary step 2 of 3")
	})

	e.ha.Reload(t)
	if v, _ := e.maps(); v == e.svc+"_canary" {
		t.Logf("the controller split again before the harness looked")
	}
	testenv.WaitFor(t, 30*time.Second, "split again at the second step after the reload", func() bool {
		v, _ := e.maps()
		return v == e.svc+"_canary" && greenWeight() == 50
	})
	st := e.waitPhase(30*time.Second, planner.Progressing, planner.ReasonWaitingForPromotion)
	if msg := readyMessage(st); !strings.Contains(msg, "canary step 2 of 3") {
		t.Fatalf("after the reload, status says %q, want step 2 of 3 waiting", msg)
	}
	if out, err := e.command("promote", e.svc).CombinedOutput(); err != nil || !strings.Contains(string(out), "past step 2") {
		t.Fatalf("controller promote: %v: %s", err, out)
	}
	e.waitConverged(time.Minute)
	if v, _ := e.maps(); v != e.svc+"_green" {
		t.Fatalf("after the canary the map names %q", v)
	}
	noneFailed(t, l)
	ctl.stop()
}
