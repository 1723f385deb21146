package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/docker/docker/pkg/stringid"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
)

// ErrPullForbidden is returned for a pull when Deps.NoPull is set.
var ErrPullForbidden = errors.New("registry pulls are forbidden on this host (--no-pull)")

// ErrServed is returned when a step would stop or remove the container the
// map points at; the executor checks the live map again before it acts.
var ErrServed = errors.New("the map points at it")

// errNoValue is a step without the value its action needs: a bug of the
// planner, reported rather than acted on.
var errNoValue = errors.New("the step carries no value for its action")

// imageLocks holds one mutex per image reference being built or pulled.
var imageLocks sync.Map

// Execute performs one step from the values it carries (planner.Step):
// one Docker call or one runtime API command, with the live checks that
// guard a switch and a stop.
func (d *Deps) Execute(ctx context.Context, st planner.Step) error {
	return d.execute(ctx, st, nil)
}

// execute is Execute once record, when not nil, has written what status
// must hold before the step acts (a release's verification record): first
// for most steps; for a move of traffic, while its live checks run, and
// before the map changes. record is called once, even when the step
// fails.
func (d *Deps) execute(ctx context.Context, st planner.Step, record func()) error {
	var once sync.Once
	recorded := func() {
		if record != nil {
			once.Do(record)
		}
	}
	defer recorded()
	if st.Action != planner.SwitchMap && st.Action != planner.SplitTraffic {
		recorded()
	}
	if err := hasValue(st); err != nil {
		return err
	}
	switch st.Action {
	case planner.BuildImage, planner.PullImage:
		return d.makeImage(ctx, st.Image)
	case planner.CreateContainer:
		cs, err := createWithEnvFiles(st.Container.Create)
		if err != nil {
			return err
		}
		_, err = d.Containers.Create(ctx, cs)
		return err
	case planner.StartContainer:
		return d.Containers.Start(ctx, st.Container.Name)
	case planner.StopContainer:
		if err := d.checkNotServed(ctx, st.Container); err != nil {
			return err
		}
		// Recorded first: a controller killed between the two must still
		// know that this exit was its own doing.
		if err := d.stops().Stopping(st.Container.Name, state.StopRecord{ID: st.Container.ID, At: d.clock()}); err != nil {
			return fmt.Errorf("stop container %s: %w; not stopped", st.Container.Name, err)
		}
		return d.Containers.Stop(ctx, st.Container.Name, st.Container.StopTimeout)
	case planner.RestartContainer:
		// The served color, which has failed HAProxy's check and the
		// controller's probe for spec.health.restartAfter: it serves no
		// request, and a new run of it may.
		return d.Containers.Restart(ctx, st.Container.Name, st.Container.StopTimeout)
	case planner.SetRestartPolicy:
		return d.Containers.SetRestartPolicy(ctx, st.Container.Name, st.Container.RestartPolicy)
	case planner.RemoveContainer:
		if err := d.checkNotServed(ctx, st.Container); err != nil {
			return err
		}
		return d.Containers.Remove(ctx, st.Container.Name)
	case planner.SetServerReady, planner.DrainServer, planner.SetServerAddr, planner.MarkServerUp, planner.DisableServer:
		return d.setServer(ctx, st.Action, st.Server)
	case planner.SwitchMap:
		return d.switchMap(ctx, string(st.Color), st.Map, recorded)
	case planner.SplitTraffic:
		return d.splitTraffic(ctx, string(st.Color), st.Map, recorded)
	case planner.SetCanaryWeights:
		return d.setCanaryWeights(ctx, st.Weights)
	case planner.WriteMapFile:
		return d.writeMapFile(st.Map, "the runtime map is switched; a reload would move traffic back until this is fixed")
	case planner.SetPreview:
		ha, err := d.HAProxy(st.Map.Runtime)
		if err != nil {
			return err
		}
		if err := ha.SetMap(ctx, st.Map.File, st.Map.Key, st.Map.Value); err != nil {
			return err
		}
		return d.writeMapFile(st.Map, "the preview key is set at runtime")
	case planner.RunChecks:
		return d.runChecks(ctx, st.Checks)
	case planner.WarmUp:
		return d.warmUp(ctx, st.Warmup)
	case planner.CreateJob, planner.StartJob, planner.StopJob, planner.RemoveJob:
		return d.executeJob(ctx, st)
	}
	return fmt.Errorf("execute %s for service %s: unknown action", st.Action, st.Service)
}

