package main

import (
	"math"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
)

// samplesAt makes one request per start offset (from t0) with the given
// latency, sorted by start as loadgen's are.
func samplesAt(t0 time.Time, starts []time.Duration, lat func(i int) time.Duration) []loadgen.Sample {
	out := make([]loadgen.Sample, len(starts))
	for i, s := range starts {
		st := t0.Add(s)
		out[i] = loadgen.Sample{Start: st, End: st.Add(lat(i)), Status: 200}
	}
	return out
}

func TestSecondP99s(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	// Second 0: 100 requests of 1..100 ms: the nearest-rank p99 is 99 ms.
	// Second 1: none. Second 2: 10 requests of 10 ms and one of 50 ms: 50 ms
	// (the 99th percentile of 11 is the 11th).
	var starts []time.Duration
	var lats []time.Duration
	for i := 1; i <= 100; i++ {
		starts = append(starts, time.Duration(i-1)*10*time.Millisecond)
		lats = append(lats, time.Duration(i)*time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		starts = append(starts, 2*time.Second+time.Duration(i)*time.Millisecond)
		lats = append(lats, 10*time.Millisecond)
	}
	starts = append(starts, 2999*time.Millisecond)
	lats = append(lats, 50*time.Millisecond)
	s := samplesAt(t0, starts, func(i int) time.Duration { return lats[i] })

	got := secondP99s(s, t0, 3)
	want := []time.Duration{99 * time.Millisecond, -1, 50 * time.Millisecond}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("second %d: p99 %s, want %s (all: %v)", k, got[k], want[k], got)
		}
	}
	// A window is by start time, [from, from+1s): shifted by 1 ms, the
	// first request (1 ms) falls out of second 0, whose p99 becomes the
	// 99th of 2..100 ms, and the request that starts at 2.000 s falls into
	// second 1, [1.001 s, 2.001 s).
	shifted := secondP99s(s, t0.Add(time.Millisecond), 3)
	want = []time.Duration{100 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond}
	for k := range want {
		if shifted[k] != want[k] {
			t.Errorf("shifted by 1 ms, second %d: p99 %s, want %s (all: %v)", k, shifted[k], want[k], shifted)
		}
	}
	// From 2.5 s on the 50 ms request is the only slow one of 1 request.
	if got := secondP99s(s, t0.Add(2500*time.Millisecond), 1); got[0] != 50*time.Millisecond {
		t.Errorf("from 2.5 s: %v, want [50ms]", got)
	}
}

func TestQuietAndSwitchSecond(t *testing.T) {
	save := time.Date(2026, 12, 6, 12, 0, 10, 0, time.UTC)
	sw := save.Add(1200 * time.Millisecond)
	// One request every 10 ms from save-6s to sw+4s. Quiet seconds before
	// the save (oldest first) have one slow request each, of 5, 1, 3, 2 and
	// 4 ms (others 0.5 ms): with 100 requests a second the p99 is the 99th
	// of 100, so two slow requests are needed to move it; each quiet second
	// gets two.
	quietSlow := []time.Duration{5, 1, 3, 2, 4}
	from := save.Add(-6 * time.Second)
	var starts []time.Duration
	for d := time.Duration(0); from.Add(d).Before(sw.Add(4 * time.Second)); d += 10 * time.Millisecond {
		starts = append(starts, d)
	}
	lat := func(i int) time.Duration {
		st := from.Add(starts[i])
		if k := int(st.Sub(save.Add(-5*time.Second)) / time.Second); st.Before(save) && k >= 0 && k < 5 {
			if st.Sub(save.Add(-5*time.Second))%time.Second < 20*time.Millisecond {
				return quietSlow[k] * time.Millisecond
			}
		}
		// The switch second, [sw-500ms, sw+500ms): ten requests of 40 ms
		// right after the switch, one of 70 ms and one of 90 ms just
		// inside its ends, one of 80 ms and one of 95 ms just outside.
		switch d := st.Sub(sw); {
		case d >= 0 && d < 100*time.Millisecond:
			return 40 * time.Millisecond
		case d == -490*time.Millisecond:
			return 70 * time.Millisecond
		case d == 490*time.Millisecond:
			return 90 * time.Millisecond
		case d == -510*time.Millisecond:
			return 80 * time.Millisecond
		case d == 510*time.Millisecond:
			return 95 * time.Millisecond
		}
		return 500 * time.Microsecond
	}
	s := samplesAt(from, starts, lat)

	if q := quietP99(s, save); q != 3*time.Millisecond {
		t.Errorf("quiet p99 = %s, want 3ms (the median of 5, 1, 3, 2 and 4 ms)", q)
	}
	series := switchSeries(s, sw)
	if len(series) != seriesBefore+1+seriesAfter {
		t.Fatalf("series has %d seconds, want %d", len(series), seriesBefore+1+seriesAfter)
	}
	// 100 requests: 88 of 0.5 ms, 10 of 40 ms, one of 70 and one of 90 ms:
	// the 99th is 70 ms (a window starting at the switch would hold the
	// 95 ms one instead of the 70 ms one: 90 ms).
	if got := series[seriesBefore]; got != 70*time.Millisecond {
		t.Errorf("switch second p99 = %s, want 70ms", got)
	}
	// The second before it, [sw-1.5s, sw-0.5s), holds the 80 ms request
	// alone among 0.5 ms ones: the 99th of 100 is 0.5 ms; the one after
	// it, the 95 ms one: the same.
	if got := series[seriesBefore-1]; got != 500*time.Microsecond {
		t.Errorf("second before the switch p99 = %s, want 500µs", got)
	}
	if got := series[seriesBefore+1]; got != 500*time.Microsecond {
		t.Errorf("second after the switch p99 = %s, want 500µs", got)
	}
	if r := p99Ratio(series[seriesBefore], quietP99(s, save)); math.Abs(r-70.0/3) > 1e-9 {
		t.Errorf("ratio = %v, want 70/3", r)
	}
}

