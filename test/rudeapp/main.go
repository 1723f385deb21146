// Command rudeapp is a deliberately rude test service for the blue/green
// controller. It answers like examples/demoapp ("<color> <version>") but
// behaves the way real apps often do:
//
//   - it has NO signal handler (it does not import os/signal): SIGTERM kills
//     it at once, with no graceful shutdown. As PID 1 in a container the Go
//     runtime cannot die by the signal and exits with status 2 instead;
//   - APP_MODE makes it crash, run out of memory, flap its health check or
//     serve its health check on a path of its own;
//   - POST /sick and POST /hang make it turn unhealthy or stop answering
//     while the process lives on.
//
// Environment: PORT (default 8080), LISTEN_ADDR (default 0.0.0.0; a full
// host:port wins over PORT), COLOR (default none), APP_VERSION (default dev),
// FIRST_SERVED_FILE (a file the first GET / is recorded in, see job.go),
// APP_MODE: a comma-separated list of
//
//	crashafter=<duration>  panic (exit 2) that long after start
//	crashatstart           exit 3 before listening
//	alloc=<MiB>            allocate and touch that much memory before listening
//	leak=<MiB per second>  after listening, allocate and touch memory forever
//	flap=<duration>        the health endpoint alternates 200 / 503 every <duration>
//	fail500                GET / answers 500; the health endpoint stays 200
//	healthpath=<path>      the health endpoint is GET <path> (e.g. /status/ready)
//	                       instead of /healthz, which then answers 404
//	coldstart=<N>x<duration>
//	                       each of the first N GET / requests waits <duration>
//	                       before it is answered, as an app with a JIT or lazy
//	                       caches starts cold (e.g. coldstart=200x10ms); the
//	                       wait is a sleep, not CPU work, and the health
//	                       endpoint is never slowed
//
// Endpoints, in any mode:
//
//	GET /                  200 "<color> <version>" (500 in fail500 mode)
//	GET /healthz           the health endpoint: 200 "ok"; at <path> instead
//	                       with healthpath=<path>
//	POST /crash            the process panics at once (exit 2)
//	POST /sick             200 "sick from now on"; from then on the health
//	                       endpoint answers 503 "sick", as an app that lost
//	                       its database; GET / still answers
//	POST /hang             200 "hanging from now on"; from then on every
//	                       request, to any path, is accepted and never
//	                       answered until the client goes away, as an app
//	                       deadlocked on a lock
//
// `rudeapp job ...` runs a release job instead of serving (job.go).
//
// Sick and hanging are held in memory: only a restart of the process ends
// them. A bad configuration or an unknown mode exits with status 2.
// Every decision is logged to stderr with the "rudeapp: " prefix.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "job" {
		os.Exit(runJob(os.Args[2:], os.Getenv))
	}
	start := time.Now()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("rudeapp: ")
	log.SetOutput(os.Stderr)

	cfg, err := parseConfig(os.Getenv)
	if err != nil {
		log.Printf("bad configuration: %v", err)
		os.Exit(2)
	}
	m := cfg.modes
	log.Printf("starting: pid=%d color=%s version=%s APP_MODE=%q; no signal handler, SIGTERM kills this process",
		os.Getpid(), cfg.color, cfg.version, cfg.mode)

	if m.crashAtStart {
		log.Printf("crashatstart: exiting with status 3 before listening")
		os.Exit(3)
	}
	if m.crashAfter > 0 {
		// Armed first, so the delay counts from process start.
		log.Printf("crashafter: will panic %s after start", m.crashAfter)
		time.AfterFunc(m.crashAfter-time.Since(start), func() {
			crash("crashafter=" + m.crashAfter.String() + " elapsed")
		})
	}
	var ballast []byte
	if m.allocMiB > 0 {
		log.Printf("alloc: allocating and touching %d MiB before listening", m.allocMiB)
		ballast = allocTouched(m.allocMiB << 20)
		log.Printf("alloc: holding %d MiB", len(ballast)>>20)
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		log.Printf("listening on %s: %v", cfg.addr, err)
		os.Exit(1)
	}
	// The actual address: with LISTEN_ADDR=127.0.0.1:0 tests read the port here.
	log.Printf("listening on %s", ln.Addr())

	if m.leakMiB > 0 {
		log.Printf("leak: allocating and touching %d MiB per second, forever", m.leakMiB)
		go leakForever(m.leakMiB)
	}
	a := newApp(cfg, crash)
	if m.healthPath != "" {
		log.Printf("healthpath: the health endpoint is GET %s; GET %s answers 404", a.healthPath, defaultHealthPath)
	}
	if m.flap > 0 {
		log.Printf("flap: %s alternates between 200 and 503 every %s", a.healthPath, m.flap)
	}
	if m.fail500 {
		log.Printf("fail500: GET / answers 500, %s stays 200", a.healthPath)
	}
	if m.cold.Requests > 0 {
		log.Printf("coldstart: each of the first %d GET / requests waits %s before it is answered", m.cold.Requests, m.cold.Cost)
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	err = srv.Serve(ln)
	runtime.KeepAlive(ballast) // the alloc ballast stays referenced while serving
	log.Printf("serving on %s: %v", ln.Addr(), err)
	os.Exit(1)
}