// hasValue refuses a step whose action's value is missing.
func hasValue(st planner.Step) error {
	var ok bool
	switch st.Action {
	case planner.BuildImage, planner.PullImage:
		ok = st.Image != nil
	case planner.CreateContainer:
		ok = st.Container != nil && st.Container.Create != nil
	case planner.StartContainer, planner.StopContainer, planner.RestartContainer, planner.SetRestartPolicy, planner.RemoveContainer:
		ok = st.Container != nil
	case planner.SetServerReady, planner.DrainServer, planner.SetServerAddr, planner.MarkServerUp, planner.DisableServer:
		ok = st.Server != nil
	case planner.SwitchMap, planner.SplitTraffic:
		ok = st.Map != nil && st.Map.Ready != nil
	case planner.SetCanaryWeights:
		ok = st.Weights != nil && len(st.Weights.Set) > 0
	case planner.WriteMapFile, planner.SetPreview:
		ok = st.Map != nil
	case planner.RunChecks:
		ok = st.Checks != nil
	case planner.WarmUp:
		ok = st.Warmup != nil
	case planner.CreateJob:
		ok = st.Job != nil && st.Job.Create != nil
	case planner.StartJob, planner.StopJob, planner.RemoveJob:
		ok = st.Job != nil
	default:
		return nil
	}
	if !ok {
		return fmt.Errorf("execute %s %s for service %s: %w", st.Action, st.Target, st.Service, errNoValue)
	}
	return nil
}

