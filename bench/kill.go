package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/bluegreen-host/controller/internal/loadgen"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// How the served container is killed.
const (
	// killDocker is the Engine API's kill with SIGKILL (what
	// `docker kill -s KILL` sends). The engine counts it as a stop by hand:
	// it cancels the restart policy, so only the controller brings the
	// container back.
	killDocker = "docker"
	// killPID is SIGKILL sent by the host to the app's process (the
	// container's State.Pid), as a crash or the OOM killer ends it: the
	// engine's restart policy brings it back.
	killPID = "pid"
)

// engineFirstRestartDelay is the engine's delay before it restarts a
// container that ran at least engineQuickCrash (it doubles on every restart
// of one that ran less; Docker's restartmanager).
const (
	engineFirstRestartDelay = 100 * time.Millisecond
	engineQuickCrash        = 10 * time.Second
)

type killConfig struct {
	kills    int
	methods  []string // killDocker, killPID; kill k uses methods[k % len]
	spacing  time.Duration
	conns    int // background load: workers per variant
	rate     int // background load: requests/s per variant
	hap      haproxySettings
	repo     string
	ctlBin   string
	ctlArgs  []string
	id       string
	recovery time.Duration // give up on one kill after this long
}

// floorResult is one start of the unmanaged floor container.
type floorResult struct {
	FromEvent bool      // probes began at Docker's start event, not at the call
	Call      time.Time // just before the Engine API's start call
	Event     time.Time // Docker's start event (the engine's timestamp)
	First200  time.Time // the app's first 200 on its published port
	Probes    int
	Err       string
}

func (f floorResult) floor() time.Duration { return between(f.Call, f.First200) }

// killResult is one kill of the served container.
type killResult struct {
	N            int
	Method       string
	RanFor       time.Duration // how long the container had run when it was killed
	Kill         time.Time     // just before the kill
	Returned     time.Time     // the kill call returned
	Probing      time.Time     // the process was gone: the frontend probes began
	Die          time.Time     // Docker's die event
	Start        time.Time     // Docker's start event after the die
	StartedAt    time.Time     // State.StartedAt after it answered again
	RestartCount int           // after it answered again (counts the engine's restarts)
	CtlEvent     time.Time     // the controller logged the die event (ms resolution)
	CtlStart     time.Time     // the controller's StartContainer step (ms resolution), if it took one
	First200     time.Time     // first 200 through HAProxy after the kill
	Probes       int
	HANotUp      time.Time // HAProxy's first status other than "UP" after the kill
	HADown       time.Time // HAProxy's first "DOWN" after the kill
	HAUp         time.Time // HAProxy's first "UP" after HANotUp
	Trace        []string  // HAProxy status changes, "+ms status (check)"
	// Background load: requests that started from this kill to the next.
	Requests, Failed int64
	MaxLatency       time.Duration
	Floor            floorResult // the floor measured right after, probes from the start call
	FloorEvent       floorResult // the floor measured right after, probes from the start event
	Err              string
}

func (k killResult) outage() time.Duration { return between(k.Kill, k.First200) }

// steady is the outage until the service answers for good: the later of the
// first 200 and HAProxy's UP again when HAProxy marked the server DOWN (it
// may do so after the app answered, on a health check that timed out).
func (k killResult) steady() time.Duration {
	if k.First200.IsZero() {
		return -1
	}
	end := k.First200
	if !k.HADown.IsZero() {
		if k.HAUp.IsZero() {
			return -1
		}
		if k.HAUp.After(end) {
			end = k.HAUp
		}
	}
	return end.Sub(k.Kill)
}

// secondOutage is how long HAProxy had the server DOWN after the app had
// answered again (-1 when it did not).
func (k killResult) secondOutage() time.Duration {
	if k.First200.IsZero() || k.HADown.IsZero() || k.HADown.Before(k.First200) || k.HAUp.IsZero() {
		return -1
	}
	return k.HAUp.Sub(k.HADown)
}

// overFloor is the outage minus the floor measured in the same round
// (ok false when either is unknown).
func (k killResult) overFloor() (time.Duration, bool) {
	o, f := k.outage(), k.Floor.floor()
	return o - f, o >= 0 && f >= 0
}

