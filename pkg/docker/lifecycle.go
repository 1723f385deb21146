package docker

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
)

// Start starts a created or stopped managed container. Starting a running
// one is not an error.
func (d *Driver) Start(ctx context.Context, name string) error {
	what := "start container " + name
	info, err := d.requireManaged(ctx, what, name)
	if err != nil {
		return err
	}
	err = d.cli.ContainerStart(ctx, info.ID, container.StartOptions{})
	if err == nil {
		return nil
	}
	if addr := publishedAddr(info); addr != "" && portInUse(err) {
		return fmt.Errorf("%s: port %s is already in use; stop whatever listens there or pick another port: %w", what, addr, err)
	}
	return fmt.Errorf("%s: %w", what, d.engineErr(err))
}

// Stop stops a managed container gracefully: its stop signal
// (CreateSpec.StopSignal, else the image's STOPSIGNAL, else SIGTERM: the
// engine sends the container's own when the request names none), then
// SIGKILL once timeout has passed (rounded up to whole seconds). A timeout <= 0 uses the
// container's own stop timeout (CreateSpec.StopTimeout, else 10s). Stopping
// a stopped container is not an error. Stop returns once the container has
// exited.
func (d *Driver) Stop(ctx context.Context, name string, timeout time.Duration) error {
	what := "stop container " + name
	info, err := d.requireManaged(ctx, what, name)
	if err != nil {
		return err
	}
	if err := d.cli.ContainerStop(ctx, info.ID, stopOptions(timeout)); err != nil {
		return fmt.Errorf("%s: %w", what, d.engineErr(err))
	}
	return nil
}

// Restart stops a running managed container gracefully, as Stop does, and
// starts it again: a new run of the same container, with its address,
// restart policy and mounts. It returns once the container runs again.
func (d *Driver) Restart(ctx context.Context, name string, timeout time.Duration) error {
	what := "restart container " + name
	info, err := d.requireManaged(ctx, what, name)
	if err != nil {
		return err
	}
	if err := d.cli.ContainerRestart(ctx, info.ID, stopOptions(timeout)); err != nil {
		return fmt.Errorf("%s: %w", what, d.engineErr(err))
	}
	return nil
}

// stopOptions gives the engine timeout, rounded up to whole seconds, as
// the grace between the stop signal and SIGKILL; 0 leaves the container's
// own. It names no signal: the engine then sends the container's own stop
// signal (TestStopSendsTheStopSignal).
func stopOptions(timeout time.Duration) container.StopOptions {
	var opts container.StopOptions
	if timeout > 0 {
		secs := int(math.Ceil(timeout.Seconds()))
		opts.Timeout = &secs
	}
	return opts
}

// Restart policies the controller sets (the engine's names).
const (
	// RestartNo: the container stays down when it exits.
	RestartNo = string(container.RestartPolicyDisabled)
	// RestartUnlessStopped: the engine starts the container again when it
	// dies (at once if it ran 10 s or more, else after a delay doubling from
	// 100 ms to 1 min) and when the engine starts, unless a client stopped
	// it. It keeps the serving color up even while no controller runs.
	RestartUnlessStopped = string(container.RestartPolicyUnlessStopped)
)

// SetRestartPolicy changes a managed container's restart policy in place,
// running or not.
func (d *Driver) SetRestartPolicy(ctx context.Context, name, policy string) error {
	what := fmt.Sprintf("set restart policy of container %s to %s", name, policy)
	info, err := d.requireManaged(ctx, what, name)
	if err != nil {
		return err
	}
	_, err = d.cli.ContainerUpdate(ctx, info.ID, container.UpdateConfig{
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(policy)}})
	if err != nil {
		return fmt.Errorf("%s: %w", what, d.engineErr(err))
	}
	return nil
}

// Remove force-removes a managed container, running or not, with its
// anonymous volumes.
func (d *Driver) Remove(ctx context.Context, name string) error {
	what := "remove container " + name
	info, err := d.requireManaged(ctx, what, name)
	if err != nil {
		return err
	}
	err = d.cli.ContainerRemove(ctx, info.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil {
		return fmt.Errorf("%s: %w", what, d.engineErr(err))
	}
	return nil
}

// requireManaged inspects name and fails with ErrNotFound or ErrNotManaged
// unless it is a container the controller owns. The returned data carries
// the ID, so that the following call acts on exactly the container checked
// even if the name is reused in between.
func (d *Driver) requireManaged(ctx context.Context, what, name string) (container.InspectResponse, error) {
	info, err := d.cli.ContainerInspect(ctx, name)
	if err != nil {
		if isNotFound(err) {
			return info, fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return info, fmt.Errorf("%s: %w", what, d.engineErr(err))
	}
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
	}
	if !managed(labels) {
		return info, fmt.Errorf("%s: container is %w; it was left untouched", what, ErrNotManaged)
	}
	return info, nil
}

// publishedAddr returns the first "ip:port" the container publishes, or "".
func publishedAddr(info container.InspectResponse) string {
	if info.ContainerJSONBase == nil || info.HostConfig == nil {
		return ""
	}
	for _, bindings := range info.HostConfig.PortBindings {
		for _, b := range bindings {
			return b.HostIP + ":" + b.HostPort
		}
	}
	return ""
}

// portInUse reports whether a start failed because the host port is taken,
// by another process ("address already in use") or another container
// ("port is already allocated").
func portInUse(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "address already in use") || strings.Contains(msg, "port is already allocated")
}
