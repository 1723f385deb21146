package docker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Container is what the controller needs to know about one container.
type Container struct {
	ID, Name              string // Name without the leading "/"
	ImageID               string // "sha256:..."
	Labels                map[string]string
	State                 string // created, running, paused, restarting, removing, exited, dead
	Running               bool
	ExitCode              int
	Error                 string // the engine's error from the last start, if any
	StartedAt, FinishedAt time.Time
	Managed               bool // Labels[LabelManaged] == "true"
	// OOMKilled is set when the kernel killed the container for passing its
	// memory limit.
	OOMKilled bool
	// Restarting is set while the engine waits to restart the container
	// under its restart policy; RestartCount counts the engine's restarts
	// since the container was last started by a client.
	Restarting   bool
	RestartCount int
	// RestartPolicy is the engine's restart policy: "no", "unless-stopped", ...
	RestartPolicy string
	// IPs holds the container's IP address on each Docker network it is
	// attached to while it runs, by network name ("bridge" for the default
	// one). It is empty with host networking and once the container stops.
	IPs map[string]string
}

// Inspect returns the container with the given name or ID. found is false,
// with no error, when there is none.
func (d *Driver) Inspect(ctx context.Context, name string) (c Container, found bool, err error) {
	rctx, cancel := d.read(ctx)
	defer cancel()
	resp, err := d.cli.ContainerInspect(rctx, name)
	if isNotFound(err) {
		return Container{}, false, nil
	}
	if err != nil {
		return Container{}, false, fmt.Errorf("inspect container %s: %w", name, d.readErr(ctx, err))
	}
	return fromInspect(resp), true, nil
}

// List returns the containers, in every state, that carry all the given
// label=value pairs, sorted by name. An empty map lists every container.
func (d *Driver) List(ctx context.Context, labels map[string]string) ([]Container, error) {
	args := filters.NewArgs()
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	what := "list containers with labels " + labelString(labels)
	rctx, cancel := d.read(ctx)
	defer cancel()
	sums, err := d.cli.ContainerList(rctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, d.readErr(ctx, err))
	}
	// The list lacks start and exit details; inspect each container. A
	// container removed in between is left out.
	out := make([]Container, 0, len(sums))
	for _, s := range sums {
		c, found, err := d.Inspect(ctx, s.ID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if found {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Summary is one line of the engine's container list: less than Inspect
// gives (no start or exit details), for one call over every container.
type Summary struct {
	ID, Name string // Name without the leading "/"
	State    string // as Container.State
}

// Summaries lists the controller's containers (LabelManaged=true), in
// every state, in one call: the container cache's periodic resync.
func (d *Driver) Summaries(ctx context.Context) ([]Summary, error) {
	rctx, cancel := d.read(ctx)
	defer cancel()
	sums, err := d.cli.ContainerList(rctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))})
	if err != nil {
		return nil, fmt.Errorf("list the controller's containers: %w", d.readErr(ctx, err))
	}
	out := make([]Summary, 0, len(sums))
	for _, s := range sums {
		for _, n := range s.Names {
			out = append(out, Summary{ID: s.ID, Name: strings.TrimPrefix(n, "/"), State: string(s.State)})
		}
	}
	return out, nil
}

func fromInspect(r container.InspectResponse) Container {
	c := Container{ID: r.ID, Name: strings.TrimPrefix(r.Name, "/"), ImageID: r.Image}
	if r.Config != nil {
		c.Labels = r.Config.Labels
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Managed = managed(c.Labels)
	if r.ContainerJSONBase != nil {
		c.RestartCount = r.RestartCount
		if r.HostConfig != nil {
			c.RestartPolicy = string(r.HostConfig.RestartPolicy.Name)
		}
	}
	if r.NetworkSettings != nil {
		for name, n := range r.NetworkSettings.Networks {
			if n != nil && n.IPAddress != "" {
				if c.IPs == nil {
					c.IPs = map[string]string{}
				}
				c.IPs[name] = n.IPAddress
			}
		}
	}
	if s := r.State; s != nil {
		c.OOMKilled = s.OOMKilled
		c.Restarting = s.Restarting
		c.State = string(s.Status)
		c.Running = s.Running
		c.ExitCode = s.ExitCode
		c.Error = s.Error
		c.StartedAt = parseTime(s.StartedAt)
		c.FinishedAt = parseTime(s.FinishedAt)
	}
	return c
}

// parseTime reads the engine's RFC 3339 times; its "0001-01-01T00:00:00Z"
// for "never" becomes the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.IsZero() {
		return time.Time{}
	}
	return t
}

// labelString renders labels as "k=v,k=v" in key order, for messages.
func labelString(labels map[string]string) string {
	if len(labels) == 0 {
		return "(any)"
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + labels[k]
	}
	return strings.Join(keys, ",")
}
