package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/policy/policytest"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestRunningControllerAppliesThePolicy: every case of the policy table
// that names no other host, met by a controller in watch mode that serves
// blue: the host policy file and then the desired file are edited to the
// case. A refused case is named in status.json's specError (the desired
// field and the policy file) and changes nothing in HAProxy or Docker; an
// allowed case is taken (specError clears after a refused file). The
// policy is read at each pass: no restart is needed for an edit of it.
func TestRunningControllerAppliesThePolicy(t *testing.T) {
	e := newEnv(t)
	e.save(spec.Blue, "v1")
	if code, out := e.once(); code != 0 {
		t.Fatalf("converge blue v1: --once exited %d:\n%s", code, out)
	}
	if err := policytest.Prepare(e.dir); err != nil {
		t.Fatal(err)
	}
	ctl := e.start("--resync", "200ms", "--no-pull")
	e.waitConverged(time.Minute)
	testenv.WaitFor(t, 30*time.Second, "HAProxy sees the never-started green down", func() bool {
		return strings.Contains(e.serverStates(), e.svc+"_green/app op=0")
	})
	before := e.badInputSnapshot()
	base := spectest.Desired{Name: e.svc, Active: "blue", Image: e.repo + ":v1", BluePort: e.bluePort, GreenPort: e.greenPort,
		Runtime: "unix://" + e.specSock, MapFile: e.mapPath, Extra: []string{"  readyTimeout: 30s", "  verify: {window: 1s}"}}
	apply := func(tc policytest.Case) {
		t.Helper()
		pol := policytest.Sub(tc.Policy, e.dir) + "\n"
		if !strings.Contains(pol, "mapFileDirs:") {
			pol += fmt.Sprintf("mapFileDirs: [%q]\n", e.dir) // the test's own map
		}
		writeFile(t, e.policy, pol)
		e.saveDesiredText(tc.Desired(base, e.dir).YAML())
	}
	var allowed []policytest.Case
	refused := 0
	for _, tc := range policytest.Cases() {
		switch {
		case tc.Remote:
			continue
		case tc.Refused == "":
			allowed = append(allowed, tc)
			continue
		}
		refused++
		apply(tc)
		want := ": " + tc.Refused + ": "
		testenv.WaitFor(t, 30*time.Second, tc.Name+": specError names "+tc.Refused, func() bool {
			return strings.Contains(e.status().SpecError, want)
		})
		if se := e.status().SpecError; !strings.Contains(se, e.policy) {
			t.Errorf("%s: specError does not name the policy file %s: %s", tc.Name, e.policy, se)
		}
		if now := e.badInputSnapshot(); now != before {
			t.Fatalf("%s: a desired file the policy refuses changed the running system:\nbefore %+v\nnow    %+v", tc.Name, before, now)
		}
	}
	refusedSpec := strings.Replace(base.YAML(), fmt.Sprintf("hostPort: %d", e.greenPort), "hostPort: 0", 1)
	for _, tc := range allowed {
		e.saveDesiredText(refusedSpec)
		testenv.WaitFor(t, 30*time.Second, "a bad file refused before "+tc.Name, func() bool {
			return strings.Contains(e.status().SpecError, "spec.colors.green.hostPort")
		})
		apply(tc)
		testenv.WaitFor(t, 30*time.Second, tc.Name+": the desired state is taken", func() bool {
			return e.status().SpecError == ""
		})
	}
	t.Logf("%d refused and %d allowed cases met by the running controller", refused, len(allowed))
	ctl.stop()
}
