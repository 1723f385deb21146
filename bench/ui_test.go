package main

import (
	"math"
	"testing"
	"time"
)

func TestUIPairsSummary(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	pairs := []uiPair{
		{Closed: ms(100), Open: ms(110)}, // +10 %
		{Closed: ms(100), Open: ms(90)},  // -10 %
		{Closed: ms(200), Open: ms(200)}, // 0
		{Closed: 0, Open: ms(10)},        // no ratio, counted in the total
	}
	total, median, p90 := uiPairsSummary(pairs)
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	// In all: 410 ms open against 400 ms closed.
	if !near(total, 0.025) || !near(median, 0) || !near(p90, 0.10) {
		t.Errorf("uiPairsSummary = %.4f, %.4f, %.4f; want 0.025, 0, 0.10", total, median, p90)
	}
	if total, _, _ := uiPairsSummary(nil); !math.IsNaN(total) {
		t.Errorf("no pairs: total %v, want NaN", total)
	}
}
