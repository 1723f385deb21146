package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
	"github.com/bluegreen-host/controller/internal/testenv"
)

const demoDir = "/tmp/bluegreen-demo"

// TestDemoScript follows README: scripts/demo.sh brings up HAProxy, the demo
// app as blue and the controller; the edit the script suggests moves traffic
// to green v2 with no failed request. It edits a copy of
// examples/desired.yaml (DESIRED=...), so the checkout stays clean.
func TestDemoScript(t *testing.T) {
	testenv.RequireBinary(t, "haproxy", "apt-get install -y haproxy")
	testenv.RequireDocker(t)
	if b, err := os.ReadFile(filepath.Join(demoDir, "haproxy.pid")); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && testenv.PIDAlive(pid) {
			t.Fatalf("a demo is running (HAProxy pid %d): stop it with scripts/demo.sh stop before running the tests", pid)
		}
	}
	root := testenv.ModuleRoot(t)
	var createdImages []string
	for _, img := range []string{"demo:v1", "demo:v2"} {
		if exec.Command("docker", "image", "inspect", img).Run() != nil {
			createdImages = append(createdImages, img)
		}
	}
	example, err := os.ReadFile(filepath.Join(root, "examples", "desired.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Beside the example, so that its build context (demoapp, which must
	// be below the desired file's directory) is found.
	desired := filepath.Join(root, "examples", "desired.e2e-"+randomID()+".yaml")
	writeFile(t, desired, string(example))
	t.Cleanup(func() { os.Remove(desired) })

	var out bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "demo.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DESIRED="+desired)
	cmd.Stdout = lockedWriter{&mu, &out}
	cmd.Stderr = lockedWriter{&mu, &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// scripts/demo.sh stop stops the controller too (the script's
		// process, after exec), then HAProxy and the containers.
		b, err := exec.Command("bash", filepath.Join(root, "scripts", "demo.sh"), "stop").CombinedOutput()
		if err != nil {
			t.Errorf("scripts/demo.sh stop: %v\n%s", err, b)
		}
		select {
		case <-done:
			if !strings.Contains(string(b), "stopped the controller") {
				t.Errorf("scripts/demo.sh stop did not say it stopped the controller:\n%s", b)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("the controller still runs after scripts/demo.sh stop:\n%s", b)
			_ = cmd.Process.Signal(syscall.SIGTERM) // by PID: after exec, the controller
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		for _, img := range createdImages {
			_ = exec.Command("docker", "rmi", "-f", img).Run()
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("demo output:\n%s", out.String())
			mu.Unlock()
		}
	})
	output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }

	e := &env{t: t, front: 18080, client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	testenv.WaitFor(t, 3*time.Minute, "the demo answers blue v1 on 127.0.0.1:18080", func() bool {
		got, err := e.get("/")
		return err == nil && got == "blue v1"
	})
	for _, hint := range []string{"activeColor: blue  ->  activeColor: green", "image: demo:v1     ->  image: demo:v2", "VERSION: v1        ->  VERSION: v2"} {
		if !strings.Contains(output(), hint) {
			t.Fatalf("the demo does not suggest %q:\n%s", hint, output())
		}
	}

	l := loadgen.Start(context.Background(), loadgen.Config{URL: "http://127.0.0.1:18080/", Concurrency: 20, KeepAlive: true, NoRetry: true})
	defer l.Stop()
	b, _ := os.ReadFile(desired)
	edited := strings.NewReplacer("activeColor: blue", "activeColor: green", "image: demo:v1", "image: demo:v2", "VERSION: v1", "VERSION: v2").Replace(string(b))
	writeFile(t, desired, edited)
	testenv.WaitFor(t, 3*time.Minute, "the demo answers green v2", func() bool {
		got, err := e.get("/")
		return err == nil && got == "green v2"
	})
	res := l.Stop()
	t.Logf("load during the demo's release: %s", res.Summary())
	if res.Failed != 0 {
		t.Fatalf("%d requests failed during the demo's release: %+v", res.Failed, res.FailSamples)
	}
	if st, err := exec.Command(filepath.Join(root, "bin", "controller"), "status", "--state-dir", demoDir+"/state").CombinedOutput(); err != nil {
		t.Logf("controller status (not converged yet is fine): %v\n%s", err, st)
	}
}
