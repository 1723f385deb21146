package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// plotRelease draws requests per second (all, and per answering color) and
// failed requests per second around one switch, in buckets of 100 ms by
// completion time, with the save, app ready, HAProxy UP, switch and
// converged moments marked.
func plotRelease(rl *releaseResult, s switchResult) string {
	const bucket = 100 * time.Millisecond
	from := s.Save.Add(-1500 * time.Millisecond)
	end := s.Converged
	if end.IsZero() {
		end = s.Switch
	}
	if end.IsZero() {
		end = s.Save.Add(5 * time.Second)
	}
	to := end.Add(1500 * time.Millisecond)
	n := int(to.Sub(from) / bucket)
	total := make([]float64, n)
	newc := make([]float64, n)
	oldc := make([]float64, n)
	failed := make([]float64, n)
	for _, v := range rl.Variants {
		for _, x := range v.Res.Samples {
			if x.End.Before(from) || !x.End.Before(to) {
				continue
			}
			i := int(x.End.Sub(from) / bucket)
			if i >= n {
				continue
			}
			perSec := float64(time.Second / bucket)
			if x.Failed() {
				failed[i] += perSec
				continue
			}
			total[i] += perSec
			switch x.Body {
			case s.Body:
				newc[i] += perSec
			case s.OldBody:
				oldc[i] += perSec
			}
		}
	}
	ymax := 0.0
	for i := range total {
		ymax = math.Max(ymax, total[i]+failed[i])
	}
	ymax = niceCeil(ymax * 1.1)

	const W, H, left, right, top, bottom = 960.0, 440.0, 70.0, 180.0, 50.0, 50.0
	pw, ph := W-left-right, H-top-bottom
	x := func(t time.Time) float64 { return left + pw*float64(t.Sub(from))/float64(to.Sub(from)) }
	y := func(v float64) float64 { return top + ph*(1-v/ymax) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="15" font-weight="bold">%s %s → %s under load: requests per second (%s buckets)</text>`+"\n",
		left, esc(s.Service), esc(s.Kind), esc(s.Body), bucket)
	// grid and axes
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(v), left+pw, y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.0f</text>`+"\n", left-6, y(v)+4, v)
	}
	step := 500 * time.Millisecond
	if to.Sub(from) > 8*time.Second {
		step = time.Second
	}
	for t := time.Duration(math.Ceil(float64(from.Sub(s.Save))/float64(step))) * step; s.Save.Add(t).Before(to); t += step {
		xx := x(s.Save.Add(t))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/>`+"\n", xx, top+ph, xx, top+ph+5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%+.1f</text>`+"\n", xx, top+ph+18, t.Seconds())
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">seconds from the save of the desired file</text>`+"\n", left+pw/2, H-10)
	fmt.Fprintf(&b, `<text x="16" y="%.1f" transform="rotate(-90 16 %.1f)" text-anchor="middle">requests / s</text>`+"\n", top+ph/2, top+ph/2)
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", left, top, pw, ph)

	// failed requests as bars
	bw := pw * float64(bucket) / float64(to.Sub(from))
	nfail := 0.0
	for i, f := range failed {
		nfail += f * float64(bucket) / float64(time.Second)
		if f > 0 {
			t := from.Add(time.Duration(i) * bucket)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d00"/>`+"\n", x(t), y(f), bw, y(0)-y(f))
		}
	}
	line := func(vals []float64, color string, width float64, dash string) {
		var pts []string
		for i, v := range vals {
			t := from.Add(time.Duration(i)*bucket + bucket/2)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(t), y(v)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f" stroke-dasharray="%s"/>`+"\n", strings.Join(pts, " "), color, width, dash)
	}
	colorOf := func(body string) string {
		if strings.HasPrefix(body, "green") {
			return "#1a9641"
		}
		return "#2166ac"
	}
	line(total, "#bbb", 4, "")
	line(oldc, colorOf(s.OldBody), 2, "6,3")
	line(newc, colorOf(s.Body), 2, "")

	// moments
	marks := []struct {
		name string
		at   time.Time
		col  string
	}{{"save", s.Save, "#000"}, {"app ready", s.Floor, "#7b3294"}, {"HAProxy UP", s.HAUp, "#e66101"}, {"map switched", s.Switch, "#d00"}, {"converged", s.Converged, "#555"}}
	for i, m := range marks {
		if m.at.IsZero() {
			continue
		}
		xx := x(m.at)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="4,3"/>`+"\n", xx, top, xx, top+ph, m.col)
		label := m.name
		if m.name != "save" {
			label += fmt.Sprintf(" +%s ms", msf(m.at.Sub(s.Save)))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s" font-size="11">%s</text>`+"\n", xx+3, top+14+float64(i)*14, m.col, esc(label))
	}

	// legend
	lx, ly := left+pw+12, top+10
	legend := []struct{ name, col, dash string }{
		{"all answered 200", "#bbb", ""},
		{s.OldBody + " (old)", colorOf(s.OldBody), "6,3"},
		{s.Body + " (new)", colorOf(s.Body), ""},
	}
	for i, l := range legend {
		yy := ly + float64(i)*18
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`+"\n", lx, yy, lx+24, yy, l.col, l.dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+30, yy+4, esc(l.name))
	}
	yy := ly + 3*18
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="24" height="8" fill="#d00"/>`+"\n", lx, yy-4)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">failed: %.0f in this window</text>`+"\n", lx+30, yy+4, nfail)
	var tot, fail int64
	for _, v := range rl.Variants {
		tot += v.Res.Sent
		fail += v.Res.Failed
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11">whole run: %d requests,</text>`+"\n", lx, yy+30, tot)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11">%d failed, %d switches</text>`+"\n", lx, yy+44, fail, len(rl.Switches))
	b.WriteString("</svg>\n")
	return b.String()
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
