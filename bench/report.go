package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
)

type report struct {
	Machine        machine
	HAProxy        haproxySettings
	ControllerArgs []string
	Args           []string
	KillFlags      []string // the flags given that the kill section depends on, as -name=value
	DataplaneFlags []string // the flags given that the data-plane section depends on, as -name=value
	LatencyFlags   []string // the flags given that the latency section depends on, as -name=value
	Started        time.Time
	Wall           time.Duration
	Release        *releaseResult
	Cost           []costResult
	Kills          *killsResult
	Dataplane      *dataplaneResult
	Kamal          *kamalResult
	Latency        *latencyResult
	Canary         *canaryResult
}

// Markers around the results section of bench/README.md that the bench
// rewrites.
const (
	readmeBegin = "<!-- bench:results:begin (written by go run ./bench) -->"
	readmeEnd   = "<!-- bench:results:end -->"
)

func msf(d time.Duration) string {
	if d < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

// summary is the part of the results that goes into README.md too.
func (rep *report) summary() string {
	s := rep.mainSummary()
	for _, m := range rep.marked(false) {
		s += m.block + "\n"
	}
	return s
}

// mainSummary is the summary without the sections between their own
// markers (kills, data plane).
func (rep *report) mainSummary() string {
	var b strings.Builder
	m := rep.Machine
	cmd := "go run ./bench"
	if len(rep.Args) > 0 {
		cmd += " " + shellWords(rep.Args)
	}
	fmt.Fprintf(&b, "Run of %s, `%s`, %s wall time.\n\n", rep.Started.UTC().Format("2006-01-02 15:04 MST"), cmd, rep.Wall.Round(time.Second))
	fmt.Fprintf(&b, "Machine: %d cores (%s), %s RAM, kernel %s, HAProxy %s, Docker %s, %s. "+
		"Load average at start %s, at end %s; %d other containers were running at start (the machine is shared: "+
		"other test runs may have been running at the same time).\n\n",
		m.Cores, m.CPU, m.MemTotal, m.Kernel, m.HAProxy, m.Docker, m.Go, m.LoadStart, m.LoadEnd, m.OtherContainers)
	ctlArgs := "none"
	if len(rep.ControllerArgs) > 0 {
		ctlArgs = "`" + strings.Join(rep.ControllerArgs, " ") + "`"
	}
	network := "`network: bridge` (HAProxy reaches each container at its own bridge address, the direct path; the published port on 127.0.0.1, through Docker's port forwarder, is the fallback)"
	if rep.HAProxy.HostNetwork {
		network = "`network: host` (the app listens on 127.0.0.1:hostPort)"
	}
	extra := extraList(rep.HAProxy.Extra)
	if m.Commit != "" {
		fmt.Fprintf(&b, "Controller built from commit %s.\n\n", m.Commit)
	}
	fmt.Fprintf(&b, "Settings: HAProxy `%s`, `timeout check %s`%s; controller flags beyond `-v 1`: %s; `planner.ReadyPoll` = %s; "+
		"spec `idle: {policy: Stop}` (every release and rollback starts a container), `verify: {window: %s}` (the old color stays warm that long after the switch: it adds to *converged*, not to *map switched*), %s.\n\n",
		rep.HAProxy.DefaultServer, rep.HAProxy.TimeoutCheck, extra, ctlArgs, planner.ReadyPoll, rep.HAProxy.VerifyWindow, network)

	if rl := rep.Release; rl != nil {
		b.WriteString("### Zero loss under load\n\n")
		pacing := "closed loop: each worker sends its next request as soon as the last one is answered"
		if rl.Rate > 0 {
			pacing = fmt.Sprintf("paced at %d requests/s per variant, spread over its workers", rl.Rate)
		}
		fmt.Fprintf(&b, "%d release/rollback cycles (%d switches, each starting a container) on one service, load on all the time (%s; %s). "+
			"Every request counts once, by its own outcome: the load generator's `NoRetry` stops net/http from re-sending a request that failed on a reused connection.\n\n",
			rl.Cycles, len(rl.Switches), rl.LoadEnd.Sub(rl.LoadStart).Round(time.Second), pacing)
		b.WriteString("| load | connections | requests | failed | hidden retries | req/s |\n|---|--:|--:|--:|--:|--:|\n")
		var tot, fail, retr int64
		var conns int
		for _, v := range rl.Variants {
			fmt.Fprintf(&b, "| %s | %d | %d | **%d** | %d | %.0f |\n", v.Name, v.Concurrency, v.Res.Sent, v.Res.Failed, v.Res.Retries, v.Res.RPS())
			tot += v.Res.Sent
			fail += v.Res.Failed
			retr += v.Res.Retries
			conns += v.Concurrency
		}
		fmt.Fprintf(&b, "| **total** | %d | **%d** | **%d** | %d | |\n\n", conns, tot, fail, retr)

		b.WriteString("### Time to switch, and its floor\n\n")
		fmt.Fprintf(&b, "Per switch, from the rename of the desired file (%d switches):\n\n", len(rl.Switches))
		b.WriteString("| from the save to | median ms | p90 ms | min ms | max ms |\n|---|--:|--:|--:|--:|\n")
		row := func(name string, f func(switchResult) time.Duration) {
			ds := durations(rl.Switches, f)
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", name, msf(pct(ds, 50)), msf(pct(ds, 90)), msf(pct(ds, 0)), msf(pct(ds, 100)))
		}
		row("container start requested (controller log)", func(s switchResult) time.Duration { return s.since(s.Steps["StartContainer"]) })
		row("container started (Docker event)", func(s switchResult) time.Duration { return s.since(s.Started) })
		row("**floor**: the new app first answers 200 on its own address", func(s switchResult) time.Duration { return s.since(s.Floor) })
		row("HAProxy reports the new server UP", func(s switchResult) time.Duration { return s.since(s.HAUp) })
		row("runtime map switched", func(s switchResult) time.Duration { return s.since(s.Switch) })
		row("converged (status.json)", func(s switchResult) time.Duration { return s.since(s.Converged) })
		b.WriteString("\n| between | median ms | p90 ms | min ms | max ms |\n|---|--:|--:|--:|--:|\n")
		row("**ready to switch** (map switched − floor)", func(s switchResult) time.Duration { return s.readyToSwitch() })
		row("floor → HAProxy UP (its checks, or the controller setting health up)", func(s switchResult) time.Duration { return between(s.Floor, s.HAUp) })
		row("HAProxy UP → map switched (the controller)", func(s switchResult) time.Duration { return between(s.HAUp, s.Switch) })
		row("container start requested → started (Docker)", func(s switchResult) time.Duration { return between(s.Steps["StartContainer"], s.Started) })
		row("container started → floor (app start, port reachable)", func(s switchResult) time.Duration { return between(s.Started, s.Floor) })
		if durs := durations(rl.Switches, func(s switchResult) time.Duration { return between(s.Steps["MarkServerUp"], s.Steps["SwitchMap"]) }); len(durs) > 0 {
			row(fmt.Sprintf("controller: MarkServerUp step → SwitchMap step (log; %d of %d switches had it)", len(durs), len(rl.Switches)),
				func(s switchResult) time.Duration { return between(s.Steps["MarkServerUp"], s.Steps["SwitchMap"]) })
		}
		row("map switched → converged (drain, stop old)", func(s switchResult) time.Duration { return between(s.Switch, s.Converged) })
		var waits, probes []time.Duration
		for _, s := range rl.Switches {
			waits = append(waits, s.WaitPasses...)
			probes = append(probes, s.ServedProbe...)
		}
		fmt.Fprintf(&b, "| controller pass period while waiting for the new color (log) | %s | %s | %s | %s |\n", msf(pct(waits, 50)), msf(pct(waits, 90)), msf(pct(waits, 0)), msf(pct(waits, 100)))
		fmt.Fprintf(&b, "| one GET /healthz of the serving color under this load (the controller probes it twice a pass) | %s | %s | %s | %s |\n", msf(pct(probes, 50)), msf(pct(probes, 90)), msf(pct(probes, 0)), msf(pct(probes, 100)))
		rts := durations(rl.Switches, func(s switchResult) time.Duration { return s.readyToSwitch() })
		verdict := "met"
		if med := pct(rts, 50); med < 0 || med >= 50*time.Millisecond {
			verdict = "NOT met"
		}
		fmt.Fprintf(&b, "\nGoal: ready to switch under 50 ms at the median with two passing health checks demanded: **%s** (median %s ms).\n\n", verdict, msf(pct(rts, 50)))

		if oc := rl.Observe; oc != nil {
			fmt.Fprintf(&b, "Where a pass spends its time: %d observations of the service (the controller's own `reconcile.Deps.Observe` with real clients, %s apart, "+
				"under the same load, blue serving, green stopped) took **%s ms** at the median (p90 %s ms); per call (Observe makes these reads at once, so their times overlap and add up to more than an observation):\n\n",
				oc.N, planner.ReadyPoll, msf(pct(oc.Total, 50)), msf(pct(oc.Total, 90)))
			b.WriteString("| call | calls per observation | median ms | ms per observation (mean) |\n|---|--:|--:|--:|\n")
			names, med, share := oc.rows()
			for _, n := range names {
				per := "–"
				if v, ok := oc.Per[n]; ok {
					per = fmt.Sprintf("%.0f", v)
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", n, per, msf(med[n]), msf(share[n]))
			}
			b.WriteString("\n")
		}
		b.WriteString("### Latency around the switch\n\n")
		b.WriteString("Requests that started in the second centred on each switch, against those that started in the quiet second before each save, pooled over all switches:\n\n")
		b.WriteString("| load | window | requests | p50 ms | p99 ms | max ms |\n|---|---|--:|--:|--:|--:|\n")
		for _, v := range rl.Variants {
			var quiet, around []time.Duration
			for _, s := range rl.Switches {
				quiet = append(quiet, window(v.Res.Samples, s.Save.Add(-time.Second), s.Save)...)
				if !s.Switch.IsZero() {
					around = append(around, window(v.Res.Samples, s.Switch.Add(-500*time.Millisecond), s.Switch.Add(500*time.Millisecond))...)
				}
			}
			for _, x := range []struct {
				name string
				ds   []time.Duration
			}{{"quiet second", quiet}, {"second around the switch", around}} {
				fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s |\n", v.Name, x.name, len(x.ds), msf(pct(x.ds, 50)), msf(pct(x.ds, 99)), msf(pct(x.ds, 100)))
			}
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "During the cycles (%s): controller CPU %s (%.1f ms per switch), peak RSS %.1f MiB; HAProxy worker CPU %s; "+
			"the bench itself (load generator, probes, pollers) %s; all cores %.0f%% busy.\n\n",
			rl.Wall.Round(time.Second), rl.CtlCPUCycles.Round(time.Millisecond),
			float64(rl.CtlCPUCycles)/float64(time.Millisecond)/float64(max(1, len(rl.Switches))),
			float64(rl.Ctl.hwm)/1024, rl.HAProxyCPU.Round(time.Millisecond), rl.BenchCPU.Round(time.Millisecond), rl.BusyPct)
		b.WriteString("![requests per second across a release](release.svg)\n\n")
	}

	if len(rep.Cost) > 0 {
		b.WriteString("### Controller cost\n\n")
		b.WriteString("N services in one desired file, one HAProxy (2N backends), each service converged on blue, green stopped. " +
			"Runtime API commands are counted as connections to a socket proxy in front of the admin socket (one command per connection), " +
			"Docker calls as HTTP requests through a socket proxy set as the controller's DOCKER_HOST; passes from the `-v 1` log (one line per service per pass).\n\n")
		b.WriteString("| services | converge from scratch | idle CPU (ms/min) | idle RSS MiB | HAProxy idle CPU (ms/min) | passes counted | runtime API cmds/pass | Docker calls/pass | pass wall ms (median) |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, c := range rep.Cost {
			perMin := func(d time.Duration) string {
				return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)*float64(time.Minute)/float64(c.IdleWindow))
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %.1f | %s | %d | %s | %s | %s |\n", c.Services, c.ConvergeAll.Round(100*time.Millisecond),
				perMin(c.IdleCPU), float64(c.IdleRSS)/1024, perMin(c.IdleHAProxyCPU), c.Passes,
				perPass(c.HACmds, c.Passes), perPass(c.DockerCalls, c.Passes), msf(pct(c.PassWall, 50)))
		}
		b.WriteString("\nReleases of the first service while the others stay put (no load), taking turns between green and blue, each starting a container. " +
			"The first one is counted through the socket proxies (every column but ready to switch); then the proxies are taken out of the controller's way " +
			"(its sockets become links to HAProxy's and the engine's) and ready to switch is timed over the n releases after it:\n\n")
		b.WriteString("| services | ready to switch ms: median | p90 | n | save → switch ms | save → converged ms | controller CPU ms | passes | runtime API cmds/pass | Docker calls/pass | peak RSS MiB |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, c := range rep.Cost {
			r, rts := c.Release, c.readyToSwitch()
			fmt.Fprintf(&b, "| %d | %s | %s | %d | %s | %s | %s | %d | %s | %s | %.1f |\n", c.Services, msf(pct(rts, 50)), msf(pct(rts, 90)), len(rts),
				msf(r.since(r.Switch)), msf(r.since(r.Converged)), msf(c.ReleaseCPU), c.ReleasePasses, perPass(c.ReleaseHACmds, c.ReleasePasses),
				perPass(c.ReleaseDocker, c.ReleasePasses), float64(c.HWM)/1024)
		}
		b.WriteString("\n")
		b.WriteString(rep.uiSummary())
	}
	return b.String()
}

