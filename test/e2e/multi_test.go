package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
)

// pair is two services in one desired file, each behind its own HAProxy:
// web runs the polite demo app, api the rude one. One controller, with
// web's state directory, drives both.
type pair struct{ web, api *env }

// newPair is web and api, api's v2 answering 500 behind a healthy /healthz
// and judged on its traffic for 10 s; both are saved in web's desired file.
func newPair(t *testing.T) pair {
	p := pair{web: newEnv(t), api: rudeEnv(t)}
	p.api.modes = map[string]string{"v2": "fail500"}
	p.api.verify = "{window: 10s}"
	p.api.desired = p.web.desired // for its generation; the file holds both
	return p
}

// text is the desired state of both services.
func (p pair) text(webColor spec.Color, webVersion string, apiColor spec.Color, apiVersion string) string {
	return p.web.spec(webColor, webVersion) + "---\n" + p.api.spec(apiColor, apiVersion)
}

func (p pair) save(webColor spec.Color, webVersion string, apiColor spec.Color, apiVersion string) {
	p.web.t.Helper()
	tmp := p.web.desired + ".tmp"
	writeFile(p.web.t, tmp, p.text(webColor, webVersion, apiColor, apiVersion))
	if err := os.Rename(tmp, p.web.desired); err != nil {
		p.web.t.Fatal(err)
	}
}

// startLoads starts load on both services and returns once each has sent
// 500 requests.
func (p pair) startLoads() (web, api *load) {
	web, api = p.web.startLoad(10, 2), p.api.startLoad(5, 1)
	waitSent(p.web.t, web, 500)
	waitSent(p.web.t, api, 500)
	return web, api
}

// wait waits until service svc reports phase and reason for the generation
// the desired file gives it now.
func (p pair) wait(svc string, timeout time.Duration, phase planner.Phase, reason planner.Reason) *state.ServiceStatus {
	p.web.t.Helper()
	gen := p.generation(svc)
	var st *state.ServiceStatus
	testenv.WaitFor(p.web.t, timeout, svc+" "+string(phase)+" ("+string(reason)+")", func() bool {
		st = p.web.status().Services[svc]
		return st != nil && st.ObservedGeneration == gen && st.Phase == phase && readyReason(st) == reason
	})
	return st
}

// generation is the digest the controller reports for service svc once it
// acted on the desired file as it is now.
func (p pair) generation(svc string) string {
	p.web.t.Helper()
	svcs, err := specfile.Load(p.web.desired)
	if err != nil {
		p.web.t.Fatal(err)
	}
	for _, s := range svcs {
		if s.Name == svc {
			return s.Generation()
		}
	}
	p.web.t.Fatalf("%s holds no service %s", p.web.desired, svc)
	return ""
}

// TestTwoServicesInOneFile: a good release of web and a bad one of api,
// saved together, go their own ways: web's completes with no failed
// request while api's is rolled back; then api's serving container is
// killed and restarted while web's traffic goes on untouched.
func TestTwoServicesInOneFile(t *testing.T) {
	p := newPair(t)
	p.save(spec.Blue, "v1", spec.Blue, "v1")
	ctl := p.web.start()
	p.wait(p.web.svc, 2*time.Minute, planner.Converged, "Converged")
	p.wait(p.api.svc, 2*time.Minute, planner.Converged, "Converged")

	webLoad, apiLoad := p.startLoads()
	p.save(spec.Green, "v2", spec.Green, "v2")
	p.wait(p.api.svc, 2*time.Minute, planner.Failed, "RolledBack")
	p.wait(p.web.svc, 2*time.Minute, planner.Converged, "Converged")
	if got, err := p.web.get("/"); err != nil || got != "green v2" {
		t.Fatalf("web answers %q (%v), want green v2", got, err)
	}
	if got, err := p.api.get("/"); err != nil || got != "blue v1" {
		t.Fatalf("api answers %q (%v), want blue v1 after its rollback", got, err)
	}

	// api's serving container dies; web does not notice.
	pid, err := strconv.Atoi(p.api.inspect(spec.Blue, "{{.State.Pid}}"))
	if err != nil || pid <= 0 {
		t.Fatalf("pid of api's blue: %v", err)
	}
	started := p.api.inspect(spec.Blue, "{{.State.StartedAt}}")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "api answers again", func() bool {
		got, err := p.api.get("/")
		return err == nil && got == "blue v1" && p.api.inspect(spec.Blue, "{{.State.StartedAt}}") != started
	})
	waitSent(t, webLoad, webLoad.sent()+1000)
	sent, failed, _, fails := webLoad.stop()
	apiSent, apiFailed, _, _ := apiLoad.stop()
	t.Logf("web: %d requests, %d failed; api: %d requests, %d failed (its bad version's 500s and its own restart)", sent, failed, apiSent, apiFailed)
	if failed != 0 {
		t.Fatalf("web: %d of %d requests failed: %+v", failed, sent, fails[:min(3, len(fails))])
	}
	if _, err := os.Stat(filepath.Join(p.web.stateDir, "history.jsonl")); err != nil {
		t.Fatalf("no release history: %v", err)
	}
	ctl.stop()
}

