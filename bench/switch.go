package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// switchResult is one edit of the desired file that moves a service to the
// other color, timed from the rename of the file.
type switchResult struct {
	Service  string
	Kind     string // release or rollback
	To       spec.Color
	Body     string // what the new color answers, e.g. "green v2"
	OldBody  string
	StatusAt string // HAProxy status of the target server when the file was saved

	Save      time.Time
	Started   time.Time // Docker's "start" event for the new container
	Floor     time.Time // the new container's app first answered 200 on its own address (harness probe)
	HAUp      time.Time // HAProxy first reported the target server UP
	Switch    time.Time // the runtime map first named the target backend
	Converged time.Time // status.json: Converged on the new generation
	// From the controller's log (millisecond timestamps): when each step began.
	Steps map[string]time.Time
	// WaitPasses are the intervals between the controller's passes while it
	// waited for the new color (log lines "State" WaitingForReady).
	WaitPasses []time.Duration
	// ServedProbe are latencies of GET /healthz on the serving color's port
	// while the new color starts: what each of the controller's probes of
	// the serving color costs under this load.
	ServedProbe []time.Duration
	// Trace is every change of the target server's HAProxy status and
	// last check seen by the poller, as "+ms status (check, check ms)".
	Trace []string
	Err   string
}

func (s switchResult) since(t time.Time) time.Duration {
	if t.IsZero() || s.Save.IsZero() {
		return -1
	}
	return t.Sub(s.Save)
}

// readyToSwitch is the delay between the app being able to serve and the
// map moving traffic to it. A switch seen before the harness's own first
// 200 (the controller's probe was answered first) counts as 0, not as
// unknown: leaving the fastest releases out would raise the median.
func (s switchResult) readyToSwitch() time.Duration {
	if s.Floor.IsZero() || s.Switch.IsZero() {
		return -1
	}
	return max(s.Switch.Sub(s.Floor), 0)
}

// probeEvery is the cadence of the floor probe.
var probeEvery = time.Millisecond

