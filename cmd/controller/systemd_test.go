package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// TestSystemdUnitsVerify runs systemd-analyze verify on the shipped units,
// with ExecStart pointing at an executable that exists here.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze := testenv.RequireBinary(t, "systemd-analyze", "apt-get install -y systemd")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("..", "..", "examples", "systemd")
	dir := t.TempDir()
	var units []string
	for _, name := range []string{"bluegreen.service", "bluegreen-once.service", "bluegreen-once.timer"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "/usr/local/bin/controller") && strings.HasSuffix(name, ".service") {
			t.Fatalf("%s does not run /usr/local/bin/controller", name)
		}
		text := strings.ReplaceAll(string(b), "/usr/local/bin/controller", self)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
