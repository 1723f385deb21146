package main

import (
	"math"
	"sort"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
)

// pct is the nearest-rank p-th percentile (p in 0..100) of ds; -1 when empty.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// durations collects f over xs (switches, releases) where it is known
// (>= 0).
func durations[T any](xs []T, f func(T) time.Duration) []time.Duration {
	var out []time.Duration
	for _, x := range xs {
		if d := f(x); d >= 0 {
			out = append(out, d)
		}
	}
	return out
}

// between is b - a, or -1 when either is unknown.
func between(a, b time.Time) time.Duration {
	if a.IsZero() || b.IsZero() {
		return -1
	}
	return b.Sub(a)
}

// window is the latencies of the requests that started in [from, to).
func window(samples []loadgen.Sample, from, to time.Time) []time.Duration {
	i := sort.Search(len(samples), func(i int) bool { return !samples[i].Start.Before(from) })
	var out []time.Duration
	for ; i < len(samples) && samples[i].Start.Before(to); i++ {
		out = append(out, samples[i].Latency())
	}
	return out
}
