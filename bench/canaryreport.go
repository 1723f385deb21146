package main

import (
	"fmt"
	"strings"
	"time"
)

// Markers around the canary section, in results.md and inside the results
// section of README.md: a run of the canary series alone replaces only them.
const (
	canaryBegin = "<!-- bench:canary:begin -->"
	canaryEnd   = "<!-- bench:canary:end -->"
)

// canarySection is the canary series between its markers: how soon HAProxy
// served each step's weight, and the load's latency during the rollouts
// against the quiet seconds before each save; with detail, every rollout.
func (rep *report) canarySection(detail bool) string {
	c := rep.Canary
	if c == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(canaryBegin + "\n### Canary rollouts\n\n")
	var weights []string
	for _, w := range c.Weights {
		weights = append(weights, fmt.Sprint(w))
	}
	run, alone := rep.sectionCommands(fmt.Sprintf("go run ./bench -cycles 0 -scale '' -canary %d -canary-steps %s -canary-pause %s",
		c.Rollouts, strings.Join(weights, ","), c.Pause), nil)
	b.WriteString(rep.sectionRun(c.Started, c.Wall, run, alone, c.LoadAvgStart, c.LoadAvgEnd))
	fmt.Fprintf(&b, "%d rollouts of the demo app, each to the other color, in steps of %s %% of new users for %s each, under %d keep-alive + %d new-connection workers at %d requests/s each. "+
		"The harness reads HAProxy's map and canary backend every 2 ms: a step is *served* when the map key names the canary backend and the new color's server has the step's weight. "+
		"A step's start is the save for the first step (its container is started and made ready first), and the previous step served plus its pause for the others; "+
		"*logged* is the controller's SetCanaryWeights log line (ms resolution). Milliseconds:\n\n",
		c.Rollouts, strings.Join(weights, ", "), c.Pause, c.KeepAlive, c.Fresh, c.Rate)
	b.WriteString("| step | from | to | n | median | p90 | min | max |\n|---|---|---|--:|--:|--:|--:|--:|\n")
	for k, w := range c.Weights {
		var fromStart, fromLog []time.Duration
		for _, ro := range c.Runs {
			start := ro.Save
			if k > 0 && !ro.Served[k-1].IsZero() {
				start = ro.Served[k-1].Add(c.Pause)
			} else if k > 0 {
				start = time.Time{} // unknown
			}
			if d := between(start, ro.Served[k]); d >= 0 {
				fromStart = append(fromStart, d)
			}
			if k < len(ro.Logged) {
				if d := between(ro.Logged[k], ro.Served[k]); d >= 0 {
					fromLog = append(fromLog, d)
				}
			}
		}
		from := "its pause's end"
		if k == 0 {
			from = "the save"
		}
		statsRowOf(&b, fmt.Sprintf("%d (%d %%)", k+1, w), from, "served", fromStart)
		statsRowOf(&b, fmt.Sprintf("%d (%d %%)", k+1, w), "logged", "served", fromLog)
	}
	var toSwitch []time.Duration
	for _, ro := range c.Runs {
		if last := ro.Served[len(ro.Served)-1]; !last.IsZero() {
			if d := between(last.Add(c.Pause), ro.Switched); d >= 0 {
				toSwitch = append(toSwitch, d)
			}
		}
	}
	statsRowOf(&b, "switch", "the last pause's end", "map names the new color", toSwitch)
	b.WriteString("\nThe load's latency during the rollouts (requests that started from each save to the rollout converged) against the quiet seconds before each save, pooled over the rollouts:\n\n")
	b.WriteString("| load | window | requests | failed | p50 ms | p99 ms | max ms |\n|---|---|--:|--:|--:|--:|--:|\n")
	for _, l := range c.Load {
		var quiet, during []time.Duration
		var fq, fd int
		for _, ro := range c.Runs {
			q, qf := windowFailed(l.Res.Samples, ro.Save.Add(-quietSeconds*time.Second), ro.Save)
			d, df := windowFailed(l.Res.Samples, ro.Save, ro.Converged)
			quiet, during, fq, fd = append(quiet, q...), append(during, d...), fq+qf, fd+df
		}
		for _, x := range []struct {
			name   string
			ds     []time.Duration
			failed int
		}{{"quiet, before each save", quiet, fq}, {"during the rollouts", during, fd}} {
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s | %s |\n", l.Name, x.name, len(x.ds), x.failed, msf(pct(x.ds, 50)), msf(pct(x.ds, 99)), msf(pct(x.ds, 100)))
		}
	}
	b.WriteString("\n")
	if detail {
		b.WriteString("| # | to | steps served (ms after the save) | switched | converged |\n|--:|---|---|--:|--:|\n")
		for _, ro := range c.Runs {
			var served []string
			for _, s := range ro.Served {
				served = append(served, msf(between(ro.Save, s)))
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", ro.N, ro.To, strings.Join(served, ", "), msf(between(ro.Save, ro.Switched)), msf(between(ro.Save, ro.Converged)))
		}
		b.WriteString("\n")
	}
	b.WriteString(canaryEnd + "\n")
	return b.String()
}

// statsRowOf is a row of the canary table: n, median, p90, min and max of
// ds in ms.
func statsRowOf(b *strings.Builder, step, from, to string, ds []time.Duration) {
	if len(ds) == 0 {
		fmt.Fprintf(b, "| %s | %s | %s | 0 | – | – | – | – |\n", step, from, to)
		return
	}
	fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %s | %s | %s |\n", step, from, to, len(ds),
		msSigned(pct(ds, 50)), msSigned(pct(ds, 90)), msSigned(pct(ds, 0)), msSigned(pct(ds, 100)))
}
