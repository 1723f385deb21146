package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// TestInitThenRunOnce: controller init, from flags alone, writes what a
// real HAProxy starts on and what run --once deploys with no hand edit:
// the app answers through the frontend for the host names given, and a
// request for another host is not routed to it.
func TestInitThenRunOnce(t *testing.T) {
	testenv.RequireBinary(t, "haproxy", testenv.HAProxyHint)
	testenv.RequireDocker(t)
	id := randomID()
	dir, svc, repo := t.TempDir(), "init"+id, "bge2e-init-"+id
	front, blue, green := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	bin := testenv.GoBuildTags(t, "./cmd/controller", "crashpoints") // as the harness builds it
	policy := writePolicy(t, dir)
	testenv.BuildDemoImage(t, repo+":v1", "v1", "")
	t.Cleanup(func() { testenv.RemoveContainersByLabel(t, "io.bluegreen.service", svc) })

	sock, gen := filepath.Join(dir, "admin.sock"), filepath.Join(dir, "gen")
	ctl := func(args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "BLUEGREEN_POLICY="+policy) // the tests' host policy
		return runOnce(t, cmd)
	}
	code, out := ctl("init", "--name", svc, "--image", repo+":v1", "--host", svc+".example", "--host", "www."+svc+".example",
		"--blue-port", fmt.Sprint(blue), "--green-port", fmt.Sprint(green), "--runtime", "unix://"+sock,
		"--map-file", filepath.Join(dir, "hosts.map"), "--listen", fmt.Sprintf("127.0.0.1:%d", front), "--out", gen)
	if code != 0 {
		t.Fatalf("controller init: exit %d\n%s", code, out)
	}
	cfg, err := os.ReadFile(filepath.Join(gen, "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.StartHAProxy(t, gen, string(cfg), sock) // haproxy -c first, then started from the same file

	desired := filepath.Join(gen, "desired.yaml")
	if code, out := ctl("validate", "-f", desired, "--haproxy", "--haproxy-config", filepath.Join(gen, "haproxy.cfg")); code != 0 {
		t.Errorf("validate --haproxy of what init wrote, on the HAProxy started from it: exit %d\n%s", code, out)
	}
	code, out = ctl("run", "--once", "-f", desired, "--state-dir", filepath.Join(dir, "state"),
		"--lock-dir", filepath.Join(dir, "locks"), "--timeout", "3m")
	if code != 0 {
		t.Fatalf("run --once on what init wrote: exit %d\n%s", code, out)
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, tc := range []struct{ host, want string }{
		{svc + ".example", "200 blue v1"},
		{fmt.Sprintf("WWW.%s.example:%d", svc, front), "200 blue v1"},
		{"other.example", "503"},
	} {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", front), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("GET / with Host %s through the frontend: %v", tc.host, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := fmt.Sprint(resp.StatusCode)
		if resp.StatusCode == http.StatusOK {
			got += " " + strings.TrimSpace(string(body))
		}
		if got != tc.want {
			t.Errorf("GET / with Host %s: %q, want %q", tc.host, got, tc.want)
		}
	}
}
