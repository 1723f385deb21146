package docker

import (
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

var (
	// ErrNotManaged is returned, wrapped with the container's name, when an
	// operation that changes a container meets one without
	// LabelManaged=true. The container is left untouched.
	ErrNotManaged = errors.New("not managed by the blue/green controller (label " + LabelManaged + "=true is missing)")

	// ErrUnreachable is returned, wrapped with the engine's address, when
	// the Docker engine does not answer.
	ErrUnreachable = errors.New("docker engine unreachable")

	// ErrNotFound is returned, wrapped with the container's name, by Start,
	// Stop, Remove and Logs when no such container exists.
	ErrNotFound = errors.New("no such container")
)

// engineErr marks err as ErrUnreachable when the client could not connect,
// so that callers can tell "engine down" from "engine said no".
func (d *Driver) engineErr(err error) error {
	if err != nil && client.IsErrConnectionFailed(err) && !errors.Is(err, ErrUnreachable) {
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, d.Host(), err)
	}
	return err
}

// isNotFound reports whether the engine said the object does not exist.
func isNotFound(err error) bool {
	return cerrdefs.IsNotFound(err)
}