// TestRefusedDocumentHoldsOnlyItsService: three services, one file each in
// a directory. api's file is made invalid (activeColor: purple) while web
// is released under load: web's release converges with no failed request,
// api serves on at its last valid spec and status says why (Failed,
// SpecRefused, the file and the field), shop is not touched. Fixing api's
// file resumes it: its own release then goes through.
func TestRefusedDocumentHoldsOnlyItsService(t *testing.T) {
	envs := []*env{newEnv(t), newEnv(t), newEnv(t)}
	web, api, shop := envs[0], envs[1], envs[2]
	dir := filepath.Join(web.dir, "desired.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range envs {
		e.desired, e.stateDir, e.policy = filepath.Join(dir, e.svc+".yaml"), web.stateDir, web.policy
		e.save(spec.Blue, "v1")
	}
	cmd := exec.Command(web.bin, "run", "-f", dir, "--state-dir", web.stateDir)
	cmd.Env = append(os.Environ(), "BLUEGREEN_POLICY="+web.policy)
	ctl := startController(t, cmd, nil)
	for _, e := range envs {
		e.waitConverged(2 * time.Minute)
	}
	shopStarted := shop.inspect(spec.Blue, "{{.State.StartedAt}}")
	lw, la := web.startLoad(10, 2), api.startLoad(5, 1)
	waitSent(t, lw, 500)
	waitSent(t, la, 500)

	bad := strings.Replace(api.spec(spec.Blue, "v1"), "activeColor: blue", "activeColor: purple", 1)
	writeFile(t, api.desired+".tmp", bad)
	if err := os.Rename(api.desired+".tmp", api.desired); err != nil {
		t.Fatal(err)
	}
	web.save(spec.Green, "v2")
	web.waitConverged(2 * time.Minute)
	if body, err := web.get("/"); err != nil || body != "green v2" {
		t.Errorf("web answers %q (%v) after its release, want green v2", body, err)
	}
	var held *state.ServiceStatus
	testenv.WaitFor(t, 30*time.Second, "api held at its last valid spec", func() bool {
		held = api.serviceStatus()
		return held != nil && held.Phase == planner.Failed && readyReason(held) == planner.ReasonSpecRefused
	})
	for _, want := range []string{api.desired, "spec.activeColor", "purple"} {
		if !strings.Contains(held.Refused, want) || !strings.Contains(readyMessage(held), want) {
			t.Errorf("api's status does not say %q: refused %q, message %q", want, held.Refused, readyMessage(held))
		}
	}
	if body, err := api.get("/"); err != nil || body != "blue v1" {
		t.Errorf("held api answers %q (%v), want blue v1", body, err)
	}
	if got := shop.inspect(spec.Blue, "{{.State.StartedAt}}"); got != shopStarted || shop.serviceStatus().Phase != planner.Converged {
		t.Errorf("shop: started %s (was %s), %s", got, shopStarted, shop.serviceStatus().Phase)
	}

	api.save(spec.Green, "v2")
	api.waitConverged(2 * time.Minute)
	if body, err := api.get("/"); err != nil || body != "green v2" {
		t.Errorf("api answers %q (%v) once its file is fixed and released, want green v2", body, err)
	}
	if s := api.serviceStatus(); s.Refused != "" || web.status().SpecError != "" {
		t.Errorf("after the fix: refused %q, specError %q", s.Refused, web.status().SpecError)
	}
	web.stopLoadNoFailures(lw)
	api.stopLoadNoFailures(la)
	ctl.stop()
}
