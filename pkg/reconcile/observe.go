package reconcile

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Observe takes a snapshot of one service: its map key at runtime and on
// disk, its backends and servers in HAProxy, its image and containers in the
// engine, and probes of the color that does not serve. prev holds what
// status remembers of each color (planner.Remembered).
//
// The reads do not depend on each other, so they are made at once: a pass
// waits for the slowest read rather than for the sum of them (the engine's
// answers take a millisecond or more each, and several times that while the
// host is busy). Only the probes wait, for the map and the containers: they
// go to the color that does not serve, if its container runs. In a pass
// over many services, all but the first observation (d.serialReads) make
// them one after the other: the services are observed at once and share
// the pass's reads, which they find made or being made, and a goroutine
// for each read of each of hundreds of services was a large share of an
// idle controller's work.
func (d *Deps) Observe(ctx context.Context, s *spec.Service, prev map[spec.Color][]planner.Remembered, now time.Time) (planner.Observed, error) {
	var o planner.Observed
	ha, err := d.HAProxy(s.HAProxy.Runtime)
	if err != nil {
		return o, fmt.Errorf("connect to HAProxy runtime API %s: %w", s.HAProxy.Runtime, err)
	}
	var (
		// Each color's backend is read on its own (one command each in a
		// pass of one service), at once with the rest.
		statsOf  [2][]haproxy.StatRow
		statesOf [2][]haproxy.ServerState
		eng      = newEngineReads(s.ReplicaCount())
	)
	reads := []func() error{
		func() (err error) {
			o.MapRuntime.Value, o.MapRuntime.Found, err = ha.GetMap(ctx, s.HAProxy.MapFile, s.HAProxy.MapKey)
			return err
		},
		func() (err error) {
			o.MapFile.Value, o.MapFile.Found, err = d.MapFiles.Lookup(s.HAProxy.MapFile, s.HAProxy.MapKey)
			if err != nil {
				return fmt.Errorf("read map file %s: %w", s.HAProxy.MapFile, err)
			}
			return nil
		},
		func() (err error) { o.Image.ID, o.Image.Found, err = d.Containers.ImageID(ctx, s.Image); return err },
	}
	for i, c := range spec.Colors() {
		backend := s.Color(c).Backend
		reads = append(reads,
			func() (err error) { statsOf[i], err = ha.StatOf(ctx, backend); return err },
			func() (err error) { statesOf[i], err = ha.ServersStateOf(ctx, backend); return err })
	}
	var canaryRows []haproxy.StatRow
	if c := s.Canary(); c != nil {
		reads = append(reads, func() (err error) { canaryRows, err = ha.StatOf(ctx, c.Backend); return err })
	}
	if s.Preview != nil {
		reads = append(reads, func() (err error) {
			o.Preview.Value, o.Preview.Found, err = ha.GetMap(ctx, s.HAProxy.MapFile, s.Preview.MapKey)
			return err
		})
	}
	if err := all(append(reads, eng.reads(ctx, d.Containers, s)...), !d.serialReads); err != nil {
		return planner.Observed{}, err
	}
	stats, states := slices.Concat(statsOf[:]...), slices.Concat(statesOf[:]...)
	d.checks.complete(s.HAProxy.Runtime, stats)
	o.Backends = backendsIn(stats, canaryRows)
	o.Served = planner.ServedColor(s, o.MapRuntime)
	var colors [2]planner.ColorState
	for i, c := range spec.Colors() {
		if colors[i], err = d.colorState(ctx, s, c, eng.of(i), stats, states, now); err != nil {
			return planner.Observed{}, err
		}
	}
	o.Canary = canaryState(canaryRows, &colors)
	if diedUnasked(colors) {
		// It may have died because the engine is shutting down.
		o.EngineStopping = d.Containers.AcceptsConnections(ctx) != nil
	}
	d.probeAll(ctx, s, o.Served, &colors)
	for i, c := range spec.Colors() {
		for j := range colors[i].Replicas {
			st := &colors[i].Replicas[j]
			var before planner.Remembered
			if j < len(prev[c]) {
				before = prev[c][j]
			}
			st.Remembered = remember(before, *st, now)
		}
		o.SetColor(c, colors[i])
	}
	return o, nil
}

