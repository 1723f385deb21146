package docker

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
)

// TestCreateProcessAndLogging: the container is created with the
// entrypoint, command, working directory, stop signal and logging its
// spec names, as docker inspect shows them.
func TestCreateProcessAndLogging(t *testing.T) {
	ctx := context.Background()
	n := name("process")
	create(t, CreateSpec{
		Name: n, Image: testEnv.image, Labels: managedLabels("process-"+testEnv.runID, "blue"),
		ContainerPort: 8080, HostPort: freePort(t),
		Entrypoint: []string{"/demoapp", "-x"}, Cmd: []string{"serve", "--port", "8080"}, WorkingDir: "/srv/app",
		StopSignal: "SIGQUIT", LogDriver: "json-file", LogOptions: map[string]string{"max-size": "10m", "max-file": "3"},
	})
	ct, err := testEnv.raw.ContainerInspect(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	c := ct.Config
	if !reflect.DeepEqual([]string(c.Entrypoint), []string{"/demoapp", "-x"}) || !reflect.DeepEqual([]string(c.Cmd), []string{"serve", "--port", "8080"}) {
		t.Errorf("entrypoint %q, cmd %q: want [/demoapp -x] and [serve --port 8080]", c.Entrypoint, c.Cmd)
	}
	if c.WorkingDir != "/srv/app" || c.StopSignal != "SIGQUIT" {
		t.Errorf("working dir %q, stop signal %q: want /srv/app and SIGQUIT", c.WorkingDir, c.StopSignal)
	}
	lc := ct.HostConfig.LogConfig
	if lc.Type != "json-file" || lc.Config["max-size"] != "10m" || lc.Config["max-file"] != "3" {
		t.Errorf("log config %+v: want json-file with max-size 10m and max-file 3", lc)
	}
}

// TestStopSendsTheStopSignal: Stop sends the container's own stop signal
// (the engine's ContainerStop names none), SIGKILL only after the
// timeout. The demo app shuts down cleanly (exit 0) on SIGTERM, while Go
// answers SIGQUIT with a dump of its goroutines and exit status 2: a
// container whose stop signal is SIGQUIT exits so, well before the grace
// ends (a SIGKILL would give 137), and one with none exits 0.
func TestStopSendsTheStopSignal(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		signal   string
		exitCode int
		logs     string
	}{
		{"SIGQUIT", 2, "SIGQUIT: quit"},
		{"", 0, "signal received, shutting down"},
	} {
		n := name("stopsignal" + strings.ToLower(tc.signal))
		port := freePort(t)
		id := create(t, CreateSpec{
			Name: n, Image: testEnv.image, Labels: managedLabels("stopsignal-"+testEnv.runID, "blue"),
			ContainerPort: 8080, HostPort: port, StopSignal: tc.signal, StopTimeout: 60 * time.Second,
		})
		if err := testEnv.d.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
		waitHTTP(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/healthz")
		if err := testEnv.d.Stop(ctx, n, 60*time.Second); err != nil {
			t.Fatalf("stop %s: %v", n, err)
		}
		waitExited(t, id)
		ct, err := testEnv.raw.ContainerInspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ct.State.ExitCode != tc.exitCode {
			t.Errorf("stop signal %q: exit code %d, want %d", tc.signal, ct.State.ExitCode, tc.exitCode)
		}
		waitLogs(t, n, tc.logs)
	}
}

// TestCreateJoinsNetworks: the container is on its network and on each
// of the others before it starts; a network that does not exist is
// refused, naming it and the command that makes it, and no container is
// left behind.
func TestCreateJoinsNetworks(t *testing.T) {
	ctx := context.Background()
	var nets []string
	for _, suffix := range []string{"front", "db", "cache"} {
		nn := "bgtest-" + testEnv.runID + "-" + suffix
		if _, err := testEnv.raw.NetworkCreate(ctx, nn, network.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = testEnv.raw.NetworkRemove(context.Background(), nn) })
		nets = append(nets, nn)
	}
	n := name("networks")
	create(t, CreateSpec{
		Name: n, Image: testEnv.image, Labels: managedLabels("networks-"+testEnv.runID, "blue"),
		ContainerPort: 8080, HostPort: freePort(t), Network: nets[0], Networks: nets[1:],
	})
	ct, err := testEnv.raw.ContainerInspect(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, nn := range nets {
		if _, ok := ct.NetworkSettings.Networks[nn]; !ok {
			t.Errorf("the container is not on network %s: %v", nn, ct.NetworkSettings.Networks)
		}
	}

	missing := "bgtest-" + testEnv.runID + "-missing"
	gone := name("nonetwork")
	_, err = testEnv.d.Create(ctx, CreateSpec{
		Name: gone, Image: testEnv.image, Labels: managedLabels("networks-"+testEnv.runID, "green"),
		ContainerPort: 8080, HostPort: freePort(t), Network: nets[0], Networks: []string{nets[1], missing},
	})
	if err == nil || !strings.Contains(err.Error(), "Docker network "+missing+" does not exist: create it (docker network create "+missing+")") {
		t.Errorf("a missing network: got %v, want a refusal naming it and docker network create", err)
	}
	if _, err := testEnv.raw.ContainerInspect(ctx, gone); !isNotFound(err) {
		t.Errorf("a container was left behind after the refusal: %v", err)
	}
}
