package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/internal/loadgen"
	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// The side-by-side series: the controller's release against a Kamal-style
// one, on the same demo app images, under the same load, taking turns.
// The Kamal-style release is what Kamal does on a host: kamal-proxy runs
// in a container on a Docker network of its own with its port published
// on loopback; a release is `docker run` of the new version on that
// network (a new, cold container), `kamal-proxy deploy` to it by its
// container name, then the old container stopped and removed.

type kamalConfig struct {
	bin       string // a kamal-proxy binary, built static from its source
	releases  int    // per side
	rate      int    // requests/s of the load on each side's front
	keepAlive int    // its connections
	hap       haproxySettings
	repo      string
	ctlBin    string
	ctlArgs   []string
	id        string
}

// sideTimes are one side's releases, each from the save (the controller)
// or the command (Kamal-style): when the new container's start was
// requested, when the app first answered 200 on its own address, and when
// the front first answered with the new version.
type sideTimes struct {
	Start, FirstOK, Served []time.Duration
	Load                   loadgen.Result
}

type kamalResult struct {
	Releases             int
	Controller, KamalRun sideTimes
	// FirstCall is, per controller release, the save to its first step
	// that calls the engine (RemoveContainer here).
	FirstCall                []time.Duration
	Started                  time.Time
	Wall                     time.Duration
	LoadAvgStart, LoadAvgEnd string
}

// kamalSide is the Kamal-style set-up: its network, proxy and current app.
type kamalSide struct {
	t       *scope
	cfg     kamalConfig
	prefix  string
	network string
	socket  string // kamal-proxy's control socket, on the host
	front   int
	current string // the app container being served
	n       int
}

func runKamal(r *runner, name string, cfg kamalConfig) *kamalResult {
	t := r.scope()
	defer t.close()
	w, _ := startOne(t, worldConfig{name: name, hap: cfg.hap, repo: cfg.repo, ctlBin: cfg.ctlBin, ctlArgs: cfg.ctlArgs})
	k := startKamal(t, name, cfg)

	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	load := func(port int) *loadgen.Runner {
		return loadgen.Start(ctx, loadgen.Config{URL: fmt.Sprintf("http://127.0.0.1:%d/", port), Concurrency: cfg.keepAlive,
			KeepAlive: true, NoRetry: true, Rate: cfg.rate, Timeout: 10 * time.Second})
	}
	ctlLoad, kLoad := load(w.front), load(k.front)
	time.Sleep(2 * time.Second)
	res := &kamalResult{Releases: cfg.releases, Started: time.Now(), LoadAvgStart: loadavg()}
	t0 := time.Now()
	versions := []string{"v2", "v1"}
	for i := 0; i < cfg.releases; i++ {
		version := versions[i%2]
		sides := []func(){
			func() {
				first, start, firstOK, served := controllerRelease(t, w, i, version)
				res.FirstCall = append(res.FirstCall, first)
				res.Controller.add(start, firstOK, served)
			},
			func() { res.KamalRun.add(k.release(version)) },
		}
		if i%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			side()
			time.Sleep(time.Second)
		}
	}
	res.Wall, res.LoadAvgEnd = time.Since(t0), loadavg()
	res.Controller.Load, res.KamalRun.Load = *ctlLoad.Stop(), *kLoad.Stop()
	t.Logf("side by side: controller load %s; Kamal-style load %s", res.Controller.Load.Summary(), res.KamalRun.Load.Summary())
	return res
}

func (s *sideTimes) add(start, firstOK, served time.Duration) {
	s.Start, s.FirstOK, s.Served = append(s.Start, start), append(s.FirstOK, firstOK), append(s.Served, served)
}

// controllerRelease moves the service to the other color on version, from
// rest (the target's container stopped and seen DOWN by HAProxy).
func controllerRelease(t *scope, w *world, i int, version string) (first, start, firstOK, served time.Duration) {
	to := spec.Green
	if w.active[0] == spec.Green {
		to = spec.Blue
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s := w.serverStatus(0, to); strings.HasPrefix(s, "DOWN") || strings.HasPrefix(s, "MAINT") {
			break
		}
	}
	// An image of its own (the version's with a label of this release:
	// another image ID, the same body), so that the controller replaces
	// the target's stopped container and creates a new one, as docker run
	// does on the other side. A tag of the same image would only start the
	// container it has.
	tag := fmt.Sprintf("%s-r%d", version, i+1)
	build := exec.Command("docker", "build", "-q", "-t", w.repo+":"+tag, "-")
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0") // FROM a local image, no registry asked
	build.Stdin = strings.NewReader(fmt.Sprintf("FROM %s:%s\nLABEL io.bluegreen.bench.release=%d\n", w.repo, version, i+1))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s:%s: %v: %s", w.repo, tag, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", w.repo+":"+tag).Run() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen := watchFront(ctx, w.front, string(to)+" "+version)
	sw := w.doSwitch(0, to, tag, "release", time.Minute)
	start, first = -1, -1
	if at, ok := sw.Steps["StartContainer"]; ok {
		start = at.Sub(sw.Save)
	}
	for _, step := range []string{"RemoveContainer", "CreateContainer", "StartContainer"} {
		if at, ok := sw.Steps[step]; ok && (first < 0 || at.Sub(sw.Save) < first) {
			first = at.Sub(sw.Save)
		}
	}
	served = -1
	select {
	case at := <-seen:
		served = at.Sub(sw.Save)
	case <-ctx.Done():
		t.Errorf("controller release %d: the front never answered %s %s", i+1, to, version)
	}
	t.Logf("side by side %2d, controller : start requested %s, first 200 %s, new version served %s", i+1,
		ms(start), ms(sw.since(sw.Floor)), ms(served))
	return first, start, sw.since(sw.Floor), served
}

