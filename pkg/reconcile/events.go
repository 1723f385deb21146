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
	// Events subscribes; err says why it could not (the engine is down).
	Events(ctx context.Context) (events <-chan docker.Event, errs <-chan error, err error)
}

// EventsRetry is how often WatchContainers tries to subscribe again while
// the engine does not answer: fixed and short, not a growing backoff, so
// that the controller looks at the world again within this of the
// engine's first answer after a restart. A try at an engine that is down
// costs a failed connect.
const EventsRetry = 50 * time.Millisecond

// WatchContainers nudges whenever one of the controller's containers
// changes (it dies, is OOM-killed, starts, is removed, ...), so that a dead
// served color is started again within milliseconds rather than at the
// next resync: the nudge asks for a pass of that container's service only,
// and cache (may be nil) forgets the container first. When the stream
// breaks (the engine stops) it asks at once for a pass over every service,
// so that status says what is no longer known, and tries to subscribe again
// every EventsRetry; once subscribed again it logs it and asks for a pass
// over every service (a full resync, the cache emptied): events sent in
// between are lost, so the world is looked at afresh. It returns at once and
// works until ctx ends.
func WatchContainers(ctx context.Context, src ContainerEvents, log logr.Logger, nudges *Nudges, cache *ContainerCache) {
	if cache == nil {
		cache = NewContainerCache(nil) // told, never read
	}
	go func() {
		var lost time.Time // when the stream broke; zero at the first subscription
		for ctx.Err() == nil {
			events, errs, err := src.Events(ctx)
			if err != nil {
				if lost.IsZero() {
					lost = time.Now()
					log.Error(err, "Cannot follow container events; trying again until the engine answers (the periodic resync still applies)", "retryEvery", EventsRetry.String())
				}
				sleepCtx(ctx, EventsRetry)
				continue
			}
			cache.Followed()
			if !lost.IsZero() {
				log.Info("Container events followed again; looking at every service afresh", "lostFor", time.Since(lost).Round(time.Millisecond).String())
				nudges.All() // resync: a death may have gone unseen
			}
			err = follow(ctx, events, errs, log, nudges, cache)
			cache.Lost()
			if ctx.Err() != nil {
				return
			}
			lost = time.Now()
			log.Error(err, "Container events stopped; looking at every service now, and subscribing again until the engine answers",
				"retryEvery", EventsRetry.String())
			nudges.All() // the engine may be gone: status must say so now
		}
	}()
}

// sleepCtx waits for d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// follow nudges the service of every event, once cache has forgotten its
// container, until the stream ends, and returns why.
func follow(ctx context.Context, events <-chan docker.Event, errs <-chan error, log logr.Logger, nudges *Nudges, cache *ContainerCache) error {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return <-errs
			}
			log.V(1).Info("Container event", "container", ev.Name, "service", ev.Service, "event", ev.Action, "exitCode", ev.ExitCode)
			cache.Changed(ev.Name)
			nudges.Service(ev.Service)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
