package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// The latency series' variants, interleaved release by release.
const (
	latCold     = "cold"
	latWarm     = "warm"
	latDemo     = "demo"
	latDemoWarm = "demo-warm" // an experiment: is the demo app's own start in its figures?
)

// defaultLatencyVariants are the variants of issue 24's acceptance 2.
const defaultLatencyVariants = latCold + "," + latWarm + "," + latDemo

// latencyVariants are the variants named in keys (comma separated), in
// that order; images are coldRepo's (the rude app) and demoRepo's.
func latencyVariants(keys, coldRepo, demoRepo string) ([]latencyVariant, error) {
	all := map[string]latencyVariant{
		latCold:     {Key: latCold, Name: "cold-start app, no warm-up", Repo: coldRepo},
		latWarm:     {Key: latWarm, Name: "cold-start app with `warmup`", Repo: coldRepo, Warmup: true},
		latDemo:     {Key: latDemo, Name: "demo app, no warm-up", Repo: demoRepo},
		latDemoWarm: {Key: latDemoWarm, Name: "demo app with `warmup`", Repo: demoRepo, Warmup: true},
	}
	var out []latencyVariant
	seen := map[string]bool{}
	for _, k := range strings.Split(keys, ",") {
		k = strings.TrimSpace(k)
		v, ok := all[k]
		if !ok || seen[k] {
			return nil, fmt.Errorf("%q: want some of %s, %s, %s, %s, each once", keys, latCold, latWarm, latDemo, latDemoWarm)
		}
		seen[k] = true
		out = append(out, v)
	}
	return out, nil
}

// latencyVariant is one kind of release of the latency series.
type latencyVariant struct {
	Key    string
	Name   string
	Repo   string // image repository, tags v1 and v2
	Warmup bool   // the spec has a warmup
}

type latencyConfig struct {
	releases               int // per variant
	keepAlive, fresh, rate int
	coldStart              string // the rude app's coldstart=<N>x<duration> value
	variants               string // keys, comma separated
	warmupRequests         int
	hap                    haproxySettings
	demoRepo               string
	ctlBin                 string
	ctlArgs                []string
	id                     string
	timeout                time.Duration // one release, save to converged
}

// latencyRelease is one release of the series.
type latencyRelease struct {
	N       int
	Variant string // its key
	To      spec.Color
	Body    string // what the new color answers
	Save    time.Time
	// Switch is when traffic moved: the start of the first request the
	// new color answered (else the controller's SwitchMap log line).
	Switch     time.Time
	SwitchFrom string
	// Recorded is the switch as the controller's history has it
	// (switchedAt: the time of the pass that planned it).
	Recorded  time.Time
	Converged time.Time
	Steps     map[string]time.Time // when the controller logged each step (ms resolution)
	FirstNew  time.Time            // start of the first request the new color answered
	// Quiet is the quiet second's p99; Series the p99 of the seconds
	// centred on the switch ± k s (element seriesBefore: the switch
	// second).
	Quiet  time.Duration
	Series []time.Duration
	// SwitchOld and SwitchNew split the switch second: the p99 of its
	// requests the old color answered, and of those the new one did.
	SwitchOld, SwitchNew time.Duration
	// Slow counts the switch second's requests slower than latencyTarget
	// times the quiet p99, per 100 ms from switch − 500 ms.
	Slow             [tenths]int
	Requests, Failed int64 // that started from this release's quiet seconds to the next's
	Err              string
}

func (l latencyRelease) switchP99() time.Duration {
	if len(l.Series) <= seriesBefore {
		return -1
	}
	return l.Series[seriesBefore]
}

func (l latencyRelease) ratio() float64 { return p99Ratio(l.switchP99(), l.Quiet) }

type latencyResult struct {
	Releases               int // per variant
	Variants               []latencyVariant
	ColdStart              string
	WarmupRequests         int
	KeepAlive, Fresh, Rate int
	Verify                 time.Duration
	Runs                   []latencyRelease
	Load                   []variantResult
	LoadAvgStart           string
	LoadAvgEnd             string
	Started                time.Time
	Wall                   time.Duration
}

