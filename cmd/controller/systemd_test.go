package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/internal/testenv"
)

var systemdUnits = []string{"bluegreen.service", "bluegreen-once.service", "bluegreen-once.timer"}

// unitCopies writes the shipped units to a temporary directory with
// ExecStart pointing at an executable that exists here (this test
// binary): systemd-analyze verify reports a missing /usr/local/bin/controller
// otherwise. Nothing else in the units is changed.
func unitCopies(t *testing.T) map[string]string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths := map[string]string{}
	for _, name := range systemdUnits {
		b := readUnit(t, name)
		if !strings.Contains(b, "/usr/local/bin/controller") && strings.HasSuffix(name, ".service") {
			t.Fatalf("%s does not run /usr/local/bin/controller", name)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(b, "/usr/local/bin/controller", self)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

func readUnit(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unitSettings returns the unit's assignments, key by key, in order.
func unitSettings(text string) map[string][]string {
	settings := map[string][]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		key, value, _ := strings.Cut(line, "=")
		settings[key] = append(settings[key], value)
	}
	return settings
}

// TestSystemdUnitsVerify runs systemd-analyze verify on the shipped units.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze := testenv.RequireBinary(t, "systemd-analyze", "apt-get install -y systemd")
	paths := unitCopies(t)
	args := []string{"verify"}
	for _, name := range systemdUnits {
		args = append(args, paths[name])
	}
	out, err := exec.Command(analyze, args...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdUnitsExposure: systemd-analyze security rates each service
// under 5.0 (OK), read from the unit file (--offline, systemd 250 and
// newer) since no systemd need run here. The scores are logged.
func TestSystemdUnitsExposure(t *testing.T) {
	analyze := testenv.RequireBinary(t, "systemd-analyze", "apt-get install -y systemd")
	out, err := exec.Command(analyze, "--version").Output()
	if err != nil {
		t.Fatalf("systemd-analyze --version: %v", err)
	}
	m := regexp.MustCompile(`^systemd (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze --version: no version in %q", out)
	}
	if v, _ := strconv.Atoi(string(m[1])); v < 250 {
		t.Fatalf("systemd-analyze is systemd %d: rating a unit file needs security --offline, systemd 250 or newer", v)
	}
	paths := unitCopies(t)
	overall := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d) (\S+)`)
	for _, name := range []string{"bluegreen.service", "bluegreen-once.service"} {
		out, err := exec.Command(analyze, "security", "--offline=yes", paths[name]).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze security --offline=yes %s: %v\n%s", name, err, out)
			continue
		}
		m := overall.FindSubmatch(out)
		if m == nil {
			t.Errorf("%s: no overall exposure level in\n%s", name, out)
			continue
		}
		score, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("systemd-analyze security --offline=yes %s: %s %s", name, m[1], m[2])
		if score >= 5.0 {
			t.Errorf("%s: exposure %s %s, want under 5.0:\n%s", name, m[1], m[2], out)
		}
	}
}

// TestSystemdUnitsShareTheirHardening: the watch unit and the --once unit
// run the same code, so they are hardened alike, setting for setting.
func TestSystemdUnitsShareTheirHardening(t *testing.T) {
	watch, once := unitSettings(readUnit(t, "bluegreen.service")), unitSettings(readUnit(t, "bluegreen-once.service"))
	keys := []string{"StateDirectory", "StateDirectoryMode", "RuntimeDirectory", "RuntimeDirectoryMode", "RuntimeDirectoryPreserve", "UMask"}
	for key := range watch {
		if strings.HasPrefix(key, "Protect") || strings.HasPrefix(key, "Private") || strings.HasPrefix(key, "Restrict") ||
			strings.HasPrefix(key, "SystemCall") || strings.HasPrefix(key, "Device") || strings.HasPrefix(key, "Capability") ||
			key == "ReadWritePaths" || key == "NoNewPrivileges" || key == "LockPersonality" || key == "MemoryDenyWriteExecute" {
			keys = append(keys, key)
		}
	}
	for _, key := range keys {
		if w, o := strings.Join(watch[key], " | "), strings.Join(once[key], " | "); w != o {
			t.Errorf("%s: bluegreen.service has %q, bluegreen-once.service %q", key, w, o)
		}
	}
}

// TestSystemdUnitsLetTheControllerWrite: under ProtectSystem=strict the
// controller writes only where the unit says; the default --state-dir and
// --lock-dir are among those places, and so is /etc/haproxy, where the map
// file usually lives. RuntimeDirectoryPreserve keeps the lock directory
// when the --once unit ends while the watch unit holds its locks.
func TestSystemdUnitsLetTheControllerWrite(t *testing.T) {
	var code int
	root := newCommand(context.Background(), &code, io.Discard, io.Discard)
	run, _, err := root.Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{}
	for _, flag := range []string{"state-dir", "lock-dir"} {
		f := run.Flag(flag)
		if f == nil {
			t.Fatalf("run has no --%s", flag)
		}
		defaults["--"+flag] = f.DefValue
	}
	defaults["the map file's directory"] = "/etc/haproxy"
	for _, name := range []string{"bluegreen.service", "bluegreen-once.service"} {
		s := unitSettings(readUnit(t, name))
		if got := strings.Join(s["ProtectSystem"], " "); got != "strict" {
			t.Errorf("%s: ProtectSystem=%s, want strict", name, got)
		}
		if got := strings.Join(s["RuntimeDirectoryPreserve"], " "); got != "yes" {
			t.Errorf("%s: RuntimeDirectoryPreserve=%s, want yes: the --once unit would remove the lock directory the watch unit uses", name, got)
		}
		var writable []string
		for _, d := range s["StateDirectory"] {
			writable = append(writable, "/var/lib/"+d)
		}
		for _, d := range s["RuntimeDirectory"] {
			writable = append(writable, "/run/"+d)
		}
		for _, v := range s["ReadWritePaths"] {
			for _, p := range strings.Fields(v) {
				writable = append(writable, strings.TrimPrefix(p, "-"))
			}
		}
		for what, dir := range defaults {
			ok := false
			for _, w := range writable {
				if dir == w || strings.HasPrefix(dir, w+"/") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s: %s %s is not writable under ProtectSystem=strict (writable: %s)", name, what, dir, strings.Join(writable, " "))
			}
		}
	}
}

// boundingSet returns the unit's CapabilityBoundingSet= as setpriv's
// --bounding-set, or "" when the unit sets none (every capability).
func boundingSet(t *testing.T, name string) string {
	t.Helper()
	values := unitSettings(readUnit(t, name))["CapabilityBoundingSet"]
	if len(values) == 0 {
		return ""
	}
	bounding := "-all"
	for _, c := range strings.Fields(strings.Join(values, " ")) {
		bounding += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	return bounding
}

// underBoundingSet runs args under the capability bounding set of the unit,
// as root, as systemd would run the controller.
func underBoundingSet(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	setpriv := testenv.RequireBinary(t, "setpriv", "apt-get install -y util-linux")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "this test needs root: it runs a command under each unit's capability bounding set, as the units run as root")
	}
	if b := boundingSet(t, name); b != "" {
		args = append([]string{"--bounding-set", b, "--"}, args...)
	} else {
		args = append([]string{"--"}, args...)
	}
	return exec.Command(setpriv, args...).CombinedOutput()
}

// TestSystemdUnitsLetTheKernelLogBeRead: the controller reads OOM kills
// that the engine missed from /dev/kmsg (pkg/docker, kmsg.go). Opening it
// needs CAP_SYSLOG where kernel.dmesg_restrict is 1 (Debian's default),
// and ProtectKernelLogs=yes or PrivateDevices=yes closes it. No shipped
// service sets those, and under each one's capability bounding set the
// kernel log opens.
func TestSystemdUnitsLetTheKernelLogBeRead(t *testing.T) {
	for _, name := range []string{"bluegreen.service", "bluegreen-once.service"} {
		s := unitSettings(readUnit(t, name))
		for _, key := range []string{"ProtectKernelLogs", "PrivateDevices"} {
			for _, v := range s[key] {
				if v == "yes" || v == "true" {
					t.Errorf("%s: %s=%s closes /dev/kmsg, where the controller reads OOM kills", name, key, v)
				}
			}
		}
		if out, err := underBoundingSet(t, name, "dd", "if=/dev/kmsg", "of=/dev/null", "bs=16k", "count=1", "iflag=nonblock"); err != nil {
			t.Errorf("%s: /dev/kmsg does not open under its capabilities: %v\n%s", name, err, out)
		}
	}
}

// TestSystemdUnitsLetTheMapFileKeepItsGroup: the controller rewrites the
// map file as a new file renamed over the old one, and gives it the old
// one's owner and group (root:haproxy, say) with fchown, which root may
// do only with CAP_CHOWN; without it the map file silently becomes
// root:root. Under each unit's bounding set, a file root made is given to
// another group.
func TestSystemdUnitsLetTheMapFileKeepItsGroup(t *testing.T) {
	for _, name := range []string{"bluegreen.service", "bluegreen-once.service"} {
		p := filepath.Join(t.TempDir(), "hosts.map")
		if err := os.WriteFile(p, []byte("web web_blue\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		if out, err := underBoundingSet(t, name, "chgrp", "1", p); err != nil {
			t.Errorf("%s: the map file cannot keep its group under its capabilities: %v\n%s", name, err, out)
		}
	}
}
