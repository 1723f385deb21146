package dashboard

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// sample is one decision's counters of both colors (blue, green).
type sample struct {
	at       time.Time
	counters [2]planner.Counters
}

// colorIndex is c's place in a sample's counters.
func colorIndex(c spec.Color) int {
	if c == spec.Green {
		return 1
	}
	return 0
}

// Kinds of marks on a chart and in a timeline.
const (
	markRelease  = "release"  // a release started (saved)
	markReady    = "ready"    // a color was set ready in HAProxy
	markSwitch   = "switch"   // the map moved to a color
	markRollback = "rollback" // a release was rolled back
)

// mark is one moment on a service's chart.
type mark struct {
	at    time.Time
	kind  string
	color string
}

// traffic is what the dashboard keeps of one service: the counters seen
// over the chart's window, the served color, and the marks.
type traffic struct {
	samples []sample
	served  spec.Color
	seen    bool
	marks   []mark
	// switchedTo is the color of the last switch marked.
	switchedTo spec.Color
}

// switched marks the map moved to color c by the controller's step.
func (t *traffic) switched(at time.Time, c spec.Color) {
	t.mark(at, markSwitch, string(c))
	t.switchedTo = c
}

// add keeps a decision's counters, and marks a switch when the served
// color is not the one of the decision before and no switch to it was
// marked (the map was moved by someone else).
func (t *traffic) add(at time.Time, served spec.Color, c map[spec.Color]planner.Counters) {
	if t.seen && served != t.served && served != "" && served != t.switchedTo {
		t.switched(at, served)
	}
	t.served, t.seen = served, true
	if c != nil {
		t.samples = append(t.samples, sample{at: at, counters: [2]planner.Counters{c[spec.Blue], c[spec.Green]}})
	}
	t.trim(at)
}

// mark keeps a moment, in the order of time (a rollback is judged on the
// same observation that first sees the switch it undoes: at equal times,
// the order of the kinds).
func (t *traffic) mark(at time.Time, kind, color string) {
	m := mark{at: at, kind: kind, color: color}
	i := len(t.marks)
	for i > 0 && (t.marks[i-1].at.After(at) || t.marks[i-1].at.Equal(at) && kindOrder[t.marks[i-1].kind] > kindOrder[kind]) {
		i--
	}
	t.marks = slices.Insert(t.marks, i, m)
}

var kindOrder = map[string]int{markRelease: 0, markReady: 1, markSwitch: 2, markRollback: 3}

// trim forgets samples and marks older than the window (one sample before
// it is kept: the rate into the window's first bucket).
func (t *traffic) trim(now time.Time) {
	from := now.Add(-chartWindow)
	i := 0
	for i+1 < len(t.samples) && t.samples[i+1].at.Before(from) {
		i++
	}
	t.samples = t.samples[i:]
	// Marks are kept longer: the timeline of a long release needs them.
	j := 0
	for j < len(t.marks) && t.marks[j].at.Before(now.Add(-time.Hour)) {
		j++
	}
	t.marks = t.marks[j:]
}

// series is one line of a chart: a rate per bucket.
type series struct {
	color  spec.Color
	errors bool // 5xx per second; otherwise responses per second
	rates  [chartBuckets]float64
}

