package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatalf("port %d from FreePort: %v", p, err)
	}
	ln.Close()
	if lo, hi := portPool(); p < lo || p > hi {
		t.Fatalf("port %d outside the pool %d-%d, below the ephemeral range", p, lo, hi)
	}
	// Held for this test: no other caller (another test process would open
	// its own file the same way) can reserve it.
	if f := reservePort(p); f != nil {
		f.Close()
		t.Fatalf("port %d reserved twice", p)
	}
	if q := FreePort(t); q == p {
		t.Fatalf("FreePort returned %d twice", p)
	}
}

func TestFreePortReleasedAfterTest(t *testing.T) {
	var p int
	t.Run("holder", func(t *testing.T) { p = FreePort(t) })
	f := reservePort(p)
	if f == nil {
		t.Fatalf("port %d still reserved after the test that took it ended", p)
	}
	f.Close()
}

func TestRequireBinary(t *testing.T) {
	if p := RequireBinary(t, "sh", "no shell"); !filepath.IsAbs(p) {
		t.Fatalf("RequireBinary(sh) = %q", p)
	}
	if p := RequireBinary(t, "haproxy", HAProxyHint); !strings.HasSuffix(p, "/haproxy") {
		t.Fatalf("RequireBinary(haproxy) = %q", p)
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	WaitFor(t, 5*time.Second, "counter", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times", n)
	}
}

func TestModuleRoot(t *testing.T) {
	root := ModuleRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(filepath.ToSlash(mustWd(t)), "internal/testenv") || filepath.Dir(filepath.Dir(mustWd(t))) != root {
		t.Fatalf("module root %s for working dir %s", root, mustWd(t))
	}
}

func mustWd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestGoBuild(t *testing.T) {
	p := GoBuild(t, "./internal/testenv/testdata/hello")
	if again := GoBuild(t, "./internal/testenv/testdata/hello"); again != p {
		t.Fatalf("second build gave %s, first %s", again, p)
	}
	if filepath.Base(p) != "hello" {
		t.Fatalf("binary %s", p)
	}
	out, err := exec.Command(p).CombinedOutput()
	if err != nil || string(out) != "hello from testenv\n" {
		t.Fatalf("running %s: %q, %v", p, out, err)
	}
}
