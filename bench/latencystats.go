package main

import (
	"math"
	"sort"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
)

// The latency series' windows. Each is one second of request start times.
const (
	// quietSeconds are the seconds before the save whose p99s make the
	// quiet second: [save-5s, save-4s), ..., [save-1s, save).
	quietSeconds = 5
	// seriesBefore and seriesAfter are the seconds kept around the switch
	// second, each centred on the switch ± k seconds.
	seriesBefore = 3
	seriesAfter  = 3
)

// secondP99s is the p99 (nearest rank) of the latencies of the requests
// that started in each of n consecutive one-second windows, the first
// starting at from: [from, from+1s), [from+1s, from+2s), ... A window
// without requests is -1. samples are sorted by start time.
func secondP99s(samples []loadgen.Sample, from time.Time, n int) []time.Duration {
	out := make([]time.Duration, n)
	for k := range out {
		a := from.Add(time.Duration(k) * time.Second)
		out[k] = pct(window(samples, a, a.Add(time.Second)), 99)
	}
	return out
}

// quietP99 is the quiet second before a release saved at save: the median
// of the p99s of the quietSeconds one-second windows before it (windows
// without requests left out; -1 when none has any).
func quietP99(samples []loadgen.Sample, save time.Time) time.Duration {
	var known []time.Duration
	for _, d := range secondP99s(samples, save.Add(-quietSeconds*time.Second), quietSeconds) {
		if d >= 0 {
			known = append(known, d)
		}
	}
	return pct(known, 50)
}

// switchSeries is the p99 of each second centred on the switch moment sw
// plus k seconds, k from -seriesBefore to seriesAfter: element
// seriesBefore is the switch second, [sw-500ms, sw+500ms).
func switchSeries(samples []loadgen.Sample, sw time.Time) []time.Duration {
	first := sw.Add(-time.Duration(seriesBefore)*time.Second - 500*time.Millisecond)
	return secondP99s(samples, first, seriesBefore+1+seriesAfter)
}

// splitP99 is the p99 of the requests that started in the second centred
// on sw, apart for those the new color answered (body newBody) and the
// others (the old color's, and failures); -1 for a part without requests.
func splitP99(samples []loadgen.Sample, sw time.Time, newBody string) (old, new time.Duration) {
	var o, n []time.Duration
	from, to := sw.Add(-500*time.Millisecond), sw.Add(500*time.Millisecond)
	i := sort.Search(len(samples), func(i int) bool { return !samples[i].Start.Before(from) })
	for ; i < len(samples) && samples[i].Start.Before(to); i++ {
		if s := samples[i]; s.Body == newBody && !s.Failed() {
			n = append(n, s.Latency())
		} else {
			o = append(o, s.Latency())
		}
	}
	return pct(o, 99), pct(n, 99)
}

// tenths is how many 100 ms slices the switch second is cut into.
const tenths = 10

// slowByTenth counts, in each 100 ms slice of the second centred on sw
// ([sw-500ms, sw-400ms), ..., [sw+400ms, sw+500ms)), the requests that
// started there and took longer than limit: where in the second the slow
// requests are, against the steps around the switch.
func slowByTenth(samples []loadgen.Sample, sw time.Time, limit time.Duration) [tenths]int {
	var out [tenths]int
	from := sw.Add(-500 * time.Millisecond)
	i := sort.Search(len(samples), func(i int) bool { return !samples[i].Start.Before(from) })
	for ; i < len(samples); i++ {
		k := int(samples[i].Start.Sub(from) / (100 * time.Millisecond))
		if k >= tenths {
			break
		}
		if samples[i].Latency() > limit {
			out[k]++
		}
	}
	return out
}

// p99Ratio is the switch second's p99 over the quiet second's; NaN when
// either is unknown.
func p99Ratio(switchP99, quiet time.Duration) float64 {
	if switchP99 < 0 || quiet <= 0 {
		return math.NaN()
	}
	return float64(switchP99) / float64(quiet)
}

// pctF is the nearest-rank p-th percentile of xs, NaNs left out; NaN when
// none is left.
func pctF(xs []float64, p float64) float64 {
	var s []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	sort.Float64s(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(1, min(rank, len(s)))-1]
}
