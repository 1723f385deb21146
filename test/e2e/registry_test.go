package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestPrivateRegistryRelease: blue serves v1; the desired file asks for
// green running an image that is only in a private registry on 127.0.0.1
// (pull: IfMissing, no build). With no credentials for that registry in the
// controller's DOCKER_CONFIG the release fails, the status says which
// registry and that no credentials were found, and nothing moves; once
// `docker login` has stored them there, the controller's next try pulls the
// image and the release completes. The password is never in the status
// nor in the controller's output.
func TestPrivateRegistryRelease(t *testing.T) {
	e := newEnv(t)
	reg := testenv.StartRegistry(t)

	pushCfg := t.TempDir()
	reg.Login(pushCfg)
	src := e.repo + ":v2-src" // removed with the repository's tags
	testenv.BuildDemoImage(t, src, "v2", "")
	ref := reg.Push(pushCfg, src, e.repo+"-private:v2")
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", ref).Run() })

	// The controller's client config: no config.json yet.
	ctlCfg := t.TempDir()
	e.ctlEnv = append(e.ctlEnv, "DOCKER_CONFIG="+ctlCfg)
	e.save(spec.Blue, "v1")
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	e.assertFrontend("blue v1")
	before := e.worldSnapshot()

	e.saveDesired(spectest.Desired{Name: e.svc, Active: string(spec.Green), Image: ref,
		BluePort: e.bluePort, GreenPort: e.greenPort, Runtime: "unix://" + e.specSock, MapFile: e.mapPath,
		Extra: []string{
			"  pull: IfMissing",
			"  readyTimeout: " + e.readyTimeout,
			"  drainTimeout: " + e.drainTimeout,
			"  stopTimeout: " + e.stopTimeout,
			"  verify: " + e.verify,
		}}.YAML())

	s := e.waitPhase(time.Minute, planner.Degraded, planner.ReasonStepFailed)
	t.Logf("status without credentials: %s %s: %s", s.Phase, readyReason(s), readyMessage(s))
	want := "pull image " + ref + " from registry " + reg.Addr + ": no credentials found for " + reg.Addr +
		" in " + filepath.Join(ctlCfg, "config.json")
	if !strings.Contains(s.LastError, want) || !strings.Contains(readyMessage(s), want) {
		t.Errorf("status does not say %q:\nlastError %q\nmessage %q", want, s.LastError, readyMessage(s))
	}
	e.assertWorldUnchanged(before, "while the image cannot be pulled")
	e.assertFrontend("blue v1")
	if exec.Command("docker", "image", "inspect", ref).Run() == nil {
		t.Errorf("image %s is on this host although the pull failed", ref)
	}

	// docker login into the controller's DOCKER_CONFIG: the next try of
	// the step reads it, with no restart.
	reg.Login(ctlCfg)
	e.waitConverged(2 * time.Minute)
	e.assertFrontend("green v2")
	if _, image := e.container(spec.Green); image != ref {
		t.Errorf("green runs image %q, want %q", image, ref)
	}
	ctl.stop()

	status, err := os.ReadFile(filepath.Join(e.stateDir, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"the controller's output": ctl.output(), "status.json": string(status)} {
		if strings.Contains(text, reg.Password) {
			t.Errorf("%s contains the registry password", what)
		}
	}
}

// saveDesired writes the desired file as an editor does (rename over it).
func (e *env) saveDesired(text string) {
	e.t.Helper()
	tmp := e.desired + ".tmp"
	writeFile(e.t, tmp, text)
	if err := os.Rename(tmp, e.desired); err != nil {
		e.t.Fatal(err)
	}
}
