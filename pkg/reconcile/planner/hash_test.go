package planner_test

import (
	"testing"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestHashOfExistingContainersKept: the container hash and the generation
// of specs that set none of the fields added since are the values they had
// before (pinned here): adding a field to the spec must not replace every
// container on the host, nor move traffic off a served one. Logging, which
// takes a default when left out, is one of them: the default is given at
// create, not hashed; written out as the default, it changes nothing.
func TestHashOfExistingContainersKept(t *testing.T) {
	for _, tc := range []struct {
		extra                []string
		blue, green, genWant string
	}{
		{nil, "a183d9dc3e75", "800c57494bcf", "13bf8123f226"},
		{[]string{"  env: {LOG_LEVEL: debug}", "  network: host"}, "651f653e5348", "47fa7ae0f4c7", "01bb2982ff45"},
		{[]string{"  resources: {memory: 256m}", "  volumes: [\"data:/data\"]", "  user: \"1000\""}, "46d27bda6270", "fd6768aace43", "d9643ecb8f65"},
	} {
		s := plantest.Service(t, spec.Blue, "demo:v1", tc.extra...)
		if got := planner.ContainerHash(s, s.Replica(spec.Blue, 0), plantest.ImageV1); got != tc.blue {
			t.Errorf("%q: blue's hash %s, want %s as before", tc.extra, got, tc.blue)
		}
		if got := planner.ContainerHash(s, s.Replica(spec.Green, 0), plantest.ImageV2); got != tc.green {
			t.Errorf("%q: green's hash %s, want %s as before", tc.extra, got, tc.green)
		}
		if got := s.Generation(); got != tc.genWant {
			t.Errorf("%q: generation %s, want %s as before", tc.extra, got, tc.genWant)
		}
		if got := planner.ContainerSpecOf(s, s.Replica(spec.Blue, 0), plantest.ImageV1).Logging; !got.IsDefault() {
			t.Errorf("%q: created with logging %s, want the default %s", tc.extra, got, spec.DefaultLogging())
		}
	}
	plain := plantest.Service(t, spec.Blue, "demo:v1")
	base := planner.ContainerHash(plain, plain.Replica(spec.Blue, 0), plantest.ImageV1)
	explicit := plantest.Service(t, spec.Blue, "demo:v1", `  logging: {driver: json-file, options: {max-size: 10m, max-file: "3"}}`)
	if got := planner.ContainerHash(explicit, explicit.Replica(spec.Blue, 0), plantest.ImageV1); got != base {
		t.Errorf("the default logging written out changed the hash: %s, want %s", got, base)
	}
}

// TestNewFieldsChangeTheHash: each field a container is created from is
// in its hash, so that changing it replaces the idle color.
func TestNewFieldsChangeTheHash(t *testing.T) {
	plain := plantest.Service(t, spec.Blue, "demo:v1")
	base := planner.ContainerHash(plain, plain.Replica(spec.Blue, 0), plantest.ImageV1)
	seen := map[string]string{}
	for _, extra := range []string{
		`  command: ["--verbose"]`,
		`  entrypoint: ["/demoapp"]`,
		`  workingDir: /srv`,
		`  stopSignal: SIGQUIT`,
		`  logging: {driver: local}`,
		`  logging: {driver: json-file, options: {max-size: 20m}}`,
		`  network: backend`,
		"  network: backend\n  networks: [db]",
	} {
		s := plantest.Service(t, spec.Blue, "demo:v1", extra)
		h := planner.ContainerHash(s, s.Replica(spec.Blue, 0), plantest.ImageV1)
		if h == base {
			t.Errorf("%s: the hash did not change", extra)
		}
		if prev, ok := seen[h]; ok {
			t.Errorf("%s: the same hash as %s", extra, prev)
		}
		seen[h] = extra
	}
	s := plantest.Service(t, spec.Blue, "demo:v1")
	s.EnvFile, s.EnvFileDigest = []string{"/etc/bluegreen/web.env"}, "aa"
	h1 := planner.ContainerHash(s, s.Replica(spec.Blue, 0), plantest.ImageV1)
	s.EnvFileDigest = "bb"
	if h2 := planner.ContainerHash(s, s.Replica(spec.Blue, 0), plantest.ImageV1); h1 == base || h2 == h1 {
		t.Errorf("env files: hash %s, then %s with other contents, from %s without: want three different", h1, h2, base)
	}
}
