package reconcile

import (
	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// containerSpec is what the driver creates for color c.
func containerSpec(s *spec.Service, c spec.Color, imageID string) docker.CreateSpec {
	return docker.CreateSpec{
		Name:  s.ContainerName(c),
		Image: imageID,
		Env:   planner.ContainerEnv(s, c),
		Labels: map[string]string{
			docker.LabelManaged:  "true",
			docker.LabelService:  s.Name,
			docker.LabelColor:    string(c),
			docker.LabelImage:    s.Image,
			docker.LabelSpecHash: planner.ContainerHash(s, c, imageID),
		},
		ContainerPort: s.ContainerPort,
		HostPort:      s.Color(c).HostPort,
		HostNetwork:   s.Network == spec.NetworkHost,
		StopTimeout:   s.StopTimeout.Duration,
		Memory:        s.Resources.MemoryBytes(),
		NanoCPUs:      s.Resources.NanoCPUs(),
	}
}
