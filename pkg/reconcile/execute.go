package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// ErrPullForbidden is returned for a pull when Deps.NoPull is set.
var ErrPullForbidden = errors.New("registry pulls are forbidden on this host (--no-pull)")

// ErrServed is returned when a step would stop or remove the container the
// map points at; the executor checks the live map again before it acts.
var ErrServed = errors.New("the map points at it")

// imageLocks holds one mutex per image reference being built or pulled.
var imageLocks sync.Map

// Execute performs one step for service s. o is the snapshot the step was
// planned from.
func (d *Deps) Execute(ctx context.Context, s *spec.Service, st planner.Step, o planner.Observed) error {
	switch st.Action {
	case planner.BuildImage, planner.PullImage:
		// Services that need the same image make it one at a time, and
		// the snapshot may predate another service's step that made it:
		// look again rather than make it twice.
		mu, _ := imageLocks.LoadOrStore(s.Image, &sync.Mutex{})
		mu.(*sync.Mutex).Lock()
		defer mu.(*sync.Mutex).Unlock()
		if _, found, err := d.Containers.ImageID(ctx, s.Image); err == nil && found {
			return nil
		}
	}
	switch st.Action {
	case planner.BuildImage:
		_, err := d.Containers.Build(ctx, docker.BuildSpec{
			ContextDir: s.BuildContext(), Dockerfile: s.Build.Dockerfile, Tag: s.Image, Args: s.Build.Args})
		return err
	case planner.PullImage:
		if d.NoPull {
			return fmt.Errorf("pull image %s: %w: load it (docker load) or build it, or give spec.build", s.Image, ErrPullForbidden)
		}
		return d.Containers.Pull(ctx, s.Image)
	case planner.CreateContainer:
		_, err := d.Containers.Create(ctx, containerSpec(s, st.Color, o.Image.ID))
		return err
	case planner.StartContainer:
		return d.Containers.Start(ctx, st.Target)
	case planner.StopContainer:
		if err := d.checkNotServed(ctx, s, st.Color); err != nil {
			return err
		}
		// Recorded first: a controller killed between the two must still
		// know that this exit was its own doing.
		rec := StopRecord{ID: o.Color(st.Color).Container.ID, At: time.Now()}
		if err := d.stops().Stopping(st.Target, rec); err != nil {
			return fmt.Errorf("stop container %s: %w; not stopped", st.Target, err)
		}
		return d.Containers.Stop(ctx, st.Target, s.StopTimeout.Duration)
	case planner.RestartContainer:
		// The served color, which has failed HAProxy's check and the
		// controller's probe for spec.health.restartAfter: it serves no
		// request, and a new run of it may.
		return d.Containers.Restart(ctx, st.Target, s.StopTimeout.Duration)
	case planner.SetRestartPolicy:
		return d.Containers.SetRestartPolicy(ctx, st.Target, planner.WantRestartPolicy(s, o, st.Color))
	case planner.RemoveContainer:
		if err := d.checkNotServed(ctx, s, st.Color); err != nil {
			return err
		}
		return d.Containers.Remove(ctx, st.Target)
	case planner.SetServerReady, planner.DrainServer:
		ha, err := d.HAProxy(s.HAProxy.Runtime)
		if err != nil {
			return err
		}
		state := haproxy.StateReady
		if st.Action == planner.DrainServer {
			state = haproxy.StateDrain
		}
		cs := s.Color(st.Color)
		return ha.SetServerState(ctx, cs.Backend, cs.Server, state)
	case planner.SetServerAddr:
		ha, err := d.HAProxy(s.HAProxy.Runtime)
		if err != nil {
			return err
		}
		cs := s.Color(st.Color)
		want := planner.ServerAddr(s, st.Color, o.Color(st.Color).Container)
		addr, err := netip.ParseAddrPort(want)
		if err != nil {
			return fmt.Errorf("point %s/%s at %s: %w", cs.Backend, cs.Server, want, err)
		}
		return ha.SetServerAddr(ctx, cs.Backend, cs.Server, addr)
	case planner.MarkServerUp:
		ha, err := d.HAProxy(s.HAProxy.Runtime)
		if err != nil {
			return err
		}
		cs := s.Color(st.Color)
		return ha.SetServerHealthUp(ctx, cs.Backend, cs.Server)
	case planner.SwitchMap:
		ha, err := d.HAProxy(s.HAProxy.Runtime)
		if err != nil {
			return err
		}
		if err := d.checkStillReady(ctx, s, st.Color, o, ha); err != nil {
			return err
		}
		backend := s.Color(st.Color).Backend
		if err := ha.SetMap(ctx, s.HAProxy.MapFile, s.HAProxy.MapKey, backend); err != nil {
			return err
		}
		return d.writeMapFile(s, backend)
	case planner.WriteMapFile:
		return d.writeMapFile(s, s.Color(st.Color).Backend)
	case planner.SetPreview:
		ha, err := d.HAProxy(s.HAProxy.Runtime)
		if err != nil {
			return err
		}
		backend := s.Color(st.Color).Backend
		if err := ha.SetMap(ctx, s.HAProxy.MapFile, s.Preview.MapKey, backend); err != nil {
			return err
		}
		if err := d.MapFiles.Write(s.HAProxy.MapFile, s.Preview.MapKey, backend); err != nil {
			return fmt.Errorf("write map file %s key %s: %w", s.HAProxy.MapFile, s.Preview.MapKey, err)
		}
		return nil
	case planner.RunChecks:
		return d.runChecks(ctx, s, st.Color, o)
	}
	return fmt.Errorf("execute %s for service %s: unknown action", st.Action, s.Name)
}

