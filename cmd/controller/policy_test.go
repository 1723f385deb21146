package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"

	"github.com/bluegreen-host/controller/pkg/policy/policytest"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestValidateAppliesThePolicy: every case of the policy table, through
// controller validate: a refused case exits 2 naming the desired field and
// the policy rule; an allowed one exits 0 and says which policy is in
// force. A case with no policy file runs with --policy "" (the defaults).
func TestValidateAppliesThePolicy(t *testing.T) {
	tmp := t.TempDir()
	if err := policytest.Prepare(tmp); err != nil {
		t.Fatal(err)
	}
	cfg := writeTemp(t, tmp, "haproxy.cfg", "") // no backends: no health check to compare
	for i, tc := range policytest.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			desired := writeTemp(t, tmp, "desired.yaml", tc.Desired(spectest.Web(), tmp).YAML())
			pol, source := "", "the built-in default policy"
			if tc.Policy != "" {
				pol = writeTemp(t, tmp, fmt.Sprintf("policy-%d.yaml", i), policytest.Sub(tc.Policy, tmp)+"\n")
				source = "host policy " + pol
			}
			code, out, errOut := runCmd("validate", "-f", desired, "--policy", pol, "--haproxy-config", cfg)
			if tc.Refused == "" {
				if code != exitOK || !strings.Contains(out, "policy: "+source) {
					t.Fatalf("exit %d, want 0 and the policy in force (%s)\nstdout:\n%s\nstderr:\n%s", code, source, out, errOut)
				}
				return
			}
			rule := policytest.Sub(tc.Rule, tmp)
			if code != exitUsage || !strings.Contains(errOut, ": "+tc.Refused+": ") || !strings.Contains(errOut, rule) {
				t.Fatalf("exit %d, want %d and a refusal at %s naming %q\nstderr:\n%s", code, exitUsage, tc.Refused, rule, errOut)
			}
		})
	}
}

// TestFinding1IsRefused: the desired file of the security review's first
// finding (a runtime address on another host, a map file in
// /etc/profile.d, a shell command as map key) is refused by validate under
// the default policy, naming both rules; run --once refuses the same file
// with a map file in a directory the defaults do not allow, and writes
// nothing there.
func TestFinding1IsRefused(t *testing.T) {
	tmp := t.TempDir()
	d := spectest.Web("  haproxy: {runtime: \"tcp://203.0.113.7:9999\", mapFile: /etc/profile.d/zz-bluegreen.sh, mapKey: '$(id>/tmp/x)'}")
	yaml := strings.Replace(d.YAML(), "  haproxy:\n    runtime: "+d.Runtime+"\n    mapFile: "+d.MapFile+"\n", "", 1)
	desired := writeTemp(t, tmp, "desired.yaml", yaml)
	code, _, errOut := runCmd("validate", "-f", desired, "--policy", "")
	for _, want := range []string{"spec.haproxy.mapFile: /etc/profile.d/zz-bluegreen.sh", "default mapFileDirs: [/etc/haproxy]",
		"spec.haproxy.runtime: tcp://203.0.113.7:9999", "default runtimes: [unix loopback]"} {
		if code != exitUsage || !strings.Contains(errOut, want) {
			t.Errorf("validate exited %d, want %d and %q in:\n%s", code, exitUsage, want, errOut)
		}
	}

	mapFile := filepath.Join(tmp, "profile.d", "zz-bluegreen.sh")
	d = spectest.Web()
	d.Runtime, d.MapFile = "unix://"+filepath.Join(tmp, "admin.sock"), mapFile
	writeTemp(t, tmp, "desired.yaml", d.YAML())
	code, _, errOut = runCmd("run", "--once", "--timeout", "5s", "-f", desired, "--state-dir", filepath.Join(tmp, "state"),
		"--lock-dir", filepath.Join(tmp, "locks"), "--policy", "")
	if code != exitUsage || !strings.Contains(errOut, "spec.haproxy.mapFile: "+mapFile) {
		t.Errorf("run --once exited %d, want %d and a refusal of the map file:\n%s", code, exitUsage, errOut)
	}
	if _, err := os.Stat(filepath.Dir(mapFile)); !os.IsNotExist(err) {
		t.Errorf("run --once made or wrote %s: %v", filepath.Dir(mapFile), err)
	}
}

// TestTCPRuntimeWarnedOnEveryEdit: the warning about a runtime API over
// TCP is given when a desired state accepted by the running loop names a
// TCP address the one before did not (an edit that adds one), not only at
// start, and not again at every pass while it stays.
func TestTCPRuntimeWarnedOnEveryEdit(t *testing.T) {
	var warned []string
	log := funcr.New(func(_, args string) { warned = append(warned, args) }, funcr.Options{})
	unix, tcp1, tcp2 := spectest.Web(), spectest.Web(), spectest.Web()
	tcp1.Runtime, tcp2.Runtime = "tcp://127.0.0.1:9999", "tcp://127.0.0.1:9998"
	var next spectest.Desired
	load := loadWithLocks(func() ([]spec.Service, error) {
		return spec.Decode([]byte(next.YAML()), "desired.yaml", t.TempDir(), nil)
	}, nil, newTCPWarner(log))
	for i, step := range []struct {
		d    spectest.Desired
		want string // the address warned about at this load, "" for none
	}{
		{unix, ""}, {tcp1, "tcp://127.0.0.1:9999"}, {tcp1, ""}, {tcp2, "tcp://127.0.0.1:9998"}, {unix, ""}, {tcp2, "tcp://127.0.0.1:9998"},
	} {
		warned, next = nil, step.d
		if _, err := load(); err != nil {
			t.Fatal(err)
		}
		switch {
		case step.want == "" && len(warned) > 0:
			t.Errorf("load %d (%s): warned %q, want nothing", i, step.d.Runtime, warned)
		case step.want != "" && (len(warned) != 1 || !strings.Contains(warned[0], step.want)):
			t.Errorf("load %d (%s): warned %q, want one warning about %s", i, step.d.Runtime, warned, step.want)
		}
	}
}
