package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
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

// logs records what the report says it did.
type logs []string

func (l *logs) Logf(format string, args ...any) { *l = append(*l, fmt.Sprintf(format, args...)) }

// TestWriteSaysOnlyWhatItWrote: into a directory that does not exist, the
// write fails with the file it could not write, and says nothing was
// written; into one that exists, it says what it wrote.
func TestWriteSaysOnlyWhatItWrote(t *testing.T) {
	rep := &report{Cost: []costResult{{Services: 1}}}
	var said logs
	missing := filepath.Join(t.TempDir(), "nowhere")
	err := rep.write(&said, missing)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(missing, "results.md")) {
		t.Fatalf("write into a missing directory = %v, want an error naming its results.md", err)
	}
	for _, l := range said {
		if strings.Contains(l, "wrote") {
			t.Fatalf("write said %q although it wrote nothing", l)
		}
	}
	dir := t.TempDir()
	said = nil
	if err := rep.write(&said, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "results.md")); err != nil || len(said) != 1 || !strings.Contains(said[0], "wrote "+filepath.Join(dir, "results.md")) {
		t.Fatalf("write said %q (results.md: %v), want that it wrote results.md", said, err)
	}
}

// TestUnmeasuredSectionsAreKept: a full run keeps the marked sections of
// the file it replaces that it did not measure (an earlier run's kills
// here), and not those it measured again (the side-by-side series).
func TestUnmeasuredSectionsAreKept(t *testing.T) {
	kills := killsBegin + "\nold kills\n" + killsEnd
	prev := "# head\n\n" + kills + "\n\n" + kamalBegin + "\nold side by side\n" + kamalEnd + "\n"
	rep := &report{Kamal: &kamalResult{Releases: 1}}
	got := rep.unmeasured(prev)
	if got != kills+"\n\n" {
		t.Errorf("unmeasured = %q, want only the earlier kills section", got)
	}
	if got := (&report{}).unmeasured("no markers at all"); got != "" {
		t.Errorf("unmeasured of a file without sections = %q, want nothing", got)
	}
}
