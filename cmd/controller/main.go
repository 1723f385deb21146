// Command controller gives one host zero-downtime blue/green deployments
// with HAProxy and Docker: it converges the running system towards the
// desired state in desired.yaml, one safe step at a time.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/internal/flock"
	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/notify"
	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Exit codes, for cron and scripts.
const (
	exitOK           = 0
	exitNotConverged = 1 // a service needs attention, or --once ran out of time
	exitUsage        = 2 // bad flags, or the desired state is refused
	exitLocked       = 3 // another controller acts on this host
	exitWaiting      = 4 // run --once: a release is ready and waits for controller promote
)

type options struct {
	file              string
	stateDir          string
	lockDir           string
	noPull            bool
	metricsListen     string // run: serve /metrics, /healthz, /readyz here ("": off)
	uiListen          string // run: serve the dashboard here ("": off)
	uiTokenFile       string // run: NAME:SECRET lines of who may act from the dashboard
	haproxyConfig     string // haproxy.cfg, whose health checks validate compares with the desired state
	haproxyConfigSet  bool   // --haproxy-config (or its variable) was given, not left at its default
	haproxyLive       bool   // validate --haproxy: compare the running HAProxy with the desired state
	policy            string // the host policy file
	policySet         bool   // --policy (or its variable) was given: the file must exist
	webhooks          []string
	webhookSecretFile string
	// run: the desired state from a git repository (gitURL "": from -f)
	gitURL, gitRef, gitPath                string
	gitPoll                                time.Duration
	gitSSHKey, gitKnownHosts, gitTokenFile string
	gitTokenUser                           string
	gitInsecure                            bool          // accept http:// and git:// URLs
	gitTimeout                             time.Duration // of one fetch
	once                                   bool
	timeout                                time.Duration
	resync                                 time.Duration
	debounce                               time.Duration
	haproxyTimeout                         time.Duration
	haproxyWatch                           time.Duration // run: read HAProxy's server states this often between passes
	dockerTimeout                          time.Duration
	stepTimeout                            time.Duration
	probeTimeout                           time.Duration
	verbosity                              int
	logFormat                              string // text or json
	output                                 string // "" (text), json or yaml
	watch                                  bool   // status: print again whenever it changes
	plain                                  bool   // export: Deployments and a Service, no Argo Rollouts
	out                                    string // export: a directory for one file per service
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code; ctx ends a
// watching verb (run, status --watch).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Everything printed may quote text from outside: escaped.
	stdout, stderr = termSafe{stdout}, termSafe{stderr}
	code := exitOK
	root := newCommand(ctx, &code, stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if cmd, err := root.ExecuteC(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		if !strings.Contains(err.Error(), "\n") {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return exitUsage
	}
	return code
}

// newLogger logs through log/slog, as text (key=value) or as JSON, one
// record a line, on w; verbosity v shows logr's V(v) lines.
func newLogger(w io.Writer, v int, format string) logr.Logger {
	opts := &slog.HandlerOptions{Level: slog.Level(-v)}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return logr.FromSlogHandler(h)
}

func statusPath(o options) string  { return filepath.Join(o.stateDir, "status.json") }
func historyPath(o options) string { return filepath.Join(o.stateDir, "history.jsonl") }
func stopsPath(o options) string   { return filepath.Join(o.stateDir, "stopped.json") }
func approvalsPath(o options) string {
	return filepath.Join(o.stateDir, "approvals.json")
}
func rollbacksPath(o options) string { return filepath.Join(o.stateDir, "rollbacks.json") }
func retriesPath(o options) string   { return filepath.Join(o.stateDir, "retries.json") }

func runController(ctx context.Context, o options, log logr.Logger, stderr io.Writer) int {
	if err := safefile.PrivateDir(o.stateDir); err != nil {
		fmt.Fprintf(stderr, "controller: state directory: %v\n", err)
		return exitUsage
	}
	lockPath := filepath.Join(o.stateDir, "controller.lock")
	lock, err := flock.Acquire(lockPath)
	if err != nil {
		if errors.Is(err, flock.ErrHeld) {
			fmt.Fprintf(stderr, "controller: another controller uses state directory %s: %v; stop it first\n", o.stateDir, err)
			return exitLocked
		}
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return exitUsage
	}
	defer lock.Release()
	removeCutWrites(o, log)
	// The HAProxy instances the desired state names are locked too, for
	// every controller on the host, whatever its state directory.
	haLocks := newHAProxyLocks(o.lockDir)
	defer haLocks.release()
	var git *gitSource
	if o.gitURL != "" {
		git = newGitSource(o, log)
		git.sync(ctx) // the first fetch, before the first pass
	}
	tcp := newTCPWarner(log)
	if svcs, err := initialLoad(o, git); err == nil {
		tcp.warn(svcs)
		warnHealthChecks(log, o, svcs)
		if err := haLocks.claim(svcs); err != nil {
			fmt.Fprintf(stderr, "controller: %v\n", err)
			if errors.Is(err, flock.ErrHeld) {
				return exitLocked
			}
			return exitUsage
		}
	} // a desired state refused here is reported by the loop

	loop, drv, err := newLoop(o, log, haLocks, tcp)
	if err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return exitUsage
	}
	defer drv.Close()
	stop, code := attachListeners(ctx, o, loop, git, haLocks, tcp, log, stderr)
	defer stop()
	if code != exitOK {
		return code
	}
	if o.once {
		return runOnce(ctx, o, loop, log, stderr)
	}
	return watch(ctx, o, loop, drv, git, log, stderr)
}

// attachListeners follows git's commits in status, serves metrics and the
// dashboard and sends webhooks, as the flags ask; stop ends them (pending webhooks get a
// few seconds to go out).
func attachListeners(ctx context.Context, o options, loop *reconcile.Loop, git *gitSource, haLocks *haproxyLocks, tcp *tcpWarner, log logr.Logger, stderr io.Writer) (stop func(), code int) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	var onCommit []func(string)
	if git != nil {
		loop.Load = loadWithLocks(git.load, haLocks, tcp)
		git.status = loop.SetSource
		git.onCommit = func(c string) {
			for _, f := range onCommit {
				f(c)
			}
		}
	}
	if o.metricsListen != "" {
		m, stopMetrics, err := serveMetrics(ctx, o, loop, log)
		if err != nil {
			fmt.Fprintf(stderr, "controller: %v\n", err)
			return stop, exitUsage
		}
		stops = append(stops, stopMetrics)
		onCommit = append(onCommit, m.SetSource)
	}
	if o.uiListen != "" {
		stopUI, err := serveUI(ctx, o, loop, log)
		if err != nil {
			fmt.Fprintf(stderr, "controller: %v\n", err)
			return stop, exitUsage
		}
		stops = append(stops, stopUI)
	}
	if len(o.webhooks) > 0 {
		n, err := notify.New(notify.Config{URLs: o.webhooks, SecretFile: o.webhookSecretFile, Log: log.WithName("webhook")})
		if err != nil {
			fmt.Fprintf(stderr, "controller: webhooks: %v\n", err)
			return stop, exitUsage
		}
		addListener(loop, n)
		stops = append(stops, func() {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.Close(cctx); err != nil {
				log.Error(err, "Webhook events not delivered")
			}
		})
	}
	return stop, exitOK
}

