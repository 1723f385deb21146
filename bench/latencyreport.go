package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Markers around the latency section, in results.md and inside the results
// section of README.md: a run of the section alone replaces only them.
const (
	latencyBegin = "<!-- bench:latency:begin -->"
	latencyEnd   = "<!-- bench:latency:end -->"
)

// latencyTarget is issue 24's bound on the switch second's p99 with the
// cold-start app and warmup, as a multiple of the quiet second's.
const latencyTarget = 1.5

// runs are the releases of variant key that have a switch second.
func (l *latencyResult) runs(key string) []latencyRelease {
	var out []latencyRelease
	for _, r := range l.Runs {
		if r.Variant == key && r.switchP99() >= 0 {
			out = append(out, r)
		}
	}
	return out
}

// ratios are the releases' switch-second p99 over their quiet second's.
func ratios(rs []latencyRelease) []float64 {
	var out []float64
	for _, r := range rs {
		out = append(out, r.ratio())
	}
	return out
}

// switchLags are, per release where both are known, the switch less the
// moment f gives (negative when traffic moved before it).
func switchLags(rs []latencyRelease, f func(latencyRelease) time.Time) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		if at := f(r); !at.IsZero() && !r.Switch.IsZero() {
			out = append(out, r.Switch.Sub(at))
		}
	}
	return out
}

// medianSigned is the nearest-rank median of ds in ms, negative values
// included; "n/a" when there are none.
func medianSigned(ds []time.Duration) string {
	if len(ds) == 0 {
		return "n/a"
	}
	return msSigned(pct(ds, 50))
}

func fmtRatio(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", x)
}

// latencyCommands are this run's command line and the one that runs the
// latency section alone with the same settings.
func (rep *report) latencyCommands() (run, alone string) {
	return rep.sectionCommands(fmt.Sprintf("go run ./bench -cycles 0 -scale '' -latency %d", rep.Latency.Releases), rep.LatencyFlags)
}

