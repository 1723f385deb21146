package spec

import (
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestStrategyFields: spec.strategy is taken when good, with its defaults,
// and refused when bad at the field's own path, with the bad value shown.
func TestStrategyFields(t *testing.T) {
	for _, tc := range []fieldCase{
		{extra: `  strategy: {type: BlueGreen}`},
		{extra: `  strategy: {type: Canary, steps: [{weight: 5, pause: 60s}, {weight: 25, pause: 2m}, {weight: 50}]}`},
		{extra: `  strategy: {type: Rolling}`, path: "spec.strategy.type", shown: `"Rolling" is not a strategy`},
		{extra: `  strategy: {type: BlueGreen, steps: [{weight: 5}]}`, path: "spec.strategy.steps", shown: "are for type Canary"},
		{extra: `  strategy: {type: Canary}`, path: "spec.strategy.steps", shown: "are missing"},
		{extra: `  strategy: {type: Canary, steps: [{weight: 0}]}`, path: "spec.strategy.steps[0].weight", shown: "0 is out of range"},
		{extra: `  strategy: {type: Canary, steps: [{weight: 100}]}`, path: "spec.strategy.steps[0].weight", shown: "100 is out of range"},
		{extra: `  strategy: {type: Canary, steps: [{weight: 20}, {weight: 10}]}`, path: "spec.strategy.steps[1].weight", shown: "must be above the step before (20)"},
		{extra: `  strategy: {type: Canary, steps: [{weight: 20, pause: 0s}]}`, path: "spec.strategy.steps[0].pause", shown: "must be positive"},
		{extra: `  strategy: {type: Canary, backend: web_blue, steps: [{weight: 20}]}`, path: "spec.strategy.backend", shown: `"web_blue" is also blue's backend`},
		{extra: "  jobs: [{name: migrate, command: [migrate], reversible: false}]\n  strategy: {type: Canary, steps: [{weight: 20}]}", path: "spec.jobs[0].reversible", shown: "cannot go with type Canary"},
		{extra: "  replicas: 2\n  strategy: {type: Canary, steps: [{weight: 20}]}", path: "spec.strategy.type", shown: "Canary needs spec.replicas 1 (it is 2)"},
	} {
		if svcs := decodeCase(t, tc); svcs != nil {
			if c := svcs[0].Canary(); c != nil && c.Backend != "web_canary" {
				t.Errorf("%s: canary backend defaulted to %q, want web_canary", tc.extra, c.Backend)
			}
		}
	}
}

// TestCanarySteps: the steps are read in order, a pause as a duration and
// no pause as nil (wait for controller promote).
func TestCanarySteps(t *testing.T) {
	svcs, err := Decode([]byte(spectest.Web(`  strategy: {type: Canary, steps: [{weight: 5, pause: 60s}, {weight: 50}]}`).YAML()), "desired.yaml", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := svcs[0].Canary()
	if c == nil || len(c.Steps) != 2 || c.Steps[0].Weight != 5 || c.Steps[0].Pause == nil || c.Steps[0].Pause.Duration != time.Minute || c.Steps[1].Pause != nil {
		t.Fatalf("canary read as %+v", c)
	}
}
