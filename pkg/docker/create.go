package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
)

// publishIP is the only host address containers publish their port on.
const publishIP = "127.0.0.1"

// CreateSpec describes a container to create.
type CreateSpec struct {
	Name, Image string
	Env         []string // "K=V"
	Labels      map[string]string
	// ContainerPort is published on 127.0.0.1:HostPort (TCP). Both are
	// ignored with HostNetwork, where the app itself must listen on
	// 127.0.0.1 and the port it is told through Env.
	ContainerPort, HostPort int
	HostNetwork             bool // network_mode host: no port publishing
	// NoPublish publishes no port (a one-shot job, which serves nothing):
	// ContainerPort and HostPort are ignored.
	NoPublish bool
	// Network is the Docker network the container joins: "" or "bridge"
	// for the engine's default bridge, or the name of a network the user
	// created (docker network create). Ignored with HostNetwork.
	Network string
	// StopTimeout is the container's own grace period between SIGTERM and
	// SIGKILL, used when Stop is given no timeout. Zero keeps the engine's
	// default (10s). It is rounded up to whole seconds.
	StopTimeout time.Duration
	// Memory (bytes) and NanoCPUs (1e9 = one CPU) limit the container;
	// zero: no limit.
	Memory, NanoCPUs int64
	Mounts           []Mount
	// User is the container process's user ("uid[:gid]" or a name); "":
	// the image's.
	User string
	// Networks are more user-defined networks the container joins, beside
	// Network, before it starts. Not with HostNetwork.
	Networks []string
	// Entrypoint and Cmd replace the image's (empty: its own); WorkingDir
	// its WORKDIR ("": its own).
	Entrypoint, Cmd []string
	WorkingDir      string
	// StopSignal is what Stop and Restart send first, e.g. "SIGQUIT" ("":
	// the image's STOPSIGNAL, else SIGTERM); SIGKILL follows after the
	// timeout.
	StopSignal string
	// LogDriver and LogOptions are the container's logging driver and its
	// options ("": the engine's default driver, which the controller never
	// leaves: it gives a rotating default).
	LogDriver  string
	LogOptions map[string]string
}

// Mount is a named volume or a bind mount of a host path.
type Mount struct {
	// Source is the volume's name or, with Bind, the host path.
	Source, Target string
	Bind, ReadOnly bool
	// Service labels a volume the engine creates for this mount.
	Service string
}

// engineMounts are ms as the engine takes them. A named volume that does
// not exist is created by the engine, with the controller's labels; a bind
// mount's host path must exist (the engine would create a missing one,
// owned by root, where a typo was meant).
func engineMounts(ms []Mount) []mount.Mount {
	var out []mount.Mount
	for _, m := range ms {
		em := mount.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Type: mount.TypeVolume}
		if m.Bind {
			em.Type = mount.TypeBind
		} else {
			em.VolumeOptions = &mount.VolumeOptions{Labels: map[string]string{LabelManaged: "true", LabelService: m.Service}}
		}
		out = append(out, em)
	}
	return out
}

// Create creates, but does not start, a container. It refuses a spec
// without LabelManaged=true. The restart policy is "no": a new container
// that dies must not come back by itself. The color that serves is given
// RestartUnlessStopped with SetRestartPolicy once traffic points at it.
// A container that cannot join one of its networks is removed again: one
// that exists is taken for made as its spec says.
func (d *Driver) Create(ctx context.Context, s CreateSpec) (id string, err error) {
	what := "create container " + s.Name
	if err := checkCreateSpec(s); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if err := d.checkNetworks(ctx, what, s); err != nil {
		return "", err
	}
	cfg, host := containerConfig(s)
	resp, err := d.cli.ContainerCreate(ctx, cfg, host, nil, nil, s.Name)
	switch {
	case err == nil:
	case cerrdefs.IsConflict(err):
		return "", fmt.Errorf("%s: a container with that name already exists; remove it first: %w", what, err)
	case cerrdefs.IsNotFound(err):
		return "", fmt.Errorf("%s: image %s is not on this host (no registry is reachable; build it first): %w", what, s.Image, err)
	default:
		return "", fmt.Errorf("%s: %w", what, d.engineErr(err))
	}
	// Engines before API 1.44 take one network at create: the others are
	// joined before the container starts.
	for _, n := range s.Networks {
		if err := d.cli.NetworkConnect(ctx, n, resp.ID, nil); err != nil {
			cerr := fmt.Errorf("%s: join Docker network %s: %w", what, n, d.engineErr(err))
			if rerr := d.cli.ContainerRemove(context.WithoutCancel(ctx), resp.ID, container.RemoveOptions{Force: true}); rerr != nil {
				return "", fmt.Errorf("%w; remove the container again: %w", cerr, d.engineErr(rerr))
			}
			return "", cerr
		}
	}
	return resp.ID, nil
}