// runOnce converges once (--once) and says how it ended in the exit code.
func runOnce(ctx context.Context, o options, loop *reconcile.Loop, log logr.Logger, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := loop.RunOnce(ctx); err != nil {
		fmt.Fprintf(stderr, "controller: %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		if errors.Is(err, reconcile.ErrSpec) {
			return exitUsage
		}
		if errors.Is(err, reconcile.ErrWaitingForPromotion) {
			return exitWaiting
		}
		return exitNotConverged
	}
	log.Info("Converged", "file", o.file)
	return exitOK
}

// watch runs the loop until ctx ends, nudged by the desired state's
// changes (the file, or git), the engine's container events and HAProxy's
// server states.
func watch(ctx context.Context, o options, loop *reconcile.Loop, drv *docker.Driver, git *gitSource, log logr.Logger, stderr io.Writer) int {
	nudge := make(chan struct{}, 1)
	if git != nil {
		go git.poll(ctx, o.gitPoll, nudge)
	} else if err := reconcile.Watch(ctx, o.file, o.debounce, log, nudge); err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return exitUsage
	}
	// The container cache is used only while the events are followed.
	loop.Nudges, loop.Cache = reconcile.NewNudges(), reconcile.NewContainerCache(drv)
	reconcile.WatchContainers(ctx, drv, log, loop.Nudges, loop.Cache)
	reconcile.WatchServers(ctx, loop.Runtimes, loop.Deps.HAProxy, o.haproxyWatch, log, loop.Nudges)
	if git != nil {
		log.Info("Following the desired state in git", "url", git.url, "ref", o.gitRef, "path", o.gitPath, "poll", o.gitPoll.String(), "status", statusPath(o))
	} else {
		log.Info("Watching the desired state", "file", o.file, "status", statusPath(o), "resync", o.resync.String())
	}
	loop.Run(ctx, nudge, o.resync)
	log.Info("Stopped")
	return exitOK
}