type killsResult struct {
	Requested    int // kills asked for (-kills)
	Methods      []string
	Spacing      time.Duration
	Conns, Rate  int
	Kills        []killResult
	Variants     []variantResult
	Before       struct{ Requests, Failed int64 } // load before the first kill
	LoadAvgStart string
	LoadAvgEnd   string
	Started      time.Time
	Wall         time.Duration
	Image        string
	FloorName    string
	Command      string // reproduces this section alone
}

// eventLog collects Docker's start/die/kill events of some containers.
type eventLog struct {
	mu  sync.Mutex
	evs []containerEvent
}

type containerEvent struct {
	name, action string
	at           time.Time // the engine's timestamp
}

func followEvents(ctx context.Context, t *scope, cli *client.Client, names ...string) *eventLog {
	l := &eventLog{}
	args := filters.NewArgs(filters.Arg("type", "container"),
		filters.Arg("event", "start"), filters.Arg("event", "die"), filters.Arg("event", "kill"))
	for _, n := range names {
		args.Add("container", n)
	}
	now := time.Now()
	msgs, errs := cli.Events(ctx, events.ListOptions{Since: fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond()), Filters: args})
	go func() {
		for {
			select {
			case m := <-msgs:
				at := time.Unix(0, m.TimeNano)
				l.mu.Lock()
				l.evs = append(l.evs, containerEvent{name: m.Actor.Attributes["name"], action: string(m.Action), at: at})
				l.mu.Unlock()
			case err := <-errs:
				if ctx.Err() == nil {
					t.Errorf("docker events: %v", err)
				}
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return l
}

// first is the first event action of name at or after from (zero if none).
func (l *eventLog) first(name, action string, from time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.evs {
		if e.name == name && e.action == action && !e.at.Before(from) {
			return e.at
		}
	}
	return time.Time{}
}

// waitFirst polls first every millisecond until it is known or d passed.
func (l *eventLog) waitFirst(name, action string, from time.Time, d time.Duration) time.Time {
	deadline := time.Now().Add(d)
	for {
		if at := l.first(name, action, from); !at.IsZero() || time.Now().After(deadline) {
			return at
		}
		time.Sleep(time.Millisecond)
	}
}

// firstOK starts a GET of url on a new connection every `every`, without
// waiting for the earlier ones (at most 400 in flight), until one answers
// 200, and returns when that answer came and how many probes it started.
// It gives up when ctx ends (zero time).
func firstOK(ctx context.Context, url string, every, timeout time.Duration) (time.Time, int) {
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	var wg sync.WaitGroup
	defer wg.Wait() // runs after cancel below: probes still hanging end now
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var first time.Time
	got := make(chan struct{})
	inflight := make(chan struct{}, 400)
	tick := time.NewTicker(every)
	defer tick.Stop()
	n := 0
	result := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return first
	}
	for {
		select {
		case inflight <- struct{}{}:
			n++
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-inflight }()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := hc.Do(req)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return
				}
				at := time.Now()
				mu.Lock()
				if first.IsZero() {
					close(got)
				}
				if first.IsZero() || at.Before(first) {
					first = at
				}
				mu.Unlock()
			}()
		default: // 400 probes hanging: wait for the next tick
		}
		select {
		case <-tick.C:
		case <-got:
			return result(), n
		case <-ctx.Done():
			return time.Time{}, n
		}
	}
}