// diedUnasked reports a replica whose container ran and exited without
// the controller stopping it.
func diedUnasked(colors [2]planner.ColorState) bool {
	for _, cs := range colors {
		for _, st := range cs.Replicas {
			if ct := st.Container; ct.Exists && !ct.Running && !ct.StoppedByController && !ct.FinishedAt.IsZero() {
				return true
			}
		}
	}
	return false
}

// engineReads is what the engine says of a service's containers, by color:
// each replica's, and those of replicas beyond the count (it was lowered).
type engineReads struct {
	cts     [2][]docker.Container
	found   [2][]bool
	surplus [2][]docker.Container
}

// colorReads is engineReads of one color.
type colorReads struct {
	cts     []docker.Container
	found   []bool
	surplus []docker.Container
}

func newEngineReads(n int) *engineReads {
	return &engineReads{cts: [2][]docker.Container{make([]docker.Container, n), make([]docker.Container, n)},
		found: [2][]bool{make([]bool, n), make([]bool, n)}}
}

func (e *engineReads) of(i int) colorReads {
	return colorReads{cts: e.cts[i], found: e.found[i], surplus: e.surplus[i]}
}

// reads are the inspections of s's containers, to be made at once: one
// per replica, and per color one of the slot after the last replica, which
// goes on to the next slot while it finds a container (usually it finds
// none).
func (e *engineReads) reads(ctx context.Context, eng Containers, s *spec.Service) []func() error {
	var reads []func() error
	n := s.ReplicaCount()
	for i, c := range spec.Colors() {
		for j, r := range s.ReplicasOf(c) {
			reads = append(reads, func() (err error) {
				e.cts[i][j], e.found[i][j], err = eng.Inspect(ctx, r.Container)
				return err
			})
		}
		reads = append(reads, func() error {
			for j := n; j < spec.MaxReplicas; j++ {
				ct, ok, err := eng.Inspect(ctx, s.Replica(c, j).Container)
				if err != nil || !ok {
					return err
				}
				e.surplus[i] = append(e.surplus[i], ct)
			}
			return nil
		})
	}
	return reads
}

// colorState is color c as read: each replica's server and container, and
// the replicas beyond the count.
func (d *Deps) colorState(ctx context.Context, s *spec.Service, c spec.Color, rd colorReads, stats []haproxy.StatRow, states []haproxy.ServerState, now time.Time) (planner.ColorState, error) {
	cs := planner.ColorState{Backend: backendCounters(s.Color(c).Backend, stats), ResponseTime: backendTime(s.Color(c).Backend, stats)}
	var check *planner.CheckConfig
	if d.CheckConfig != nil {
		check = d.CheckConfig(s, c)
	}
	stops := d.stops()
	for j, r := range s.ReplicasOf(c) {
		st := planner.ReplicaState{Slot: r, Server: serverOf(r, stats, states), CheckConfig: check}
		if rd.found[j] {
			st.Container = fromDocker(rd.cts[j], s.Network)
			if rec, ok := stops.Get(r.Container); ok {
				st.Container.StoppedByController = stoppedBy(rec, st.Container, s.StopTimeout.Duration)
			}
			if err := d.completeOOM(ctx, &st.Container, now); err != nil {
				return cs, err
			}
		}
		cs.Replicas = append(cs.Replicas, st)
	}
	for j, ct := range rd.surplus {
		r := s.Replica(c, len(cs.Replicas)+j)
		cs.Surplus = append(cs.Surplus, planner.ReplicaState{Slot: r, Server: serverOf(r, stats, states),
			Container: fromDocker(ct, s.Network), CheckConfig: check})
	}
	return cs, nil
}

