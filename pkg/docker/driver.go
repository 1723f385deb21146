package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/docker/docker/client"
)

// pingTimeout bounds the first contact with the engine in New.
const pingTimeout = 5 * time.Second

// Driver talks to one Docker engine. It is safe for concurrent use.
type Driver struct {
	cli *client.Client
	// ReadTimeout bounds each read of the engine (image and container
	// inspect, list, logs), so that an engine that hangs is reported rather
	// than stalling the caller; 0: no bound but the caller's context.
	// Builds, pulls and container changes are not bounded by it.
	ReadTimeout time.Duration
}

// New connects to the engine named by the environment (DOCKER_HOST and
// friends, else the default socket), negotiates the API version and checks
// that the engine answers.
func New(ctx context.Context) (*Driver, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("connect to Docker engine at %s (%s): %w: %w; set DOCKER_HOST to the engine's socket, e.g. %s",
			envHost(), hostSource(), ErrUnreachable, err, client.DefaultDockerHost)
	}
	d := &Driver{cli: cli}

	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	ping, err := cli.Ping(pctx)
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("connect to Docker engine at %s (%s): %w: %w; start the daemon, or point DOCKER_HOST at its socket, or give this user access to the socket",
			d.Host(), hostSource(), ErrUnreachable, err)
	}
	cli.NegotiateAPIVersionPing(ping)
	return d, nil
}

// read derives the context of one read of the engine, bounded by ReadTimeout.
func (d *Driver) read(ctx context.Context) (context.Context, context.CancelFunc) {
	if d.ReadTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d.ReadTimeout)
}

// readErr is engineErr for a read made under read(parent): a read cut by
// ReadTimeout says so, naming the engine and the bound.
func (d *Driver) readErr(parent context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil && d.ReadTimeout > 0 {
		return fmt.Errorf("the Docker engine at %s did not answer within %s: %w", d.Host(), d.ReadTimeout, err)
	}
	return d.engineErr(err)
}

// Close releases the client's connections.
func (d *Driver) Close() error {
	return d.cli.Close()
}

// Host returns the engine address in use, e.g. unix:///var/run/docker.sock.
func (d *Driver) Host() string {
	return d.cli.DaemonHost()
}

// hostSource says where the engine address came from.
func hostSource() string {
	if os.Getenv(client.EnvOverrideHost) != "" {
		return "from DOCKER_HOST"
	}
	return "the default; DOCKER_HOST is not set"
}

// envHost is the engine address the environment asks for.
func envHost() string {
	if h := os.Getenv(client.EnvOverrideHost); h != "" {
		return h
	}
	return client.DefaultDockerHost
}