func TestP99RatioUnknown(t *testing.T) {
	for _, c := range []struct{ sw, quiet time.Duration }{{-1, time.Millisecond}, {time.Millisecond, -1}, {time.Millisecond, 0}} {
		if r := p99Ratio(c.sw, c.quiet); !math.IsNaN(r) {
			t.Errorf("p99Ratio(%s, %s) = %v, want NaN", c.sw, c.quiet, r)
		}
	}
	if r := p99Ratio(3*time.Millisecond, 2*time.Millisecond); r != 1.5 {
		t.Errorf("p99Ratio(3ms, 2ms) = %v, want 1.5", r)
	}
}

func TestPctF(t *testing.T) {
	xs := []float64{math.NaN(), 5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	if got := pctF(xs, 90); got != 9 {
		t.Errorf("p90 of 1..10 = %v, want 9", got)
	}
	if got := pctF(xs, 50); got != 5 {
		t.Errorf("p50 of 1..10 = %v, want 5", got)
	}
	if got := pctF([]float64{math.NaN()}, 50); !math.IsNaN(got) {
		t.Errorf("p50 of nothing known = %v, want NaN", got)
	}
}

func TestSplitP99(t *testing.T) {
	sw := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	mk := func(at, lat time.Duration, body string, status int) loadgen.Sample {
		return loadgen.Sample{Start: sw.Add(at), End: sw.Add(at + lat), Body: body, Status: status}
	}
	s := []loadgen.Sample{
		mk(-600*time.Millisecond, 90*time.Millisecond, "blue v1", 200), // before the second
		mk(-400*time.Millisecond, 3*time.Millisecond, "blue v1", 200),
		mk(-100*time.Millisecond, 7*time.Millisecond, "blue v1", 200),
		mk(10*time.Millisecond, 20*time.Millisecond, "green v2", 200),
		mk(20*time.Millisecond, 5*time.Millisecond, "green v2", 200),
		mk(30*time.Millisecond, 40*time.Millisecond, "green v2", 503),  // failed: not the new color's answer
		mk(600*time.Millisecond, 80*time.Millisecond, "green v2", 200), // after the second
	}
	old, new := splitP99(s, sw, "green v2")
	if old != 40*time.Millisecond || new != 20*time.Millisecond {
		t.Errorf("splitP99 = old %s, new %s; want 40ms and 20ms", old, new)
	}
	if old, new := splitP99(s, sw, "red v3"); new != -1 || old != 40*time.Millisecond {
		t.Errorf("splitP99 with no answer of the new color = old %s, new %s; want 40ms and -1", old, new)
	}
}

func TestSlowByTenth(t *testing.T) {
	sw := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var s []loadgen.Sample
	add := func(at, lat time.Duration) {
		s = append(s, loadgen.Sample{Start: sw.Add(at), End: sw.Add(at + lat), Status: 200})
	}
	add(-501*time.Millisecond, time.Second) // before the second
	add(-500*time.Millisecond, 11*time.Millisecond)
	add(-401*time.Millisecond, 10*time.Millisecond) // not over the limit
	add(-1*time.Millisecond, 20*time.Millisecond)
	add(0, 20*time.Millisecond)
	add(99*time.Millisecond, 20*time.Millisecond)
	add(100*time.Millisecond, time.Millisecond) // fast
	add(499*time.Millisecond, 30*time.Millisecond)
	add(500*time.Millisecond, time.Second) // after the second
	got := slowByTenth(s, sw, 10*time.Millisecond)
	want := [tenths]int{1, 0, 0, 0, 1, 2, 0, 0, 0, 1}
	if got != want {
		t.Errorf("slowByTenth = %v, want %v", got, want)
	}
}
