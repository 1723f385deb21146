package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Markers around the data-plane section, in results.md and inside the
// results section of README.md: a run of the section alone (or with the
// kills only) replaces only them.
const (
	dataplaneBegin = "<!-- bench:dataplane:begin -->"
	dataplaneEnd   = "<!-- bench:dataplane:end -->"
)

// medianF is the median of xs, the mean of the two middle values when
// there is an even number of them (with 8 rounds a nearest rank would take
// the lower one); NaN when empty.
func medianF(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// dpDisturbed is how much of a core other work may take during a run before
// the report names the run as disturbed.
const dpDisturbed = 0.25

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// rps is the requests per second of each run of key that completed.
func (d *dataplaneResult) rps(key string) []float64 {
	var out []float64
	for _, r := range d.ok(key) {
		out = append(out, r.Res.RPS)
	}
	return out
}

// pairedRatios is, per round where both completed, a's req/s over b's.
func (d *dataplaneResult) pairedRatios(a, b string) []float64 {
	per := map[int]map[string]float64{}
	for _, r := range d.Runs {
		if r.Err != "" {
			continue
		}
		if per[r.Round] == nil {
			per[r.Round] = map[string]float64{}
		}
		per[r.Round][r.Key] = r.Res.RPS
	}
	var out []float64
	for k := 1; k <= d.Rounds; k++ {
		x, okA := per[k][a]
		y, okB := per[k][b]
		if okA && okB && y > 0 {
			out = append(out, x/y)
		}
	}
	return out
}

// dataplaneCommands are the command line of this run, and the one that runs
// the data-plane section alone with the same settings.
func (rep *report) dataplaneCommands() (run, alone string) {
	return rep.sectionCommands(fmt.Sprintf("go run ./bench -cycles 0 -scale '' -kills 0 -dataplane %d", rep.Dataplane.Rounds), rep.DataplaneFlags)
}

// dataplaneSection is the data-plane section between its markers; with
// detail, every wrk run too (results.md).
func (rep *report) dataplaneSection(detail bool) string {
	d := rep.Dataplane
	if d == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(dataplaneBegin + "\n")
	b.WriteString("### Data plane\n\n")
	run, alone := rep.dataplaneCommands()
	m := rep.Machine
	fmt.Fprintf(&b, "Run of %s, `%s`; this section alone: `%s` (%s wall time). Machine: %d cores (%s), kernel %s, HAProxy %s, Docker %s, %s. "+
		"Load average (1, 5, 15 min) at the start of this section %s, at its end %s.\n\n",
		d.Started.UTC().Format("2006-01-02 15:04 MST"), run, alone, d.Wall.Round(time.Second),
		m.Cores, m.CPU, m.Kernel, m.HAProxy, m.Docker, d.Wrk, d.LoadAvgStart, d.LoadAvgEnd)
	fmt.Fprintf(&b, "The demo app (`%s`, `GET /`) reached four ways, each behind its own frontend of one HAProxy "+
		"(`%s`, `timeout check %s`%s, the other defaults of `examples/haproxy.cfg` without its logging). "+
		"`wrk -t%d -c%d -d%s --latency` on each frontend, %d rounds, the order rotated by one every round (so each target came first in %d of them), "+
		"%s between runs, a %s warm-up of each target before the first round. wrk, HAProxy, the app and the port forwarder share the machine's %d cores: "+
		"req/s is what the whole path gets out of them.\n\n",
		d.Image, rep.HAProxy.DefaultServer, rep.HAProxy.TimeoutCheck, extraList(rep.HAProxy.Extra),
		d.Threads, d.Conns, d.Duration, d.Rounds, (d.Rounds+len(d.Targets)-1)/max(1, len(d.Targets)),
		dpPause, d.Warmup, m.Cores)

	host, proc := medianF(d.rps(dpHostNet)), medianF(d.rps(dpProcess))
	b.WriteString("| server address in HAProxy | req/s median | ratio to host networking | ratio to host process | p99 median ms |\n|---|--:|--:|--:|--:|\n")
	for _, tg := range d.Targets {
		runs := d.ok(tg.Key)
		var p99 []float64
		for _, r := range runs {
			p99 = append(p99, float64(r.Res.P99)/float64(time.Millisecond))
		}
		name := fmt.Sprintf("`%s`: %s", tg.Addr, tg.Via)
		if len(runs) < d.Rounds {
			name += fmt.Sprintf(" (%d of %d runs completed)", len(runs), d.Rounds)
		}
		med := medianF(d.rps(tg.Key))
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %.1f |\n", name, med, ratio(med, host), ratio(med, proc), medianF(p99))
	}
	b.WriteString("\n")

	direct := medianF(d.rps(dpBridge))
	verdict := "NOT met"
	if !math.IsNaN(direct) && !math.IsNaN(host) && direct >= dpTargetRPS*host {
		verdict = "met"
	}
	pr := d.pairedRatios(dpBridge, dpHostNet)
	sort.Float64s(pr)
	fmt.Fprintf(&b, "Issue 9's target, the direct path (the container's bridge IP) within %.1f× of host networking in req/s: %.0f against %.0f, %s: **%s**",
		dpTargetRPS, direct, host, ratio(direct, host), verdict)
	if len(pr) > 0 {
		fmt.Fprintf(&b, " (the same ratio round by round: %.2f to %.2f, median %.2f)", pr[0], pr[len(pr)-1], medianF(pr))
	}
	b.WriteString(".\n\n")
	if d.Proxy != "" {
		fmt.Fprintf(&b, "The published port was served by Docker's port forwarder, `%s`.\n\n", d.Proxy)
	} else {
		b.WriteString("No docker-proxy process served the published port (the engine's userland proxy is off?): the first row is not the port forwarder's path.\n\n")
	}
	b.WriteString("Where the CPU went: cores used during a run (CPU time of the process over the run's length, median over rounds; " +
		"the container's app counted by its host PID; *else*: the machine's busy cores less these, i.e. other processes, such as other test runs, and kernel work charged to none of them):\n\n" +
		"| server address in HAProxy | wrk | HAProxy | the app | docker-proxy | else | all cores busy % |\n|---|--:|--:|--:|--:|--:|--:|\n")
	for _, tg := range d.Targets {
		cores := func(f func(dpRun) time.Duration) string {
			var xs []float64
			for _, r := range d.ok(tg.Key) {
				xs = append(xs, f(r).Seconds()/d.Duration.Seconds())
			}
			if len(xs) == 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.2f", medianF(xs))
		}
		var busy []float64
		for _, r := range d.ok(tg.Key) {
			busy = append(busy, r.Busy)
		}
		proxy := "–"
		if tg.Key == dpPublished {
			proxy = cores(func(r dpRun) time.Duration { return r.ProxyCPU })
		}
		fmt.Fprintf(&b, "| `%s` (%s) | %s | %s | %s | %s | %s | %.0f |\n", tg.Addr, tg.Key,
			cores(func(r dpRun) time.Duration { return r.Res.CPU }), cores(func(r dpRun) time.Duration { return r.HAProxyCPU }),
			cores(func(r dpRun) time.Duration { return r.AppCPU }), proxy, cores(func(r dpRun) time.Duration { return r.elseCPU(m.Cores, d.Duration) }), medianF(busy))
	}
	b.WriteString("\n")
	var disturbed []string
	for _, r := range d.Runs {
		if e := r.elseCPU(m.Cores, d.Duration).Seconds() / d.Duration.Seconds(); r.Err == "" && e > dpDisturbed {
			disturbed = append(disturbed, fmt.Sprintf("round %d %s (%.2f)", r.Round, r.Key, e))
		}
	}
	if len(disturbed) > 0 {
		fmt.Fprintf(&b, "Runs during which other work took more than %.2f of a core (*else*), counted in the figures above: %d of %d: %s.\n\n",
			dpDisturbed, len(disturbed), len(d.Runs), strings.Join(disturbed, ", "))
	} else {
		fmt.Fprintf(&b, "Other work took at most %.2f of a core during every run.\n\n", dpDisturbed)
	}
	var errs []string
	for _, r := range d.Runs {
		if r.Err != "" {
			errs = append(errs, fmt.Sprintf("round %d, %s: %s", r.Round, r.Key, r.Err))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(&b, "Runs left out of the figures: %s.\n\n", strings.Join(errs, "; "))
	}

	if detail {
		b.WriteString("#### Every wrk run\n\n*CPU*: seconds used during the run by wrk / HAProxy / the app / docker-proxy / else.\n\n" +
			"| round | position | server address | req/s | p50 ms | p99 ms | requests | CPU s | cores busy % | error |\n|--:|--:|---|--:|--:|--:|--:|---|--:|---|\n")
		for _, r := range d.Runs {
			e := r.Err
			if e == "" {
				e = "–"
			}
			fmt.Fprintf(&b, "| %d | %d | `%s` (%s) | %.0f | %s | %s | %d | %.1f / %.1f / %.1f / %.1f / %.1f | %.0f | %s |\n",
				r.Round, r.Pos, d.target(r.Key).Addr, r.Key, r.Res.RPS, msf(r.Res.P50), msf(r.Res.P99), r.Res.Requests,
				r.Res.CPU.Seconds(), r.HAProxyCPU.Seconds(), r.AppCPU.Seconds(), r.ProxyCPU.Seconds(), r.elseCPU(m.Cores, d.Duration).Seconds(), r.Busy, e)
		}
		b.WriteString("\n")
	}
	b.WriteString(dataplaneEnd + "\n")
	return b.String()
}

// extraList is the experimental defaults lines, each as ", `line`".
func extraList(ls []string) string {
	var s string
	for _, l := range ls {
		s += ", `" + strings.TrimSpace(l) + "`"
	}
	return s
}

// elseCPU is the CPU time of the machine's busy cores during run r that wrk,
// HAProxy, the app and the forwarder did not use (never below zero).
func (r dpRun) elseCPU(cores int, d time.Duration) time.Duration {
	all := time.Duration(r.Busy / 100 * float64(cores) * float64(d))
	return max(0, all-r.Res.CPU-r.HAProxyCPU-r.AppCPU-r.ProxyCPU)
}
