package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// costResult is the controller's cost with N services in one desired file.
type costResult struct {
	Services    int
	ConvergeAll time.Duration // first start: every service created, started, converged
	Settle      time.Duration // then until no step for 3 s: the idle window begins

	// Idle: watch mode, everything converged, default resync.
	IdleWindow     time.Duration
	IdleCPU        time.Duration // controller
	IdleHAProxyCPU time.Duration // HAProxy worker (health checks of every server)
	IdleRSS        int64         // KiB, at the end of the window
	IdlePasses     int

	// Passes triggered by saving the same desired file: what one pass costs.
	Passes      int
	HACmds      int64 // runtime API connections (one per command)
	DockerCalls int64 // Docker Engine API requests
	PassWall    []time.Duration

	// A release of one service while the others stay put: the first one,
	// counted through the socket proxies (Release), then the releases
	// timed with the proxies out of the way (Releases).
	Release       switchResult
	Releases      []switchResult
	ReleaseCPU    time.Duration
	ReleasePasses int
	ReleaseHACmds int64
	ReleaseDocker int64
	HWM           int64 // KiB, peak RSS over the controller's life (ends after the release)

	// UI: the dashboard's cost (nil: not measured, -ui=false).
	UI *uiCost
}

type costConfig struct {
	hap     haproxySettings
	repo    string
	ctlBin  string
	ctlArgs []string
	idle    time.Duration
	nudges  int
	ui      bool // serve the dashboard and measure it with a page open
	// uiPairs of idle windows of uiWindow each, no page and a page open,
	// interleaved (0: none).
	uiPairs  int
	uiWindow time.Duration
	// releases of the first service (at least 1).
	releases int
}

