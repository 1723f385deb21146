package testenv

import (
	"flag"
	"fmt"
	"strings"
	"testing"
)

// The helpers take a TB; every *testing.T and *testing.B must be one.
var _ TB = testing.TB(nil)

// recorder is a TB that records how a helper ended the test.
type recorder struct {
	skipped, failed string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Errorf(f string, a ...any) { r.failed = fmt.Sprintf(f, a...) }
func (r *recorder) Fatalf(f string, a ...any) { r.failed = fmt.Sprintf(f, a...) }
func (r *recorder) Skipf(f string, a ...any)  { r.skipped = fmt.Sprintf(f, a...) }
func (r *recorder) Cleanup(func())            {}

// TestMissingSkipsOnlyInShortMode: a missing dependency fails the test, so
// that the full run (scripts/test.sh, CI) cannot pass without HAProxy or
// Docker; go test -short skips it instead, with the same words.
func TestMissingSkipsOnlyInShortMode(t *testing.T) {
	short := flag.Lookup("test.short")
	was := short.Value.String()
	t.Cleanup(func() { short.Value.Set(was) })

	for _, tc := range []struct {
		short       string
		wantSkipped bool
	}{{"false", false}, {"true", true}} {
		if err := short.Value.Set(tc.short); err != nil {
			t.Fatal(err)
		}
		r := &recorder{}
		Missing(r, "%s not found: %s", "haproxy", "apt-get install -y haproxy")
		got := r.failed
		if tc.wantSkipped {
			got = r.skipped
		}
		if got == "" || (r.skipped != "") != tc.wantSkipped || !strings.Contains(got, "haproxy not found: apt-get install -y haproxy") {
			t.Errorf("-short=%s: skipped %q, failed %q; want it %s, naming what is missing and how to install it",
				tc.short, r.skipped, r.failed, map[bool]string{true: "skipped", false: "failed"}[tc.wantSkipped])
		}
	}
}

// TestPromtoolCheck: a scrape promtool cannot parse, and one it lints,
// both fail the test; a clean one passes.
func TestPromtoolCheck(t *testing.T) {
	for _, tc := range []struct {
		name, scrape, want string
	}{
		{"clean", "# HELP x_total Things.\n# TYPE x_total counter\nx_total 1\n", ""},
		{"unparsable", "x_total{a=\"b\"} not-a-number\n", "parsing error"},
		{"lint finding", "# HELP x Things.\n# TYPE x counter\nx 1\n", `should have "_total" suffix`},
	} {
		r := &recorder{}
		PromtoolCheck(r, tc.scrape)
		if tc.want == "" && r.failed != "" || tc.want != "" && !strings.Contains(r.failed, tc.want) {
			t.Errorf("%s: failed %q, want %q", tc.name, r.failed, tc.want)
		}
	}
}