// containerConfig is the engine's configuration of the container s.
func containerConfig(s CreateSpec) (*container.Config, *container.HostConfig) {
	cfg := &container.Config{
		Image:      s.Image,
		Env:        s.Env,
		Labels:     s.Labels,
		User:       s.User,
		Entrypoint: s.Entrypoint,
		Cmd:        s.Cmd,
		WorkingDir: s.WorkingDir,
		StopSignal: s.StopSignal,
	}
	host := &container.HostConfig{
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Resources:     container.Resources{Memory: s.Memory, NanoCPUs: s.NanoCPUs},
		Mounts:        engineMounts(s.Mounts),
		LogConfig:     container.LogConfig{Type: s.LogDriver, Config: s.LogOptions},
	}
	if s.Memory > 0 {
		// No swap beyond the limit: a container that needs more is
		// OOM-killed, on hosts with swap as on hosts without.
		host.MemorySwap = s.Memory
	}
	if s.StopTimeout > 0 {
		secs := int(math.Ceil(s.StopTimeout.Seconds()))
		cfg.StopTimeout = &secs
	}
	switch {
	case s.HostNetwork:
		host.NetworkMode = "host"
	default:
		if !s.NoPublish {
			port := nat.Port(strconv.Itoa(s.ContainerPort) + "/tcp")
			cfg.ExposedPorts = nat.PortSet{port: {}}
			host.PortBindings = nat.PortMap{port: {{HostIP: publishIP, HostPort: strconv.Itoa(s.HostPort)}}}
		}
		if s.Network != "" {
			host.NetworkMode = container.NetworkMode(s.Network)
		}
	}
	return cfg, host
}

// checkNetworks refuses a spec that names a user-defined network that does
// not exist: the engine creates a container on a network that does not
// exist and refuses only to start it.
func (d *Driver) checkNetworks(ctx context.Context, what string, s CreateSpec) error {
	if s.HostNetwork {
		if len(s.Networks) > 0 {
			return fmt.Errorf("%s: a container on the host's network joins no other network (%v)", what, s.Networks)
		}
		return nil
	}
	nets := s.Networks
	if s.Network != "" && s.Network != "bridge" {
		nets = append([]string{s.Network}, nets...)
	}
	for i, n := range nets {
		field := "spec.networks"
		if i == 0 && n == s.Network {
			field = "spec.network"
		}
		if _, err := d.cli.NetworkInspect(ctx, n, network.InspectOptions{}); cerrdefs.IsNotFound(err) {
			return fmt.Errorf("%s: Docker network %s does not exist: create it (docker network create %s) or fix %s", what, n, n, field)
		} else if err != nil {
			return fmt.Errorf("%s: inspect Docker network %s: %w", what, n, d.engineErr(err))
		}
	}
	return nil
}

func checkCreateSpec(s CreateSpec) error {
	if s.Name == "" {
		return errors.New("no container name given")
	}
	if !managed(s.Labels) {
		return fmt.Errorf("refusing a spec that is %w", ErrNotManaged)
	}
	if s.Image == "" {
		return errors.New("no image given")
	}
	if s.HostNetwork || s.NoPublish {
		return nil
	}
	if s.ContainerPort < 1 || s.ContainerPort > 65535 {
		return fmt.Errorf("container port %d is not between 1 and 65535", s.ContainerPort)
	}
	if s.HostPort < 1 || s.HostPort > 65535 {
		return fmt.Errorf("host port %d is not between 1 and 65535", s.HostPort)
	}
	return nil
}