// crash logs reason and panics in a new goroutine. A panic there is
// recovered by nothing (net/http recovers panics in handlers, not in other
// goroutines), so the process dies with exit status 2. crash never returns.
func crash(reason string) {
	log.Printf("crashing on purpose: %s", reason)
	go func() { panic("rudeapp: " + reason) }()
	select {}
}

// config is the app's environment, parsed.
type config struct {
	addr    string // listen address, host:port
	color   string // COLOR
	version string // APP_VERSION
	mode    string // APP_MODE as given
	modes   modes  // APP_MODE parsed
	// firstServedFile is FIRST_SERVED_FILE: where the first GET / is
	// recorded ("": nowhere).
	firstServedFile string
}

// modes are the misbehaviours APP_MODE asks for; the zero value is polite.
type modes struct {
	crashAfter   time.Duration // crashafter=<duration>
	crashAtStart bool          // crashatstart
	allocMiB     int           // alloc=<MiB>
	leakMiB      int           // leak=<MiB per second>
	flap         time.Duration // flap=<duration>
	fail500      bool          // fail500
	healthPath   string        // healthpath=<path>; "" is defaultHealthPath
	cold         coldStart     // coldstart=<N>x<duration>
}

// coldStart is coldstart=<N>x<duration>: each of the first Requests GET /
// waits Cost; the zero value is warm from the start.
type coldStart struct {
	Requests int64
	Cost     time.Duration
}

// defaultHealthPath is the health endpoint without healthpath=<path>.
const defaultHealthPath = "/healthz"

// maxMiB bounds alloc and leak so that a typo cannot ask for exabytes.
const maxMiB = 64 << 10

// knownModes is the help text of the error for an unknown mode.
const knownModes = "crashafter=<duration>, crashatstart, alloc=<MiB>, leak=<MiB per second>, flap=<duration>, fail500, healthpath=<path>, coldstart=<N>x<duration>"

// parseConfig reads the settings from getenv, like the demo app: LISTEN_ADDR
// is a host ("127.0.0.1") joined with PORT, or a full host:port that wins
// over PORT.
func parseConfig(getenv func(string) string) (config, error) {
	c := config{
		color:   orDefault(getenv("COLOR"), "none"),
		version: orDefault(getenv("APP_VERSION"), "dev"),
		mode:    getenv("APP_MODE"),

		firstServedFile: getenv("FIRST_SERVED_FILE"),
	}

	port := orDefault(getenv("PORT"), "8080")
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return c, fmt.Errorf("PORT=%q: want a port number from 1 to 65535", port)
	}
	host := orDefault(getenv("LISTEN_ADDR"), "0.0.0.0")
	if _, _, err := net.SplitHostPort(host); err == nil {
		c.addr = host
	} else {
		c.addr = net.JoinHostPort(host, port)
	}

	m, err := parseModes(c.mode)
	if err != nil {
		return c, fmt.Errorf("APP_MODE=%q: %w", c.mode, err)
	}
	c.modes = m
	return c, nil
}

// parseModes parses APP_MODE: comma-separated items, each "name" or
// "name=value". Blank items are ignored; a mode given twice is an error.
func parseModes(s string) (modes, error) {
	var m modes
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, val, hasVal := strings.Cut(item, "=")
		if seen[name] {
			return m, fmt.Errorf("mode %q given twice", name)
		}
		seen[name] = true

		var err error
		switch name {
		case "crashatstart", "fail500":
			if hasVal {
				return m, fmt.Errorf("%q: mode %s takes no value", item, name)
			}
			m.crashAtStart = m.crashAtStart || name == "crashatstart"
			m.fail500 = m.fail500 || name == "fail500"
		case "crashafter":
			m.crashAfter, err = positiveDuration(name, val)
		case "flap":
			m.flap, err = positiveDuration(name, val)
		case "alloc":
			m.allocMiB, err = positiveMiB(name, val, "<MiB>")
		case "leak":
			m.leakMiB, err = positiveMiB(name, val, "<MiB per second>")
		case "healthpath":
			m.healthPath, err = healthPath(name, val)
		case "coldstart":
			m.cold, err = parseColdStart(name, val)
		default:
			return m, fmt.Errorf("unknown mode %q; known modes: %s", item, knownModes)
		}
		if err != nil {
			return m, err
		}
	}
	return m, nil
}