// makeImage builds or pulls an image. Services that need the same image
// make it one at a time, and the snapshot may predate another service's
// step that made it: look again rather than make it twice.
func (d *Deps) makeImage(ctx context.Context, img *planner.ImageRef) error {
	mu, _ := imageLocks.LoadOrStore(img.Ref, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if _, found, err := d.Containers.ImageID(ctx, img.Ref); err == nil && found {
		return nil
	}
	if b := img.Build; b != nil {
		_, err := d.Containers.Build(ctx, docker.BuildSpec{ContextDir: b.ContextDir, Dockerfile: b.Dockerfile, Tag: img.Ref, Args: b.Args})
		return err
	}
	if d.NoPull {
		return fmt.Errorf("pull image %s: %w: load it (docker load) or build it, or give spec.build", img.Ref, ErrPullForbidden)
	}
	return d.Containers.Pull(ctx, img.Ref)
}

// setServer changes an HAProxy server: its admin state, its address or its
// health.
func (d *Deps) setServer(ctx context.Context, a planner.Action, sv *planner.ServerRef) error {
	ha, err := d.HAProxy(sv.Runtime)
	if err != nil {
		return err
	}
	switch a {
	case planner.SetServerReady:
		if sv.Down {
			return ha.SetServerReadyDown(ctx, sv.Backend, sv.Server)
		}
		return ha.SetServerState(ctx, sv.Backend, sv.Server, haproxy.StateReady)
	case planner.DrainServer:
		return ha.SetServerState(ctx, sv.Backend, sv.Server, haproxy.StateDrain)
	case planner.DisableServer:
		return ha.SetServerState(ctx, sv.Backend, sv.Server, haproxy.StateMaint)
	case planner.SetServerAddr:
		addr, err := netip.ParseAddrPort(sv.Addr)
		if err != nil {
			return fmt.Errorf("point %s/%s at %s: %w", sv.Backend, sv.Server, sv.Addr, err)
		}
		return ha.SetServerAddr(ctx, sv.Backend, sv.Server, addr)
	}
	return ha.SetServerHealthUp(ctx, sv.Backend, sv.Server)
}

// switchMap points the map key at color c's backend, at runtime and then
// in the map file, once what the switch was planned on holds live.
func (d *Deps) switchMap(ctx context.Context, c string, m *planner.MapEntry, recorded func()) error {
	ha, err := d.HAProxy(m.Runtime)
	if err != nil {
		return err
	}
	if len(m.Ready) == 0 {
		return fmt.Errorf("switch to %s: %w (the readiness it was planned on)", c, errNoValue)
	}
	if err := d.stillReadyOnceRecorded(ctx, c, m.Ready, ha, recorded); err != nil {
		return err
	}
	if err := ha.SetMap(ctx, m.File, m.Key, m.Value); err != nil {
		return err
	}
	return d.writeMapFile(m, "the runtime map is switched; a reload would move traffic back until this is fixed")
}

// splitTraffic points the map key at the canary backend, at runtime only,
// once color c (the new one, which takes its first share) is checked
// ready again, live, as before a switch. The map file keeps the previous
// color: a reload of HAProxy puts all traffic back there.
func (d *Deps) splitTraffic(ctx context.Context, c string, m *planner.MapEntry, recorded func()) error {
	ha, err := d.HAProxy(m.Runtime)
	if err != nil {
		return err
	}
	if err := d.stillReadyOnceRecorded(ctx, c, m.Ready, ha, recorded); err != nil {
		return err
	}
	return ha.SetMap(ctx, m.File, m.Key, m.Value)
}

// setCanaryWeights sets the canary backend's server weights, in order.
func (d *Deps) setCanaryWeights(ctx context.Context, w *planner.CanaryWeights) error {
	ha, err := d.HAProxy(w.Runtime)
	if err != nil {
		return err
	}
	for _, sw := range w.Set {
		if err := ha.SetServerWeight(ctx, w.Backend, sw.Server, sw.Weight); err != nil {
			return fmt.Errorf("canary backend %s: %w", w.Backend, err)
		}
	}
	return nil
}

// writeMapFile writes m to its map file; state says what already holds
// at runtime, for the error.
func (d *Deps) writeMapFile(m *planner.MapEntry, state string) error {
	if err := d.MapFiles.Write(m.File, m.Key, m.Value); err != nil {
		return fmt.Errorf("write map file %s key %s: %w (%s)", m.File, m.Key, err, state)
	}
	return nil
}

// stillReadyOnceRecorded is checkStillReady made while recorded writes
// what status must hold before traffic moves; it returns once both are
// done. With hundreds of services each takes milliseconds.
func (d *Deps) stillReadyOnceRecorded(ctx context.Context, c string, ready []planner.Readiness, ha HAProxy, recorded func()) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		recorded()
	}()
	defer func() { <-done }()
	return d.checkStillReady(ctx, c, ready, ha)
}

// ErrNoLongerReady is returned when a color planned to take traffic is not
// ready any more when the switch is about to be made.
var ErrNoLongerReady = errors.New("no longer ready")

