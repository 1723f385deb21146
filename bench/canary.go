package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
	"github.com/bluegreen-host/controller/pkg/spec"
)

type canaryConfig struct {
	rollouts               int
	weights                []int         // each step's weight
	pause                  time.Duration // each step's
	keepAlive, fresh, rate int
	hap                    haproxySettings
	repo                   string
	ctlBin                 string
	ctlArgs                []string
	timeout                time.Duration // one rollout, save to converged
}

// canaryRollout is one canary release of the series.
type canaryRollout struct {
	N    int
	To   spec.Color
	Save time.Time
	// Served[k] is when the harness first saw step k in force in HAProxy
	// (the map key on the canary backend, the new color's server at the
	// step's weight); Logged[k] the controller's log line of the step's
	// SetCanaryWeights (ms resolution).
	Served, Logged []time.Time
	// Switched is when the map key first named the new color's backend.
	Switched  time.Time
	Converged time.Time
	Err       string
}

type canaryResult struct {
	Rollouts               int
	Weights                []int
	Pause                  time.Duration
	KeepAlive, Fresh, Rate int
	Runs                   []canaryRollout
	Load                   []variantResult
	LoadAvgStart           string
	LoadAvgEnd             string
	Started                time.Time
	Wall                   time.Duration
}

// parseWeights reads -canary-steps: weights, comma separated, each above
// the one before, 1 to 99.
func parseWeights(v string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 99 || len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("%q: want weights from 1 to 99, comma separated, each above the one before (e.g. 10,50)", v)
		}
		out = append(out, n)
	}
	return out, nil
}

// runCanary releases one service cfg.rollouts times in canary steps under a
// paced load, watching HAProxy every 2 ms for each step's weights.
func runCanary(r *runner, name string, cfg canaryConfig) *canaryResult {
	t := r.scope()
	defer t.close()
	res := &canaryResult{Rollouts: cfg.rollouts, Weights: cfg.weights, Pause: cfg.pause,
		KeepAlive: cfg.keepAlive, Fresh: cfg.fresh, Rate: cfg.rate, LoadAvgStart: loadavg(), Started: time.Now()}
	w, _ := startOne(t, worldConfig{name: name, hap: cfg.hap, repo: cfg.repo, ctlBin: cfg.ctlBin, ctlArgs: cfg.ctlArgs})
	var steps []string
	for _, wt := range cfg.weights {
		steps = append(steps, fmt.Sprintf("{weight: %d, pause: %s}", wt, cfg.pause))
	}
	w.specExtra = "  strategy: {type: Canary, steps: [" + strings.Join(steps, ", ") + "]}\n"
	mustGens(w) // the strategy is in force before the first rollout

	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	runners, names, conc := startLoad(ctx, fmt.Sprintf("http://127.0.0.1:%d/", w.front), cfg.keepAlive, cfg.fresh, cfg.rate)
	t.Logf("canary: %d rollouts in steps %v of %s each, load %d keep-alive + %d new-connection workers at %d requests/s each",
		cfg.rollouts, cfg.weights, cfg.pause, cfg.keepAlive, cfg.fresh, cfg.rate)
	quiet := quietSeconds*time.Second + 500*time.Millisecond
	time.Sleep(quiet)
	for i := range cfg.rollouts {
		ro := w.canaryRollout(i+1, cfg)
		res.Runs = append(res.Runs, ro)
		var served []string
		for k := range ro.Served {
			served = append(served, ms(between(ro.Save, ro.Served[k])))
		}
		t.Logf("canary %2d to %-5s: steps in force %s, switched %s, converged %s after the save%s", ro.N, ro.To,
			strings.Join(served, ", "), ms(between(ro.Save, ro.Switched)), ms(between(ro.Save, ro.Converged)), errSuffix(ro.Err))
		time.Sleep(quiet)
	}
	for i, rn := range runners {
		lr := rn.Stop()
		res.Load = append(res.Load, variantResult{Name: names[i], Concurrency: conc[i], Res: lr})
		t.Logf("canary load %s: %s", names[i], lr.Summary())
	}
	res.LoadAvgEnd = loadavg()
	res.Wall = time.Since(res.Started)
	return res
}

// canaryRollout moves service 0 to the other color in canary steps and
// watches HAProxy (the map and the canary backend) every 2 ms until the
// map names the new color's backend, then waits until it converged.
func (w *world) canaryRollout(n int, cfg canaryConfig) canaryRollout {
	to, version := spec.Green, "v2"
	if w.active[0] == spec.Green {
		to, version = spec.Blue, "v1"
	}
	w.active[0], w.version[0] = to, version
	s := w.svcs[0]
	ro := canaryRollout{N: n, To: to, Served: make([]time.Time, len(cfg.weights))}
	save, gens := w.save()
	ro.Save = save
	deadline := save.Add(cfg.timeout)
	ctx := context.Background()
	for ro.Switched.IsZero() && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
		v, _, err := w.client.GetMap(ctx, w.mapPath, s.name)
		if err != nil {
			continue
		}
		now := time.Now()
		switch v {
		case s.backend(to):
			ro.Switched = now
		case s.name + "_canary":
			rows, err := w.client.StatOf(ctx, s.name+"_canary")
			if err != nil {
				continue
			}
			for _, row := range rows {
				if row.Server != string(to) {
					continue
				}
				for k, wt := range cfg.weights {
					if row.Count("weight") == int64(wt) && ro.Served[k].IsZero() {
						ro.Served[k] = now
					}
				}
			}
		}
	}
	if ro.Switched.IsZero() {
		ro.Err = fmt.Sprintf("the map did not name %s within %s of the save", s.backend(to), cfg.timeout)
	}
	if err := waitFor(func() bool { return w.converged(gens) }, time.Until(deadline)+time.Minute); err != nil && ro.Err == "" {
		ro.Err = "not converged: " + err.Error()
	}
	ro.Converged = time.Now()
	for _, l := range w.ctl.logLines() {
		if l.service == s.name && l.msg == "Step" && l.step == "SetCanaryWeights" && !l.at.Before(save.Truncate(time.Millisecond)) && len(ro.Logged) < len(cfg.weights) {
			ro.Logged = append(ro.Logged, l.at)
		}
	}
	return ro
}

// waitFor polls cond every 25 ms for at most timeout.
func waitFor(cond func() bool, timeout time.Duration) error {
	for end := time.Now().Add(timeout); !cond(); time.Sleep(25 * time.Millisecond) {
		if time.Now().After(end) {
			return fmt.Errorf("not within %s", timeout.Round(time.Second))
		}
	}
	return nil
}

// windowFailed is window, and how many of those requests failed.
func windowFailed(samples []loadgen.Sample, from, to time.Time) (latencies []time.Duration, failed int) {
	i := sort.Search(len(samples), func(i int) bool { return !samples[i].Start.Before(from) })
	for ; i < len(samples) && samples[i].Start.Before(to); i++ {
		latencies = append(latencies, samples[i].Latency())
		if samples[i].Failed() {
			failed++
		}
	}
	return latencies, failed
}
