package docker

import (
	"fmt"

	"github.com/docker/docker/client"
)

// Open makes a driver for the engine named by the environment without
// contacting it: a controller must start, and report, while the engine is
// down. Every call then fails with ErrUnreachable until the engine answers;
// the API version is negotiated on the first call that reaches it.
func Open() (*Driver, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("connect to Docker engine at %s (%s): %w; set DOCKER_HOST to the engine's socket, e.g. %s",
			envHost(), hostSource(), err, client.DefaultDockerHost)
	}
	return &Driver{cli: cli}, nil
}
