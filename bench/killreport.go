package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Markers around the kill section, in results.md and inside the results
// section of README.md: a run of the kill section alone replaces only them.
const (
	killsBegin = "<!-- bench:kills:begin -->"
	killsEnd   = "<!-- bench:kills:end -->"
)

var killMethodName = map[string]string{
	killDocker: "`docker kill -s KILL` (Engine API kill)",
	killPID:    "SIGKILL of the app's process from the host",
}

// msSigned formats d in ms, negative values included.
func msSigned(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

// killDurs is f over the kills of method ("" for all) where f is known.
func killDurs(ks []killResult, method string, f func(killResult) (time.Duration, bool)) []time.Duration {
	var out []time.Duration
	for _, k := range ks {
		if method != "" && k.Method != method {
			continue
		}
		if d, ok := f(k); ok {
			out = append(out, d)
		}
	}
	return out
}

// known wraps a duration that is -1 when unknown.
func known(f func(killResult) time.Duration) func(killResult) (time.Duration, bool) {
	return func(k killResult) (time.Duration, bool) { d := f(k); return d, d >= 0 }
}

func statsRow(b *strings.Builder, name string, ds []time.Duration) {
	if len(ds) == 0 {
		fmt.Fprintf(b, "| %s | 0 | – | – | – | – |\n", name)
		return
	}
	fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s |\n", name, len(ds),
		msSigned(pct(ds, 50)), msSigned(pct(ds, 90)), msSigned(pct(ds, 0)), msSigned(pct(ds, 100)))
}

// shellWords joins args as a shell would need them typed.
func shellWords(args []string) string {
	var out []string
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"\\$;&|<>()*?!#~`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

// sectionCommands are the command line of this run, and the one that runs
// one section alone (alone, with the section's own flags) with the same
// settings.
func (rep *report) sectionCommands(alone string, flags []string) (string, string) {
	run := "go run ./bench"
	if len(rep.Args) > 0 {
		run += " " + shellWords(rep.Args)
	}
	if len(flags) > 0 {
		alone += " " + shellWords(flags)
	}
	return run, alone
}

// sectionRun is the first line of a section with its own markers: when and
// how it ran, how to run it alone, the controller's commit, the machine
// and its load average at the section's start and end.
func (rep *report) sectionRun(started time.Time, wall time.Duration, run, alone, loadStart, loadEnd string) string {
	m := rep.Machine
	return fmt.Sprintf("Run of %s, `%s`; this section alone: `%s` (%s wall time). Controller built from commit %s. Machine: %d cores, kernel %s, HAProxy %s, Docker %s. "+
		"Load average at the start of this section %s, at its end %s.\n\n",
		started.UTC().Format("2006-01-02 15:04 MST"), run, alone, wall.Round(time.Second), m.Commit, m.Cores, m.Kernel, m.HAProxy, m.Docker, loadStart, loadEnd)
}

// killCommands are the commands of the kill section (sectionCommands).
func (rep *report) killCommands() (run, alone string) {
	return rep.sectionCommands(fmt.Sprintf("go run ./bench -cycles 0 -scale '' -kills %d", rep.Kills.Requested), rep.KillFlags)
}

// killSection is the kill section between its markers; with detail, every
// kill too (results.md).
func (rep *report) killSection(detail bool) string {
	kl := rep.Kills
	if kl == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(killsBegin + "\n")
	b.WriteString("### Served color killed\n\n")
	run, alone := rep.killCommands()
	fmt.Fprintf(&b, "Run of %s, `%s`; this section alone: `%s` (%s wall time). ", kl.Started.UTC().Format("2006-01-02 15:04 MST"), run, alone, kl.Wall.Round(time.Second))
	if rep.Machine.Commit != "" {
		fmt.Fprintf(&b, "Controller built from commit %s. ", rep.Machine.Commit)
	}
	fmt.Fprintf(&b, "Machine: %d cores, kernel %s, Docker %s, HAProxy %s. Load average at the start of this section %s, at its end %s.\n\n",
		rep.Machine.Cores, rep.Machine.Kernel, rep.Machine.Docker, rep.Machine.HAProxy, kl.LoadAvgStart, kl.LoadAvgEnd)
	var how []string
	for _, m := range kl.Methods {
		how = append(how, fmt.Sprintf("*%s*: %s", m, killMethodName[m]))
	}
	if len(kl.Kills) < kl.Requested {
		fmt.Fprintf(&b, "**Only %d of the %d kills asked for were done** (see the errors below and the run's log).\n\n", len(kl.Kills), kl.Requested)
	}
	network := "`network: bridge`"
	if rep.HAProxy.HostNetwork {
		network = "`network: host`"
	}
	fmt.Fprintf(&b, "One service, blue v1 serving (restart policy `unless-stopped`), HAProxy `%s`, `timeout check %s`, `retries 3`, %s, under a light load "+
		"(%d keep-alive + %d new-connection workers, %d requests/s each, `NoRetry`). %d kills, taking turns: %s. "+
		"Each kill comes at least %s after the container's last start (the engine's restart delay is then its first, %s). "+
		"**Outage** = the first 200 through HAProxy (a new connection every 1 ms, 200 ms timeout, started once the killed process is gone) − the moment just before the kill. "+
		"**Floor** = the app's own start: Engine API start of a stopped container of the same image, not managed by the controller, published the same way, "+
		"until its first 200 on its port (probes every 1 ms from just before the start call); measured after each kill, under the same load. "+
		"*Outage − floor* pairs each kill with the floor measured right after it.\n\n",
		rep.HAProxy.DefaultServer, rep.HAProxy.TimeoutCheck, network,
		kl.Conns, kl.Conns, kl.Rate, len(kl.Kills), strings.Join(how, "; "), kl.Spacing, engineFirstRestartDelay)

	b.WriteString("| | n | median ms | p90 ms | min ms | max ms |\n|---|--:|--:|--:|--:|--:|\n")
	for _, m := range kl.Methods {
		statsRow(&b, fmt.Sprintf("**outage**, %s", m), killDurs(kl.Kills, m, known(killResult.outage)))
	}
	statsRow(&b, "**floor**: start call → first 200 (probes from the call)", killDurs(kl.Kills, "", known(func(k killResult) time.Duration { return k.Floor.floor() })))
	for _, m := range kl.Methods {
		statsRow(&b, fmt.Sprintf("**outage − floor**, %s", m), killDurs(kl.Kills, m, killResult.overFloor))
	}
	for _, m := range kl.Methods {
		statsRow(&b, fmt.Sprintf("outage until steady, %s: the later of the first 200 and HAProxy's UP after a DOWN", m), killDurs(kl.Kills, m, known(killResult.steady)))
	}
	for _, m := range kl.Methods {
		statsRow(&b, fmt.Sprintf("second outage, %s: HAProxy marked the server DOWN after the first 200, until UP", m), killDurs(kl.Kills, m, known(killResult.secondOutage)))
	}
	for _, m := range kl.Methods {
		down := func(want bool) func(killResult) (time.Duration, bool) {
			return func(k killResult) (time.Duration, bool) {
				d := k.outage()
				return d, d >= 0 && (!k.HADown.IsZero() && k.HADown.Before(k.First200)) == want
			}
		}
		statsRow(&b, fmt.Sprintf("outage, %s, HAProxy marked the server DOWN before the first 200", m), killDurs(kl.Kills, m, down(true)))
		statsRow(&b, fmt.Sprintf("outage, %s, HAProxy did not", m), killDurs(kl.Kills, m, down(false)))
	}
	statsRow(&b, "floor: start call → Docker's start event", killDurs(kl.Kills, "", known(func(k killResult) time.Duration { return between(k.Floor.Call, k.Floor.Event) })))
	statsRow(&b, "floor: Docker's start event → first 200 (negative: the app answered before the engine logged its start)", killDurs(kl.Kills, "", func(k killResult) (time.Duration, bool) {
		return k.Floor.First200.Sub(k.Floor.Event), !k.Floor.Event.IsZero() && !k.Floor.First200.IsZero()
	}))
	statsRow(&b, "floor with probes from Docker's start event on: start call → first 200", killDurs(kl.Kills, "", known(func(k killResult) time.Duration { return k.FloorEvent.floor() })))
	b.WriteString("\n")

	floors := killDurs(kl.Kills, "", known(func(k killResult) time.Duration { return k.Floor.floor() }))
	eventFloors := killDurs(kl.Kills, "", known(func(k killResult) time.Duration { return k.FloorEvent.floor() }))
	verdict := func(o, f time.Duration) string {
		if o > f+engineFirstRestartDelay {
			return "NOT met"
		}
		return "met"
	}
	for _, m := range kl.Methods {
		outs := killDurs(kl.Kills, m, known(killResult.outage))
		if len(outs) == 0 || len(floors) == 0 {
			continue
		}
		o, f := pct(outs, 50), pct(floors, 50)
		fmt.Fprintf(&b, "Issue 7's target, outage ≤ floor + %s at the median, %s: %s ms against %s + 100 = %s ms: **%s** (%d kills, %d floors)",
			engineFirstRestartDelay, m, msf(o), msf(f), msf(f+engineFirstRestartDelay), verdict(o, f), len(outs), len(floors))
		if len(eventFloors) > 0 {
			fe := pct(eventFloors, 50)
			fmt.Fprintf(&b, "; against the floor with probes from Docker's start event on, %s + 100 = %s ms: %s", msf(fe), msf(fe+engineFirstRestartDelay), verdict(o, fe))
		}
		b.WriteString(".\n\n")
	}

	b.WriteString("Where the outage goes, ms from the kill (median / p90; a row is blank where it did not happen):\n\n| from the kill to |")
	for _, m := range kl.Methods {
		fmt.Fprintf(&b, " %s: n | median | p90 |", m)
	}
	b.WriteString("\n|---|")
	for range kl.Methods {
		b.WriteString("--:|--:|--:|")
	}
	b.WriteString("\n")
	since := func(f func(killResult) time.Time) func(killResult) (time.Duration, bool) {
		return known(func(k killResult) time.Duration { return between(k.Kill, f(k)) })
	}
	for _, row := range []struct {
		name string
		f    func(killResult) (time.Duration, bool)
	}{
		{"the kill call returned", since(func(k killResult) time.Time { return k.Returned })},
		{"the process is gone: the frontend probes begin", since(func(k killResult) time.Time { return k.Probing })},
		{"Docker's die event", since(func(k killResult) time.Time { return k.Die })},
		{"the controller logs the die event (ms resolution)", since(func(k killResult) time.Time { return k.CtlEvent })},
		{"the controller's StartContainer step (log, ms resolution)", since(func(k killResult) time.Time { return k.CtlStart })},
		{"Docker's start event", since(func(k killResult) time.Time { return k.Start })},
		{"State.StartedAt (docker inspect)", since(func(k killResult) time.Time { return k.StartedAt })},
		{"**first 200 through HAProxy** (outage)", since(func(k killResult) time.Time { return k.First200 })},
		{"HAProxy: the server is no longer UP", since(func(k killResult) time.Time { return k.HANotUp })},
		{"HAProxy: the server is DOWN", since(func(k killResult) time.Time { return k.HADown })},
		{"HAProxy: the server is UP again", since(func(k killResult) time.Time { return k.HAUp })},
	} {
		fmt.Fprintf(&b, "| %s |", row.name)
		for _, m := range kl.Methods {
			ds := killDurs(kl.Kills, m, row.f)
			if len(ds) == 0 {
				b.WriteString(" 0 | | |")
				continue
			}
			fmt.Fprintf(&b, " %d | %s | %s |", len(ds), msSigned(pct(ds, 50)), msSigned(pct(ds, 90)))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "| between Docker's start event and the first 200 |")
	for _, m := range kl.Methods {
		ds := killDurs(kl.Kills, m, func(k killResult) (time.Duration, bool) {
			return k.First200.Sub(k.Start), !k.Start.IsZero() && !k.First200.IsZero()
		})
		fmt.Fprintf(&b, " %d | %s | %s |", len(ds), msSigned(pct(ds, 50)), msSigned(pct(ds, 90)))
	}
	b.WriteString("\n\n")

	var sent, failed, retries int64
	for _, v := range kl.Variants {
		sent += v.Res.Sent
		failed += v.Res.Failed
		retries += v.Res.Retries
	}
	var per []string
	for _, k := range kl.Kills {
		per = append(per, fmt.Sprint(k.Failed))
	}
	byStatus := map[string]int64{}
	for _, v := range kl.Variants {
		for _, smp := range v.Res.Samples {
			switch {
			case !smp.Failed():
			case smp.Status != 0:
				byStatus[fmt.Sprintf("`%d`", smp.Status)]++
			default:
				byStatus["no answer"]++
			}
		}
	}
	var kinds []string
	for k, n := range byStatus {
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "Background load: %d requests, **%d failed** (%s; hidden retries %d); %d failed of %d before the first kill; "+
		"failed per kill (requests that started from that kill to the next, in order): %s.\n\n",
		sent, failed, strings.Join(kinds, ", "), retries, kl.Before.Failed, kl.Before.Requests, strings.Join(per, ", "))
	var errs []string
	for _, k := range kl.Kills {
		if k.Err != "" {
			errs = append(errs, fmt.Sprintf("kill %d:%s", k.N, k.Err))
		}
		for _, f := range []floorResult{k.Floor, k.FloorEvent} {
			if f.Err != "" {
				errs = append(errs, fmt.Sprintf("floor after kill %d: %s", k.N, f.Err))
			}
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(&b, "Errors: %s.\n\n", strings.Join(errs, "; "))
	}

	if detail {
		b.WriteString("#### Every kill\n\n*Until steady*: the later of the first 200 and HAProxy's UP after a DOWN. Milliseconds from the kill, except the floors (from their start call) and *ran for* (seconds since the container's previous start). " +
			"*Load*: requests of the background load that started from this kill to the next, failed of them, and the slowest.\n\n")
		b.WriteString("| # | kill | ran for s | kill call returned | die | controller StartContainer | start event | StartedAt | **first 200** | until steady | floor | floor (probes from the event) | outage − floor | HAProxy | load | failed | slowest ms |\n" +
			"|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|\n")
		for _, k := range kl.Kills {
			of := "n/a"
			if d, ok := k.overFloor(); ok {
				of = msSigned(d)
			}
			ctlStart := "–"
			if !k.CtlStart.IsZero() {
				ctlStart = msSigned(k.CtlStart.Sub(k.Kill))
			}
			trace := strings.Join(k.Trace, " → ")
			if trace == "" {
				trace = "–"
			}
			fmt.Fprintf(&b, "| %d | %s | %.1f | %s | %s | %s | %s | %s | **%s** | %s | %s | %s | %s | %s | %d | %d | %s |\n",
				k.N, k.Method, k.RanFor.Seconds(), msf(between(k.Kill, k.Returned)), msf(between(k.Kill, k.Die)), ctlStart, msf(between(k.Kill, k.Start)),
				msSigned(k.StartedAt.Sub(k.Kill)), msf(k.outage()), msf(k.steady()), msf(k.Floor.floor()), msf(k.FloorEvent.floor()), of,
				trace, k.Requests, k.Failed, msf(k.MaxLatency))
		}
		b.WriteString("\n")
	}
	b.WriteString(killsEnd + "\n")
	return b.String()
}
