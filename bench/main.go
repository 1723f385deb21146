// Command bench measures the blue/green controller on this machine's real
// HAProxy and Docker: zero loss under load across release/rollback cycles,
// how long traffic takes to move once the new color's app can answer (the
// floor, measured in the same run), latency around the switch, what the
// controller costs idle and per reconcile pass with 1, 10 and 50 services,
// how long the service is out when its serving container is killed,
// against the app's own start time, what HAProxy gets from the same app
// through each way a server can be addressed (the data plane), and, when
// asked (-latency), the tail latency in the second around a switch for an
// app that starts cold, with and without warm-up.
//
// Run it from the module root:
//
//	go run ./bench                  # defaults: 10 cycles, 100 + 100 connections, 1/10/50 services, 20 kills, 8 data-plane rounds
//	go run ./bench -cycles 3 -scale 1,10
//	go run ./bench -cycles 0 -scale '' -kills 20   # the kills alone
//	go run ./bench -cycles 0 -scale '' -kills 0 -dataplane 8   # the data plane alone (needs wrk)
//	go run ./bench -cycles 0 -scale '' -latency 20   # latency at the switch alone: cold start, warm-up, demo app
//
// It writes bench/results.md and bench/release.svg and updates the results
// section of bench/README.md. Everything it starts listens on 127.0.0.1 and
// is stopped when it ends: HAProxy and the controller by PID, containers by
// the labels of the services it named, images by the tags it built, its temp
// directory.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
)

var (
	osPID         = os.Getpid()
	traceSwitches bool
)

// Defaults of the kill section's flags.
const (
	defaultKillSpacing = 10500 * time.Millisecond
	defaultKillRate    = 50
)

