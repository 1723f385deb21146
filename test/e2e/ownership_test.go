package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestUnlabelledContainerNeverTouched: a container named like the idle slot
// (bg-<svc>-green) but created by someone else, without the controller's
// labels, blocks a release: status says Failed/ContainerNotOwned, the
// container is neither started, stopped, removed nor replaced, traffic stays
// on blue, and `controller status` reports the conflict. Once the operator
// removes it, the release completes.
func TestUnlabelledContainerNeverTouched(t *testing.T) {
	e := newEnv(t)
	e.save(spec.Blue, "v1")
	// A short resync makes the controller look at the foreign container
	// many times while the test watches it; -v 1 logs every pass.
	ctl := e.start("--resync", "200ms", "-v", "1")
	e.waitConverged(2 * time.Minute)

	name := "bg-" + e.svc + "-green"
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	image := dockerCLI(t, "image", "inspect", "-f", "{{.Id}}", e.repo+":v1")
	id := dockerCLI(t, "create", "--name", name, image)
	foreign := inspectSlotContainer(name)
	if !strings.HasPrefix(foreign, id+" created ") {
		t.Fatalf("docker create %s: inspect says %q, want ID %s in state created", name, foreign, id)
	}
	if labels := dockerCLI(t, "inspect", "-f", "{{json .Config.Labels}}", name); strings.Contains(labels, "bluegreen") {
		t.Fatalf("the foreign container carries controller labels: %s", labels)
	}

	l := e.startLoad(20, 5)
	waitSent(t, l, 1000)
	before := e.worldSnapshot()
	e.save(spec.Green, "v2")
	s := e.waitPhase(time.Minute, planner.Failed, "ContainerNotOwned")
	msg := readyMessage(s)
	t.Logf("status: %s %s: %s", s.Phase, readyReason(s), msg)
	if !strings.Contains(msg, name) {
		t.Errorf("the status message does not name the container %s: %q", name, msg)
	}
	if cs := s.Colors[spec.Green]; cs == nil || !strings.Contains(cs.Container, "not managed") {
		t.Errorf("status of green does not say its container is not managed: %+v", cs)
	}

	// Let the controller run (resync every 200 ms) and watch the container.
	seen := strings.Count(ctl.output(), "ContainerNotOwned")
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if now := inspectSlotContainer(name); now != foreign {
			t.Fatalf("the controller touched a container it does not own:\nbefore %s\nnow    %s", foreign, now)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if passes := strings.Count(ctl.output(), "ContainerNotOwned") - seen; passes < 3 {
		t.Fatalf("the controller looked at the foreign container only %d times in 3s, want several passes", passes)
	} else {
		t.Logf("%d passes saw the foreign container and left it alone", passes)
	}
	e.assertWorldUnchanged(before, "with a foreign container in the green slot")
	if s := e.serviceStatus(); s.Phase != planner.Failed || readyReason(s) != "ContainerNotOwned" {
		t.Fatalf("status changed to %s %s while the foreign container is there", s.Phase, readyReason(s))
	}

	// controller status reports the conflict, and exits 1.
	code, out := runToExit(t, e.command("status"), 30*time.Second)
	t.Logf("controller status (exit %d):\n%s", code, out)
	if code != 1 {
		t.Errorf("controller status exited %d, want 1 (a service needs attention)", code)
	}
	for _, want := range []string{"Failed", "ContainerNotOwned", name, "not managed"} {
		if !strings.Contains(out, want) {
			t.Errorf("controller status does not mention %q", want)
		}
	}

	// The operator removes it: the release completes, without a failed request.
	dockerCLI(t, "rm", name)
	e.waitConverged(2 * time.Minute)
	e.assertFrontend("green v2")
	if now := inspectSlotContainer(name); strings.HasPrefix(now, id) || !strings.Contains(now, " running ") {
		t.Fatalf("after the release the green slot is %q, want a new running container (not %s)", now, id)
	}
	waitSent(t, l, l.sent()+2000)
	e.stopLoadNoFailures(l)
	ctl.stop()
}

// dockerCLI runs the docker CLI and returns its trimmed output.
func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
