package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// ErrServed is returned when a step would stop or remove the container the
// map points at; the executor checks the live map again before it acts.
var ErrServed = errors.New("the map points at it")

// Execute performs one step for service s. o is the snapshot the step was
// planned from.
func (d *Deps) Execute(ctx context.Context, s *spec.Service, st Step, o Observed) error {
	switch st.Action {
	case BuildImage, PullImage:
		// The snapshot may predate another service's step that made the
		// same image in this pass: look again rather than make it twice.
		if _, found, err := d.Containers.ImageID(ctx, s.Image); err == nil && found {
			return nil
		}
	}
	switch st.Action {
	case BuildImage:
		_, err := d.Containers.Build(ctx, docker.BuildSpec{
			ContextDir: s.BuildContext(), Dockerfile: s.Build.Dockerfile, Tag: s.Image, Args: s.Build.Args})
		return err
	case PullImage:
		return d.Containers.Pull(ctx, s.Image)
	case CreateContainer:
		_, err := d.Containers.Create(ctx, containerSpec(s, st.Color, o.Image.ID))
		return err
	case StartContainer:
		return d.Containers.Start(ctx, st.Target)
	case StopContainer:
		if err := d.checkNotServed(ctx, s, st.Color); err != nil {
			return err
		}
		return d.Containers.Stop(ctx, st.Target, s.StopTimeout.Duration)
	case RemoveContainer:
		if err := d.checkNotServed(ctx, s, st.Color); err != nil {
			return err
		}
		return d.Containers.Remove(ctx, st.Target)
	case SetServerReady, DrainServer:
		ha, err := d.HAProxy(s.HAProxy.Runtime)
		if err != nil {
			return err
		}
		state := haproxy.StateReady
		if st.Action == DrainServer {
			state = haproxy.StateDrain
		}
		cs := s.Color(st.Color)
		return ha.SetServerState(ctx, cs.Backend, cs.Server, state)
	case MarkServerUp:
		ha, err := d.HAProxy(s.HAProxy.Runtime)
		if err != nil {
			return err
		}
		cs := s.Color(st.Color)
		return ha.SetServerHealthUp(ctx, cs.Backend, cs.Server)
	case SwitchMap:
		ha, err := d.HAProxy(s.HAProxy.Runtime)
		if err != nil {
			return err
		}
		backend := s.Color(st.Color).Backend
		if err := ha.SetMap(ctx, s.HAProxy.MapFile, s.HAProxy.MapKey, backend); err != nil {
			return err
		}
		return d.writeMapFile(s, backend)
	case WriteMapFile:
		return d.writeMapFile(s, s.Color(st.Color).Backend)
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
