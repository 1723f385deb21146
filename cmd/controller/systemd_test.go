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

// TestSystemdUnitsLetTheKernelLogBeRead: the controller reads OOM kills
// that the engine missed from /dev/kmsg (pkg/docker, kmsg.go). Opening it
// needs CAP_SYSLOG where kernel.dmesg_restrict is 1 (Debian's default),
// and ProtectKernelLogs=yes closes it. No shipped service sets the latter,
// and under each one's capability bounding set the kernel log opens.
func TestSystemdUnitsLetTheKernelLogBeRead(t *testing.T) {
	setpriv := testenv.RequireBinary(t, "setpriv", "apt-get install -y util-linux")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "this test needs root: it runs a command under each unit's capability bounding set, as the units run as root")
	}
	for _, name := range []string{"bluegreen.service", "bluegreen-once.service"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		bounding := "" // unset: every capability
		for _, line := range strings.Split(string(b), "\n") {
			key, value, _ := strings.Cut(strings.TrimSpace(line), "=")
			switch key {
			case "ProtectKernelLogs":
				if value == "yes" || value == "true" {
					t.Errorf("%s: ProtectKernelLogs=%s closes /dev/kmsg, where the controller reads OOM kills", name, value)
				}
			case "CapabilityBoundingSet":
				bounding = "-all"
				for _, c := range strings.Fields(value) {
					bounding += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
				}
			}
		}
		args := []string{"dd", "if=/dev/kmsg", "of=/dev/null", "bs=16k", "count=1", "iflag=nonblock"}
		if bounding != "" {
			args = append([]string{"--bounding-set", bounding, "--"}, args...)
		} else {
			args = append([]string{"--"}, args...)
		}
		if out, err := exec.Command(setpriv, args...).CombinedOutput(); err != nil {
			t.Errorf("%s: under its capabilities (setpriv %s): %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
}