// positiveDuration parses the value of name=<duration>.
func positiveDuration(name, val string) (time.Duration, error) {
	d, err := time.ParseDuration(val)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want %s=<duration> greater than 0, e.g. %s=2s", name, val, name, name)
	}
	return d, nil
}

// positiveMiB parses the value of name=<MiB>, from 1 to maxMiB.
func positiveMiB(name, val, unit string) (int, error) {
	n, err := strconv.Atoi(val)
	if err != nil || n < 1 || n > maxMiB {
		return 0, fmt.Errorf("%s=%q: want %s=%s, a whole number from 1 to %d", name, val, name, unit, maxMiB)
	}
	return n, nil
}

// maxColdRequests bounds coldstart's N.
const maxColdRequests = 1_000_000

// parseColdStart parses the value of name=<N>x<duration>: N from 1 to
// maxColdRequests, a duration greater than 0 and at most a minute.
func parseColdStart(name, val string) (coldStart, error) {
	bad := fmt.Errorf("%s=%q: want %s=<N>x<duration>, N from 1 to %d requests and a duration from 1ns to 1m, e.g. %s=200x10ms",
		name, val, name, maxColdRequests, name)
	ns, ds, ok := strings.Cut(val, "x")
	if !ok {
		return coldStart{}, bad
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil || n < 1 || n > maxColdRequests {
		return coldStart{}, bad
	}
	d, err := time.ParseDuration(ds)
	if err != nil || d <= 0 || d > time.Minute {
		return coldStart{}, bad
	}
	return coldStart{Requests: n, Cost: d}, nil
}

// healthPathRE is what healthpath=<path> accepts: an absolute path of
// letters, digits and "-._~", which the mux serves exactly as written.
var healthPathRE = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

// ownPaths are the app's own endpoints, which the health path cannot take.
var ownPaths = []string{"/", "/crash", "/sick", "/hang"}

// healthPath parses the value of name=<path>: a clean absolute path, other
// than the app's own endpoints.
func healthPath(name, val string) (string, error) {
	if slices.Contains(ownPaths, val) {
		return "", fmt.Errorf("%s=%q: want a path other than the app's own %s", name, val, strings.Join(ownPaths, ", "))
	}
	if !healthPathRE.MatchString(val) || path.Clean(val) != val {
		return "", fmt.Errorf("%s=%q: want %s=<path>, starting with / and made of letters, digits and -._~, e.g. %s=/status/ready",
			name, val, name, name)
	}
	return val, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// app holds what the handlers answer with.
type app struct {
	color      string
	version    string
	fail500    bool
	healthPath string           // the health endpoint's path
	flap       time.Duration    // 0: the health endpoint always 200
	start      time.Time        // when the flap phases begin
	now        func() time.Time // the clock, for flap
	crash      func(reason string)
	served     *firstServed                         // FIRST_SERVED_FILE, recorded at the first GET /
	cold       coldStart                            // coldstart: the first GET / requests wait
	roots      atomic.Int64                         // GET / requests so far, counted as they arrive
	pause      func(context.Context, time.Duration) // how a cold request waits

	lastPhase atomic.Int64 // last flap phase answered, to log the flips
	sick      atomic.Bool  // set by POST /sick: the health endpoint answers 503
	hanging   atomic.Bool  // set by POST /hang: no request is answered
}

// newApp returns the handlers' state for cfg; crash is called by POST /crash.
func newApp(cfg config, crash func(string)) *app {
	return &app{
		color:      cfg.color,
		version:    cfg.version,
		fail500:    cfg.modes.fail500,
		healthPath: orDefault(cfg.modes.healthPath, defaultHealthPath),
		flap:       cfg.modes.flap,
		start:      time.Now(),
		now:        time.Now,
		crash:      crash,
		served:     &firstServed{file: cfg.firstServedFile},
		cold:       cfg.modes.cold,
		pause:      sleep,
	}
}

// routes returns the app's HTTP handler. Without a route of its own, GET
// /healthz answers 404 when the health endpoint is elsewhere.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.root)
	mux.HandleFunc("GET "+a.healthPath, a.health)
	mux.HandleFunc("POST /crash", a.crashNow)
	mux.HandleFunc("POST /sick", a.sickNow)
	mux.HandleFunc("POST /hang", a.hangNow)
	return a.hangOr(mux)
}

// hangOr serves next until POST /hang; from then on it accepts every
// request and answers none, each handler waiting until its client goes away
// (or the server closes the connection), so that nothing outlives the
// request. The body is read first: net/http notices a closed connection,
// and ends the request's context, only once the body is read.
func (a *app) hangOr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.hanging.Load() {
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
			return
		}
		next.ServeHTTP(w, r)
	})
}

