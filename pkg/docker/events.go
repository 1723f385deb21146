package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// Event is one change of a managed container, as the engine reports it.
type Event struct {
	// Action is the engine's word: start, die, oom, stop, kill, destroy,
	// health_status: healthy, ...
	Action string
	// Name is the container's name, without the leading "/".
	Name string
	// ExitCode is the exit code of a "die", as the engine gives it.
	ExitCode string
	// Service is the container's LabelService: the service it belongs to.
	Service string
}

// Events subscribes to the events of the containers that carry the
// controller's labels. err says why it could not (the engine does not
// answer), and then there is no stream. Otherwise the stream runs until ctx ends or it breaks, and ends
// with exactly one error on errs: ctx's, or why the engine's stream broke
// (the engine stopped, say). A caller that subscribes again must look at
// the world again: events sent while no one listened are not replayed.
func (d *Driver) Events(ctx context.Context) (<-chan Event, <-chan error, error) {
	args := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", LabelManaged+"=true"),
	)
	// The client's Events returns before a failed request's error reaches
	// errs: a ping first tells an engine that answers from one that does
	// not, so that a stream is only returned from an engine that answered.
	if _, err := d.cli.Ping(ctx); err != nil {
		return nil, nil, fmt.Errorf("subscribe to the container events of the Docker engine at %s: %w", d.Host(), d.engineErr(err))
	}
	msgs, errs := d.cli.Events(ctx, events.ListOptions{Filters: args})
	out := make(chan Event)
	outErr := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case m := <-msgs:
				ev := Event{Action: string(m.Action), Name: m.Actor.Attributes["name"],
					ExitCode: m.Actor.Attributes["exitCode"], Service: m.Actor.Attributes[LabelService]}
				select {
				case out <- ev:
				case <-ctx.Done():
					outErr <- ctx.Err()
					return
				}
			case err := <-errs:
				if ctx.Err() != nil {
					outErr <- ctx.Err()
				} else {
					outErr <- fmt.Errorf("follow container events of the Docker engine at %s: %w", d.Host(), d.engineErr(err))
				}
				return
			}
		}
	}()
	return out, outErr, nil
}

// AcceptsConnections dials the engine on a new connection and closes it.
// An engine that shuts down closes its socket first and goes on answering
// on the connections already open while it stops its containers: an
// error here, while reads still succeed, says it is stopping.
func (d *Driver) AcceptsConnections(ctx context.Context) error {
	rctx, cancel := d.read(ctx)
	defer cancel()
	type dialed struct {
		conn net.Conn
		err  error
	}
	done := make(chan dialed, 1)
	go func() {
		conn, err := d.cli.Dialer()(rctx)
		done <- dialed{conn, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return fmt.Errorf("open a new connection to the Docker engine: %w at %s: %w", ErrUnreachable, d.Host(), r.err)
		}
		return r.conn.Close()
	case <-rctx.Done():
		go func() { // the dial may still succeed: close what it opens
			if r := <-done; r.conn != nil {
				r.conn.Close()
			}
		}()
		return fmt.Errorf("open a new connection to the Docker engine at %s: %w", d.Host(), d.readErr(ctx, rctx.Err()))
	}
}

// OOMKilledBetween reports whether the engine logged an "oom" event for
// container id between since and until, or else whether this host's kernel
// log records an OOM kill in the container's memory cgroup then. The
// engine's own OOMKilled flag can miss a kill when the container's exit is
// processed before the kernel's OOM notice (seen under load: exit 137 with
// OOMKilled false), and the event too when the kill comes in the
// container's first milliseconds (see kmsg.go). The kernel log is read on a
// best-effort basis: when it cannot be read (no /dev/kmsg, or a user
// without the right to read it), the engine's answer stands. until must
// not be in the future, or the call waits for it.
func (d *Driver) OOMKilledBetween(ctx context.Context, id string, since, until time.Time) (bool, error) {
	oom, err := d.oomEventBetween(ctx, id, since, until)
	if oom || err != nil {
		return oom, err
	}
	oom, _ = kernelOOMKilled(kmsgPath, id, since, until)
	return oom, nil
}

// oomEventBetween reports whether the engine logged an "oom" event for
// container id between since and until.
func (d *Driver) oomEventBetween(ctx context.Context, id string, since, until time.Time) (bool, error) {
	rctx, cancel := d.read(ctx)
	defer cancel()
	args := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("container", id),
		filters.Arg("event", "oom"),
	)
	msgs, errs := d.cli.Events(rctx, events.ListOptions{Filters: args,
		Since: unixNano(since), Until: unixNano(until)})
	for {
		select {
		case <-msgs:
			return true, nil
		case err := <-errs:
			if err == nil || errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, fmt.Errorf("read the engine's oom events of container %s: %w", id, d.readErr(ctx, err))
		}
	}
}

// unixNano is t as the engine's event filters take it: seconds.nanoseconds.
func unixNano(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }
