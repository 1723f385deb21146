package main

import (
	"fmt"
	"strings"
	"time"
)

// Markers around the side-by-side section of results.md and README.md.
const (
	kamalBegin = "<!-- bench:kamal:begin -->"
	kamalEnd   = "<!-- bench:kamal:end -->"
)

// kamalSection is the side-by-side series between its markers: median and
// p90 of each side's times from the save (the controller) or the command
// (Kamal-style); with detail, every release too (results.md).
func (rep *report) kamalSection(detail bool) string {
	k := rep.Kamal
	if k == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(kamalBegin + "\n### Side by side with a Kamal-style release\n\n")
	run, alone := rep.sectionCommands(fmt.Sprintf("go run ./bench -cycles 0 -scale '' -kamal-proxy PATH -kamal-releases %d", k.Releases), nil)
	b.WriteString(rep.sectionRun(k.Started, k.Wall, run, alone, k.LoadAvgStart, k.LoadAvgEnd))
	fmt.Fprintf(&b, "%d releases per side, taking turns (%s in all), each to a new container of the demo app (the controller's release names an image of its own, the version's with a label of that release: it removes the target color's stopped container and creates a new one, as `docker run` does), under a paced load on each side's front. "+
		"The controller: from the rename of the desired file. Kamal-style: from the `docker run` of the new version on the proxy's network, "+
		"then `kamal-proxy deploy` to it by name (kamal-proxy in a container, its port published on loopback), then the old container stopped and removed. "+
		"*Start requested*: the controller's StartContainer step (its log, ms resolution; after its RemoveContainer and CreateContainer steps), or `docker run -d` returning (after the create and the start); *first 200*: the app on its own address; "+
		"*served*: the front's first answer from the new version. Milliseconds, median / p90:\n\n", k.Releases, k.Wall.Round(time.Second))
	b.WriteString("| side | start requested | first 200 | new version served | served − first 200 | load: failed / sent |\n|---|--:|--:|--:|--:|--:|\n")
	for _, s := range []struct {
		name string
		t    sideTimes
	}{{"controller (from the save)", k.Controller}, {"Kamal-style (from the command)", k.KamalRun}} {
		var gap []time.Duration
		for i := range s.t.Served {
			if s.t.Served[i] >= 0 && s.t.FirstOK[i] >= 0 {
				gap = append(gap, s.t.Served[i]-s.t.FirstOK[i])
			}
		}
		mp := func(ds []time.Duration) string {
			ok := durations(ds, same)
			return msf(pct(ok, 50)) + " / " + msf(pct(ok, 90))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d / %d |\n", s.name, mp(s.t.Start), mp(s.t.FirstOK), mp(s.t.Served), mp(gap), s.t.Load.Failed, s.t.Load.Sent)
	}
	b.WriteString("\n")
	if first := durations(k.FirstCall, same); len(first) > 0 {
		fmt.Fprintf(&b, "The controller's first call to the engine in each release (its RemoveContainer step, before the create and the start) came %s ms after the save at the median (p90 %s ms).\n\n",
			msf(pct(first, 50)), msf(pct(first, 90)))
	}
	if detail {
		b.WriteString("| # | controller: start requested | first 200 | served | Kamal-style: start requested | first 200 | served |\n|--:|--:|--:|--:|--:|--:|--:|\n")
		for i := range k.Controller.Served {
			c, kr := k.Controller, k.KamalRun
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", i+1, msf(c.Start[i]), msf(c.FirstOK[i]), msf(c.Served[i]),
				msf(kr.Start[i]), msf(kr.FirstOK[i]), msf(kr.Served[i]))
		}
		b.WriteString("\n")
	}
	b.WriteString(kamalEnd + "\n")
	return b.String()
}

// same is d: durations of a list of durations keeps the measured ones.
func same(d time.Duration) time.Duration { return d }