// runKills converges one service, then kills its served container k times,
// each at least cfg.spacing after the container's last start, and times how
// long the frontend takes to answer 200 again. After each kill it measures
// the floor twice on an unmanaged container of the same image.
func runKills(r *runner, name string, cfg killConfig) *killsResult {
	t := r.scope()
	defer t.close()
	res := &killsResult{Requested: cfg.kills, Methods: cfg.methods, Spacing: cfg.spacing, Conns: cfg.conns, Rate: cfg.rate,
		LoadAvgStart: loadavg(), Started: time.Now(), Image: cfg.repo + ":v1"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	defer cli.Close()

	w := newWorld(t, worldConfig{name: name, services: 1, hap: cfg.hap,
		repo: cfg.repo, ctlBin: cfg.ctlBin, ctlArgs: cfg.ctlArgs})
	svc := w.svcs[0]
	served := fmt.Sprintf("bg-%s-%s", svc.name, spec.Blue)
	backend := svc.backend(spec.Blue)

	// The floor's container: the same image, published the same way, not
	// managed by the controller (no labels of its own).
	res.FloorName = "bgbench-floor-" + cfg.id
	floorPort := w.port()
	createArgs := []string{"create", "--name", res.FloorName, "--label", "io.bluegreen.bench=" + cfg.id}
	if cfg.hap.HostNetwork {
		createArgs = append(createArgs, "--network", "host", "-e", "LISTEN_ADDR=127.0.0.1", "-e", fmt.Sprintf("PORT=%d", floorPort))
	} else {
		createArgs = append(createArgs, "-p", fmt.Sprintf("127.0.0.1:%d:8080", floorPort))
	}
	createArgs = append(createArgs, res.Image)
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "rm", "-f", "-v", res.FloorName).CombinedOutput(); err != nil {
			t.Logf("cleanup: docker rm -f %s: %v: %s", res.FloorName, err, out)
		}
	})
	if out, err := exec.Command("docker", createArgs...).CombinedOutput(); err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(createArgs, " "), err, out)
	}
	evs := followEvents(ctx, t, cli, served, res.FloorName)

	_, gens := w.save()
	ctl := w.startController()
	w.waitConverged(gens, 2*time.Minute)
	waitUntil := func(timeout time.Duration, msg string, cond func() bool) bool {
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Errorf("kills: %s: not after %s", msg, timeout)
				return false
			}
			time.Sleep(20 * time.Millisecond)
		}
		return true
	}
	inspect := func() (container.InspectResponse, error) {
		ictx, icancel := context.WithTimeout(ctx, 10*time.Second)
		defer icancel()
		return cli.ContainerInspect(ictx, served)
	}
	if !waitUntil(time.Minute, served+" gets the restart policy unless-stopped", func() bool {
		c, err := inspect()
		return err == nil && c.HostConfig != nil && c.HostConfig.RestartPolicy.Name == container.RestartPolicyUnlessStopped
	}) {
		return nil
	}

	front := fmt.Sprintf("http://127.0.0.1:%d/", w.front)
	floorURL := fmt.Sprintf("http://127.0.0.1:%d/", floorPort)
	t.Logf("kills: %s serves on 127.0.0.1:%d; floor container %s on 127.0.0.1:%d; light load %d + %d workers at %d requests/s each",
		served, w.front, res.FloorName, floorPort, cfg.conns, cfg.conns, cfg.rate)

	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var runners []*loadgen.Runner
	for _, ka := range []bool{true, false} {
		runners = append(runners, loadgen.Start(lctx, loadgen.Config{URL: front, Concurrency: cfg.conns, KeepAlive: ka,
			NoRetry: true, Record: true, Rate: cfg.rate, Timeout: 10 * time.Second}))
	}
	time.Sleep(2 * time.Second)

	plain := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	answers := func() bool {
		resp, err := plain.Get(front)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	notBefore := time.Now()
	methods := append([]string(nil), cfg.methods...)
	for k := 0; k < cfg.kills && len(methods) > 0; k++ {
		method := methods[k%len(methods)]
		// Ready to kill: running for at least the spacing (the engine's
		// restart delay is then its first, 100 ms), HAProxy says UP, the
		// frontend answers, and a quiet second since the last floor start.
		var c container.InspectResponse
		if !waitUntil(2*time.Minute, fmt.Sprintf("kill %d: %s runs for %s, HAProxy says UP", k+1, served, cfg.spacing), func() bool {
			var err error
			c, err = inspect()
			if err != nil || c.State == nil || !c.State.Running || c.State.Restarting {
				return false
			}
			started, err := time.Parse(time.RFC3339Nano, c.State.StartedAt)
			return err == nil && time.Since(started) >= cfg.spacing && time.Now().After(notBefore) &&
				w.serverStatus(0, spec.Blue) == "UP" && answers()
		}) {
			break
		}
		prevStart, _ := time.Parse(time.RFC3339Nano, c.State.StartedAt)
		kr := killResult{N: k + 1, Method: method}
		pid := c.State.Pid
		kill := func() error {
			if method == killPID {
				return syscall.Kill(pid, syscall.SIGKILL)
			}
			kctx, kcancel := context.WithTimeout(ctx, 30*time.Second)
			defer kcancel()
			return cli.ContainerKill(kctx, served, "KILL")
		}
		killErr := w.recoverFrom(ctx, &kr, kill, pid, front, backend, cfg.recovery)
		kr.RanFor = kr.Kill.Sub(prevStart)
		if killErr != nil {
			if method == killPID && errors.Is(killErr, syscall.EPERM) {
				// Not root: the other methods go on.
				t.Logf("kills: SIGKILL of the container's process needs root; going on without -kill-with %s", killPID)
				methods = slices.DeleteFunc(methods, func(m string) bool { return m == killPID })
				res.Methods = methods
				k--
				continue
			}
			t.Errorf("kill %d (%s): %v", k+1, method, killErr)
			break
		}
		if c, err := inspect(); err == nil && c.State != nil {
			kr.StartedAt, _ = time.Parse(time.RFC3339Nano, c.State.StartedAt)
			kr.RestartCount = c.RestartCount
		}
		kr.Die = evs.waitFirst(served, "die", kr.Kill, 2*time.Second)
		if !kr.Die.IsZero() {
			kr.Start = evs.waitFirst(served, "start", kr.Die, 2*time.Second)
		}
		if !kr.First200.IsZero() && !kr.StartedAt.After(kr.Kill) {
			kr.Err += fmt.Sprintf(" the 200 came but the container's StartedAt (%s) is before the kill", kr.StartedAt.Format(time.RFC3339Nano))
		}
		for _, l := range ctl.logLines() {
			if l.service != "" && l.service != svc.name || l.at.Before(kr.Kill.Truncate(time.Millisecond)) {
				continue
			}
			if kr.CtlEvent.IsZero() && l.msg == "Container event" && l.event == "die" {
				kr.CtlEvent = l.at
			}
			if kr.CtlStart.IsZero() && l.msg == "Step" && l.step == "StartContainer" {
				kr.CtlStart = l.at
			}
		}

		// The floor, twice, on the unmanaged container, once the served
		// one is back and HAProxy has settled.
		time.Sleep(time.Second)
		kr.Floor = measureFloor(ctx, t, cli, evs, res.FloorName, floorURL, false)
		time.Sleep(500 * time.Millisecond)
		kr.FloorEvent = measureFloor(ctx, t, cli, evs, res.FloorName, floorURL, true)
		notBefore = time.Now().Add(time.Second)

		t.Logf("kill %2d (%-6s after %s): answers again %s after (die +%s, start +%s, StartedAt +%s, controller StartContainer %s; HAProxy %s); floor %s (probes from the event: %s)%s",
			kr.N, method, kr.RanFor.Round(10*time.Millisecond), ms(kr.outage()), msf(between(kr.Kill, kr.Die)), msf(between(kr.Kill, kr.Start)),
			msf(between(kr.Kill, kr.StartedAt)), msIf(between(kr.Kill, kr.CtlStart)), strings.Join(kr.Trace, " → "),
			ms(kr.Floor.floor()), ms(kr.FloorEvent.floor()), kr.Err)
		res.Kills = append(res.Kills, kr)
	}
	time.Sleep(2 * time.Second)
	for i, rn := range runners {
		lr := rn.Stop()
		res.Variants = append(res.Variants, variantResult{Name: []string{"keep-alive", "new connection"}[i], Concurrency: cfg.conns, Res: lr})
		t.Logf("kills: load %s: %s", res.Variants[i].Name, lr.Summary())
	}
	res.attributeLoad()
	res.LoadAvgEnd = loadavg()
	res.Wall = time.Since(res.Started)
	return res
}

