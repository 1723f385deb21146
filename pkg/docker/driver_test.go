package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/bluegreen-host/controller/internal/testenv"
)

func TestNewUnreachable(t *testing.T) {
	const addr = "unix:///nonexistent.sock"
	t.Setenv("DOCKER_HOST", addr)
	d, err := New(context.Background())
	if err == nil {
		d.Close()
		t.Fatal("New succeeded against a missing socket")
	}
	t.Logf("New error: %v", err)
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("error %q does not wrap ErrUnreachable", err)
	}
	for _, want := range []string{"connect to Docker engine at " + addr + " (from DOCKER_HOST)", "DOCKER_HOST"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestHost(t *testing.T) {
	if h := testEnv.d.Host(); !strings.Contains(h, "://") {
		t.Errorf("Host() = %q, want an address like unix:///var/run/docker.sock", h)
	}
}

// TestCallsWhenUnreachable checks that every call against an engine that
// does not answer wraps ErrUnreachable and names the address.
func TestCallsWhenUnreachable(t *testing.T) {
	const addr = "unix:///nonexistent.sock"
	cli, err := client.NewClientWithOpts(client.WithHost(addr), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	d := &Driver{cli: cli}
	defer d.Close()
	ctx := context.Background()
	buildDir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\n"})

	calls := map[string]func() error{
		"ImageID": func() error { _, _, err := d.ImageID(ctx, "x:1"); return err },
		"Pull":    func() error { return d.Pull(ctx, "x:1") },
		"Build": func() error {
			_, err := d.Build(ctx, BuildSpec{ContextDir: buildDir, Dockerfile: "Dockerfile", Tag: "x:1"})
			return err
		},
		"Inspect": func() error { _, _, err := d.Inspect(ctx, "c"); return err },
		"List":    func() error { _, err := d.List(ctx, map[string]string{LabelManaged: "true"}); return err },
		"Create": func() error {
			_, err := d.Create(ctx, CreateSpec{Name: "c", Image: "x:1", Labels: map[string]string{LabelManaged: "true"}, ContainerPort: 1, HostPort: 1})
			return err
		},
		"Start":  func() error { return d.Start(ctx, "c") },
		"Stop":   func() error { return d.Stop(ctx, "c", time.Second) },
		"Remove": func() error { return d.Remove(ctx, "c") },
		"Logs":   func() error { _, err := d.Logs(ctx, "c", 1); return err },
		// Refused at once, with no stream: the caller tries again.
		"Events": func() error {
			ev, errs, err := d.Events(ctx)
			if ev != nil || errs != nil {
				return fmt.Errorf("a stream came with the error %w", err)
			}
			return err
		},
		"AcceptsConnections": func() error { return d.AcceptsConnections(ctx) },
	}
	for fn, call := range calls {
		err := call()
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "docker engine unreachable at "+addr) {
			t.Errorf("%s: error = %v, want ErrUnreachable naming %s", fn, err, addr)
		}
	}
}

// TestReadsWhenEngineHangs: an engine that accepts and never answers. Every
// read gives up after ReadTimeout with an error naming the engine and the
// bound; a caller's own deadline is not reported as ReadTimeout.
func TestReadsWhenEngineHangs(t *testing.T) {
	sock := testenv.SilentSocket(t)
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+sock), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	d := &Driver{cli: cli, ReadTimeout: 100 * time.Millisecond}
	defer d.Close()
	ctx := context.Background()
	reads := map[string]func(context.Context) error{
		"ImageID": func(ctx context.Context) error { _, _, err := d.ImageID(ctx, "x:1"); return err },
		"Inspect": func(ctx context.Context) error { _, _, err := d.Inspect(ctx, "c"); return err },
		"List":    func(ctx context.Context) error { _, err := d.List(ctx, nil); return err },
		"Logs":    func(ctx context.Context) error { _, err := d.Logs(ctx, "c", 1); return err },
	}
	want := "the Docker engine at unix://" + sock + " did not answer within 100ms"
	for fn, read := range reads {
		err := read(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error = %v, want DeadlineExceeded and %q", fn, err, want)
		}
	}
	// The caller's deadline, shorter than ReadTimeout, is the caller's.
	d.ReadTimeout = time.Minute
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := reads["Inspect"](cctx); !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "within") {
		t.Errorf("Inspect under the caller's deadline: error = %v, want DeadlineExceeded without the ReadTimeout wording", err)
	}
}
