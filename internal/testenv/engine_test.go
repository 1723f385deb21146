package testenv

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nsIno is the inode of a network namespace file (/run/netns/NS,
// /proc/PID/ns/net): equal inodes, same namespace.
func nsIno(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("netns %s: %v", path, err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestPrivateEngineRestart runs the demo app in a private engine, stops and
// starts the engine the way a dockerd restart or host reboot does, and checks
// which containers dockerd brings back: --restart unless-stopped does;
// --restart no and a container stopped by the user stay exited. The main
// engine and the host's docker0 must not notice.
func TestPrivateEngineRestart(t *testing.T) {
	RequireDocker(t)
	if out, err := exec.Command("ip", "link", "show", "docker0").CombinedOutput(); err != nil {
		t.Fatalf("precondition: the main engine's docker0 is missing in the host namespace: %v %s", err, out)
	}
	// Its ifindex: a docker0 deleted and made again would have a new one.
	docker0, err := os.ReadFile("/sys/class/net/docker0/ifindex")
	if err != nil {
		t.Fatal(err)
	}
	hostNS := nsIno(t, "/proc/self/ns/net")
	unique := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	tag := "testenv-engine:v1-" + unique
	BuildDemoImage(t, tag, "v1", "")

	e := StartPrivateEngine(t)
	if got := nsIno(t, fmt.Sprintf("/proc/%d/ns/net", e.PID())); got != nsIno(t, e.NetNS()) || got == hostNS {
		t.Fatalf("dockerd (pid %d) is not in netns %s", e.PID(), e.NetNS())
	}
	// Its namespace has lo (up) and nothing else: no bridge was made.
	out, err := e.Command("ip", "-o", "link", "show").CombinedOutput()
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); err != nil || len(lines) != 1 ||
		!strings.Contains(lines[0], " lo: ") || !strings.Contains(lines[0], "UP") {
		t.Fatalf("links in the private engine's namespace (%v):\n%s", err, out)
	}

	e.LoadImage(t, tag)
	const label = "bluegreen-testenv.engine"
	keep, no, stopped := "keep-"+unique, "no-"+unique, "stopped-"+unique
	port := map[string]int{keep: FreePort(t), no: FreePort(t), stopped: FreePort(t)}
	for _, c := range []struct{ name, policy string }{{keep, "unless-stopped"}, {no, "no"}, {stopped, "unless-stopped"}} {
		e.Docker(t, "run", "-d", "--name", c.name, "--label", label+"="+unique, "--network", "host",
			"-e", fmt.Sprintf("PORT=%d", port[c.name]), "-e", "LISTEN_ADDR=127.0.0.1",
			"--restart", c.policy, tag)
	}

	client := e.HTTPClient(2 * time.Second)
	get := func(port int) (string, error) {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))), err
	}
	serving := func(name string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			got, err := get(port[name])
			if err == nil && got == "200 none v1" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("container %s not answering \"200 none v1\" on 127.0.0.1:%d in the engine's namespace after %s (last: %q, %v)\ndocker logs:\n%s",
					name, port[name], within, got, err, e.Docker(t, "logs", "--tail", "20", name))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, name := range []string{keep, no, stopped} {
		serving(name, 30*time.Second)
	}
	// The host namespace does not see them (FreePort reserved the ports:
	// nothing of ours listens there).
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port[keep]), time.Second); err == nil {
		c.Close()
		t.Fatalf("port %d of a container of the private engine is open in the host namespace", port[keep])
	}

	// HAProxy in the namespace in front of keep; its runtime socket is a
	// file, reachable from here.
	hdir := t.TempDir()
	fe := FreePort(t)
	h := e.StartHAProxy(t, hdir, fmt.Sprintf(`global
    stats socket %[1]s/stats.sock mode 600 level admin
    stats timeout 10s
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:%[2]d
    default_backend be
backend be
    server keep 127.0.0.1:%[3]d
`, hdir, fe, port[keep]), filepath.Join(hdir, "stats.sock"))
	if nsIno(t, fmt.Sprintf("/proc/%d/ns/net", h.PID)) != nsIno(t, e.NetNS()) {
		t.Fatalf("haproxy (pid %d) is not in netns %s", h.PID, e.NetNS())
	}
	if info := h.Runtime(t, "show info"); !strings.Contains(info, "Name: HAProxy") {
		t.Fatalf("show info = %q", info)
	}
	if got, err := get(fe); err != nil || got != "200 none v1" {
		t.Fatalf("through haproxy in the namespace: %q, %v", got, err)
	}

	e.Docker(t, "stop", "-t", "10", stopped)
	startedAt := map[string]string{}
	for _, name := range []string{no, stopped} {
		startedAt[name] = e.Docker(t, "inspect", "--format", "{{.State.StartedAt}}", name)
	}
	if st := e.Docker(t, "inspect", "--format", "{{.State.Status}}", stopped); st != "exited" {
		t.Fatalf("%s after docker stop: %s", stopped, st)
	}

	// A dockerd restart / host shutdown: SIGTERM; dockerd stops its containers.
	pid := e.PID()
	e.Stop(t)
	t.Logf("private engine stopped in %.2fs (SIGTERM until dockerd exited)", e.LastStop.Seconds())
	if PIDAlive(pid) {
		t.Fatalf("dockerd (pid %d) still alive after Stop", pid)
	}
	if got, err := get(port[keep]); err == nil {
		t.Fatalf("container %s still answers with its engine stopped: %q", keep, got)
	}

	begin := time.Now()
	e.Start(t)
	answering := time.Since(begin)
	serving(keep, 30*time.Second)
	t.Logf("after Start: engine answering in %.2fs, container %s (--restart unless-stopped) serving in %.2fs",
		answering.Seconds(), keep, time.Since(begin).Seconds())
	if got, err := get(fe); err != nil || got != "200 none v1" {
		t.Fatalf("through haproxy after the engine restart: %q, %v", got, err)
	}

	// dockerd restores containers before it answers: the others were not
	// started then, and are not now (same StartedAt, still exited).
	for _, name := range []string{no, stopped} {
		st := e.Docker(t, "inspect", "--format", "{{.State.Status}} {{.State.StartedAt}}", name)
		if st != "exited "+startedAt[name] {
			t.Fatalf("%s after the engine restart: %q, want exited and started at %s", name, st, startedAt[name])
		}
		if got, err := get(port[name]); err == nil {
			t.Fatalf("%s answers after the engine restart: %q", name, got)
		}
	}
	if st := e.Docker(t, "inspect", "--format", "{{.State.Status}}", keep); st != "running" {
		t.Fatalf("%s after the engine restart: %s", keep, st)
	}

	// Every thread that dialed into the namespace is back in the host's.
	client.CloseIdleConnections()
	tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, p := range tasks {
		if fi, err := os.Stat(p); err == nil && fi.Sys().(*syscall.Stat_t).Ino != hostNS {
			t.Fatalf("thread %s of the test process is left in another network namespace", p)
		}
	}

	// The main engine and its bridge are untouched.
	if _, err := docker(20*time.Second, "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Fatalf("the main engine: %v", err)
	}
	if out, err := exec.Command("ip", "link", "show", "docker0").CombinedOutput(); err != nil {
		t.Fatalf("the host's docker0 is gone: %v %s", err, out)
	}
	if again, err := os.ReadFile("/sys/class/net/docker0/ifindex"); err != nil || string(again) != string(docker0) {
		t.Fatalf("the host's docker0 was replaced: ifindex %q, now %q (%v)", docker0, again, err)
	}
}