// doSwitch edits service i to color to on version, saves, and times the
// moments above until converged (or timeout).
func (w *world) doSwitch(i int, to spec.Color, version, kind string, timeout time.Duration) switchResult {
	w.t.Helper()
	s := w.svcs[i]
	res := switchResult{Service: s.name, Kind: kind, To: to,
		Body: string(to) + " " + version, OldBody: string(w.active[i]) + " " + w.version[i],
		StatusAt: w.serverStatus(i, to)}
	w.activeBefore = w.active[i]
	w.active[i], w.version[i] = to, version
	backend := s.backend(to)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var mu sync.Mutex
	set := func(p *time.Time, at time.Time) {
		mu.Lock()
		if p.IsZero() {
			*p = at
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	poll := func(every time.Duration, p *time.Time, check func() bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for ctx.Err() == nil {
				if check() {
					set(p, time.Now())
					return
				}
				time.Sleep(every)
			}
		}()
	}
	// The floor: a probe on a new connection, as a health check, started
	// every 1 ms from Docker's "start" event for the new container on,
	// whether or not the earlier ones answered, to the app's own address,
	// the one HAProxy sends its traffic to: the container's bridge address
	// (known from the event on), or the host port with the host network.
	// Docker's port forwarder on the published port may start answering
	// tens of milliseconds before or after the app does, which is not the
	// controller's doing. When the address cannot be had, the published
	// port is probed, not before the event either: on this machine a
	// connection to it while the container's network comes up stalls the
	// port for about a second (see bench/README.md).
	started := w.startEvents(ctx, fmt.Sprintf("bg-%s-%s", s.name, to), w.network != "host")
	hc := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", s.port(to))
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		select {
		case st := <-started:
			set(&res.Started, st.at)
			if st.ip != "" {
				url = fmt.Sprintf("http://%s:%d/healthz", st.ip, spec.DefaultContainerPort)
			}
		case <-ctx.Done():
			return
		}
		inflight := make(chan struct{}, 400)
		var pw sync.WaitGroup
		defer pw.Wait()
		pctx, pcancel := context.WithCancel(ctx)
		defer pcancel() // runs before pw.Wait: probes still hanging end now
		tick := time.NewTicker(probeEvery)
		defer tick.Stop()
		for ctx.Err() == nil {
			mu.Lock()
			done := !res.Floor.IsZero()
			mu.Unlock()
			if done {
				return
			}
			select {
			case inflight <- struct{}{}:
				pw.Add(1)
				go func() {
					defer pw.Done()
					defer func() { <-inflight }()
					req, _ := http.NewRequestWithContext(pctx, http.MethodGet, url, nil)
					resp, err := hc.Do(req)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						set(&res.Floor, time.Now())
					}
				}()
			default: // 400 probes hanging: wait for the next tick
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
	}()
	poll(time.Millisecond, &res.Switch, func() bool {
		v, found, err := w.mapValue(ctx, i)
		return err == nil && found && v == backend
	})
	lastTrace := ""
	poll(time.Millisecond, &res.HAUp, func() bool {
		row, err := w.client.ServerStat(ctx, backend, "app")
		if err != nil {
			return false
		}
		tr := fmt.Sprintf("%s (%s, %sms)", row.Status, row.CheckStatus, row.Fields.Get("check_duration"))
		if tr != lastTrace {
			lastTrace = tr
			mu.Lock()
			res.Trace = append(res.Trace, fmt.Sprintf("+%s %s", msf(time.Since(res.Save)), tr))
			mu.Unlock()
		}
		return row.Status == "UP"
	})
	// The serving color, probed as the controller does, every 20 ms until
	// the switch.
	sc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	oldURL := fmt.Sprintf("http://127.0.0.1:%d/healthz", s.port(w.activeBefore))
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		for ctx.Err() == nil {
			mu.Lock()
			done := !res.Switch.IsZero()
			mu.Unlock()
			if done {
				return
			}
			t0 := time.Now()
			if resp, err := sc.Get(oldURL); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				res.ServedProbe = append(res.ServedProbe, time.Since(t0))
				mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var gens []string
	poll(2*time.Millisecond, &res.Converged, func() bool { return gens != nil && w.converged(gens) })

	at, g := w.save()
	mu.Lock()
	res.Save = at
	mu.Unlock()
	gens = g
	close(start)
	wg.Wait()
	if ctx.Err() != nil {
		res.Err = fmt.Sprintf("not done %s after the save:", timeout)
		for name, t := range map[string]time.Time{"container started": res.Started, "app ready": res.Floor, "HAProxy UP": res.HAUp, "map switched": res.Switch, "converged": res.Converged} {
			if t.IsZero() {
				res.Err += " " + name
			}
		}
		w.t.Logf("%s %s: %s; HAProxy says %s for %s; controller log tail:\n%s", s.name, kind, res.Err,
			w.serverStatus(i, to), backend, w.ctl.tail(30))
	}
	res.Steps = map[string]time.Time{}
	var lastWait time.Time
	for _, l := range w.ctl.logLines() {
		if l.service != s.name || l.at.Before(res.Save.Truncate(time.Millisecond)) {
			continue
		}
		if l.msg == "Step" {
			if _, ok := res.Steps[l.step]; !ok {
				res.Steps[l.step] = l.at
			}
		}
		if l.msg == "State" && l.reason == "WaitingForReady" {
			if !lastWait.IsZero() {
				res.WaitPasses = append(res.WaitPasses, l.at.Sub(lastWait))
			}
			lastWait = l.at
		}
	}
	return res
}

// startEvent is a container's start: the engine's timestamp, and its
// bridge address when asked for.
type startEvent struct {
	at time.Time
	ip string
}

// startEvents delivers the time (the engine's timestamp) of Docker's first
// "start" event for the container named name from now on, with its
// address when inspect says so. Events since now are asked for, so a start
// just after this returns cannot be missed.
func (w *world) startEvents(ctx context.Context, name string, inspect bool) <-chan startEvent {
	out := make(chan startEvent, 1)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		w.t.Fatalf("docker client: %v", err)
	}
	if _, err := cli.Ping(ctx); err != nil {
		w.t.Fatalf("docker ping: %v", err)
	}
	now := time.Now()
	msgs, errs := cli.Events(ctx, events.ListOptions{Since: fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond()), Filters: filters.NewArgs(
		filters.Arg("type", "container"), filters.Arg("container", name), filters.Arg("event", "start"))})
	go func() {
		defer cli.Close()
		select {
		case m := <-msgs:
			at := time.Now()
			if m.TimeNano > 0 {
				at = time.Unix(0, m.TimeNano)
			}
			ev := startEvent{at: at}
			if inspect {
				if ct, err := cli.ContainerInspect(ctx, name); err == nil && ct.NetworkSettings != nil {
					for _, n := range ct.NetworkSettings.Networks {
						ev.ip = n.IPAddress
					}
				} else if ctx.Err() == nil {
					w.t.Logf("inspect %s for its address: %v; the floor is probed at its published port", name, err)
				}
			}
			out <- ev
		case err := <-errs:
			if ctx.Err() == nil {
				w.t.Logf("docker events for %s: %v", name, err)
			}
		case <-ctx.Done():
		}
	}()
	return out
}
