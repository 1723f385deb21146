package reconcile

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
)

// createSpec is what the driver creates from the container spec a
// CreateContainer or CreateJob step carries: its identity goes on the
// controller's labels.
func createSpec(c *planner.ContainerSpec) docker.CreateSpec {
	cs := docker.CreateSpec{
		Name:  c.Name,
		Image: c.ImageID,
		Env:   c.Env,
		Labels: map[string]string{
			docker.LabelManaged:  "true",
			docker.LabelService:  c.Service,
			docker.LabelColor:    string(c.Color),
			docker.LabelReplica:  strconv.Itoa(max(c.Replica, 1)),
			docker.LabelImage:    c.ImageRef,
			docker.LabelSpecHash: c.SpecHash,
		},
		ContainerPort: c.ContainerPort,
		HostPort:      c.HostPort,
		HostNetwork:   c.HostNetwork,
		Network:       c.Network,
		Mounts:        mounts(c.Service, c.Mounts),
		User:          c.User,
		StopTimeout:   c.StopTimeout,
		Memory:        c.Memory,
		NanoCPUs:      c.NanoCPUs,
		Networks:      c.Networks,
		Entrypoint:    c.Entrypoint,
		Cmd:           c.Command,
		WorkingDir:    c.WorkingDir,
		StopSignal:    c.StopSignal,
		LogDriver:     c.Logging.Driver,
		LogOptions:    c.Logging.Options,
	}
	if c.Job != "" {
		// A release job's container: it serves nothing, and runs beside
		// the color whose port it would take.
		cs.Labels[docker.LabelJob], cs.Labels[docker.LabelGeneration] = c.Job, c.Generation
		cs.NoPublish = true
	}
	return cs
}

// createWithEnvFiles is createSpec with the variables of the step's env
// files added, read from them now: the step carries only their paths and
// the digest of their contents when they were planned on, and a create
// is refused when they changed since (the next pass plans again).
func createWithEnvFiles(c *planner.ContainerSpec) (docker.CreateSpec, error) {
	cs := createSpec(c)
	if c.EnvFiles == nil {
		return cs, nil
	}
	vars, err := specfile.ReadEnvFiles(c.EnvFiles.Paths, c.EnvFiles.Digest, c.Env)
	if err != nil {
		return cs, fmt.Errorf("create container %s: %w; not created", c.Name, err)
	}
	cs.Env = append(slices.Clone(c.Env), vars...)
	return cs, nil
}

// mounts are the container's mounts; named volumes the engine creates
// carry the service's labels, so that an operator can tell whose they are
// (the controller never removes one).
func mounts(service string, ms []spec.Mount) []docker.Mount {
	var out []docker.Mount
	for _, m := range ms {
		out = append(out, docker.Mount{Source: m.Source, Target: m.Target, Bind: m.Bind, ReadOnly: m.ReadOnly, Service: service})
	}
	return out
}
