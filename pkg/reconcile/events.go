package reconcile

import (
	"context"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/docker"
)

// ContainerEvents is the engine's stream of changes to the controller's
// containers.
type ContainerEvents interface {
	Events(ctx context.Context) (<-chan docker.Event, <-chan error)
}

// WatchContainers nudges whenever one of the controller's containers
// changes (it dies, is OOM-killed, starts, is removed, ...), so that a dead
// served color is started again within milliseconds rather than at the
// next resync. When the stream breaks (the engine restarts), it subscribes
// again with backoff (BackoffFirst doubling to BackoffMax) and nudges once
// subscribed: events sent in between are lost, so the world is looked at
// afresh. It returns at once and works until ctx ends.
func WatchContainers(ctx context.Context, src ContainerEvents, log logr.Logger, nudge chan<- struct{}) {
	go func() {
		wait := BackoffFirst
		for first := true; ctx.Err() == nil; first = false {
			events, errs := src.Events(ctx)
			if !first {
				nudgeNow(nudge) // resync: a death may have gone unseen
			}
			start := time.Now()
			err := follow(ctx, events, errs, log, nudge)
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) > BackoffMax {
				wait = BackoffFirst // the stream had worked for a while
			}
			log.Error(err, "Container events stopped; subscribing again (the periodic resync still applies)", "retryIn", wait.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, BackoffMax)
		}
	}()
}

// follow nudges on every event until the stream ends, and returns why.
func follow(ctx context.Context, events <-chan docker.Event, errs <-chan error, log logr.Logger, nudge chan<- struct{}) error {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return <-errs
			}
			log.V(1).Info("Container event", "container", ev.Name, "event", ev.Action, "exitCode", ev.ExitCode)
			nudgeNow(nudge)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// nudgeNow asks for a pass without blocking: one already pending covers it.
func nudgeNow(nudge chan<- struct{}) {
	select {
	case nudge <- struct{}{}:
	default:
	}
}