// runLatency releases one service cfg.releases times per variant, the
// variants taking turns, under a steady paced load through HAProxy, and
// computes each release's p99 in the second around the switch against its
// quiet second.
func runLatency(r *runner, name string, cfg latencyConfig) *latencyResult {
	t := r.scope()
	defer t.close()
	res := &latencyResult{Releases: cfg.releases, ColdStart: cfg.coldStart, WarmupRequests: cfg.warmupRequests,
		KeepAlive: cfg.keepAlive, Fresh: cfg.fresh, Rate: cfg.rate, Verify: cfg.hap.VerifyWindow,
		LoadAvgStart: loadavg(), Started: time.Now()}
	coldRepo := "bgbench-" + cfg.id + "-cold"
	rude := testenv.RudeContext(t)
	for _, v := range []string{"v1", "v2"} {
		buildImage(r, rude, coldRepo+":"+v, v, "coldstart="+cfg.coldStart, cfg.id)
	}
	vs, err := latencyVariants(cfg.variants, coldRepo, cfg.demoRepo)
	if err != nil {
		t.Fatalf("-latency-variants: %v", err)
	}
	res.Variants = vs

	w, _ := startOne(t, worldConfig{name: name, hap: cfg.hap, repo: cfg.demoRepo, ctlBin: cfg.ctlBin, ctlArgs: cfg.ctlArgs,
		env: map[string]string{"BENCH_RELEASE": "0"}})

	url := fmt.Sprintf("http://127.0.0.1:%d/", w.front)
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	runners, names, conc := startLoad(ctx, url, cfg.keepAlive, cfg.fresh, cfg.rate)
	t.Logf("latency: blue (demo app) serves on 127.0.0.1:%d; load %d keep-alive + %d new-connection workers at %d requests/s each; %d releases of each of %d variants",
		w.front, cfg.keepAlive, cfg.fresh, cfg.rate, cfg.releases, len(res.Variants))
	quiet := quietSeconds*time.Second + 500*time.Millisecond // after the last converged: the quiet seconds, and a margin
	time.Sleep(quiet)
	for round := 0; round < cfg.releases; round++ {
		for j := range res.Variants {
			v := res.Variants[(round+j)%len(res.Variants)]
			rel := w.latencyRelease(len(res.Runs)+1, v, cfg)
			res.Runs = append(res.Runs, rel)
			t.Logf("latency %2d %-4s to %-5s: StartContainer %s, WarmUp %s, SwitchMap %s (log), converged %s after the save%s", rel.N, v.Key, rel.To,
				ms(between(rel.Save, rel.Steps["StartContainer"])), ms(between(rel.Save, rel.Steps["WarmUp"])),
				ms(between(rel.Save, rel.Steps["SwitchMap"])), ms(between(rel.Save, rel.Converged)), errSuffix(rel.Err))
			time.Sleep(quiet)
		}
	}
	for i, rn := range runners {
		lr := rn.Stop()
		res.Load = append(res.Load, variantResult{Name: names[i], Concurrency: conc[i], Res: lr})
		t.Logf("latency load %s: %s", names[i], lr.Summary())
	}
	res.finish(t, w)
	res.LoadAvgEnd = loadavg()
	res.Wall = time.Since(res.Started)
	return res
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (" + e + ")"
}

