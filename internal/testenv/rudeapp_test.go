package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dockerdrv "github.com/bluegreen-host/controller/pkg/docker"
)

// TestRudeImageInDocker runs the rude app image on the real engine and checks
// the two things it exists for: docker stop ends it with exit status 2 (Go as
// PID 1 without a signal handler), and alloc over the memory limit gets it
// OOM-killed at start (137, OOMKilled=true).
func TestRudeImageInDocker(t *testing.T) {
	RequireDocker(t)
	ctxDir := RudeContext(t)
	for _, f := range []string{"Dockerfile", "rudeapp"} {
		if _, err := os.Stat(filepath.Join(ctxDir, f)); err != nil {
			t.Fatalf("rude context: %v", err)
		}
	}
	if again := RudeContext(t); again != ctxDir {
		t.Fatalf("RudeContext built twice: %s, %s", ctxDir, again)
	}
	unique := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())

	t.Run("docker stop exits 2", func(t *testing.T) {
		t.Parallel()
		tag := "testenv-rude:v1-" + unique
		if id := BuildRudeImage(t, tag, "v1", ""); !strings.HasPrefix(id, "sha256:") {
			t.Fatalf("image ID %q", id)
		}
		name := "testenv-rude-stop-" + unique
		port := FreePort(t)
		rudeRun(t, name, unique, "-e", "COLOR=blue", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), tag)

		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		var got string
		WaitFor(t, 30*time.Second, "rude container answering on "+base+"/", func() bool {
			got, _ = rudeGet(base + "/")
			return got == "200 blue v1"
		})
		if got, err := rudeGet(base + "/healthz"); err != nil || got != "200 ok" {
			t.Fatalf("GET /healthz = %q, %v; want 200 ok", got, err)
		}

		start := time.Now()
		if _, err := docker(time.Minute, "stop", "-t", "2", name); err != nil {
			t.Fatalf("stopping the rude container: %v", err)
		}
		took := time.Since(start)
		st := rudeState(t, name)
		t.Logf("docker stop -t 2 took %s; state %s", took.Round(time.Millisecond), st)
		// 2, not 137: the app died on SIGTERM itself, not by the SIGKILL after -t 2.
		if st != "exited 2 false" {
			t.Errorf("after docker stop: status, exit code, OOMKilled = %q, want %q\nlogs:\n%s",
				st, "exited 2 false", rudeLogs(t, name))
		}
		if logs := rudeLogs(t, name); !strings.Contains(logs, "rudeapp: ") || !strings.Contains(logs, "listening on [::]:8080") {
			t.Errorf("docker logs lack the rudeapp lines:\n%s", logs)
		}
	})

	t.Run("alloc over the memory limit is OOM-killed", func(t *testing.T) {
		t.Parallel()
		tag := "testenv-rude:oom-" + unique
		BuildRudeImage(t, tag, "v1", "alloc=64")
		if env, err := docker(30*time.Second, "image", "inspect", "--format", "{{json .Config.Env}}", tag); err != nil ||
			!strings.Contains(env, `"APP_MODE=alloc=64"`) || !strings.Contains(env, `"APP_VERSION=v1"`) {
			t.Fatalf("image env = %s, %v; want APP_MODE=alloc=64 and APP_VERSION=v1 from the build args", env, err)
		}
		name := "testenv-rude-oom-" + unique
		// --memory-swap equal to --memory: no swap to spill into, whatever the host has.
		rudeRun(t, name, unique, "--memory", "16m", "--memory-swap", "16m", tag)

		var st string
		WaitFor(t, 30*time.Second, "rude container "+name+" exiting", func() bool {
			st = rudeState(t, name)
			return strings.HasPrefix(st, "exited ")
		})
		logs := rudeLogs(t, name)
		t.Logf("state %s; logs:\n%s", st, logs)
		// The engine's OOMKilled flag can miss the kill when it handles the
		// exit before the kernel's OOM notice (seen under load in CI); the
		// controller then reads the engine's "oom" event, else the kernel
		// log, as here.
		if st == "exited 137 false" {
			d, err := dockerdrv.New(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			id, _ := docker(30*time.Second, "inspect", "--format", "{{.Id}}", name)
			if oom, err := d.OOMKilledBetween(context.Background(), strings.TrimSpace(id), time.Now().Add(-5*time.Minute), time.Now()); err == nil && oom {
				st = "exited 137 true"
			}
		}
		if st != "exited 137 true" {
			t.Errorf("status, exit code, OOMKilled (or an oom event) = %q, want %q", st, "exited 137 true")
		}
		if !strings.Contains(logs, "rudeapp: ") || !strings.Contains(logs, "alloc: allocating and touching 64 MiB") ||
			strings.Contains(logs, "listening on") {
			t.Errorf("want the alloc log line and no listening line:\n%s", logs)
		}
	})
}

// rudeRun starts a detached container called name (removed by name when the
// test ends) with the test label and extra docker run arguments.
func rudeRun(t *testing.T, name, unique string, args ...string) {
	t.Helper()
	t.Cleanup(func() {
		if _, err := docker(time.Minute, "rm", "-f", "-v", name); err != nil {
			t.Errorf("testenv: removing container %s: %v", name, err)
		}
	})
	runArgs := append([]string{"run", "-d", "--name", name, "--label", "bluegreen-testenv.test=" + unique}, args...)
	if _, err := docker(time.Minute, runArgs...); err != nil {
		t.Fatalf("starting container %s: %v", name, err)
	}
}

// rudeState returns "<status> <exit code> <OOMKilled>" of container name.
func rudeState(t *testing.T, name string) string {
	t.Helper()
	st, err := docker(30*time.Second, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}", name)
	if err != nil {
		t.Fatalf("inspecting container %s: %v", name, err)
	}
	return st
}

// rudeLogs returns the container's output: docker logs replays the app's
// stderr on its own stderr, which the docker helper does not return.
func rudeLogs(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "logs", name).CombinedOutput()
	if err != nil {
		t.Fatalf("docker logs %s: %v\n%s", name, err, out)
	}
	return string(out)
}

// rudeClient does not keep connections: each poll sees the container afresh.
var rudeClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// rudeGet returns "<status> <trimmed body>" of GET url.
func rudeGet(url string) (string, error) {
	resp, err := rudeClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))), err
}
