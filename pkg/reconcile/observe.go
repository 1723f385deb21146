package reconcile

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// probesNeeded is how many consecutive passing probes invariant 1 asks for.
const probesNeeded = 2

// Observe takes a snapshot of one service: its map key at runtime and on
// disk, its backends and servers in HAProxy, its image and containers in the
// engine, and probes of every running color. prev holds when each color was
// first seen out of service, as persisted in status.
func (d *Deps) Observe(ctx context.Context, s *spec.Service, prev map[spec.Color]time.Time, now time.Time) (Observed, error) {
	var o Observed
	ha, err := d.HAProxy(s.HAProxy.Runtime)
	if err != nil {
		return o, fmt.Errorf("connect to HAProxy runtime API %s: %w", s.HAProxy.Runtime, err)
	}
	o.MapRuntime.Value, o.MapRuntime.Found, err = ha.GetMap(ctx, s.HAProxy.MapFile, s.HAProxy.MapKey)
	if err != nil {
		return o, err
	}
	o.MapFile.Value, o.MapFile.Found, err = d.MapFiles.Lookup(s.HAProxy.MapFile, s.HAProxy.MapKey)
	if err != nil {
		return o, fmt.Errorf("read map file %s: %w", s.HAProxy.MapFile, err)
	}
	backends, err := ha.Backends(ctx)
	if err != nil {
		return o, err
	}
	o.Backends = make(map[string]bool, len(backends))
	for _, b := range backends {
		o.Backends[b] = true
	}
	stats, err := ha.ShowStat(ctx)
	if err != nil {
		return o, err
	}
	states, err := ha.ServersState(ctx)
	if err != nil {
		return o, err
	}
	o.Image.ID, o.Image.Found, err = d.Containers.ImageID(ctx, s.Image)
	if err != nil {
		return o, err
	}
	served := servedColor(s, o.MapRuntime)
	for _, c := range spec.Colors {
		st, err := d.observeColor(ctx, s, c, stats, states, c != served)
		if err != nil {
			return o, err
		}
		if st.Server.Draining() || st.Server.Maint() || isDown(st.Server.Status) {
			st.DrainingSince = prev[c]
			if st.DrainingSince.IsZero() {
				st.DrainingSince = now
			}
		}
		o.SetColor(c, st)
	}
	return o, nil
}

// observeColor reads color c; it probes c only when probe is set: the color
// the map points at is judged by HAProxy's own checks.
func (d *Deps) observeColor(ctx context.Context, s *spec.Service, c spec.Color, stats []haproxy.StatRow, states []haproxy.ServerState, probe bool) (ColorState, error) {
	var st ColorState
	st.Server = serverOf(s.Color(c), stats, states)
	ct, found, err := d.Containers.Inspect(ctx, s.ContainerName(c))
	if err != nil {
		return st, err
	}
	if found {
		st.Container = fromDocker(ct)
	}
	if probe && st.Container.Running {
		url := "http://" + probeAddr(s, c) + s.HealthPath
		for st.Probes < probesNeeded {
			if err := d.Prober.Probe(ctx, url); err != nil {
				st.ProbeError = err.Error()
				break
			}
			st.Probes++
		}
	}
	return st, nil
}

// serverOf picks color cs's server out of "show stat" and "show servers state".
func serverOf(cs spec.ColorSpec, stats []haproxy.StatRow, states []haproxy.ServerState) Server {
	var sv Server
	for _, r := range stats {
		if r.Proxy == cs.Backend && r.Server == cs.Server {
			sv = Server{Found: true, Status: r.Status, CheckStatus: r.CheckStatus,
				CheckPassed: r.CheckPassed(), Sessions: r.Sessions(), Addr: r.Addr}
			break
		}
	}
	for _, r := range states {
		if r.Backend == cs.Backend && r.Server == cs.Server {
			sv.AdminDrain, sv.AdminMaint = r.Drain(), r.Maint()
			break
		}
	}
	return sv
}

// RefreshServer reads color c's server in HAProxy afresh (not through a
// pass's shared reads) into a copy of o; the rest of o is kept as observed.
// It follows a step that changed that server, so that the step it unblocks
// (the switch, after MarkServerUp) is decided on HAProxy's word, without
// waiting for a whole new pass.
func (d *Deps) RefreshServer(ctx context.Context, s *spec.Service, o Observed, c spec.Color) (Observed, error) {
	ha, err := d.HAProxy(s.HAProxy.Runtime)
	if err != nil {
		return o, fmt.Errorf("connect to HAProxy runtime API %s: %w", s.HAProxy.Runtime, err)
	}
	stats, err := ha.ShowStat(ctx)
	if err != nil {
		return o, err
	}
	states, err := ha.ServersState(ctx)
	if err != nil {
		return o, err
	}
	st := o.Color(c)
	st.Server = serverOf(s.Color(c), stats, states)
	if !st.Server.Draining() && !st.Server.Maint() && !isDown(st.Server.Status) {
		st.DrainingSince = time.Time{}
	}
	o.SetColor(c, st)
	return o, nil
}

// probeAddr is where color c answers on this host, as HAProxy must reach it.
func probeAddr(s *spec.Service, c spec.Color) string {
	return "127.0.0.1:" + strconv.Itoa(s.Color(c).HostPort)
}

func fromDocker(c docker.Container) Container {
	return Container{
		Exists:     true,
		Managed:    c.Managed,
		Running:    c.Running,
		ID:         c.ID,
		ImageID:    c.ImageID,
		SpecHash:   c.Labels[docker.LabelSpecHash],
		State:      c.State,
		ExitCode:   c.ExitCode,
		StartedAt:  c.StartedAt,
		FinishedAt: c.FinishedAt,
	}
}