// newLoop makes the reconcile loop over the real HAProxy, Docker engine and
// files; the caller closes the engine's client.
func newLoop(o options, log logr.Logger, haLocks *haproxyLocks, tcp *tcpWarner) (*reconcile.Loop, *docker.Driver, error) {
	st, err := state.LoadStatus(statusPath(o), o.file)
	if err != nil && st == nil {
		return nil, nil, err
	}
	if err != nil {
		log.Error(err, "Status file damaged")
	}
	stops, err := state.LoadStopRecords(stopsPath(o))
	if err != nil && stops == nil {
		return nil, nil, err
	}
	if err != nil {
		log.Error(err, "Stop records damaged")
	}
	drv, err := docker.Open()
	if err != nil {
		return nil, nil, err
	}
	drv.ReadTimeout = o.dockerTimeout
	if err := docker.KernelLogReadable(); err != nil {
		log.Info("Warning: the kernel log cannot be read: an OOM kill in a container's first milliseconds, which the Docker engine can miss, will be reported as exit code 137 instead of OOMKilled",
			"reason", err.Error())
	}
	prober := reconcile.NewHTTPProber(o.probeTimeout)
	deps := &reconcile.Deps{
		HAProxy:    reconcile.HAProxyClients(o.haproxyTimeout),
		Containers: drv,
		MapFiles:   reconcile.HostMapFiles{},
		Prober:     prober,
		Checker:    prober,
		Warmer:     prober,
		Stops:      stops,
		NoPull:     o.noPull,
	}
	if o.haproxyConfig != "" {
		deps.CheckConfig = (&checkConfigs{path: o.haproxyConfig}).of
	}
	loop := &reconcile.Loop{
		Deps:        deps,
		Log:         log,
		Status:      st,
		Load:        loadWithLocks(func() ([]spec.Service, error) { return o.loadFile(o.file) }, haLocks, tcp),
		Now:         time.Now,
		StepTimeout: o.stepTimeout,
		History:     state.NewHistory(historyPath(o)),
		Approvals:   state.NewApprovals(approvalsPath(o)),
		Rollbacks:   state.NewRollbacks(rollbacksPath(o)),
		Retries:     state.NewRetries(retriesPath(o)),
	}
	if err := injectCrash(loop, os.Getenv(crashEnv)); err != nil {
		drv.Close()
		return nil, nil, err
	}
	return loop, drv, nil
}

// loadWithLocks loads the desired state and claims the HAProxy locks of
// its services: a service naming a new HAProxy is not acted on while
// another controller drives it. An accepted desired state that names a
// new runtime address over TCP is warned about.
func loadWithLocks(load func() ([]spec.Service, error), haLocks *haproxyLocks, tcp *tcpWarner) func() ([]spec.Service, error) {
	return func() ([]spec.Service, error) {
		svcs, err := load()
		valid := svcs
		if p := spec.Refused(err); p != nil {
			valid = p.Valid // refused alone: the others go on
		} else if err != nil {
			return nil, err
		}
		if tcp != nil {
			tcp.warn(valid)
		}
		if haLocks != nil {
			if lerr := haLocks.claim(valid); lerr != nil {
				return nil, lerr
			}
		}
		return svcs, err
	}
}

// initialLoad reads the desired state once before the loop starts, from
// the file or from the commit just fetched.
func initialLoad(o options, git *gitSource) ([]spec.Service, error) {
	if git != nil {
		return git.load()
	}
	return o.loadFile(o.file)
}