// latencySection is the latency section between its markers; with detail,
// every release too (results.md).
func (rep *report) latencySection(detail bool) string {
	l := rep.Latency
	if l == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(latencyBegin + "\n### Latency at the switch: a cold start, with and without warm-up\n\n")
	run, alone := rep.latencyCommands()
	b.WriteString(rep.sectionRun(l.Started, l.Wall, run, alone, l.LoadAvgStart, l.LoadAvgEnd))
	fmt.Fprintf(&b, "One service, released %d times per variant, the variants taking turns (rotated by one every round), each release to the other color "+
		"with a container of its own; `idle: {policy: Stop}`, `verify: {window: %s}`, HAProxy `%s`, `timeout check %s`%s. "+
		"A steady paced (open-loop) load through HAProxy all along: %d keep-alive and %d new-connection workers, %d requests/s each kind (`NoRetry`). "+
		"The cold-start app is the rude test app with `APP_MODE=coldstart=%s`: each of its first requests to `GET /` waits that long (a sleep, not CPU work); "+
		"with `warmup` the spec has `warmup: {path: /, requests: %d}` (concurrency 4). "+
		"**Quiet second**: the median of the p99s of the %d one-second windows before the save. **Switch second**: the p99 of the requests that started in [switch − 0.5 s, switch + 0.5 s), "+
		"the switch being the start of the first request the new color answered (the traffic's own view of the map change). Requests are placed by start time; p99 is the nearest rank, all requests of the second (both kinds) pooled. "+
		"The harness polls only `status.json` (every 25 ms) during a release.\n\n",
		l.Releases, l.Verify, rep.HAProxy.DefaultServer, rep.HAProxy.TimeoutCheck, extraList(rep.HAProxy.Extra),
		l.KeepAlive, l.Fresh, l.Rate, l.ColdStart, l.WarmupRequests, quietSeconds)

	b.WriteString("| variant | releases | quiet p99 median ms | switch-second p99 median ms | **ratio median** | ratio p90 | save → switch median ms | failed requests |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, v := range l.Variants {
		rs := l.runs(v.Key)
		var failed, reqs int64
		for _, r := range l.Runs {
			if r.Variant == v.Key {
				failed += r.Failed
				reqs += r.Requests
			}
		}
		rt := ratios(rs)
		fmt.Fprintf(&b, "| %s | %d | %s | %s | **%s** | %s | %s | %d of %d |\n", v.Name, len(rs),
			msf(pct(durations(rs, func(r latencyRelease) time.Duration { return r.Quiet }), 50)),
			msf(pct(durations(rs, latencyRelease.switchP99), 50)),
			fmtRatio(pctF(rt, 50)), fmtRatio(pctF(rt, 90)),
			msf(pct(durations(rs, func(r latencyRelease) time.Duration { return between(r.Save, r.Switch) }), 50)), failed, reqs)
	}
	b.WriteString("\nMedians are nearest-rank (with an even count, the lower middle).\n\n")
	b.WriteString("The switch second split by who answered (median over releases of each part's p99, ms): the old color's answers come before the switch and show the machine's load (the new container's start, the controller's work); the new color's show its cold start and HAProxy's new connections to it.\n\n")
	b.WriteString("| variant | answered by the old color | by the new color | the switch − the controller's SwitchMap log line, median ms | the switch − the history's switchedAt, median ms |\n|---|--:|--:|--:|--:|\n")
	for _, v := range l.Variants {
		rs := l.runs(v.Key)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", v.Name,
			msf(pct(durations(rs, func(r latencyRelease) time.Duration { return r.SwitchOld }), 50)),
			msf(pct(durations(rs, func(r latencyRelease) time.Duration { return r.SwitchNew }), 50)),
			medianSigned(switchLags(rs, func(r latencyRelease) time.Time { return r.Steps["SwitchMap"] })),
			medianSigned(switchLags(rs, func(r latencyRelease) time.Time { return r.Recorded })))
	}
	b.WriteString("\n")
	b.WriteString(latencySlowTable(l))
	b.WriteString(latencyVerdict(l))
	b.WriteString(latencySeriesTable(l))
	var tot, fail int64
	for _, v := range l.Load {
		tot += v.Res.Sent
		fail += v.Res.Failed
	}
	fmt.Fprintf(&b, "Load over the whole section: %d requests, **%d failed**", tot, fail)
	for _, v := range l.Load {
		fmt.Fprintf(&b, "; %s: %d, %d failed, %.0f req/s", v.Name, v.Res.Sent, v.Res.Failed, v.Res.RPS())
		for i, s := range v.Res.FailSamples {
			if i == 3 {
				break
			}
			fmt.Fprintf(&b, " (`%s`)", s.Err)
		}
	}
	b.WriteString(".\n\n")
	if detail {
		b.WriteString(latencyDetail(l))
	}
	b.WriteString(latencyEnd + "\n")
	return b.String()
}

// latencyVerdict is acceptance 2 of issue 24, on the ratio's median.
func latencyVerdict(l *latencyResult) string {
	rt := ratios(l.runs(latWarm))
	if len(rt) == 0 {
		return ""
	}
	med := pctF(rt, 50)
	verdict := "NOT met"
	if !math.IsNaN(med) && med <= latencyTarget {
		verdict = "met"
	}
	return fmt.Sprintf("Issue 24's target, with the cold-start app and `warmup` the switch second's p99 within %.1f× of the quiet second's: median ratio %s (p90 %s, %d releases): **%s**.\n\n",
		latencyTarget, fmtRatio(med), fmtRatio(pctF(rt, 90)), len(rt), verdict)
}