// latencyRelease moves service 0 to the other color with variant v's image
// and warm-up, a container of its own (a new BENCH_RELEASE), and waits
// until it converged. It polls only status.json (every 25 ms), so that the
// harness adds no load of its own around the switch.
func (w *world) latencyRelease(n int, v latencyVariant, cfg latencyConfig) latencyRelease {
	to := spec.Green
	version := "v2"
	if w.active[0] == spec.Green {
		to, version = spec.Blue, "v1"
	}
	if st := w.serverStatus(0, to); st != "DOWN" && st != "MAINT" {
		w.t.Logf("latency %d: HAProxy says %q for %s before the save (want DOWN: its container was stopped)", n, st, w.svcs[0].backend(to))
	}
	w.repo = v.Repo
	w.specExtra = ""
	if v.Warmup {
		w.specExtra = fmt.Sprintf("  warmup: {path: /, requests: %d}\n", cfg.warmupRequests)
	}
	w.env["BENCH_RELEASE"] = strconv.Itoa(n)
	w.active[0], w.version[0] = to, version
	rel := latencyRelease{N: n, Variant: v.Key, To: to, Body: string(to) + " " + version}
	save, gens := w.save()
	rel.Save = save
	deadline := time.Now().Add(cfg.timeout)
	for !w.converged(gens) {
		if time.Now().After(deadline) {
			rel.Err = fmt.Sprintf("not converged %s after the save", cfg.timeout)
			w.t.Logf("latency %d: %s; controller log tail:\n%s", n, rel.Err, w.ctl.tail(30))
			w.waitConverged(gens, 2*time.Minute)
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	rel.Converged = time.Now()
	rel.Steps = map[string]time.Time{}
	for _, l := range w.ctl.logLines() {
		if l.service == w.svcs[0].name && l.msg == "Step" && !l.at.Before(save.Truncate(time.Millisecond)) {
			if _, ok := rel.Steps[l.step]; !ok {
				rel.Steps[l.step] = l.at
			}
		}
	}
	return rel
}

// finish computes each release's latencies from the load's samples. The
// switch is the start of the first request the new color answered (the
// traffic's own view, to the load's spacing: 2 ms at 500 requests/s); the
// controller's SwitchMap log line when no request found it. The history's
// switchedAt is kept apart: it is the planning pass's time, before the map
// changed.
func (res *latencyResult) finish(t *scope, w *world) {
	hist, err := state.ReadHistory(filepath.Join(w.stateDir, "history.jsonl"), w.svcs[0].name)
	if err != nil {
		t.Errorf("latency: %v", err)
	}
	var samples []loadgen.Sample
	for _, l := range res.Load {
		samples = append(samples, l.Res.Samples...)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].Start.Before(samples[j].Start) })
	for i := range res.Runs {
		rel := &res.Runs[i]
		for _, h := range hist {
			if h.To == rel.To && h.SwitchedAt != nil && !h.SwitchedAt.Before(rel.Save) && h.SwitchedAt.Before(rel.Converged) {
				rel.Recorded = *h.SwitchedAt
				break
			}
		}
		from := rel.Save.Add(-quietSeconds * time.Second)
		to := time.Now()
		if i+1 < len(res.Runs) {
			to = res.Runs[i+1].Save.Add(-quietSeconds * time.Second)
		}
		for _, s := range samples[sort.Search(len(samples), func(k int) bool { return !samples[k].Start.Before(from) }):] {
			if !s.Start.Before(to) {
				break
			}
			rel.Requests++
			if s.Failed() {
				rel.Failed++
			}
			if rel.FirstNew.IsZero() && s.Body == rel.Body && !s.Failed() && !s.Start.Before(rel.Save) {
				rel.FirstNew = s.Start
			}
		}
		rel.Switch, rel.SwitchFrom = rel.FirstNew, "first answer"
		if rel.Switch.IsZero() {
			rel.Switch, rel.SwitchFrom = rel.Steps["SwitchMap"], "log"
		}
		rel.Quiet = quietP99(samples, rel.Save)
		if !rel.Switch.IsZero() {
			rel.Series = switchSeries(samples, rel.Switch)
			rel.SwitchOld, rel.SwitchNew = splitP99(samples, rel.Switch, rel.Body)
			if rel.Quiet > 0 {
				rel.Slow = slowByTenth(samples, rel.Switch, time.Duration(latencyTarget*float64(rel.Quiet)))
			}
		} else if rel.Err == "" {
			rel.Err = "no switch found: no answer of the new color, no SwitchMap in the log"
		}
	}
}

// defaultColdStart is the cold-start app's coldstart mode by default: at
// the load's default 500 requests/s, its first 200 requests (0.4 s of
// traffic) each wait 10 ms.
const defaultColdStart = "200x10ms"

// coldStartRequests is N of a coldstart=<N>x<duration> value (the rude app
// checks the whole value when it starts).
func coldStartRequests(v string) (int, error) {
	ns, ds, ok := strings.Cut(v, "x")
	n, err := strconv.Atoi(ns)
	if _, derr := time.ParseDuration(ds); !ok || err != nil || n < 1 || n > spec.MaxWarmupRequests || derr != nil {
		return 0, fmt.Errorf("%q: want <N>x<duration>, N from 1 to %d (the warm-up sends N requests), e.g. %s", v, spec.MaxWarmupRequests, defaultColdStart)
	}
	return n, nil
}
