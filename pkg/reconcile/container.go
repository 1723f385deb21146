package reconcile

import (
	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// createSpec is what the driver creates from the container spec a
// CreateContainer step carries: its identity goes on the controller's
// labels.
func createSpec(c *planner.ContainerSpec) docker.CreateSpec {
	return docker.CreateSpec{
		Name:  c.Name,
		Image: c.ImageID,
		Env:   c.Env,
		Labels: map[string]string{
			docker.LabelManaged:  "true",
			docker.LabelService:  c.Service,
			docker.LabelColor:    string(c.Color),
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
	}
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
