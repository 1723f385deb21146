package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// variantResult is one load variant over the whole run.
type variantResult struct {
	Name        string
	Concurrency int
	Res         *loadgen.Result
}

// releaseResult is the release/rollback scenario.
type releaseResult struct {
	Cycles   int
	Rate     int // per variant, 0: closed loop
	Switches []switchResult
	Variants []variantResult
	// LoadStart..LoadEnd is the run of the load generators.
	LoadStart, LoadEnd time.Time
	Ctl                usage         // controller at the end of the cycles
	CtlCPUCycles       time.Duration // controller CPU during the cycles
	HAProxyCPU         time.Duration // HAProxy worker CPU during the cycles
	BenchCPU           time.Duration // this process (load generator, pollers) during the cycles
	BusyPct            float64       // all cores, during the cycles
	Wall               time.Duration // the cycles
	PlotIndex          int           // the switch that is plotted
	Observe            *observeCost  // one observation of the service, under the same load
}

type releaseConfig struct {
	cycles        int
	keepAlive     int
	fresh         int
	rate          int // per variant, 0 = closed loop
	gap           time.Duration
	hap           haproxySettings
	repo          string
	ctlBin        string
	ctlArgs       []string
	switchTimeout time.Duration
	// minRequests are spread over the switches: before the k-th save of S
	// the load must have completed k/S of them (waiting at most 30 s), and
	// all of them before the load stops.
	minRequests int64
}

// runRelease runs cycles of release (blue v1 -> green v2) and rollback
// (green v2 -> blue v1) under load on one service.
func runRelease(r *runner, name string, cfg releaseConfig) *releaseResult {
	t := r.scope()
	defer t.close()
	w, ctl := startOne(t, worldConfig{name: name, hap: cfg.hap, repo: cfg.repo, ctlBin: cfg.ctlBin, ctlArgs: cfg.ctlArgs})
	t.Logf("release: blue v1 serves on 127.0.0.1:%d; starting load: %d keep-alive + %d new-connection workers", w.front, cfg.keepAlive, cfg.fresh)

	url := fmt.Sprintf("http://127.0.0.1:%d/", w.front)
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	runners, names, conc := startLoad(ctx, url, cfg.keepAlive, cfg.fresh, cfg.rate)
	res := &releaseResult{Cycles: cfg.cycles, LoadStart: time.Now(), Rate: cfg.rate}
	time.Sleep(2 * time.Second) // load flows, and a quiet second exists before the first save

	u0 := ctl.usage()
	haPID := w.haproxyWorker()
	ha0, _ := procCPU(haPID)
	me0, _ := procCPU(osPID)
	cpu0 := readCPU()
	t0 := time.Now()
	lastConverged := time.Now()
	sent := func() int64 {
		var n int64
		for _, rn := range runners {
			n += rn.Sent()
		}
		return n
	}
	quota := func(k int, limit time.Duration) {
		want := cfg.minRequests * int64(k) / int64(2*cfg.cycles)
		deadline := time.Now().Add(limit)
		for sent() < want && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for c := 1; c <= cfg.cycles; c++ {
		for _, st := range []struct {
			kind    string
			to      spec.Color
			version string
		}{{"release", spec.Green, "v2"}, {"rollback", spec.Blue, "v1"}} {
			// Start from rest: the previous switch converged, the target's
			// old container is stopped and HAProxy has seen it down (so
			// its UP below is the new container's), and a quiet gap.
			w.waitSeenDown(0, st.to, settleDownLimit)
			if d := cfg.gap - time.Since(lastConverged); d > 0 {
				time.Sleep(d)
			}
			quota(len(res.Switches), 30*time.Second)
			sw := w.doSwitch(0, st.to, st.version, st.kind, cfg.switchTimeout)
			t.Logf("cycle %d %-8s to %-5s: app ready %s, HAProxy UP %s, map switched %s, converged %s (ready->switch %s; %s at save)",
				c, st.kind, st.to, ms(sw.since(sw.Floor)), ms(sw.since(sw.HAUp)), ms(sw.since(sw.Switch)), ms(sw.since(sw.Converged)),
				ms(sw.readyToSwitch()), sw.StatusAt)
			res.Switches = append(res.Switches, sw)
			if traceSwitches {
				t.Logf("  app ready +%s; HAProxy: %s", msf(sw.since(sw.Floor)), strings.Join(sw.Trace, " → "))
			}
			if sw.Err != "" {
				w.waitConverged(mustGens(w), cfg.switchTimeout)
			}
			lastConverged = time.Now()
		}
	}
	time.Sleep(cfg.gap) // a quiet tail for the plot
	quota(2*cfg.cycles, time.Minute)
	// Where a pass spends its time, under the same load (after the cycles,
	// so it does not disturb them).
	if oc, err := w.measureObserve(0, 200); err != nil {
		t.Errorf("timing observations: %v", err)
	} else {
		res.Observe = oc
	}
	res.Wall = time.Since(t0)
	t.Logf("release: %d switches done; load: %d requests so far", len(res.Switches), sent())
	res.Ctl = ctl.usage()
	res.CtlCPUCycles = res.Ctl.cpu - u0.cpu
	if ha1, err := procCPU(haPID); err == nil {
		res.HAProxyCPU = ha1 - ha0
	}
	me1, _ := procCPU(osPID)
	res.BenchCPU = me1 - me0
	res.BusyPct = busyPct(cpu0, readCPU())

	for i, rn := range runners {
		lr := rn.Stop()
		res.Variants = append(res.Variants, variantResult{Name: names[i], Concurrency: conc[i], Res: lr})
		t.Logf("load %s: %s", names[i], lr.Summary())
	}
	res.LoadEnd = time.Now()
	// Plot a release from the middle of the run (the first one also creates
	// the container).
	res.PlotIndex = 2 * ((cfg.cycles - 1) / 2)
	return res
}

// startLoad starts the paced, recorded load of the release and latency
// series: keepAlive workers that reuse their connection and fresh ones
// that open one per request (a kind with 0 workers is left out), each kind
// at rate requests/s; with each runner, its kind's name and workers.
func startLoad(ctx context.Context, url string, keepAlive, fresh, rate int) (runners []*loadgen.Runner, names []string, conc []int) {
	for _, l := range []struct {
		name string
		n    int
		keep bool
	}{{"keep-alive", keepAlive, true}, {"new connection", fresh, false}} {
		if l.n > 0 {
			runners = append(runners, loadgen.Start(ctx, loadgen.Config{URL: url, Concurrency: l.n, KeepAlive: l.keep,
				NoRetry: true, Record: true, Rate: rate, Timeout: 10 * time.Second}))
			names, conc = append(names, l.name), append(conc, l.n)
		}
	}
	return runners, names, conc
}

func mustGens(w *world) []string {
	_, gens := w.save() // same content: a nudge, and the generations
	return gens
}

func ms(d time.Duration) string {
	if d < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