func main() {
	var (
		cycles        = flag.Int("cycles", 10, "release/rollback cycles under load (each: a release and a rollback, both start a container)")
		keepAlive     = flag.Int("keepalive", 100, "load: concurrent keep-alive connections")
		fresh         = flag.Int("fresh", 100, "load: concurrent workers opening a new connection per request")
		rate          = flag.Int("rate", 250, "load: requests/s per variant, paced (0: closed loop, as fast as they go; on 2 cores that saturates the machine)")
		gap           = flag.Duration("gap", 2*time.Second, "quiet time after a switch converged before the next save")
		minRequests   = flag.Int64("requests", 100000, "load: at least this many requests over the cycles (spread: the k-th save waits for k/switches of them, at most 30 s)")
		scale         = flag.String("scale", "1,10,50", "service counts for the cost runs (empty: skip)")
		idle          = flag.Duration("idle", 20*time.Second, "cost runs: idle window (default resync is 10s)")
		scaleReleases = flag.Int("scale-releases", 1, "cost runs: releases of the first service while the others stay put, taking turns between green v2 and blue v1 (each starts a container), after a first one counted through the socket proxies; ready to switch is reported over them, the proxies out of the way")
		nudges        = flag.Int("passes", 5, "cost runs: passes triggered by saving the unchanged file")
		ui            = flag.Bool("ui", true, "cost runs: serve the dashboard (--ui-listen) and measure its first load, and the controller's CPU over the idle window and the passes again with a page open")
		kamalBin      = flag.String("kamal-proxy", "", "side by side with a Kamal-style release: the path of a kamal-proxy binary built static from its source (CGO_ENABLED=0; never committed); empty: skip")
		kamalReleases = flag.Int("kamal-releases", 20, "side by side: releases per side")
		uiPairs       = flag.Int("ui-pairs", 0, "cost runs with -ui: this many pairs of idle windows, no page open and a page open, interleaved, for the CPU a page costs (0: none)")
		uiWindow      = flag.Duration("ui-window", 10*time.Second, "cost runs: the length of each window of -ui-pairs")
		defaultServer = flag.String("default-server", "", "HAProxy default-server line (default: the one in examples/haproxy.cfg)")
		timeoutCheck  = flag.String("timeout-check", "", "HAProxy \"timeout check\" (default: the one in examples/haproxy.cfg)")
		haExtra       = flag.String("haproxy-defaults", "", "more lines for the HAProxy defaults section, separated by ';' (experiments, e.g. \"timeout connect 100ms\")")
		verify        = flag.Duration("verify", 5*time.Second, "spec verify.window of the services: after each switch the new color is judged this long while the old one stays warm (0s: off); it adds to save → converged, not to save → switch")
		network       = flag.String("network", "bridge", "spec network of the services: bridge (published on 127.0.0.1) or host (the app listens on 127.0.0.1)")
		ctlArgs       = flag.String("controller-args", "", "extra controller flags, space separated (e.g. \"--debounce=1ms\")")
		out           = flag.String("out", "", "where to write results.md and release.svg (default: bench/ in the module; \"-\": nowhere)")
		probe         = flag.Duration("probe-every", time.Millisecond, "cadence of the harness's floor probe")
		skipRelease   = flag.Bool("skip-release", false, "skip the release/rollback cycles")
		keep          = flag.String("keep-logs", "", "copy every controller log into this directory when it stops")
		trace         = flag.Bool("trace", false, "log every change of the new server's HAProxy status during each switch")
		kills         = flag.Int("kills", 20, "served color killed: kills of the serving container, taking turns over -kill-with, each timed until the frontend answers again, each followed by a floor measurement (0: skip; when -kills is not given, a run given -cycles below 10 skips them)")
		killWith      = flag.String("kill-with", "docker,pid", "how to kill, comma separated, taking turns: docker (Engine API kill with SIGKILL, as docker kill -s KILL) and pid (SIGKILL of the app's process from the host, as a crash; needs root)")
		killSpacing   = flag.Duration("kill-spacing", defaultKillSpacing, "kills: at least this long after the container's last start (the engine doubles its 100 ms restart delay for a container that ran under 10s)")
		killRate      = flag.Int("kill-rate", defaultKillRate, "kills: background load, requests/s for each of its two variants (10 keep-alive, 10 new-connection workers)")
		dataplane     = flag.Int("dataplane", defaultDataplaneRounds, "data plane: rounds of wrk through HAProxy against the demo app addressed four ways (published port, bridge IP, host network, host process), each -dataplane-duration long, the order rotated every round (0: skip; when -dataplane is not given, a run given -cycles below 10 skips it; needs wrk: "+wrkHint+")")
		dpDuration    = flag.Duration("dataplane-duration", defaultDataplaneDuration, "data plane: length of one wrk run (whole seconds)")
		latency       = flag.Int("latency", 0, "latency at the switch: releases per variant (cold-start app without warm-up, with warmup, demo app), taking turns, under the load of -keepalive, -fresh and -rate; 0: skip")
		latVariants   = flag.String("latency-variants", defaultLatencyVariants, "latency: the variants, comma separated, taking turns in this order: cold (the cold-start app), warm (the same with warmup), demo (the demo app), demo-warm (the demo app with warmup: an experiment)")
		canary        = flag.Int("canary", 0, "canary rollouts of one service under the load of -keepalive, -fresh and -rate, each to the other color in the steps of -canary-steps (0: skip)")
		canarySteps   = flag.String("canary-steps", "10,50", "canary: the steps' weights, comma separated")
		canaryPause   = flag.Duration("canary-pause", 2*time.Second, "canary: each step's pause")
		coldStart     = flag.String("cold-start", defaultColdStart, "latency: the cold-start app's APP_MODE coldstart=<N>x<duration> value (each of its first N GET / waits <duration>); the warm-up sends N requests")
	)
	flag.Parse()
	given := map[string]bool{}
	var killFlags []string // flags given that the kill section depends on
	var dpFlags []string   // flags given that the data-plane section depends on
	var latFlags []string  // flags given that the latency section depends on
	flag.Visit(func(f *flag.Flag) {
		given[f.Name] = true
		switch f.Name {
		case "default-server", "timeout-check", "haproxy-defaults", "network", "verify", "controller-args", "kill-with", "kill-spacing", "kill-rate":
			killFlags = append(killFlags, "-"+f.Name+"="+f.Value.String())
		}
		switch f.Name {
		case "default-server", "timeout-check", "haproxy-defaults", "dataplane-duration":
			dpFlags = append(dpFlags, "-"+f.Name+"="+f.Value.String())
		}
		switch f.Name {
		case "default-server", "timeout-check", "haproxy-defaults", "network", "verify", "controller-args", "keepalive", "fresh", "rate", "cold-start", "latency-variants":
			latFlags = append(latFlags, "-"+f.Name+"="+f.Value.String())
		}
	})
	probeEvery = *probe
	keepLogs = *keep
	traceSwitches = *trace
	r := newRunner()

	// Everything temporary (binaries, build context, HAProxy dirs) lives
	// under one directory removed at the end.
	top, err := os.MkdirTemp("", "bgbench-")
	if err != nil {
		r.Fatalf("temp dir: %v", err)
	}
	r.Cleanup(func() { os.RemoveAll(top) })
	os.Setenv("TMPDIR", top)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		r.Logf("%s: cleaning up", s)
		r.cleanup()
		os.Exit(130)
	}()

	root := testenv.ModuleRoot(r)
	outDir := *out
	if outDir == "" {
		outDir = filepath.Join(root, "bench")
	}
	if outDir != "-" {
		// Before any measurement: a run that cannot write its results
		// fails now, not after its minutes of work.
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			r.Logf("bench: create the output directory: %v", err)
			r.cleanup()
			os.Exit(2)
		}
	}
	m := describeMachine()
	r.Logf("machine: %d cores, %s, kernel %s, HAProxy %s, Docker %s; load average %s; %d containers running that this run did not start",
		m.Cores, m.CPU, m.Kernel, m.HAProxy, m.Docker, m.LoadStart, m.OtherContainers)

	hap := exampleHAProxy(r, root)
	if *defaultServer != "" {
		hap.DefaultServer = *defaultServer
	}
	if *timeoutCheck != "" {
		hap.TimeoutCheck = *timeoutCheck
	}
	for _, l := range strings.Split(*haExtra, ";") {
		if strings.TrimSpace(l) != "" {
			hap.Extra = append(hap.Extra, l)
		}
	}
	hap.VerifyWindow = *verify
	switch *network {
	case "bridge":
	case "host":
		hap.HostNetwork = true
	default:
		r.Fatalf("-network: want bridge or host, not %q", *network)
	}
	var extra []string
	if *ctlArgs != "" {
		extra = strings.Fields(*ctlArgs)
	}

	var methods []string
	for _, k := range strings.Split(*killWith, ",") {
		switch k = strings.TrimSpace(k); k {
		case killDocker, killPID:
			methods = append(methods, k)
		case "":
		default:
			r.Fatalf("-kill-with: want docker and/or pid, not %q", k)
		}
	}
	nKills := *kills
	if !given["kills"] && given["cycles"] && *cycles < 10 {
		nKills = 0 // a quick look stays quick
		r.Logf("kills: skipped (-cycles %d without -kills); -kills N runs them", *cycles)
	}
	if nKills > 0 && len(methods) == 0 {
		r.Fatalf("-kill-with: no method given")
	}
	if nKills > 0 && *killSpacing < engineQuickCrash {
		r.Logf("kills: -kill-spacing %s is under %s: the engine's restart delay doubles on restarts after a short run", *killSpacing, engineQuickCrash)
	}
	var counts []int
	for _, f := range strings.Split(*scale, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 500 {
			r.Fatalf("-scale: %q is not a service count from 1 to 500", f)
		}
		counts = append(counts, n)
	}
	doRelease := !*skipRelease && *cycles > 0
	if *latency < 0 {
		r.Fatalf("-latency: want a number of releases per variant, 0 or more, not %d", *latency)
	}
	coldN, err := coldStartRequests(*coldStart)
	if err != nil {
		r.Fatalf("-cold-start: %v", err)
	}
	if _, err := latencyVariants(*latVariants, "", ""); err != nil {
		r.Fatalf("-latency-variants: %v", err)
	}
	canaryWeights, err := parseWeights(*canarySteps)
	if err != nil {
		r.Fatalf("-canary-steps: %v", err)
	}
	if *canary < 0 || *canaryPause <= 0 {
		r.Fatalf("-canary: want 0 or more rollouts and a positive -canary-pause")
	}
	withController := doRelease || len(counts) > 0 || nKills > 0 || *kamalBin != "" || *latency > 0 || *canary > 0

	nDataplane := *dataplane
	if nDataplane < 0 {
		r.Fatalf("-dataplane: want a number of rounds, 0 or more, not %d", nDataplane)
	}
	if !given["dataplane"] && given["cycles"] && *cycles < 10 {
		nDataplane = 0 // a quick look, or another section alone, stays quick
		r.Logf("data plane: skipped (-cycles %d without -dataplane); -dataplane N runs it", *cycles)
	}
	if nDataplane > 0 && (*dpDuration < time.Second || *dpDuration%time.Second != 0) {
		r.Fatalf("-dataplane-duration: want whole seconds, at least 1s, not %s", *dpDuration)
	}
	wrkBin := ""
	if nDataplane > 0 {
		p, err := exec.LookPath("wrk")
		switch {
		case err == nil:
			wrkBin = p
		case withController:
			r.Logf("data plane: SKIPPED: wrk not found (%s)", wrkHint)
			nDataplane = 0
		default:
			r.Fatalf("data plane: wrk not found: %s", wrkHint)
		}
	}

	testenv.RequireBinary(r, "haproxy", testenv.HAProxyHint)
	testenv.RequireDocker(r)
	var ctlBin string
	if withController {
		ctlBin = testenv.GoBuild(r, "./cmd/controller")
	}
	id := strconv.FormatInt(time.Now().UnixNano()%0xffffff, 16)
	repo := "bgbench-" + id
	demo := testenv.DemoContext(r)
	for _, v := range []string{"v1", "v2"} {
		buildImage(r, demo, repo+":"+v, v, "", id)
	}

	rep := &report{Machine: m, HAProxy: hap, ControllerArgs: extra, Args: os.Args[1:], KillFlags: killFlags, DataplaneFlags: dpFlags, LatencyFlags: latFlags, Started: time.Now()}
	if doRelease {
		rep.Release = runRelease(r, "bgb"+id, releaseConfig{
			cycles: *cycles, keepAlive: *keepAlive, fresh: *fresh, rate: *rate, gap: *gap,
			hap: hap, repo: repo, ctlBin: ctlBin, ctlArgs: extra,
			switchTimeout: time.Minute, minRequests: *minRequests,
		})
	}
	for _, n := range counts {
		rep.Cost = append(rep.Cost, runCost(r, fmt.Sprintf("bgc%s-%d", id, n), n, costConfig{
			hap: hap, repo: repo, ctlBin: ctlBin, ctlArgs: extra, idle: *idle, nudges: *nudges, ui: *ui, releases: max(*scaleReleases, 1),
			uiPairs: *uiPairs, uiWindow: *uiWindow,
		}))
	}
	if *kamalBin != "" {
		rep.Kamal = runKamal(r, "bgs"+id, kamalConfig{bin: *kamalBin, releases: *kamalReleases, rate: *rate, keepAlive: 10,
			hap: hap, repo: repo, ctlBin: ctlBin, ctlArgs: extra, id: id})
	}
	if nKills > 0 {
		rep.Kills = runKills(r, "bgk"+id, killConfig{
			kills: nKills, methods: methods, spacing: *killSpacing, conns: 10, rate: *killRate,
			hap: hap, repo: repo, ctlBin: ctlBin, ctlArgs: extra, id: id, recovery: 30 * time.Second,
		})
	}
	if nDataplane > 0 {
		rep.Dataplane = runDataplane(r, dataplaneConfig{
			rounds: nDataplane, duration: *dpDuration, hap: hap, image: repo + ":v1", id: id, wrk: wrkBin,
		})
	}
	if *latency > 0 {
		rep.Latency = runLatency(r, "bgl"+id, latencyConfig{
			releases: *latency, keepAlive: *keepAlive, fresh: *fresh, rate: *rate, coldStart: *coldStart, warmupRequests: coldN, variants: *latVariants,
			hap: hap, demoRepo: repo, ctlBin: ctlBin, ctlArgs: extra, id: id, timeout: time.Minute,
		})
	}
	if *canary > 0 {
		rep.Canary = runCanary(r, "bgy"+id, canaryConfig{
			rollouts: *canary, weights: canaryWeights, pause: *canaryPause, keepAlive: *keepAlive, fresh: *fresh, rate: *rate,
			hap: hap, repo: repo, ctlBin: ctlBin, ctlArgs: extra, timeout: 2 * time.Minute,
		})
	}
	rep.Machine.LoadEnd = loadavg()
	rep.Wall = time.Since(r.start)

	text := rep.markdown()
	fmt.Println(text)
	if *out != "-" {
		if err := rep.write(r, outDir); err != nil {
			r.Logf("bench: %s: %v", outDir, err)
			r.errs++
		}
	}
	r.cleanup()
	if r.errs > 0 {
		os.Exit(1)
	}
}