// checkStillReady asks Docker and HAProxy afresh, just before the map is
// switched to color c, whether what the switch was planned on (ready, one
// readiness per replica) still holds: for each replica, the same run of
// the container that was probed still runs the image it was judged on
// (the planner checked it is the desired one, or for a rollback the
// previous one), at the address that was probed, and HAProxy says its
// server is UP at that address. A snapshot can be old by the time its
// step is taken; traffic must never move to a color that died or changed
// since. The containers are inspected at once, and HAProxy's stats read
// of the color's backend only (with hundreds of services, a whole "show
// stat" took a release's switch tens of milliseconds).
func (d *Deps) checkStillReady(ctx context.Context, c string, ready []planner.Readiness, ha HAProxy) error {
	errs := make([]error, len(ready))
	var stats []haproxy.StatRow
	var statErr error
	var wg sync.WaitGroup
	for i := range ready {
		wg.Go(func() { errs[i] = d.containerStillReady(ctx, c, &ready[i]) })
	}
	if len(ready) > 0 { // the replicas of a color are servers of its one backend
		wg.Go(func() { stats, statErr = ha.StatOf(ctx, ready[0].Server.Backend) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if statErr != nil {
		return fmt.Errorf("switch to %s: check its servers again: %w", c, statErr)
	}
	for i := range ready {
		if err := serverStillReady(c, &ready[i], stats); err != nil {
			return err
		}
	}
	return nil
}

// containerStillReady checks that the container of readiness r is still
// the run that was probed, at the probed address.
func (d *Deps) containerStillReady(ctx context.Context, c string, r *planner.Readiness) error {
	name := r.Name
	ct, found, err := d.Containers.Inspect(ctx, name)
	if err != nil {
		return fmt.Errorf("switch to %s: check %s again: %w", c, name, err)
	}
	switch {
	case !found:
		return fmt.Errorf("switch to %s: container %s is gone: %w; not switched", c, name, ErrNoLongerReady)
	case !ct.Running || ct.Restarting:
		return fmt.Errorf("switch to %s: container %s is %s: %w; not switched", c, name, ct.State, ErrNoLongerReady)
	case ct.ID != r.Container || !ct.StartedAt.Equal(r.StartedAt):
		return fmt.Errorf("switch to %s: container %s was restarted or replaced since it was probed: %w; not switched", c, name, ErrNoLongerReady)
	case ct.ImageID != r.ImageID:
		return fmt.Errorf("switch to %s: container %s runs image %s, not %s: %w; not switched", c, name, stringid.TruncateID(ct.ImageID), stringid.TruncateID(r.ImageID), ErrNoLongerReady)
	case r.Network != "" && ct.IPs[r.Network] != r.IP:
		return fmt.Errorf("switch to %s: container %s has address %s on network %s now, not the probed %s: %w; not switched",
			c, name, cmp.Or(ct.IPs[r.Network], "none"), r.Network, cmp.Or(r.IP, "none"), ErrNoLongerReady)
	}
	return nil
}

// serverStillReady checks that HAProxy says the server of readiness r is
// UP at the probed address.
func serverStillReady(c string, r *planner.Readiness, stats []haproxy.StatRow) error {
	sv := r.Server
	for _, row := range stats {
		if row.Proxy == sv.Backend && row.Server == sv.Server {
			if row.Status != "UP" {
				return fmt.Errorf("switch to %s: HAProxy says %s/%s is %s: %w; not switched", c, sv.Backend, sv.Server, row.Status, ErrNoLongerReady)
			}
			if row.Addr != r.Addr {
				// A reload put back the address in haproxy.cfg, or
				// the server was pointed elsewhere since the probes.
				return fmt.Errorf("switch to %s: HAProxy sends %s/%s's traffic to %s, not to the probed %s: %w; not switched",
					c, sv.Backend, sv.Server, row.Addr, cmp.Or(r.Addr, "none yet"), ErrNoLongerReady)
			}
			return nil
		}
	}
	return fmt.Errorf("switch to %s: server %s/%s is not in HAProxy's stats: %w; not switched", c, sv.Backend, sv.Server, ErrNoLongerReady)
}

// checkNotServed reads the live map once more before container ct is
// stopped or removed, so that no stale snapshot can take down the serving
// color.
func (d *Deps) checkNotServed(ctx context.Context, ct *planner.ContainerRef) error {
	m := ct.NotServed
	if m == nil && ct.Surplus {
		return nil // a replica beyond spec.replicas: the others serve
	}
	if m == nil {
		return fmt.Errorf("stop %s: %w (the map entry that must not name it)", ct.Name, errNoValue)
	}
	ha, err := d.HAProxy(m.Runtime)
	if err != nil {
		return err
	}
	v, found, err := ha.GetMap(ctx, m.File, m.Key)
	if err != nil {
		return err
	}
	if found && v == m.Value {
		return fmt.Errorf("stop %s: %w (%s %s = %s); refusing", ct.Name, ErrServed, m.File, m.Key, v)
	}
	return nil
}
