// Command controller gives one host zero-downtime blue/green deployments
// with HAProxy and Docker: it converges the running system towards the
// desired state in desired.yaml, one safe step at a time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/bluegreen-host/controller/internal/flock"
	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/reconcile"
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

const usage = `controller: blue/green deployments on one host with HAProxy and Docker.

Usage:
  controller [run] [flags]     watch the desired state and converge (default)
  controller run --once        converge once, exit 0 when converged
  controller status [flags]    print the status the controller last wrote
  controller validate [flags]  check the desired state, change nothing
  controller plan [flags]      show the next step per service, change nothing
  controller promote <service> [flags]
                               approve the release waiting for promotion (promotion: Manual)
  controller history [service] [flags]
                               print the release attempts and how each ended
  controller export [--plain] [--out DIR] [flags]
                               write the desired state as Kubernetes manifests (Argo Rollouts)

Flags:
`

type options struct {
	file           string
	stateDir       string
	lockDir        string
	noPull         bool
	once           bool
	timeout        time.Duration
	resync         time.Duration
	debounce       time.Duration
	haproxyTimeout time.Duration
	dockerTimeout  time.Duration
	stepTimeout    time.Duration
	probeTimeout   time.Duration
	verbosity      int
	jsonOut        bool
	plain          bool   // export: Deployments and a Service, no Argo Rollouts
	out            string // export: a directory for one file per service
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	// Everything printed may quote text from outside: escaped.
	stdout, stderr = termSafe{stdout}, termSafe{stderr}
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var o options
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.file, "f", "desired.yaml", "desired state: a YAML file (several services separated by ---) or a directory of them")
	fs.StringVar(&o.stateDir, "state-dir", "/var/lib/bluegreen", "directory for status.json and the lock that keeps a second controller out (created 0700; refused when its group or others may write to it)")
	fs.StringVar(&o.lockDir, "lock-dir", "/run/lock/bluegreen", "run: directory shared by every controller on the host, holding one lock per HAProxy runtime address, so that two controllers never drive one HAProxy")
	fs.BoolVar(&o.once, "once", false, "run: converge, then exit 0; exit 1 when a service needs attention or --timeout passes")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "run --once: give up after this long")
	fs.DurationVar(&o.resync, "resync", 10*time.Second, "run: look at the world at least this often, even when nothing changes")
	fs.DurationVar(&o.debounce, "debounce", 5*time.Millisecond, "run: wait this long after a file event before reading the desired state")
	fs.DurationVar(&o.haproxyTimeout, "haproxy-timeout", 2*time.Second, "deadline of one HAProxy runtime API command")
	fs.DurationVar(&o.dockerTimeout, "docker-timeout", 10*time.Second, "deadline of one read of the Docker engine (image or container inspect, logs); builds, starts and stops are bounded by --step-timeout instead")
	fs.DurationVar(&o.stepTimeout, "step-timeout", 30*time.Minute, "deadline of one step (an image build, a container start or stop, a runtime API command); one cut short is reported and retried")
	fs.DurationVar(&o.probeTimeout, "probe-timeout", 200*time.Millisecond, "deadline of one health probe of a new color (a probe that times out is retried at the next pass)")
	fs.BoolVar(&o.noPull, "no-pull", false, "run: never pull an image from a registry; a missing image must be built (spec.build) or loaded (docker load)")
	fs.IntVar(&o.verbosity, "v", 0, "log verbosity: 0 state changes and steps, 1 every pass")
	fs.BoolVar(&o.jsonOut, "json", false, "status: print the raw status JSON")
	fs.BoolVar(&o.plain, "plain", false, "export: two Deployments (blue, green) and a Service selecting the active color, for a cluster without Argo Rollouts")
	fs.StringVar(&o.out, "out", "", "export: write one file per service, <service>.yaml, into this directory instead of standard output")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	service := ""
	if (cmd == "history" || cmd == "promote") && fs.NArg() > 0 {
		// controller history web --json: flags may follow the service
		service = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return exitUsage
		}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "controller %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return exitUsage
	}
	log := newLogger(stderr, o.verbosity)
	switch cmd {
	case "run":
		return runController(o, log, stderr)
	case "status":
		return printStatus(o, stdout, stderr)
	case "validate":
		return validate(o, stdout, stderr)
	case "plan":
		return plan(o, stdout, stderr)
	case "promote":
		return promote(o, service, stdout, stderr)
	case "history":
		return printHistory(o, service, stdout, stderr)
	case "export":
		return exportManifests(o, stdout, stderr)
	case "help":
		fs.Usage()
		return exitOK
	}
	fmt.Fprintf(stderr, "controller: unknown command %q (want run, status, validate, plan, promote, history or export)\n", cmd)
	return exitUsage
}