// watchFront asks the front for / every millisecond on a kept-alive
// connection and sends the moment it first answers want.
func watchFront(ctx context.Context, port int, want string) <-chan time.Time {
	seen := make(chan time.Time, 1)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	go func() {
		defer c.CloseIdleConnections()
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if resp, err := c.Do(req); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(b)) == want {
					seen <- time.Now()
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return seen
}

// dockerCLI runs the docker CLI, as Kamal does on a host.
func dockerCLI(t *scope, args ...string) string {
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// startKamal builds an image of the kamal-proxy binary, runs it on a
// network of its own with its port published on loopback, and deploys a
// first app container (v1) to it.
func startKamal(t *scope, name string, cfg kamalConfig) *kamalSide {
	dir, err := os.MkdirTemp("", name+"-kamal-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	k := &kamalSide{t: t, cfg: cfg, prefix: name + "-kamal", socket: filepath.Join(dir, "run", "kamal-proxy.sock"), front: testenv.FreePort(t)}
	k.network = k.prefix
	image := cfg.repo + ":kamal-proxy"
	ctxDir := filepath.Join(dir, "image")
	bin, err := os.ReadFile(cfg.bin)
	if err == nil {
		err = os.MkdirAll(ctxDir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(ctxDir, "kamal-proxy"), bin, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY kamal-proxy /kamal-proxy\nENTRYPOINT [\"/kamal-proxy\"]\n"), 0o644)
	}
	if err == nil {
		err = os.MkdirAll(filepath.Dir(k.socket), 0o755)
	}
	if err != nil {
		t.Fatalf("kamal-proxy image context: %v", err)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", image).Run() })
	dockerCLI(t, "build", "-q", "-t", image, "--label", "io.bluegreen.bench="+cfg.id, ctxDir)
	t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", k.network).Run() })
	dockerCLI(t, "network", "create", "--label", "io.bluegreen.bench="+cfg.id, k.network)
	t.Cleanup(k.removeAll)
	dockerCLI(t, "run", "-d", "--name", k.prefix+"-proxy", "--network", k.network, "--label", "io.bluegreen.bench="+cfg.id,
		"-p", fmt.Sprintf("127.0.0.1:%d:80", k.front), "-v", filepath.Dir(k.socket)+":/run/kp",
		"-e", "KAMAL_PROXY_SOCKET=/run/kp/kamal-proxy.sock", "-e", "HOME=/run/kp", "-e", "XDG_RUNTIME_DIR=/run/kp",
		image, "run", "--http-port", "80")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(k.socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamal-proxy made no control socket at %s within 30s", k.socket)
		}
	}
	k.release("v1")
	t.Logf("side by side: kamal-proxy serves on 127.0.0.1:%d", k.front)
	return k
}

// release runs version in a new container and deploys kamal-proxy to it,
// timed from the command; then stops and removes the old container.
func (k *kamalSide) release(version string) (start, firstOK, served time.Duration) {
	k.n++
	name := fmt.Sprintf("%s-app-%d", k.prefix, k.n)
	body := fmt.Sprintf("k%d %s", k.n, version)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen := watchFront(ctx, k.front, body)
	t0 := time.Now()
	id := dockerCLI(k.t, "run", "-d", "--name", name, "--network", k.network, "--label", "io.bluegreen.bench="+k.cfg.id,
		"-e", "COLOR="+strings.Fields(body)[0], k.cfg.repo+":"+version)
	start = time.Since(t0) // docker run -d returns once the container started
	ok := probeOwnAddress(ctx, id)
	deploy := exec.Command(k.cfg.bin, "deploy", "web", "--target", name+":8080", "--health-check-path", "/healthz")
	deploy.Env = append(os.Environ(), "KAMAL_PROXY_SOCKET="+k.socket)
	if out, err := deploy.CombinedOutput(); err != nil {
		k.t.Fatalf("kamal-proxy deploy web --target %s:8080: %v: %s", name, err, out)
	}
	served, firstOK = -1, -1
	select {
	case at := <-seen:
		served = at.Sub(t0)
	case <-ctx.Done():
		k.t.Errorf("Kamal-style release %d: the front never answered %q", k.n, body)
	}
	select {
	case at := <-ok:
		firstOK = at.Sub(t0)
	case <-ctx.Done():
	}
	if k.current != "" {
		dockerCLI(k.t, "stop", "-t", "10", k.current)
		dockerCLI(k.t, "rm", k.current)
	}
	k.current = name
	if k.n > 1 {
		k.t.Logf("side by side %2d, Kamal-style: start requested %s, first 200 %s, new version served %s", k.n-1, ms(start), ms(firstOK), ms(served))
	}
	return start, firstOK, served
}

// probeOwnAddress sends the moment the container's app first answers 200
// on its own address (on the Kamal network, reached from the host).
func probeOwnAddress(ctx context.Context, id string) <-chan time.Time {
	ok := make(chan time.Time, 1)
	go func() {
		out, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id).Output()
		ip := strings.TrimSpace(string(out))
		if err != nil || ip == "" {
			return
		}
		hc := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
		for ctx.Err() == nil {
			if resp, err := hc.Get("http://" + ip + ":8080/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok <- time.Now()
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return ok
}

// removeAll removes the side's containers, the proxy's included.
func (k *kamalSide) removeAll() {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "name=^"+k.prefix+"-").Output()
	for _, id := range strings.Fields(string(out)) {
		_ = exec.Command("docker", "rm", "-f", id).Run()
	}
}
