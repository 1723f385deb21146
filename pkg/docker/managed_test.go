package docker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// TestRefusesUnmanaged makes containers behind the driver's back, without
// our labels, and checks that the driver leaves them exactly as they were.
func TestRefusesUnmanaged(t *testing.T) {
	ctx := context.Background()
	raw := testEnv.raw
	mk := func(suffix string, labels map[string]string) string {
		n := name(suffix)
		resp, err := raw.ContainerCreate(ctx,
			&container.Config{Image: testEnv.image, Labels: labels},
			&container.HostConfig{NetworkMode: "none"}, nil, nil, n)
		if err != nil {
			t.Fatalf("raw create %s: %v", n, err)
		}
		removeAfter(t, resp.ID)
		return n
	}
	running := mk("unmanaged-running", nil)
	created := mk("unmanaged-created", map[string]string{LabelManaged: "false", LabelService: "web"})
	if err := raw.ContainerStart(ctx, running, container.StartOptions{}); err != nil {
		t.Fatalf("raw start %s: %v", running, err)
	}
	before := map[string]container.InspectResponse{}
	for _, n := range []string{running, created} {
		info, err := raw.ContainerInspect(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		before[n] = info
	}

	d := testEnv.d
	calls := []struct {
		verb, name string
		call       func(string) error
	}{
		{"stop", running, func(n string) error { return d.Stop(ctx, n, time.Second) }},
		{"remove", running, func(n string) error { return d.Remove(ctx, n) }},
		{"restart", running, func(n string) error { return d.Restart(ctx, n, time.Second) }},
		{"start", running, func(n string) error { return d.Start(ctx, n) }},
		{"start", created, func(n string) error { return d.Start(ctx, n) }},
		{"stop", created, func(n string) error { return d.Stop(ctx, n, time.Second) }},
		{"remove", created, func(n string) error { return d.Remove(ctx, n) }},
	}
	for _, c := range calls {
		err := c.call(c.name)
		if !errors.Is(err, ErrNotManaged) {
			t.Errorf("%s %s: error = %v, want ErrNotManaged", c.verb, c.name, err)
			continue
		}
		want := c.verb + " container " + c.name + ": container is not managed"
		if !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "it was left untouched") {
			t.Errorf("%s %s: error = %q, want %q...it was left untouched", c.verb, c.name, err, want)
		}
	}

	for n, b := range before {
		a, err := raw.ContainerInspect(ctx, n)
		if err != nil {
			t.Fatalf("%s after the refusals: %v", n, err)
		}
		if a.ID != b.ID || a.State.Status != b.State.Status || a.State.StartedAt != b.State.StartedAt || a.State.Pid != b.State.Pid {
			t.Errorf("%s changed: before %+v, after %+v", n, *b.State, *a.State)
		}
	}

	// Reading is allowed: Inspect and List report them as not managed.
	c, found, err := d.Inspect(ctx, created)
	if err != nil || !found || c.Managed || c.State != "created" {
		t.Errorf("Inspect(%s) = %+v, %v, %v; want found, not managed, created", created, c, found, err)
	}
	cs, err := d.List(ctx, map[string]string{LabelManaged: "false", LabelService: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	if !strings.Contains(strings.Join(names, " "), created) {
		t.Errorf("List(managed=false) = %q, want it to include %s", names, created)
	}
}