// runCost starts a controller on n services (all blue v1), lets it converge,
// measures it idle, then counts what passes cost, then releases the first
// service to green v2 and measures that.
func runCost(r *runner, name string, n int, cfg costConfig) costResult {
	t := r.scope()
	defer t.close()
	res := costResult{Services: n}
	args := cfg.ctlArgs
	var uiBase string
	if cfg.ui {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		uiBase = "http://" + addr
		args = append(append([]string(nil), args...), "--ui-listen", addr)
	}
	w := newWorld(t, worldConfig{name: name, services: n, hap: cfg.hap,
		repo: cfg.repo, ctlBin: cfg.ctlBin, ctlArgs: args, count: true})
	_, gens := w.save()
	start := time.Now()
	ctl := w.startController()
	w.waitConverged(gens, time.Duration(n)*3*time.Second+time.Minute)
	res.ConvergeAll = time.Since(start)
	t.Logf("cost %d services: all converged in %s", n, res.ConvergeAll.Round(time.Millisecond))
	// Idle is at rest: status says converged as soon as each map serves,
	// while the direct path and the restart policy of some services may
	// still be being set; and HAProxy must see the idle colors down.
	res.Settle = ctl.settle(3*time.Second, time.Minute)
	t.Logf("cost %d services: no step for 3s, %s after converging", n, res.Settle.Round(time.Millisecond))

	last := w.svcs[n-1].name
	haPID := w.haproxyWorker()
	// Idle: nothing changes; the controller looks again at each resync.
	u0 := ctl.usage()
	ha0, _ := procCPU(haPID)
	p0 := ctl.passes(last)
	h0, d0 := w.counters()
	time.Sleep(cfg.idle)
	u1 := ctl.usage()
	ha1, _ := procCPU(haPID)
	res.IdleWindow = cfg.idle
	res.IdleCPU = u1.cpu - u0.cpu
	res.IdleHAProxyCPU = ha1 - ha0
	res.IdleRSS = u1.rss
	res.IdlePasses = ctl.passes(last) - p0

	// Passes on demand: saving the unchanged file makes one pass each.
	passWall := true
	nudge := func() time.Duration {
		u0 := ctl.usage()
		defer func() { passWall = false }()
		for k := 0; k < cfg.nudges; k++ {
			before := ctl.passes(last)
			at, _ := w.save()
			for ctl.passes(last) == before {
				if time.Since(at) > time.Minute {
					t.Fatalf("no pass within a minute of saving the desired file")
				}
				time.Sleep(5 * time.Millisecond)
			}
			// Wall time of the pass: save to the last service's line (ms
			// resolution), less nothing: it includes the watch debounce.
			for _, l := range ctl.logLines() {
				if passWall && l.service == last && passLine(l) && !l.at.Before(at.Truncate(time.Millisecond)) {
					res.PassWall = append(res.PassWall, l.at.Sub(at.Truncate(time.Millisecond)))
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		return ctl.usage().cpu - u0.cpu
	}
	closedCPU := nudge()
	h1, d1 := w.counters()
	res.Passes = ctl.passes(last) - p0
	res.HACmds, res.DockerCalls = h1-h0, d1-d0
	if d0 < 0 {
		res.DockerCalls = -1
	}

	if cfg.ui {
		// The same idle window and passes again, with a page open.
		ui := &uiCost{PassesClosedCPU: closedCPU, Passes: cfg.nudges}
		pg, load, html := openPage(t, uiBase)
		ui.FirstLoad, ui.FirstLoadHTML = load, html
		u0, p0 := ctl.usage(), ctl.passes(last)
		time.Sleep(cfg.idle)
		ui.IdleOpenCPU, ui.IdleOpenPasses = ctl.usage().cpu-u0.cpu, ctl.passes(last)-p0
		ui.PassesOpenCPU = nudge()
		pg.stop()
		ui.EventBytes = pg.read.Load()
		if cfg.uiPairs > 0 {
			ui.Pairs, ui.PairWindow = measureUIPairs(t, ctl, uiBase, cfg.uiPairs, cfg.uiWindow), cfg.uiWindow
			tot, med, p90 := uiPairsSummary(ui.Pairs)
			t.Logf("cost %d services: dashboard: %d pairs of %s idle windows: CPU with a page open %+.1f %% in all, per pair median %+.1f %%, p90 %+.1f %%",
				n, len(ui.Pairs), cfg.uiWindow, tot*100, med*100, p90*100)
		}
		res.UI = ui
		t.Logf("cost %d services: dashboard: %s; idle %s closed, %s open", n, ui, res.IdleCPU, ui.IdleOpenCPU)
	}

	// Release service 1 while the others stay as they are.
	w.waitSeenDown(0, spec.Green, settleDownLimit)
	first := w.svcs[0].name
	p0 = ctl.passes(first)
	h0, d0 = w.counters()
	u0 = ctl.usage()
	res.Release = w.doSwitch(0, spec.Green, "v2", "release", time.Minute)
	u1 = ctl.usage()
	h1, d1 = w.counters()
	res.ReleaseCPU = u1.cpu - u0.cpu
	res.ReleasePasses = ctl.passes(first) - p0
	res.ReleaseHACmds, res.ReleaseDocker = h1-h0, d1-d0
	if d0 < 0 {
		res.ReleaseDocker = -1
	}
	res.HWM = u1.hwm
	// The counting proxies are the harness's, not the host's: through them
	// each runtime API command and Docker call takes two more connections
	// and a hop through this process, busy with its probes of the release.
	// The timed releases go without them.
	w.bypassCounters()
	time.Sleep(2 * time.Second) // the controller's event stream, cut, is subscribed again
	for k := 0; k < cfg.releases; k++ {
		to, version := spec.Blue, "v1"
		if k%2 == 1 {
			to, version = spec.Green, "v2"
		}
		w.waitSeenDown(0, to, settleDownLimit) // the verify window's warm color is stopped
		r := w.doSwitch(0, to, version, "release", time.Minute)
		res.Releases = append(res.Releases, r)
		t.Logf("cost %d services: release %2d to %-5s: after the start event, first 200 %s, HAProxy UP %s, switch %s",
			n, k+1, to, ms(between(r.Started, r.Floor)), ms(between(r.Started, r.HAUp)), ms(between(r.Started, r.Switch)))
	}
	sort.Slice(res.PassWall, func(i, j int) bool { return res.PassWall[i] < res.PassWall[j] })
	rts := res.readyToSwitch()
	t.Logf("cost %d services: idle %s CPU in %s (%d passes), HAProxy %s; %d passes: %d runtime API commands, %d Docker calls; release: save->switch %s; ready->switch over %d releases median %s, p90 %s",
		n, res.IdleCPU, res.IdleWindow, res.IdlePasses, res.IdleHAProxyCPU, res.Passes, res.HACmds, res.DockerCalls,
		ms(res.Release.since(res.Release.Switch)), len(rts), ms(pct(rts, 50)), ms(pct(rts, 90)))
	return res
}

// readyToSwitch is ready to switch of each release.
func (c costResult) readyToSwitch() []time.Duration {
	return durations(c.Releases, func(s switchResult) time.Duration { return s.readyToSwitch() })
}

func perPass(n int64, passes int) string {
	if n < 0 || passes <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", float64(n)/float64(passes))
}