// root writes "<color> <version>\n" with the X-Color and X-Version headers,
// exactly like the demo app, or 500 in fail500 mode. In coldstart mode the
// first requests wait first.
func (a *app) root(w http.ResponseWriter, r *http.Request) {
	a.coldWait(r)
	a.served.record(a.color, a.version)
	if a.fail500 {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Color", a.color)
	h.Set("X-Version", a.version)
	fmt.Fprintf(w, "%s %s\n", a.color, a.version)
}

// coldWait makes the first a.cold.Requests GET / requests, counted as they
// arrive, wait a.cold.Cost each, and logs when the app turns warm.
func (a *app) coldWait(r *http.Request) {
	n := a.roots.Add(1)
	if n > a.cold.Requests {
		return
	}
	a.pause(r.Context(), a.cold.Cost)
	if n == a.cold.Requests {
		log.Printf("coldstart: warm from now on: GET / number %d was the last to wait", n)
	}
}

// sleep waits d, or until ctx ends (the client went away).
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// health is the health endpoint: 200 "ok", or 503 "sick" after POST
// /sick, or in flap mode 503 during every odd period since start. It logs
// each flip.
func (a *app) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if a.sick.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "sick\n")
		return
	}
	if a.flap > 0 {
		phase := int64(a.now().Sub(a.start) / a.flap)
		if old := a.lastPhase.Swap(phase); old != phase {
			log.Printf("flap: %s now answers %d (period %d)", a.healthPath, healthStatus(phase), phase)
		}
		if healthStatus(phase) != http.StatusOK {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy (APP_MODE flap=%s)\n", a.flap)
			return
		}
	}
	fmt.Fprint(w, "ok\n")
}

// healthStatus is the health endpoint's status in flap period phase: 200
// in even periods (the first one included), 503 in odd ones.
func healthStatus(phase int64) int {
	if phase%2 == 0 {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}

// crashNow is POST /crash: the process panics at once, whatever the mode.
func (a *app) crashNow(_ http.ResponseWriter, r *http.Request) {
	a.crash("POST /crash from " + r.RemoteAddr)
}

// sickNow is POST /sick: from then on the health endpoint answers 503, as
// an app that lost its database; GET / answers as before.
func (a *app) sickNow(w http.ResponseWriter, r *http.Request) {
	a.sick.Store(true)
	log.Printf("sick: POST /sick from %s; %s answers 503 from now on, until the process restarts", r.RemoteAddr, a.healthPath)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "sick from now on\n")
}

// hangNow is POST /hang: answered, and from then on no request is, as an
// app deadlocked on a lock (see hangOr).
func (a *app) hangNow(w http.ResponseWriter, r *http.Request) {
	a.hanging.Store(true)
	log.Printf("hang: POST /hang from %s; every request hangs from now on, until the process restarts", r.RemoteAddr)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "hanging from now on\n")
}

// allocTouched allocates n bytes and writes to every page, so that the
// memory is really committed (and counted against a cgroup limit).
func allocTouched(n int) []byte {
	b := make([]byte, n)
	for i, page := 0, os.Getpagesize(); i < len(b); i += page {
		b[i] = 1
	}
	return b
}

// leaker holds memory it has allocated, so that it is never collected.
type leaker struct {
	held  [][]byte
	total int // bytes held
}

// leak allocates and touches n more bytes and keeps them.
func (l *leaker) leak(n int) {
	l.held = append(l.held, allocTouched(n))
	l.total += n
}

// leakForever leaks mibPerSec MiB every second, in tenths every 100ms, and
// logs the total every second. It never returns.
func leakForever(mibPerSec int) {
	const tick = 100 * time.Millisecond
	l := &leaker{}
	t := time.NewTicker(tick)
	defer t.Stop()
	for i := 1; ; i++ {
		<-t.C
		l.leak(mibPerSec << 20 / 10)
		if i%10 == 0 {
			log.Printf("leak: holding %d MiB", l.total>>20)
		}
	}
}