func msIf(d time.Duration) string {
	if d < 0 {
		return "none"
	}
	return "+" + msf(d)
}

// processRunning reports whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// recoverFrom follows HAProxy's status of the served server (every 2 ms),
// kills the container (kr.Kill is the moment just before), waits until its
// process pid is gone, then probes the frontend until it answers 200.
func (w *world) recoverFrom(ctx context.Context, kr *killResult, kill func() error, pid int, front, backend string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	done200 := make(chan struct{})
	polled := make(chan struct{}) // closed after the first poll, before the kill
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			select {
			case <-polled:
			default:
				close(polled)
			}
		}()
		last := ""
		var after200 time.Time
		for ctx.Err() == nil {
			row, err := w.client.ServerStat(ctx, backend, "app")
			now := time.Now()
			if err == nil {
				tr := row.Status
				if row.CheckStatus != "" {
					tr += " (" + row.CheckStatus + ")"
				}
				mu.Lock()
				killed := !kr.Kill.IsZero()
				if tr != last {
					last = tr
					when := "before"
					if killed {
						when = "+" + msf(now.Sub(kr.Kill))
					}
					kr.Trace = append(kr.Trace, when+" "+tr)
				}
				if !killed {
					mu.Unlock()
					select {
					case <-polled:
					default:
						close(polled)
					}
					time.Sleep(2 * time.Millisecond)
					continue
				}
				switch {
				case row.Status != "UP" && kr.HANotUp.IsZero():
					kr.HANotUp = now
				case row.Status == "UP" && !kr.HANotUp.IsZero() && kr.HAUp.IsZero():
					kr.HAUp = now
				}
				if strings.HasPrefix(row.Status, "DOWN") && kr.HADown.IsZero() {
					kr.HADown = now
				}
				settled := row.Status == "UP"
				mu.Unlock()
				select {
				case <-done200:
					if after200.IsZero() {
						after200 = now
					}
					// Answering again: stop once HAProxy says UP, or 3 s on.
					if settled || now.Sub(after200) > 3*time.Second {
						return
					}
				default:
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	<-polled
	mu.Lock()
	kr.Kill = time.Now()
	mu.Unlock()
	if err := kill(); err != nil {
		close(done200)
		cancel()
		wg.Wait()
		return err
	}
	kr.Returned = time.Now()
	// Probe only once the process is gone, so that no 200 comes from it.
	for processRunning(pid) && time.Since(kr.Kill) < 5*time.Second {
		time.Sleep(100 * time.Microsecond)
	}
	kr.Probing = time.Now()
	at, n := firstOK(ctx, front, time.Millisecond, 200*time.Millisecond)
	mu.Lock()
	kr.First200, kr.Probes = at, n
	mu.Unlock()
	close(done200)
	if at.IsZero() {
		kr.Err += fmt.Sprintf(" no 200 from the frontend within %s of the kill", limit)
	}
	wg.Wait()
	return nil
}

// measureFloor starts the stopped floor container through the Engine API and
// times the app's first 200 on its port, probing every 1 ms from just before
// the start call (fromEvent false) or from Docker's start event on; then it
// kills the container again and waits until it is down.
func measureFloor(ctx context.Context, t *scope, cli *client.Client, evs *eventLog, name, url string, fromEvent bool) floorResult {
	f := floorResult{FromEvent: fromEvent}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	type probeResult struct {
		at time.Time
		n  int
	}
	probed := make(chan probeResult, 1)
	probe := func() {
		at, n := firstOK(ctx, url, time.Millisecond, 200*time.Millisecond)
		probed <- probeResult{at, n}
	}
	f.Call = time.Now()
	if !fromEvent {
		go probe()
	}
	if err := cli.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		f.Err = fmt.Sprintf("start: %v", err)
		cancel()
		if !fromEvent {
			<-probed
		}
		t.Errorf("floor: %s", f.Err)
		return f
	}
	if fromEvent {
		f.Event = evs.waitFirst(name, "start", f.Call, 10*time.Second)
		go probe()
	}
	p := <-probed
	f.First200, f.Probes = p.at, p.n
	if f.First200.IsZero() {
		f.Err = "no 200 within 30 s"
	}
	if f.Event.IsZero() {
		f.Event = evs.waitFirst(name, "start", f.Call, 2*time.Second)
	}
	kctx, kcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer kcancel()
	if err := cli.ContainerKill(kctx, name, "KILL"); err != nil {
		t.Errorf("floor: kill %s: %v", name, err)
	}
	waitC, errC := cli.ContainerWait(kctx, name, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		t.Errorf("floor: wait for %s to stop: %v", name, err)
	}
	return f
}

// attributeLoad counts each background request against the last kill
// before it started (or against the time before the first kill).
func (res *killsResult) attributeLoad() {
	for _, v := range res.Variants {
		for _, s := range v.Res.Samples {
			i := -1
			for j := range res.Kills {
				if !s.Start.Before(res.Kills[j].Kill) {
					i = j
				}
			}
			if i < 0 {
				res.Before.Requests++
				if s.Failed() {
					res.Before.Failed++
				}
				continue
			}
			k := &res.Kills[i]
			k.Requests++
			if s.Failed() {
				k.Failed++
			}
			if l := s.Latency(); l > k.MaxLatency {
				k.MaxLatency = l
			}
		}
	}
}
