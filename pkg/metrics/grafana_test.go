package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// grafanaDashboard is the part of examples/grafana-dashboard.json the test
// reads: each panel's queries, and the templating variable's query.
type grafanaDashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

var seriesName = regexp.MustCompile(`\bbluegreen_[a-z_]+\b`)

// TestGrafanaDashboardQueriesWhatIsServed: every series the example
// Grafana dashboard queries is one the controller serves (a histogram's
// _bucket by its family), and promtool parses every query, Grafana's
// variables given a value.
func TestGrafanaDashboardQueriesWhatIsServed(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("examples/grafana-dashboard.json: %v", err)
	}
	scrape := scrapeAfterRelease(t)
	served := map[string]bool{}
	for _, l := range strings.Split(scrape, "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			served[f[2]] = true
		}
	}

	var rules strings.Builder
	rules.WriteString("groups:\n- name: grafana\n  rules:\n")
	n := 0
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			for _, name := range seriesName.FindAllString(q.Expr, -1) {
				family := strings.TrimSuffix(name, "_bucket")
				if !served[family] {
					t.Errorf("panel %q queries %s, which the controller does not serve", p.Title, name)
				}
			}
			expr := strings.NewReplacer("$service", ".*", "$__rate_interval", "1m").Replace(q.Expr)
			n++
			fmt.Fprintf(&rules, "  - record: grafana:panel_%d\n    expr: %q\n", n, expr)
		}
	}
	if n == 0 {
		t.Fatal("the dashboard has no query")
	}
	for _, v := range d.Templating.List {
		for _, name := range seriesName.FindAllString(v.Definition, -1) {
			if !served[name] {
				t.Errorf("the variable's query %q names %s, which the controller does not serve", v.Definition, name)
			}
		}
	}
	promtool := testenv.RequireBinary(t, "promtool", "it parses the queries: apt-get install -y prometheus")
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules of the dashboard's queries: %v\n%s\n%s", err, out, rules.String())
	}
}
