package main

import (
	"fmt"
	"strings"
	"time"
)

// kamalSummary is the side-by-side series: median and p90 of each side's
// times from the save (the controller) or the command (Kamal-style).
func (rep *report) kamalSummary() string {
	k := rep.Kamal
	if k == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("### Side by side with a Kamal-style release\n\n")
	fmt.Fprintf(&b, "%d releases per side, taking turns (%s in all), each to a cold container of the demo app, under a paced load on each side's front. "+
		"The controller: from the rename of the desired file. Kamal-style: from the `docker run` of the new version on the proxy's network, "+
		"then `kamal-proxy deploy` to it by name (kamal-proxy in a container, its port published on loopback), then the old container stopped and removed. "+
		"*Start requested*: the controller's StartContainer step (its log, ms resolution), or `docker run -d` returning; *first 200*: the app on its own address; "+
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
			var ok []time.Duration
			for _, d := range ds {
				if d >= 0 {
					ok = append(ok, d)
				}
			}
			return msf(pct(ok, 50)) + " / " + msf(pct(ok, 90))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d / %d |\n", s.name, mp(s.t.Start), mp(s.t.FirstOK), mp(s.t.Served), mp(gap), s.t.Load.Failed, s.t.Load.Sent)
	}
	b.WriteString("\n")
	return b.String()
}