// probeAll probes every replica of both colors at once (probeReplica): a
// pass waits for the slowest.
func (d *Deps) probeAll(ctx context.Context, s *spec.Service, served spec.Color, colors *[2]planner.ColorState) {
	var wg sync.WaitGroup
	for i := range colors {
		for j := range colors[i].Replicas {
			wg.Go(func() { d.probeReplica(ctx, s, served, &colors[i].Replicas[j]) })
		}
	}
	wg.Wait()
}

// probeReplica probes replica st when it runs: the color being prepared
// is probed; so is the served one while HAProxy has it down or going
// down (it came back from a crash, fails its checks, or a check of its
// address before a change failed), so that it can take
// traffic again without waiting for HAProxy's check cadence and its outage
// is explained, or while HAProxy does not send its traffic to its own
// address (HAProxy was reloaded, or the container restarted). Otherwise
// only its published port is, once per run of its container.
func (d *Deps) probeReplica(ctx context.Context, s *spec.Service, served spec.Color, st *planner.ReplicaState) {
	switch {
	case !st.Container.Running:
	case st.Slot.Color != served || st.Server.Down() || st.Server.GoingDown() || st.Server.Addr != planner.ServerAddr(s, st.Slot, st.Container):
		d.probe(ctx, s, st)
	default:
		d.probeFallback(ctx, s, st)
	}
}

// remember carries what status remembers of a color into its new
// observation st, and updates it from st.
func remember(prev planner.Remembered, st planner.ReplicaState, now time.Time) planner.Remembered {
	r := planner.Remembered{MarkedUp: prev.MarkedUp}
	if st.Server.Draining() || st.Server.Maint() || st.Server.Down() {
		r.OutOfServiceSince = cmp.Or(prev.OutOfServiceSince, now)
	}
	ct := st.Container
	// Unhealthy: HAProxy's check and the controller's probe both fail,
	// counted within the container's current run only.
	if ct.Running && st.Server.Down() && st.ProbedAddr != "" && st.Probes < planner.ProbesNeeded {
		r.UnhealthySince = now
		if !prev.UnhealthySince.IsZero() && !prev.UnhealthySince.Before(ct.StartedAt) {
			r.UnhealthySince = prev.UnhealthySince
		}
	}
	if ct.Exists && prev.HealthRestarted == ct.ID {
		r.HealthRestarts, r.HealthRestarted = prev.HealthRestarts, prev.HealthRestarted
	}
	return r
}

// completeOOM completes the engine's OOMKilled flag of a container that
// died with exit code 137 (SIGKILL) from OOMKilledBetween (the engine's
// oom events, then the kernel log): the flag can be missed when the exit
// is processed before the kernel's OOM notice, or the kill came in the
// container's first milliseconds.
func (d *Deps) completeOOM(ctx context.Context, ct *planner.Container, now time.Time) error {
	if ct.Running || ct.OOMKilled || ct.ExitCode != 137 || ct.FinishedAt.IsZero() || ct.StoppedByController {
		return nil
	}
	until := ct.FinishedAt.Add(2 * time.Second) // the notice may come just after the exit
	if until.After(now) {
		until = now
	}
	oom, err := d.Containers.OOMKilledBetween(ctx, ct.ID, ct.StartedAt.Add(-time.Second), until)
	if err != nil {
		return err
	}
	ct.OOMKilled = oom
	return nil
}

