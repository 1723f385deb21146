package testenv

import (
	"bytes"
	"os/exec"
	"strings"
)

// PromtoolCheck fails t unless `promtool check metrics` accepts scrape, a
// Prometheus text exposition, with no lint finding. promtool comes with
// Debian's prometheus package (scripts/deps.sh installs it).
func PromtoolCheck(t TB, scrape string) {
	t.Helper()
	promtool := RequireBinary(t, "promtool", "it checks the metrics: apt-get install -y prometheus (or run scripts/deps.sh as root)")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nscrape:\n%s", err, out.String(), scrape)
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		t.Fatalf("promtool check metrics has findings:\n%s\nscrape:\n%s", s, scrape)
	}
}
