package reconcile

import (
	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
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
		StopTimeout:   c.StopTimeout,
		Memory:        c.Memory,
		NanoCPUs:      c.NanoCPUs,
	}
}