// all runs the reads, at once if parallel, and returns the error of the
// first read in the list that failed, so that the same fault is always
// reported the same way.
func all(reads []func() error, parallel bool) error {
	if !parallel {
		for _, read := range reads {
			if err := read(); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, len(reads))
	var wg sync.WaitGroup
	for i, read := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = read()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// probe checks the address replica st must be reached at
// (planner.ServerAddr) the way HAProxy's health check does, up to
// ProbesNeeded times in a row.
func (d *Deps) probe(ctx context.Context, s *spec.Service, st *planner.ReplicaState) {
	st.ProbedAddr = planner.ServerAddr(s, st.Slot, st.Container)
	url := "http://" + st.ProbedAddr + s.HealthPath
	// The published port is probed meanwhile: another address, and the
	// pass waits for the slower of the two, not for their sum.
	fallback := *st
	done := make(chan struct{})
	go func() {
		defer close(done)
		fallback.Probes = planner.ProbesNeeded
		d.probeFallback(ctx, s, &fallback)
	}()
	defer func() {
		<-done
		st.FallbackOK, st.FallbackError = fallback.FallbackOK, fallback.FallbackError
		if st.ProbedAddr == planner.FallbackAddr(st.Slot) {
			st.FallbackOK = st.Probes >= planner.ProbesNeeded
		}
	}()
	for st.Probes < planner.ProbesNeeded {
		if err := d.Prober.Probe(ctx, url); err != nil {
			st.ProbeError = err.Error()
			return
		}
		st.Probes++
	}
}

// probeFallback checks once that color c also answers at its published
// port, the address an HAProxy reload puts back: Docker's port forwarder
// may start listening well after the container's own address answers. A
// port that answered in this run of the container is not asked again
// (publishedAnswers).
func (d *Deps) probeFallback(ctx context.Context, s *spec.Service, st *planner.ReplicaState) {
	fb := planner.FallbackAddr(st.Slot)
	if st.ProbedAddr == fb {
		st.FallbackOK = st.Probes >= planner.ProbesNeeded
		return
	}
	if d.published.answered(st.Slot.Container, st.Container.Run()) {
		st.FallbackOK = true
		return
	}
	err := d.Prober.Probe(ctx, "http://"+fb+s.HealthPath)
	d.published.set(st.Slot.Container, st.Container.Run(), err == nil)
	if err != nil {
		st.FallbackError = err.Error()
		return
	}
	st.FallbackOK = true
}

// serverOf picks replica cs's server out of "show stat" and "show servers state".
func serverOf(cs spec.Replica, stats []haproxy.StatRow, states []haproxy.ServerState) planner.Server {
	var sv planner.Server
	for _, r := range stats {
		if r.Proxy == cs.Backend && r.Server == cs.Server {
			sv = planner.Server{Found: true, Status: r.Status, CheckStatus: r.CheckStatus,
				CheckPassed: r.CheckPassed(), Sessions: r.Sessions(), Addr: r.Addr, CheckDesc: r.LastChk}
			if r.CheckStatus != "" && r.CheckCode != "0" {
				sv.CheckCode = r.CheckCode
			}
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

// backendCounters reads the response counters of backend's BACKEND row.
func backendCounters(backend string, stats []haproxy.StatRow) planner.Counters {
	return rowCounters(backendRow(backend, stats))
}

// backendTime is HAProxy's average response time of backend.
func backendTime(backend string, stats []haproxy.StatRow) time.Duration {
	return rowTime(backendRow(backend, stats))
}

// backendRow is backend's own row of show stat (empty when not found).
func backendRow(backend string, stats []haproxy.StatRow) haproxy.StatRow {
	for _, r := range stats {
		if r.Proxy == backend && r.Server == "BACKEND" {
			return r
		}
	}
	return haproxy.StatRow{}
}

// rowTime is HAProxy's average response time of one row (rtime, ms).
func rowTime(r haproxy.StatRow) time.Duration {
	return time.Duration(r.Count("rtime")) * time.Millisecond
}

// rowCounters are the response counters of one row of show stat.
func rowCounters(r haproxy.StatRow) planner.Counters {
	var c planner.Counters
	for _, f := range []string{"hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"} {
		c.Responses += r.Count(f)
	}
	c.Status5xx = r.Count("hrsp_5xx")
	c.Failed = r.Count("econ") + r.Count("eresp")
	return c
}

// canaryState reads the canary backend's rows: each color's server weight,
// and its counters and sessions, added to its color's (what a color
// answered, by either path; a drained color is empty only once the
// requests the canary backend sent it are done too).
func canaryState(rows []haproxy.StatRow, colors *[2]planner.ColorState) planner.CanaryState {
	var cs planner.CanaryState
	found := 0
	for _, r := range rows {
		for i, c := range spec.Colors() {
			if r.Server != spec.CanaryServer(c) {
				continue
			}
			found++
			rtime := rowTime(r)
			if c == spec.Green {
				cs.Green, cs.GreenTime = int(r.Count("weight")), rtime
			} else {
				cs.Blue, cs.BlueTime = int(r.Count("weight")), rtime
			}
			colors[i].Backend = colors[i].Backend.Add(rowCounters(r))
			if len(colors[i].Replicas) > 0 {
				colors[i].Replicas[0].Server.Sessions += r.Sessions()
			}
		}
	}
	cs.Found = found == 2
	return cs
}

// fromDocker is the engine's container as the planner sees it, with its
// address on network (the spec's).
func fromDocker(c docker.Container, network spec.Network) planner.Container {
	ip := ""
	if network != spec.NetworkHost && c.Running {
		ip = c.IPs[string(network)]
	}
	return planner.Container{
		IP:         ip,
		Exists:     true,
		Managed:    c.Managed,
		Service:    c.Labels[docker.LabelService],
		Color:      c.Labels[docker.LabelColor],
		Replica:    replicaLabel(c.Labels[docker.LabelReplica]),
		Running:    c.Running && !c.Restarting, // the engine counts a container waiting to restart as running
		ID:         c.ID,
		ImageID:    c.ImageID,
		SpecHash:   c.Labels[docker.LabelSpecHash],
		Image:      c.Labels[docker.LabelImage],
		State:      c.State,
		ExitCode:   c.ExitCode,
		StartedAt:  c.StartedAt,
		FinishedAt: c.FinishedAt,
		OOMKilled:  c.OOMKilled,
		// Restarting: the engine waits to start it again under its policy.
		Restarting:    c.Restarting,
		RestartCount:  c.RestartCount,
		RestartPolicy: c.RestartPolicy,
	}
}

// stopSlack bounds how long after the controller asked for a stop the
// container's exit still counts as that stop: the stop timeout plus this.
const stopSlack = time.Minute

// stoppedBy tells whether record r accounts for the last exit of ct: the
// same container, stopped after this run started, exiting once the stop
// was asked and before its grace period could have run out.
func stoppedBy(r state.StopRecord, ct planner.Container, stopTimeout time.Duration) bool {
	if r.ID == "" || r.ID != ct.ID || ct.FinishedAt.IsZero() {
		return false
	}
	asked := r.At.Add(-time.Second) // the engine's and the controller's clocks are one host's, read at different moments
	return !r.At.Before(ct.StartedAt) && !ct.FinishedAt.Before(asked) && !ct.FinishedAt.After(r.At.Add(stopTimeout+stopSlack))
}

// replicaLabel is the replica number an io.bluegreen.replica label gives:
// 1 when there is none (containers made before replicas), 0 when it is
// not a number (no replica of any spec).
func replicaLabel(v string) int {
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// backendsIn are the backends that have a row of their own ("BACKEND")
// among rows: of the backends a service's reads asked for, those HAProxy
// knows. They come with the stats a pass reads anyway, so no pass lists
// every backend ("show backend", hundreds of lines with hundreds of
// services) to learn whether its own ones exist.
func backendsIn(rows ...[]haproxy.StatRow) map[string]bool {
	known := map[string]bool{}
	for _, rs := range rows {
		for _, r := range rs {
			if r.Server == "BACKEND" {
				known[r.Proxy] = true
			}
		}
	}
	return known
}