// buildImage builds the app of build context ctxDir (the demo app's, the
// rude app's) as tag with VERSION=version and MODE=mode. The label makes
// the image ID unique to this run: a test elsewhere that removes its own
// identical image by ID (docker rmi -f <id> drops every tag on it) cannot
// take this one away mid-run. Cleanup removes the tag.
func buildImage(r *runner, ctxDir, tag, version, mode, id string) {
	r.Cleanup(func() {
		if out, err := exec.Command("docker", "rmi", "-f", tag).CombinedOutput(); err != nil {
			r.Logf("cleanup: docker rmi -f %s: %v: %s", tag, err, out)
		}
	})
	start := time.Now()
	out, err := exec.Command("docker", "build", "-q", "-t", tag, "--build-arg", "VERSION="+version, "--build-arg", "MODE="+mode,
		"--label", "io.bluegreen.bench="+id, ctxDir).CombinedOutput()
	if err != nil {
		r.Fatalf("docker build %s: %v\n%s", tag, err, out)
	}
	r.Logf("built image %s (%s) in %s", tag, strings.TrimSpace(string(out)), time.Since(start).Round(time.Millisecond))
}

// exampleHAProxy takes the health-check settings of the shipped
// examples/haproxy.cfg, so the bench measures what is shipped.
func exampleHAProxy(t testenv.TB, root string) haproxySettings {
	b, err := os.ReadFile(filepath.Join(root, "examples", "haproxy.cfg"))
	if err != nil {
		t.Fatalf("read examples/haproxy.cfg: %v", err)
	}
	var h haproxySettings
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "default-server "):
			h.DefaultServer = l
		case strings.HasPrefix(l, "timeout check "):
			h.TimeoutCheck = strings.TrimSpace(strings.TrimPrefix(l, "timeout check "))
		}
	}
	if h.DefaultServer == "" {
		t.Fatalf("examples/haproxy.cfg has no default-server line")
	}
	if h.TimeoutCheck == "" {
		h.TimeoutCheck = "1s"
	}
	return h
}