func (d *Deps) writeMapFile(s *spec.Service, backend string) error {
	if err := d.MapFiles.Write(s.HAProxy.MapFile, s.HAProxy.MapKey, backend); err != nil {
		return fmt.Errorf("write map file %s key %s: %w (the runtime map is switched; a reload would move traffic back until this is fixed)",
			s.HAProxy.MapFile, s.HAProxy.MapKey, err)
	}
	return nil
}

// ErrNoLongerReady is returned when a color planned to take traffic is not
// ready any more when the switch is about to be made.
var ErrNoLongerReady = errors.New("no longer ready")

// checkStillReady asks Docker and HAProxy afresh, just before the map is
// switched to color c, whether what the switch was planned on still holds:
// the same run of the container that was probed still runs the image it
// was judged on (the planner checked it is the desired one, or for a
// rollback the previous one), and HAProxy says its server is UP. A snapshot can be old by the
// time its step is taken; traffic must never move to a color that died in
// between.
func (d *Deps) checkStillReady(ctx context.Context, s *spec.Service, c spec.Color, o planner.Observed, ha HAProxy) error {
	name := s.ContainerName(c)
	was := o.Color(c).Container
	ct, found, err := d.Containers.Inspect(ctx, name)
	if err != nil {
		return fmt.Errorf("switch to %s: check %s again: %w", c, name, err)
	}
	switch {
	case !found:
		return fmt.Errorf("switch to %s: container %s is gone: %w; not switched", c, name, ErrNoLongerReady)
	case !ct.Running || ct.Restarting:
		return fmt.Errorf("switch to %s: container %s is %s: %w; not switched", c, name, ct.State, ErrNoLongerReady)
	case ct.ID != was.ID || !ct.StartedAt.Equal(was.StartedAt):
		return fmt.Errorf("switch to %s: container %s was restarted or replaced since it was probed: %w; not switched", c, name, ErrNoLongerReady)
	case ct.ImageID != was.ImageID:
		return fmt.Errorf("switch to %s: container %s runs image %s, not %s: %w; not switched", c, name, planner.ShortID(ct.ImageID), planner.ShortID(was.ImageID), ErrNoLongerReady)
	}
	probed := o.Color(c).ProbedAddr
	if now := planner.ServerAddr(s, c, fromDocker(ct, s.Network)); now != probed {
		return fmt.Errorf("switch to %s: container %s answers at %s now, not at the probed %s: %w; not switched", c, name, now, cmp.Or(probed, "none yet"), ErrNoLongerReady)
	}
	stats, err := ha.ShowStat(ctx)
	if err != nil {
		return fmt.Errorf("switch to %s: check its server again: %w", c, err)
	}
	cs := s.Color(c)
	for _, r := range stats {
		if r.Proxy == cs.Backend && r.Server == cs.Server {
			if r.Status != "UP" {
				return fmt.Errorf("switch to %s: HAProxy says %s/%s is %s: %w; not switched", c, cs.Backend, cs.Server, r.Status, ErrNoLongerReady)
			}
			if r.Addr != probed {
				// A reload put back the address in haproxy.cfg, or
				// the server was pointed elsewhere since the probes.
				return fmt.Errorf("switch to %s: HAProxy sends %s/%s's traffic to %s, not to the probed %s: %w; not switched",
					c, cs.Backend, cs.Server, r.Addr, cmp.Or(probed, "none yet"), ErrNoLongerReady)
			}
			return nil
		}
	}
	return fmt.Errorf("switch to %s: server %s/%s is not in HAProxy's show stat: %w; not switched", c, cs.Backend, cs.Server, ErrNoLongerReady)
}

// checkNotServed reads the live map once more before a container is stopped
// or removed, so that no stale snapshot can take down the serving color.
func (d *Deps) checkNotServed(ctx context.Context, s *spec.Service, c spec.Color) error {
	ha, err := d.HAProxy(s.HAProxy.Runtime)
	if err != nil {
		return err
	}
	v, found, err := ha.GetMap(ctx, s.HAProxy.MapFile, s.HAProxy.MapKey)
	if err != nil {
		return err
	}
	if found && v == s.Color(c).Backend {
		return fmt.Errorf("stop %s: %w (%s %s = %s); refusing", s.ContainerName(c), ErrServed, s.HAProxy.MapFile, s.HAProxy.MapKey, v)
	}
	return nil
}