// rates spreads each interval's counted responses and 5xx over the
// buckets it covers, as per-second rates, for the window that ends at end.
// An interval over which a counter went down (HAProxy reloaded) is left
// out.
func (t *traffic) rates(end time.Time) []series {
	width := (chartWindow / chartBuckets).Seconds()
	start := end.Add(-chartWindow)
	out := make([]series, 0, 4)
	for _, c := range spec.Colors() {
		out = append(out, series{color: c}, series{color: c, errors: true})
	}
	for i := 1; i < len(t.samples); i++ {
		a, b := t.samples[i-1], t.samples[i]
		// The interval, in seconds from the window's start, clipped to it.
		from, to := a.at.Sub(start).Seconds(), b.at.Sub(start).Seconds()
		span := to - from
		if span <= 0 || to <= 0 {
			continue
		}
		from, to = max(from, 0), min(to, chartWindow.Seconds())
		for k := range out {
			s := &out[k]
			x, y := a.counters[colorIndex(s.color)], b.counters[colorIndex(s.color)]
			n := y.Responses - x.Responses
			if s.errors {
				n = y.Status5xx - x.Status5xx
			}
			if n <= 0 || y.Responses < x.Responses {
				continue
			}
			perSec := float64(n) / span
			// Only the buckets the interval covers.
			for bk := int(from / width); bk < chartBuckets && float64(bk)*width < to; bk++ {
				lo, hi := max(from, float64(bk)*width), min(to, float64(bk+1)*width)
				if hi > lo {
					s.rates[bk] += perSec * (hi - lo) / width
				}
			}
		}
	}
	return out
}

// Chart geometry, in the SVG's own units.
const (
	chartW = 900
	chartH = 120
)

// Chart is a service's chart as the card template draws it.
type Chart struct {
	Lines []ChartLine
	Marks []ChartMark
	// Max is the rate at the top of the chart; Span the window.
	Max, Span string
	// Now sums up the latest bucket: per color, requests and 5xx per second.
	Now []string
}

// ChartLine is one polyline.
type ChartLine struct {
	Class  string
	Points string
}

// ChartMark is a vertical line at a switch or a rollback.
type ChartMark struct {
	Class, Label string
	X, Y         int // Y: of its label, staggered so that close marks stay readable
}

// chart draws the window that ends at end.
func (t *traffic) chart(end time.Time) Chart {
	ss := t.rates(end)
	top := 1.0
	for _, s := range ss {
		for _, r := range s.rates {
			top = math.Max(top, r)
		}
	}
	top = niceCeil(top)
	var ch Chart
	ch.Max = fmt.Sprintf("%g/s", top)
	ch.Span = fmt.Sprintf("−%g min", chartWindow.Minutes())
	for _, s := range ss {
		var pts strings.Builder
		ys := make([]int, chartBuckets)
		for i, r := range s.rates {
			ys[i] = chartH - int(math.Round(r/top*chartH))
		}
		for i, y := range ys {
			if i > 0 && i < chartBuckets-1 && ys[i-1] == y && ys[i+1] == y {
				continue // inside a flat run: its ends draw it
			}
			pts.WriteString(strconv.Itoa(i * chartW / (chartBuckets - 1)))
			pts.WriteByte(',')
			pts.WriteString(strconv.Itoa(y))
			pts.WriteByte(' ')
		}
		class := "line-" + string(s.color)
		if s.errors {
			class += " errors"
		}
		ch.Lines = append(ch.Lines, ChartLine{Class: class, Points: strings.TrimSpace(pts.String())})
	}
	for _, c := range spec.Colors() {
		var req, errs float64
		for _, s := range ss {
			if s.color == c && !s.errors {
				req = s.rates[chartBuckets-1]
			} else if s.color == c {
				errs = s.rates[chartBuckets-1]
			}
		}
		ch.Now = append(ch.Now, fmt.Sprintf("%s %.0f req/s, %.1f 5xx/s", c, req, errs))
	}
	start := end.Add(-chartWindow)
	for _, m := range t.marks {
		if m.at.Before(start) || m.at.After(end) || (m.kind != markSwitch && m.kind != markRollback) {
			continue
		}
		x := int(m.at.Sub(start) * chartW / chartWindow)
		label := "→ " + m.color
		if m.kind == markRollback {
			label = "rollback → " + m.color
		}
		ch.Marks = append(ch.Marks, ChartMark{Class: "mark-" + m.kind, Label: label, X: x, Y: 10 + 12*(len(ch.Marks)%3)})
	}
	return ch
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
