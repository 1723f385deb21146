package main

import (
	"testing"

	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestReleasePath: validate's summary line of what a release goes through,
// from the spec as decoded (defaults applied).
func TestReleasePath(t *testing.T) {
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"defaults", "", "verified 30s on real traffic (at most 5 % errors)"},
		{"no verification", "  verify: {window: 0s}", "not verified after the switch"},
		{"everything", `  replicas: 1
  checks: [{path: /api/ping}]
  jobs:
    - {name: migrate, command: [/app, migrate]}
    - {name: notify, command: [/app, notify], when: AfterSwitch}
  warmup: {path: /}
  promotion: {mode: Manual}
  verify: {window: 1m, maxErrorRate: 0.01}`,
			"checks GET /api/ping; jobs migrate (BeforeSwitch); jobs notify (AfterSwitch); " +
				"warm-up 100 requests of /, 4 at a time; promotion Manual (waits for controller promote); verified 1m0s on real traffic (at most 1 % errors)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := spectest.Web()
			if tc.extra != "" {
				d = spectest.Web(tc.extra)
			}
			svcs, err := spec.Decode([]byte(d.YAML()), "desired.yaml", t.TempDir(), nil)
			if err != nil {
				t.Fatalf("decode: %v\n%s", err, d.YAML())
			}
			if got := releasePath(&svcs[0].ServiceSpec); got != tc.want {
				t.Errorf("releasePath =\n  %s\nwant\n  %s", got, tc.want)
			}
		})
	}
}

func TestReleasePathReplicas(t *testing.T) {
	if got, want := releasePath(&spec.ServiceSpec{Replicas: 2}), "2 replicas per color; not verified after the switch"; got != want {
		t.Errorf("releasePath = %q, want %q", got, want)
	}
}
