// Command rudeapp is a deliberately rude test service for the blue/green
// controller. It answers like examples/demoapp ("<color> <version>") but
// behaves the way real apps often do:
//
//   - it has NO signal handler (it does not import os/signal): SIGTERM kills
//     it at once, with no graceful shutdown. As PID 1 in a container the Go
//     runtime cannot die by the signal and exits with status 2 instead;
//   - APP_MODE makes it crash, run out of memory or flap its health check.
//
// Environment: PORT (default 8080), LISTEN_ADDR (default 0.0.0.0; a full
// host:port wins over PORT), COLOR (default none), APP_VERSION (default dev),
// APP_MODE: a comma-separated list of
//
//	crashafter=<duration>  panic (exit 2) that long after start
//	crashatstart           exit 3 before listening
//	alloc=<MiB>            allocate and touch that much memory before listening
//	leak=<MiB per second>  after listening, allocate and touch memory forever
//	flap=<duration>        /healthz alternates 200 / 503 every <duration>
//	fail500                GET / answers 500; /healthz stays 200
//
// POST /crash makes the process panic at once (exit 2) in any mode.
// A bad configuration or an unknown mode exits with status 2.
// Every decision is logged to stderr with the "rudeapp: " prefix.
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
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
	if m.flap > 0 {
		log.Printf("flap: /healthz alternates between 200 and 503 every %s", m.flap)
	}
	if m.fail500 {
		log.Printf("fail500: GET / answers 500, /healthz stays 200")
	}

	a := newApp(cfg, crash)
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
}

// modes are the misbehaviours APP_MODE asks for; the zero value is polite.
type modes struct {
	crashAfter   time.Duration // crashafter=<duration>
	crashAtStart bool          // crashatstart
	allocMiB     int           // alloc=<MiB>
	leakMiB      int           // leak=<MiB per second>
	flap         time.Duration // flap=<duration>
	fail500      bool          // fail500
}

// maxMiB bounds alloc and leak so that a typo cannot ask for exabytes.
const maxMiB = 64 << 10

// knownModes is the help text of the error for an unknown mode.
const knownModes = "crashafter=<duration>, crashatstart, alloc=<MiB>, leak=<MiB per second>, flap=<duration>, fail500"

// parseConfig reads the settings from getenv, like the demo app: LISTEN_ADDR
// is a host ("127.0.0.1") joined with PORT, or a full host:port that wins
// over PORT.
func parseConfig(getenv func(string) string) (config, error) {
	c := config{
		color:   orDefault(getenv("COLOR"), "none"),
		version: orDefault(getenv("APP_VERSION"), "dev"),
		mode:    getenv("APP_MODE"),
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

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// app holds what the handlers answer with.
type app struct {
	color   string
	version string
	fail500 bool
	flap    time.Duration    // 0: /healthz always 200
	start   time.Time        // when the flap phases begin
	now     func() time.Time // the clock, for flap
	crash   func(reason string)

	lastPhase atomic.Int64 // last flap phase answered, to log the flips
}

// newApp returns the handlers' state for cfg; crash is called by POST /crash.
func newApp(cfg config, crash func(string)) *app {
	return &app{
		color:   cfg.color,
		version: cfg.version,
		fail500: cfg.modes.fail500,
		flap:    cfg.modes.flap,
		start:   time.Now(),
		now:     time.Now,
		crash:   crash,
	}
}

// routes returns the app's HTTP handler.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.root)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("POST /crash", a.crashNow)
	return mux
}

// root writes "<color> <version>\n" with the X-Color and X-Version headers,
// exactly like the demo app, or 500 in fail500 mode.
func (a *app) root(w http.ResponseWriter, _ *http.Request) {
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

// healthz answers 200 "ok", or in flap mode 503 during every odd period
// since start. It logs each flip.
func (a *app) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if a.flap > 0 {
		phase := int64(a.now().Sub(a.start) / a.flap)
		if old := a.lastPhase.Swap(phase); old != phase {
			log.Printf("flap: /healthz now answers %d (period %d)", healthStatus(phase), phase)
		}
		if healthStatus(phase) != http.StatusOK {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy (APP_MODE flap=%s)\n", a.flap)
			return
		}
	}
	fmt.Fprint(w, "ok\n")
}

// healthStatus is /healthz's status in flap period phase: 200 in even
// periods (the first one included), 503 in odd ones.
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
