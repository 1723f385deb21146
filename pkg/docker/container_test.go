package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
)

// TestContainerLifecycle creates and starts a managed container, reads it
// back, and stops it while a request is in flight.
func TestContainerLifecycle(t *testing.T) {
	ctx := context.Background()
	d := testEnv.d
	n := name("web-blue")
	port := freePort(t)
	labels := managedLabels("web-"+testEnv.runID, "blue")

	t0 := time.Now()
	id := create(t, CreateSpec{
		Name: n, Image: testEnv.image, Labels: labels,
		Env:           []string{"COLOR=blue"},
		ContainerPort: 8080, HostPort: port,
		StopTimeout: 10 * time.Second,
	})
	t1 := time.Now()
	if err := d.Start(ctx, n); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t2 := time.Now()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if body := waitHTTP(t, url+"/"); body != "blue v1\n" {
		t.Errorf("GET / = %q, want %q", body, "blue v1\n")
	}
	t.Logf("measured: create %s, start %s, start returned -> first 200 %s",
		t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond), time.Since(t2).Round(time.Millisecond))

	// Starting a running container is not an error.
	if err := d.Start(ctx, n); err != nil {
		t.Errorf("second Start: %v", err)
	}

	c, found, err := d.Inspect(ctx, n)
	if err != nil || !found {
		t.Fatalf("Inspect(%s) = found %v, %v", n, found, err)
	}
	if c.ID != id || c.Name != n || c.ImageID != testEnv.imageID || c.State != "running" || !c.Running ||
		!c.Managed || c.StartedAt.IsZero() || !c.FinishedAt.IsZero() || c.ExitCode != 0 {
		t.Errorf("Inspect(%s) = %+v; want ID %s, image %s, running and managed, started, not finished", n, c, id, testEnv.imageID)
	}
	for k, v := range labels {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	byID, _, err := d.Inspect(ctx, id)
	if err != nil || byID.Name != n {
		t.Errorf("Inspect by ID = %+v, %v; want name %s", byID, err, n)
	}

	// The engine copies a container's output to its log asynchronously: the
	// line may land a moment after the app answered.
	var logs string
	for deadline := time.Now().Add(10 * time.Second); ; {
		logs, err = d.Logs(ctx, n, 10)
		if err == nil && strings.Contains(logs, "listening on 0.0.0.0:8080 color=blue version=v1") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("Logs = %q, %v; want the start line", logs, err)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Stop while a slow request is in flight: it still gets its answer.
	type result struct {
		status int
		body   string
		err    error
	}
	slow := make(chan result, 1)
	go func() {
		status, body, err := httpGet(ctx, url+"/slow?ms=1500")
		slow <- result{status, body, err}
	}()
	waitLogs(t, n, "slow request: answering in 1.5s")
	if err := d.Stop(ctx, n, 10*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	r := <-slow
	if r.err != nil || r.status != http.StatusOK || r.body != "blue v1\n" {
		t.Errorf("in-flight GET /slow during Stop = %d %q, %v; want 200 %q", r.status, r.body, r.err, "blue v1\n")
	}
	c, _, err = d.Inspect(ctx, n)
	if err != nil || c.Running || c.State != "exited" || c.ExitCode != 0 || c.FinishedAt.IsZero() {
		t.Errorf("after Stop: Inspect = %+v, %v; want exited with code 0", c, err)
	}
	if logs, _ := d.Logs(ctx, n, 3); !strings.Contains(logs, "demoapp: ") || !strings.Contains(logs, "stopped") {
		t.Errorf("after Stop: last log lines = %q, want the stop line", logs)
	}
	// Stopping a stopped container is not an error.
	if err := d.Stop(ctx, n, time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	if err := d.Remove(ctx, n); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, found, err := d.Inspect(ctx, n); found || err != nil {
		t.Errorf("after Remove: Inspect found=%v, %v; want gone", found, err)
	}
}

// TestRestart: a restart is a new run of the same container, which
// answers again, with its restart policy kept.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	d := testEnv.d
	n := name("restart-blue")
	port := freePort(t)
	id := create(t, CreateSpec{Name: n, Image: testEnv.image, Labels: managedLabels("restart-"+testEnv.runID, "blue"),
		ContainerPort: 8080, HostPort: port, StopTimeout: 10 * time.Second})
	if err := d.Start(ctx, n); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := d.SetRestartPolicy(ctx, n, RestartUnlessStopped); err != nil {
		t.Fatalf("SetRestartPolicy: %v", err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitHTTP(t, url)
	before, _, err := d.Inspect(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Restart(ctx, n, 5*time.Second); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	after, _, err := d.Inspect(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != id || !after.Running || !after.StartedAt.After(before.StartedAt) || after.RestartPolicy != RestartUnlessStopped {
		t.Errorf("after Restart: %+v; want container %s running, started after %s, policy %s", after, id, before.StartedAt, RestartUnlessStopped)
	}
	if body := waitHTTP(t, url); body != "none v1\n" { // no COLOR given
		t.Errorf("after Restart GET / = %q", body)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	service := "list-" + testEnv.runID
	blue, green := name("list-blue"), name("list-green")
	for _, s := range []struct{ name, color string }{{green, "green"}, {blue, "blue"}} {
		create(t, CreateSpec{
			Name: s.name, Image: testEnv.image, Labels: managedLabels(service, s.color),
			ContainerPort: 8080, HostPort: freePort(t),
		})
	}

	tests := []struct {
		labels map[string]string
		want   []string
	}{
		{map[string]string{LabelService: service}, []string{blue, green}},
		{map[string]string{LabelManaged: "true", LabelService: service, LabelColor: "green"}, []string{green}},
		{map[string]string{LabelService: "nosuch-" + testEnv.runID}, nil},
	}
	for _, tt := range tests {
		cs, err := testEnv.d.List(ctx, tt.labels)
		if err != nil {
			t.Fatalf("List(%v): %v", tt.labels, err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, c.Name)
			if c.State != "created" || c.Running || !c.Managed || c.ImageID != testEnv.imageID {
				t.Errorf("List(%v): %+v; want created, managed, image %s", tt.labels, c, testEnv.imageID)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("List(%v) = %q, want %q", tt.labels, got, tt.want)
		}
	}
}

// TestSummaries: one list call gives each of the controller's containers
// with its ID and state, as Inspect gives them.
func TestSummaries(t *testing.T) {
	ctx := context.Background()
	service := "sums-" + testEnv.runID
	n := name("sums-blue")
	id := create(t, CreateSpec{Name: n, Image: testEnv.image, Labels: managedLabels(service, "blue"),
		ContainerPort: 8080, HostPort: freePort(t)})
	find := func() (Summary, bool) {
		sums, err := testEnv.d.Summaries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sums {
			if s.Name == n {
				return s, true
			}
		}
		return Summary{}, false
	}
	if s, ok := find(); !ok || s.ID != id || s.State != "created" {
		t.Fatalf("Summaries gave %+v (found %v) for %s, want ID %s, created", s, ok, n, id)
	}
	if err := testEnv.d.Start(ctx, n); err != nil {
		t.Fatal(err)
	}
	ct, _, err := testEnv.d.Inspect(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := find(); s.State != "running" || s.State != ct.State {
		t.Fatalf("Summaries gave state %q for a started container, Inspect %q", s.State, ct.State)
	}
}

func TestExitAtStart(t *testing.T) {
	ctx := context.Background()
	n := name("exit")
	id := create(t, CreateSpec{
		Name: n, Image: testEnv.image, Labels: managedLabels("exit-"+testEnv.runID, "green"),
		Env:           []string{"APP_MODE=exit"},
		ContainerPort: 8080, HostPort: freePort(t),
	})
	if err := testEnv.d.Start(ctx, n); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitExited(t, id)

	c, found, err := testEnv.d.Inspect(ctx, n)
	if err != nil || !found || c.State != "exited" || c.Running || c.ExitCode != 1 || c.FinishedAt.IsZero() {
		t.Errorf("Inspect = %+v, %v, %v; want exited with code 1", c, found, err)
	}
	logs, err := testEnv.d.Logs(ctx, n, 0)
	if err != nil || !strings.Contains(logs, "APP_MODE=exit: exiting with status 1 on purpose") {
		t.Errorf("Logs = %q, %v; want the exit message", logs, err)
	}
}

func TestHostNetwork(t *testing.T) {
	ctx := context.Background()
	n := name("host")
	port := freePort(t)
	create(t, CreateSpec{
		Name: n, Image: testEnv.image, Labels: managedLabels("host-"+testEnv.runID, "green"),
		Env:         []string{"COLOR=green", fmt.Sprintf("PORT=%d", port), "LISTEN_ADDR=127.0.0.1"},
		HostNetwork: true,
	})
	if err := testEnv.d.Start(ctx, n); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if body := waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "green v1\n" {
		t.Errorf("GET / = %q, want %q", body, "green v1\n")
	}
}

// TestPublishedPortBeforeListen records what a client sees on the published
// port while the app has not yet started listening.
func TestPublishedPortBeforeListen(t *testing.T) {
	ctx := context.Background()
	n := name("slowstart")
	port := freePort(t)
	create(t, CreateSpec{
		Name: n, Image: testEnv.image, Labels: managedLabels("slow-"+testEnv.runID, "blue"),
		Env:           []string{"APP_MODE=slowstart=60s"},
		ContainerPort: 8080, HostPort: port,
	})
	if err := testEnv.d.Start(ctx, n); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitLogs(t, n, "waiting 1m0s before listening")
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		conn.Close()
		t.Logf("measured: TCP connect to %s succeeds before the app listens (docker-proxy accepts)", addr)
	} else {
		t.Logf("measured: TCP connect to %s before the app listens: %v", addr, err)
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	status, _, err := httpGet(hctx, "http://"+addr+"/healthz")
	if err == nil {
		t.Errorf("GET /healthz before the app listens = %d, want an error", status)
	} else {
		t.Logf("measured: HTTP GET before the app listens: %v", err)
	}

	// SIGTERM during the start delay ends the app at once and cleanly.
	if err := testEnv.d.Stop(ctx, n, 30*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if c, _, err := testEnv.d.Inspect(ctx, n); err != nil || c.ExitCode != 0 {
		t.Errorf("after Stop: Inspect = %+v, %v; want exit code 0", c, err)
	}
}

func TestStartPortInUse(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	n := name("busy")
	create(t, CreateSpec{
		Name: n, Image: testEnv.image, Labels: managedLabels("busy-"+testEnv.runID, "green"),
		ContainerPort: 8080, HostPort: port,
	})
	err = testEnv.d.Start(ctx, n)
	if err == nil {
		t.Fatal("Start succeeded on a port that is in use")
	}
	t.Logf("Start error: %v", err)
	want := fmt.Sprintf("start container %s: port 127.0.0.1:%d is already in use", n, port)
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

func TestCreateErrors(t *testing.T) {
	ctx := context.Background()
	n := name("dup")
	create(t, CreateSpec{Name: n, Image: testEnv.image, Labels: managedLabels("dup-"+testEnv.runID, "blue"), ContainerPort: 8080, HostPort: freePort(t)})

	tests := []struct {
		name string
		spec CreateSpec
		want string
		is   error
	}{
		{
			name: "no managed label",
			spec: CreateSpec{Name: name("nolabel"), Image: testEnv.image, Labels: map[string]string{LabelService: "x"}, ContainerPort: 8080, HostPort: freePort(t)},
			want: "create container " + name("nolabel") + ": refusing a spec that is not managed by the blue/green controller (label io.bluegreen.managed=true is missing)",
			is:   ErrNotManaged,
		},
		{
			name: "name taken",
			spec: CreateSpec{Name: n, Image: testEnv.image, Labels: managedLabels("dup", "blue"), ContainerPort: 8080, HostPort: freePort(t)},
			want: "create container " + n + ": a container with that name already exists; remove it first: ",
		},
		{
			name: "image missing",
			spec: CreateSpec{Name: name("noimage"), Image: "bgtest-none:" + testEnv.runID, Labels: managedLabels("x", "blue"), ContainerPort: 8080, HostPort: freePort(t)},
			want: "create container " + name("noimage") + ": image bgtest-none:" + testEnv.runID + " is not on this host (no registry is reachable; build it first): ",
		},
		{
			name: "no host port",
			spec: CreateSpec{Name: name("noport"), Image: testEnv.image, Labels: managedLabels("x", "blue"), ContainerPort: 8080},
			want: "create container " + name("noport") + ": host port 0 is not between 1 and 65535",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := testEnv.d.Create(ctx, tt.spec)
			if err == nil {
				removeAfter(t, id)
				t.Fatalf("Create succeeded, want an error")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to start with %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %v", err, tt.is)
			}
			if tt.spec.Name != n {
				if _, found, _ := testEnv.d.Inspect(ctx, tt.spec.Name); found {
					t.Errorf("container %s exists after a failed Create", tt.spec.Name)
				}
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	ctx := context.Background()
	n := name("nosuch")
	if _, found, err := testEnv.d.Inspect(ctx, n); found || err != nil {
		t.Errorf("Inspect(%s) = found %v, %v; want not found, no error", n, found, err)
	}
	calls := map[string]func() error{
		"start":  func() error { return testEnv.d.Start(ctx, n) },
		"stop":   func() error { return testEnv.d.Stop(ctx, n, time.Second) },
		"remove": func() error { return testEnv.d.Remove(ctx, n) },
		"read logs of": func() error {
			_, err := testEnv.d.Logs(ctx, n, 1)
			return err
		},
	}
	for verb, call := range calls {
		err := call()
		want := verb + " container " + n + ": no such container"
		if !errors.Is(err, ErrNotFound) || err.Error() != want {
			t.Errorf("%s: error = %v, want %q wrapping ErrNotFound", verb, err, want)
		}
	}
}

// TestNetworkAddress reads a container's address on its Docker network and
// reaches the app there, past the published port: on the default bridge and
// on a network the user created. A stopped container has no address, and a
// network that does not exist is named in the error.
func TestNetworkAddress(t *testing.T) {
	ctx := context.Background()
	d := testEnv.d
	netName := "bgtest-" + testEnv.runID
	if _, err := d.cli.NetworkCreate(ctx, netName, network.CreateOptions{}); err != nil {
		t.Fatalf("create network %s: %v", netName, err)
	}
	t.Cleanup(func() { _ = d.cli.NetworkRemove(context.Background(), netName) })

	for i, tc := range []struct{ network, key string }{{"", "bridge"}, {"bridge", "bridge"}, {netName, netName}} {
		n := name(fmt.Sprintf("net-%d", i))
		create(t, CreateSpec{
			Name: n, Image: testEnv.image, Labels: managedLabels("net-"+testEnv.runID, "blue"),
			Env: []string{"COLOR=blue"}, ContainerPort: 8080, HostPort: freePort(t), Network: tc.network,
		})
		if err := d.Start(ctx, n); err != nil {
			t.Fatalf("Start(%s): %v", n, err)
		}
		c, _, err := d.Inspect(ctx, n)
		if err != nil {
			t.Fatalf("Inspect(%s): %v", n, err)
		}
		ip := c.IPs[tc.key]
		if len(c.IPs) != 1 || ip == "" {
			t.Fatalf("network %q: IPs = %v, want one address on %s", tc.network, c.IPs, tc.key)
		}
		if body := waitHTTP(t, "http://"+net.JoinHostPort(ip, "8080")+"/"); body != "blue v1\n" {
			t.Errorf("GET / at %s:8080 = %q, want %q", ip, body, "blue v1\n")
		}
		if err := d.Stop(ctx, n, 10*time.Second); err != nil {
			t.Fatalf("Stop(%s): %v", n, err)
		}
		if c, _, err := d.Inspect(ctx, n); err != nil || len(c.IPs) != 0 {
			t.Errorf("stopped %s: IPs = %v, %v; want none", n, c.IPs, err)
		}
	}

	n := name("net-missing")
	_, err := d.Create(ctx, CreateSpec{
		Name: n, Image: testEnv.image, Labels: managedLabels("net-"+testEnv.runID, "green"),
		ContainerPort: 8080, HostPort: freePort(t), Network: "bgtest-missing-" + testEnv.runID,
	})
	if err == nil || !strings.Contains(err.Error(), "Docker network bgtest-missing-"+testEnv.runID+" does not exist") {
		t.Errorf("Create on a missing network = %v, want an error naming the network", err)
	}
}