func newLogger(w io.Writer, v int) logr.Logger {
	return funcr.New(func(prefix, args string) {
		fmt.Fprintln(w, time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), args)
	}, funcr.Options{Verbosity: v})
}

func statusPath(o options) string  { return filepath.Join(o.stateDir, "status.json") }
func historyPath(o options) string { return filepath.Join(o.stateDir, "history.jsonl") }
func approvalsPath(o options) string {
	return filepath.Join(o.stateDir, "approvals.json")
}

func runController(o options, log logr.Logger, stderr io.Writer) int {
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
	// The HAProxy instances the desired state names are locked too, for
	// every controller on the host, whatever its state directory.
	haLocks := newHAProxyLocks(o.lockDir)
	defer haLocks.release()
	if svcs, err := spec.Load(o.file); err == nil {
		warnTCPRuntime(log, svcs)
		if err := haLocks.claim(svcs); err != nil {
			fmt.Fprintf(stderr, "controller: %v\n", err)
			if errors.Is(err, flock.ErrHeld) {
				return exitLocked
			}
			return exitUsage
		}
	} // a desired state refused here is reported by the loop

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	loop, drv, err := newLoop(o, log, haLocks)
	if err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return exitUsage
	}
	defer drv.Close()

	if o.once {
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

	nudge := make(chan struct{}, 1)
	if err := reconcile.Watch(ctx, o.file, o.debounce, log, nudge); err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return exitUsage
	}
	reconcile.WatchContainers(ctx, drv, log, nudge)
	log.Info("Watching the desired state", "file", o.file, "status", statusPath(o), "resync", o.resync.String())
	loop.Run(ctx, nudge, o.resync)
	log.Info("Stopped")
	return exitOK
}

// newLoop makes the reconcile loop over the real HAProxy, Docker engine and
// files; the caller closes the engine's client.
func newLoop(o options, log logr.Logger, haLocks *haproxyLocks) (*reconcile.Loop, *docker.Driver, error) {
	st, err := reconcile.LoadStatus(statusPath(o), o.file)
	if err != nil && st == nil {
		return nil, nil, err
	}
	if err != nil {
		log.Error(err, "Status file damaged")
	}
	stops, err := reconcile.LoadStopRecords(filepath.Join(o.stateDir, "stopped.json"))
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
	prober := reconcile.NewHTTPProber(o.probeTimeout)
	deps := &reconcile.Deps{
		HAProxy:    reconcile.HAProxyClients(o.haproxyTimeout),
		Containers: drv,
		MapFiles:   reconcile.RealMapFiles,
		Prober:     prober,
		Checker:    prober,
		Stops:      stops,
		NoPull:     o.noPull,
	}
	loop := &reconcile.Loop{
		Deps:   deps,
		Log:    log,
		Status: st,
		Load: func() ([]spec.Service, error) {
			svcs, err := spec.Load(o.file)
			if err == nil && haLocks != nil {
				// A service naming a new HAProxy: nothing is done until
				// no other controller drives it.
				err = haLocks.claim(svcs)
			}
			return svcs, err
		},
		Now:         time.Now,
		StepTimeout: o.stepTimeout,
		History:     reconcile.NewHistory(historyPath(o)),
		Approvals:   reconcile.NewApprovals(approvalsPath(o)),
	}
	if err := injectCrash(loop, os.Getenv(crashEnv)); err != nil {
		drv.Close()
		return nil, nil, err
	}
	return loop, drv, nil
}

// warnTCPRuntime says once, at start, which services reach HAProxy's
// runtime API over TCP: any local user who binds that port while HAProxy
// restarts can answer in its place. A unix socket with mode 600 cannot be
// taken so.
func warnTCPRuntime(log logr.Logger, svcs []spec.Service) {
	seen := map[string]bool{}
	for _, s := range svcs {
		if addr := s.HAProxy.Runtime; strings.HasPrefix(addr, "tcp://") && !seen[addr] {
			seen[addr] = true
			log.Info("Warning: HAProxy runtime API over TCP: a local user who binds this port while HAProxy restarts can answer in its place; prefer a unix socket with mode 600",
				"address", addr, "service", s.Name)
		}
	}
}