// latencySeriesTable is, per variant, the median over releases of the p99
// of each second centred on the switch ± k s.
func latencySeriesTable(l *latencyResult) string {
	var b strings.Builder
	b.WriteString("p99 of each second centred on the switch + k s, median over the releases, ms:\n\n| variant | quiet |")
	for k := -seriesBefore; k <= seriesAfter; k++ {
		if k == 0 {
			b.WriteString(" **switch** |")
		} else {
			fmt.Fprintf(&b, " %+d s |", k)
		}
	}
	b.WriteString("\n|---|--:|" + strings.Repeat("--:|", seriesBefore+1+seriesAfter) + "\n")
	for _, v := range l.Variants {
		rs := l.runs(v.Key)
		fmt.Fprintf(&b, "| %s | %s |", v.Name, msf(pct(durations(rs, func(r latencyRelease) time.Duration { return r.Quiet }), 50)))
		for k := 0; k <= seriesBefore+seriesAfter; k++ {
			fmt.Fprintf(&b, " %s |", msf(pct(durations(rs, func(r latencyRelease) time.Duration { return r.Series[k] }), 50)))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	return b.String()
}

// latencyDetail is every release, in order.
func latencyDetail(l *latencyResult) string {
	var b strings.Builder
	b.WriteString("Every release (ms from the save; steps as the controller logged them):\n\n")
	b.WriteString("| # | variant | to | StartContainer | WarmUp | SwitchMap (log) | switch (first answer of the new color) | converged | quiet p99 | switch p99 | ratio | old / new color p99 | p99 +1 s | requests | failed |\n")
	b.WriteString("|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range l.Runs {
		plus1 := time.Duration(-1)
		if len(r.Series) > seriesBefore+1 {
			plus1 = r.Series[seriesBefore+1]
		}
		name := r.Variant
		if r.Err != "" {
			name += " (" + r.Err + ")"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %d | %d |\n", r.N, name, r.To,
			msf(between(r.Save, r.Steps["StartContainer"])), msf(between(r.Save, r.Steps["WarmUp"])), msf(between(r.Save, r.Steps["SwitchMap"])),
			msf(between(r.Save, r.Switch)), msf(between(r.Save, r.Converged)), msf(r.Quiet), msf(r.switchP99()), fmtRatio(r.ratio()),
			msf(r.SwitchOld), msf(r.SwitchNew), msf(plus1), r.Requests, r.Failed)
	}
	b.WriteString("\n")
	return b.String()
}

// latencySlowTable is, per variant, where in the switch second its slow
// requests started (summed over the releases), and when the controller
// logged its steps around the switch.
func latencySlowTable(l *latencyResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Where the slow requests are: requests of the switch second slower than %.1f× their release's quiet p99, summed over the releases, by when they started (ms from the switch):\n\n| variant |", latencyTarget)
	for k := 0; k < tenths; k++ {
		fmt.Fprintf(&b, " %+d |", -500+100*k)
	}
	b.WriteString("\n|---|" + strings.Repeat("--:|", tenths) + "\n")
	for _, v := range l.Variants {
		var sum [tenths]int
		for _, r := range l.runs(v.Key) {
			for k := range sum {
				sum[k] += r.Slow[k]
			}
		}
		fmt.Fprintf(&b, "| %s |", v.Name)
		for _, n := range sum {
			fmt.Fprintf(&b, " %d |", n)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nThe controller's steps, ms from the switch (median; its log lines, ms resolution, logged as each step begins):\n\n| variant | StartContainer | WarmUp | SwitchMap | SetRestartPolicy | DrainServer |\n|---|--:|--:|--:|--:|--:|\n")
	for _, v := range l.Variants {
		rs := l.runs(v.Key)
		fmt.Fprintf(&b, "| %s |", v.Name)
		for _, st := range []string{"StartContainer", "WarmUp", "SwitchMap", "SetRestartPolicy", "DrainServer"} {
			var ds []time.Duration
			for _, r := range rs {
				if at := r.Steps[st]; !at.IsZero() {
					ds = append(ds, at.Sub(r.Switch))
				}
			}
			fmt.Fprintf(&b, " %s |", medianSigned(ds))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	return b.String()
}
