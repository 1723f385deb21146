package spec

import (
	"testing"

	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestMemoizedGeneration: a memoized service's generation is the one it
// has unmemoized, asked once or many times, and still follows the retries
// and env files' digest it is given after.
func TestMemoizedGeneration(t *testing.T) {
	svcs, err := Decode([]byte(spectest.Web().YAML()), "desired.yaml", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	plain := svcs[0]
	memo := plain
	memo.Memoize()
	for range 3 {
		if got, want := memo.Generation(), plain.Generation(); got != want {
			t.Fatalf("memoized generation %s, want %s", got, want)
		}
	}
	for _, change := range []func(*Service){
		func(s *Service) { s.HostRetries = 2 },
		func(s *Service) { s.EnvFileDigest = "sha256:abc" },
	} {
		m, p := memo, plain
		change(&m)
		change(&p)
		if m.Generation() != p.Generation() || m.Generation() == plain.Generation() {
			t.Fatalf("after a change the memoized generation is %s, want %s (not %s)", m.Generation(), p.Generation(), plain.Generation())
		}
	}
	if memo.WrittenGeneration() != plain.Generation() {
		t.Fatalf("written generation %s, want %s", memo.WrittenGeneration(), plain.Generation())
	}
}
