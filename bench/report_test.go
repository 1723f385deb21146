package main

import (
	"math"
	"testing"
)

func TestSplice(t *testing.T) {
	const b, e = "<!-- x:begin -->", "<!-- x:end -->"
	for _, tc := range []struct{ name, in, want string }{
		{"replaces the marked part only", "head\n\n" + b + "\nold\n" + e + "\ntail\n", "head\n\nNEW\ntail\n"},
		{"appends when the markers are missing", "head\n", "head\n\nNEW\n"},
		{"into nothing", "", "NEW\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := splice(tc.in, b, e, "NEW\n"); got != tc.want {
				t.Errorf("splice:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestMedianF(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
	} {
		if got := medianF(tc.xs); got != tc.want {
			t.Errorf("medianF(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if got := medianF(nil); !math.IsNaN(got) {
		t.Errorf("medianF(nil) = %v, want NaN", got)
	}
}