// uiSummary is the dashboard's cost: a page's first load, and the
// controller's CPU with a page open against none (same controller, same
// idle window, same number of passes).
func (rep *report) uiSummary() string {
	var b strings.Builder
	for i, c := range rep.Cost {
		u := c.UI
		if u == nil {
			continue
		}
		if i == 0 || rep.Cost[i-1].UI == nil {
			b.WriteString("The dashboard (`--ui-listen`): a page's first load (the page gzipped, as browsers ask, with its script and style), " +
				"and the controller's CPU over the idle window (per pass: the HAProxy watch nudges passes, so two windows need not hold as many) and over the same number of passes triggered by saving the file, " +
				"with no page open, then with one page open (its event stream connected):\n\n")
			b.WriteString("| services | first load KiB (HTML KiB) | idle: CPU ms per pass (passes), no page | with a page | change | CPU of the passes ms, no page | with a page | change | pushed to the page KiB |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		}
		perPassMs := func(d time.Duration, n int) float64 {
			return float64(d) / float64(time.Millisecond) / float64(max(n, 1))
		}
		change := func(a, b float64) string {
			if a <= 0 {
				return "n/a"
			}
			return fmt.Sprintf("%+.0f %%", (b/a-1)*100)
		}
		closed, open := perPassMs(c.IdleCPU, c.IdlePasses), perPassMs(u.IdleOpenCPU, u.IdleOpenPasses)
		fmt.Fprintf(&b, "| %d | %.1f (%.1f) | %.1f (%d) | %.1f (%d) | %s | %s | %s | %s | %.1f |\n", c.Services, float64(u.FirstLoad)/1024, float64(u.FirstLoadHTML)/1024,
			closed, c.IdlePasses, open, u.IdleOpenPasses, change(closed, open),
			msf(u.PassesClosedCPU), msf(u.PassesOpenCPU), change(float64(u.PassesClosedCPU), float64(u.PassesOpenCPU)), float64(u.EventBytes)/1024)
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	for _, c := range rep.Cost {
		if c.UI == nil || len(c.UI.Pairs) == 0 {
			continue
		}
		var closed, open []time.Duration
		for _, p := range c.UI.Pairs {
			closed, open = append(closed, p.Closed), append(open, p.Open)
		}
		tot, med, p90 := uiPairsSummary(c.UI.Pairs)
		fmt.Fprintf(&b, "%d services, %d pairs of %s idle windows, interleaved: controller CPU per window %s ms median with no page, %s ms with a page open; "+
			"the page's change %+.1f %% over all the windows, per pair median %+.1f %%, p90 %+.1f %%.\n\n",
			c.Services, len(c.UI.Pairs), c.UI.PairWindow, msf(pct(closed, 50)), msf(pct(open, 50)), tot*100, med*100, p90*100)
	}
	return b.String()
}

// markdown is results.md: the summary and every switch.
func (rep *report) markdown() string {
	var b strings.Builder
	b.WriteString("# Benchmark results\n\nWritten by `go run ./bench` (see [README.md](README.md) for the method); rerunning it replaces this file.\n\n")
	b.WriteString(rep.mainSummary())
	if rl := rep.Release; rl != nil {
		b.WriteString("### Every switch\n\nMilliseconds from the save; *steps* are when the controller logged each step (ms resolution).\n\n")
		b.WriteString("| # | edit | HAProxy at save | steps | app ready | HAProxy UP | map switched | converged | ready to switch |\n|--:|---|---|---|--:|--:|--:|--:|--:|\n")
		for i, s := range rl.Switches {
			var names []string
			for a := range s.Steps {
				names = append(names, a)
			}
			sort.Slice(names, func(i, j int) bool { return s.Steps[names[i]].Before(s.Steps[names[j]]) })
			var steps []string
			for _, a := range names {
				steps = append(steps, fmt.Sprintf("%s %s", a, msf(s.since(s.Steps[a]))))
			}
			edit := fmt.Sprintf("%s → %s", s.Kind, s.Body)
			if s.Err != "" {
				edit += " (" + s.Err + ")"
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", i+1, edit, s.StatusAt, strings.Join(steps, ", "),
				msf(s.since(s.Floor)), msf(s.since(s.HAUp)), msf(s.since(s.Switch)), msf(s.since(s.Converged)), msf(s.readyToSwitch()))
		}
		b.WriteString("\n")
		if rl.PlotIndex < len(rl.Switches) {
			s := rl.Switches[rl.PlotIndex]
			fmt.Fprintf(&b, "HAProxy's view of the new server during the plotted switch (#%d; ms from the save: status (last check, its duration)); the app first answered at +%s ms:\n\n",
				rl.PlotIndex+1, msf(s.since(s.Floor)))
			for _, l := range s.Trace {
				b.WriteString("    " + l + "\n")
			}
			b.WriteString("\n")
		}
	}
	for _, m := range rep.marked(true) {
		b.WriteString(m.block)
	}
	return b.String()
}

// write puts results.md and release.svg in dir and refreshes the results
// section of dir/README.md when it has the markers. It says what it wrote,
// and returns the first file it could not write.
func (rep *report) write(t interface{ Logf(string, ...any) }, dir string) error {
	if rep.partial() {
		return rep.writePartial(t, dir)
	}
	if !rep.mainMeasured() {
		t.Logf("no section measured: %s left as it was", dir)
		return nil
	}
	results := filepath.Join(dir, "results.md")
	prev, _ := os.ReadFile(results)
	if err := os.WriteFile(results, []byte(rep.markdown()+rep.unmeasured(string(prev))), 0o644); err != nil {
		return fmt.Errorf("write the results: %w", err)
	}
	wrote := []string{results}
	if rl := rep.Release; rl != nil && rl.PlotIndex < len(rl.Switches) {
		plot := filepath.Join(dir, "release.svg")
		if err := os.WriteFile(plot, []byte(plotRelease(rl, rl.Switches[rl.PlotIndex])), 0o644); err != nil {
			return fmt.Errorf("write the plot (%s written): %w", results, err)
		}
		wrote = append(wrote, plot)
	}
	readme, err := rewriteResults(dir, func(inner string) string { return "\n" + rep.summary() + rep.unmeasured(inner) })
	if err != nil {
		return fmt.Errorf("update the results section (%s written): %w", strings.Join(wrote, " and "), err)
	}
	if readme != "" {
		wrote = append(wrote, "the results section of "+readme)
	}
	t.Logf("wrote %s", strings.Join(wrote, ", "))
	return nil
}

// rewriteResults replaces the results section of dir/README.md, between
// its markers, with what section makes of it, and returns the file's path,
// "" when there is no such file or it has no markers (left alone).
func rewriteResults(dir string, section func(inner string) string) (string, error) {
	readme := filepath.Join(dir, "README.md")
	b, err := os.ReadFile(readme)
	if err != nil {
		return "", nil
	}
	s := string(b)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		return "", nil
	}
	s = s[:i+len(readmeBegin)] + section(s[i+len(readmeBegin):j]) + s[j:]
	if err := os.WriteFile(readme, []byte(s), 0o644); err != nil {
		return "", err
	}
	return readme, nil
}

// markedSection is a section of the results that sits between its own
// markers, in results.md and in README.md's results section.
type markedSection struct{ begin, end, block string }

// allMarkers are the begin and end markers of every section that has its
// own (kills, data plane, latency, side by side).
var allMarkers = [][2]string{{killsBegin, killsEnd}, {dataplaneBegin, dataplaneEnd}, {latencyBegin, latencyEnd}, {kamalBegin, kamalEnd}, {canaryBegin, canaryEnd}}

// unmeasured is what a full run keeps of prev (the file or section it
// replaces): the marked sections it did not measure, from an earlier run,
// each with its own date and command.
func (rep *report) unmeasured(prev string) string {
	measured := map[string]bool{}
	for _, m := range rep.marked(false) {
		measured[m.begin] = true
	}
	var b strings.Builder
	for _, m := range allMarkers {
		i, j := strings.Index(prev, m[0]), strings.Index(prev, m[1])
		if measured[m[0]] || i < 0 || j < i {
			continue
		}
		b.WriteString(prev[i:j+len(m[1])] + "\n\n")
	}
	return b.String()
}

// marked is the measured sections of this run that have their own markers;
// with detail, as results.md has them.
func (rep *report) marked(detail bool) []markedSection {
	var out []markedSection
	if rep.Kills != nil {
		out = append(out, markedSection{killsBegin, killsEnd, rep.killSection(detail)})
	}
	if rep.Dataplane != nil {
		out = append(out, markedSection{dataplaneBegin, dataplaneEnd, rep.dataplaneSection(detail)})
	}
	if rep.Latency != nil {
		out = append(out, markedSection{latencyBegin, latencyEnd, rep.latencySection(detail)})
	}
	if rep.Kamal != nil {
		out = append(out, markedSection{kamalBegin, kamalEnd, rep.kamalSection(detail)})
	}
	if rep.Canary != nil {
		out = append(out, markedSection{canaryBegin, canaryEnd, rep.canarySection(detail)})
	}
	return out
}

// partial reports whether this run measured only sections that have their
// own markers (kills, data plane, latency, side by side): it then replaces only those sections of
// results.md and README.md.
func (rep *report) partial() bool {
	return !rep.mainMeasured() && len(rep.marked(false)) > 0
}

// mainMeasured reports a section of the main summary measured: the
// release cycles or the cost runs.
func (rep *report) mainMeasured() bool {
	return rep.Release != nil || len(rep.Cost) > 0
}

// splice replaces the part of s between begin and end (markers included)
// with block, or adds block at the end of s.
func splice(s, begin, end, block string) string {
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i >= 0 && j > i {
		e := j + len(end)
		if e < len(s) && s[e] == '\n' {
			e++
		}
		return s[:i] + block + s[e:]
	}
	if s != "" && !strings.HasSuffix(s, "\n\n") {
		s = strings.TrimRight(s, "\n") + "\n\n"
	}
	return s + block
}

// writePartial puts the marked sections of a partial run into results.md
// and the results section of README.md, leaving the rest as it was.
func (rep *report) writePartial(t interface{ Logf(string, ...any) }, dir string) error {
	path := filepath.Join(dir, "results.md")
	text := rep.markdown()
	if old, err := os.ReadFile(path); err == nil {
		text = string(old)
		for _, m := range rep.marked(true) {
			text = splice(text, m.begin, m.end, m.block)
		}
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write the results: %w", err)
	}
	readme, err := rewriteResults(dir, func(inner string) string {
		for _, m := range rep.marked(false) {
			inner = splice(inner, m.begin, m.end, m.block)
		}
		if !strings.HasSuffix(inner, "\n\n") {
			inner = strings.TrimRight(inner, "\n") + "\n\n"
		}
		return inner
	})
	if err != nil {
		return fmt.Errorf("update the results section (%s written): %w", path, err)
	}
	var names []string
	for _, m := range rep.marked(false) {
		name, _, _ := strings.Cut(strings.TrimPrefix(m.begin, "<!-- bench:"), ":")
		names = append(names, name)
	}
	where := path
	if readme != "" {
		where += " and of the results section of " + readme
	}
	t.Logf("wrote the %s section(s) of %s", strings.Join(names, " and "), where)
	return nil
}
