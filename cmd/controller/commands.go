package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// loadDesired reads the desired state; when it is refused, it says why
// and ok is false. Every verb that reads the desired state refuses it alike.
func loadDesired(o options, stderr io.Writer) (svcs []spec.Service, ok bool) {
	var err error
	if o.gitURL != "" {
		svcs, err = loadFromGit(o)
	} else {
		svcs, err = o.loadFile(o.file)
	}
	if err != nil {
		fmt.Fprintf(stderr, "controller: desired state refused:\n%v\n", err)
		return nil, false
	}
	return svcs, true
}

// loadFromGit fetches the newest commit of --git-url into a directory of
// its own and reads the desired state there, as run --git-url would.
func loadFromGit(o options) ([]spec.Service, error) {
	dir, err := os.MkdirTemp("", "bluegreen-git-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	g := newGitSource(o, logr.Discard())
	g.git.Dir = filepath.Join(dir, "git")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g.sync(ctx)
	return g.load()
}

// validate checks the desired state, and the health checks of its backends
// in HAProxy's configuration, and changes nothing.
func validate(o options, stdout, stderr io.Writer) int {
	svcs, ok := loadDesired(o, stderr)
	if !ok {
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s: %d service(s) valid\n", o.file, len(svcs))
	for _, s := range svcs {
		fmt.Fprintf(stdout, "  %s: %s runs %s (generation %s)\n", s.Name, s.ActiveColor, s.Image, s.Generation())
		logging := s.LoggingInForce().String()
		if s.Logging == nil {
			logging += " (the default)"
		}
		fmt.Fprintf(stdout, "    logging: %s\n", logging)
		fmt.Fprintf(stdout, "    release: %s\n", releasePath(&s.ServiceSpec))
	}
	if p, err := o.hostPolicy(); err == nil {
		fmt.Fprint(stdout, p.Summary())
	}
	ok = compareHealthChecks(o, svcs, stdout, stderr)
	if o.haproxyLive && !checkLiveHAProxy(o, svcs, stdout, stderr) {
		ok = false
	}
	if !ok {
		return exitNotConverged
	}
	return exitOK
}

// plan observes the world and prints the next step per service; it takes
// no lock and changes nothing.
func plan(o options, stdout, stderr io.Writer) int {
	svcs, ok := loadDesired(o, stderr)
	if !ok {
		return exitUsage
	}
	loop, drv, err := newLoop(o, logr.Discard(), nil, nil)
	if err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return exitUsage
	}
	defer drv.Close()
	code := exitOK
	var plans []servicePlan
	for i := range svcs {
		s := &svcs[i]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		now := time.Now()
		prev := loop.Status.Snapshot().Services[s.Name]
		s.HostRetries = prev.RetriesOf(s.WrittenGeneration())
		obs, err := loop.Deps.Observe(ctx, s, prev.Remembered(), now)
		if err == nil {
			var records []planner.JobRecord
			if prev != nil {
				records = prev.Jobs
			}
			obs.Jobs, err = loop.Deps.ObserveJobs(ctx, s, records, now)
		}
		cancel()
		p := servicePlan{Service: s.Name, Generation: s.Generation()}
		if err != nil {
			p.Error = "cannot observe: " + err.Error()
			code = exitNotConverged
		} else {
			d := planner.Plan(s, obs, now)
			p.Phase, p.Reason, p.Message, p.Step = d.Phase, d.Reason, d.Message, d.Step
			if !d.Converged() {
				code = exitNotConverged
			}
		}
		plans = append(plans, p)
	}
	if o.output == "json" || o.output == "yaml" {
		if err := writeData(stdout, o.output, plans); err != nil {
			fmt.Fprintf(stderr, "controller: write plan: %v\n", err)
			return exitNotConverged
		}
		return code
	}
	for _, p := range plans {
		switch {
		case p.Error != "":
			fmt.Fprintf(stdout, "%s: %s\n", p.Service, p.Error)
		case p.Step != nil:
			fmt.Fprintf(stdout, "%s: %s\n", p.Service, p.Step)
		default:
			fmt.Fprintf(stdout, "%s: %s (%s): %s\n", p.Service, p.Phase, p.Reason, p.Message)
		}
	}
	return code
}

// servicePlan is what plan prints for one service.
type servicePlan struct {
	Service    string         `json:"service"`
	Generation string         `json:"generation"`
	Phase      planner.Phase  `json:"phase,omitempty"`
	Reason     planner.Reason `json:"reason,omitempty"`
	Message    string         `json:"message,omitempty"`
	Step       *planner.Step  `json:"step,omitempty"`
	Error      string         `json:"error,omitempty"`
}

// printStatus prints the status file; exit 1 when a service is not converged.
func printStatus(o options, stdout, stderr io.Writer) int {
	st, err := state.ReadStatus(statusPath(o))
	if err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return exitNotConverged
	}
	if o.output == "json" || o.output == "yaml" {
		if err := writeData(stdout, o.output, st); err != nil {
			fmt.Fprintf(stderr, "controller: write status: %v\n", err)
			return exitNotConverged
		}
	} else {
		writeStatus(stdout, st)
	}
	if st.SpecError != "" {
		return exitNotConverged
	}
	for _, s := range st.Services {
		if s.Phase != planner.Converged {
			return exitNotConverged
		}
	}
	return exitOK
}

func writeStatus(w io.Writer, st state.Status) {
	fmt.Fprintf(w, "desired: %s\n", st.Desired)
	if st.SpecError != "" {
		what := "desired state refused, nothing is changed until it is fixed"
		for _, s := range st.Services {
			if s.Refused != "" {
				what = "part of the desired state is refused: the services it names run on at their last valid spec, the others go on"
				break
			}
		}
		fmt.Fprintf(w, "%s:\n  %s\n", what, strings.ReplaceAll(st.SpecError, "\n", "\n  "))
	}
	names := make([]string, 0, len(st.Services))
	for n := range st.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Fprintln(w, "no service has been reconciled yet")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tPHASE\tACTIVE\tSERVED\tIMAGE\tGENERATION")
	for _, n := range names {
		s := st.Services[n]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n, s.Phase, s.ActiveColor, orDash(string(s.ServedColor)), s.Image, s.ObservedGeneration)
	}
	tw.Flush()
	for _, n := range names {
		s := st.Services[n]
		fmt.Fprintf(w, "\n%s:\n", n)
		for _, c := range s.Conditions {
			fmt.Fprintf(w, "  %s=%s %s: %s (since %s)\n", c.Type, c.Status, c.Reason, c.Message, c.LastTransitionTime.Format(time.RFC3339))
		}
		for _, c := range spec.Colors() {
			for i, cs := range s.Colors[c].Each() {
				name := string(c)
				if i > 0 {
					name = fmt.Sprintf("  #%d", i+1) // the color's replica i+1
				} else if len(cs.Replicas) > 0 {
					name += " #1"
				}
				fmt.Fprintf(w, "  %-8s container %s, image %s, HAProxy %s at %s, %d sessions\n", name, cs.Container, orDash(cs.ImageID), orDash(cs.HAProxy), orDash(cs.Addr), cs.Sessions)
				if cs.Restarts > 0 || cs.LastExit != "" {
					fmt.Fprintf(w, "           restarted %d times by the engine; last %s\n", cs.Restarts, orDash(cs.LastExit))
				}
			}
		}
		if v := s.Verification; v != nil {
			outcome := v.Outcome
			if outcome == "" {
				outcome = "being verified"
			}
			fmt.Fprintf(w, "  release %s: %s -> %s %s, switched %s: %s", v.Generation, orDash(string(v.From)), v.To, v.ToImage,
				v.SwitchedAt.Format(time.RFC3339), outcome)
			if v.Reason != "" {
				fmt.Fprintf(w, " (%s)", v.Reason)
			}
			fmt.Fprintln(w)
		}
		if c := s.Checks; c != nil && !c.Passed {
			fmt.Fprintf(w, "  pre-switch checks of %s failed: %s\n", c.Color, c.Failure)
		}
		for _, j := range s.Jobs {
			fmt.Fprintf(w, "  job %s of release %s: %s\n", j.Job, j.Generation, jobState(j))
		}
		if r := s.Retried; r != nil && r.Count > 0 {
			fmt.Fprintf(w, "  retried %d time(s) at the host (controller retry): the spec as written has generation %s\n", r.Count, r.Spec)
		}
		if s.LastStep != "" {
			fmt.Fprintf(w, "  last step: %s (%s)\n", s.LastStep, s.LastStepTime.Format(time.RFC3339))
		}
		if s.LastError != "" {
			fmt.Fprintf(w, "  last error: %s (%s)\n", s.LastError, s.LastErrorTime.Format(time.RFC3339))
		}
		if s.Logs != "" {
			fmt.Fprintf(w, "  last log lines:\n    %s\n", strings.ReplaceAll(s.Logs, "\n", "\n    "))
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printHistory prints the release attempts recorded in the state directory,
// oldest first, of one service or of all.
func printHistory(o options, service string, stdout, stderr io.Writer) int {
	rs, err := state.ReadHistory(historyPath(o), service)
	if err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return exitNotConverged
	}
	if o.output == "json" || o.output == "yaml" {
		if rs == nil {
			rs = []state.Release{}
		}
		if err := writeData(stdout, o.output, rs); err != nil {
			fmt.Fprintf(stderr, "controller: write history: %v\n", err)
			return exitNotConverged
		}
		return exitOK
	}
	if len(rs) == 0 {
		fmt.Fprintf(stdout, "no release recorded in %s\n", historyPath(o))
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tSERVICE\tFROM\tTO\tOUTCOME\tGENERATION\tTOOK")
	for _, r := range rs {
		from := orDash(string(r.From))
		if r.FromImage != "" {
			from += " " + r.FromImage
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\t%s\t%s\n", r.Start.Local().Format("2006-01-02 15:04:05"), r.Service, from,
			r.To, r.ToImage, r.Outcome, r.Generation, r.End.Sub(r.Start).Round(100*time.Millisecond))
	}
	tw.Flush()
	for _, r := range rs {
		for _, j := range r.Jobs {
			fmt.Fprintf(stdout, "%s %s job %s: %s, exit code %d, ran %s\n", r.Start.Local().Format("2006-01-02 15:04:05"), r.Service,
				j.Job, cmp.Or(j.Outcome, "did not end"), j.ExitCode, j.Duration().Round(time.Millisecond))
		}
	}
	for _, r := range rs {
		if r.Outcome != planner.OutcomeSucceeded && r.Reason != "" {
			fmt.Fprintf(stdout, "%s %s %s: %s\n", r.Start.Local().Format("2006-01-02 15:04:05"), r.Service, r.Outcome, r.Reason)
		}
	}
	return exitOK
}

// promote approves the current release of service, as the desired state
// names it now: the controller switches to it at its next look. It writes
// the approval to the state directory, so it works when the desired state
// comes from git, and needs no lock.
func promote(o options, service string, stdout, stderr io.Writer) int {
	if service == "" {
		fmt.Fprintln(stderr, "controller promote: name the service to promote")
		return exitUsage
	}
	svcs, ok := loadDesired(o, stderr)
	if !ok {
		return exitUsage
	}
	withHostRetries(o, svcs)
	for _, s := range svcs {
		if s.Name != service {
			continue
		}
		approval, what := s.Generation(), "the controller switches once it is ready"
		if step, ok := canaryStepWaiting(o, &s); ok {
			approval, what = planner.CanaryApproval(s.Generation(), step), fmt.Sprintf("its canary goes past step %d", step+1)
		} else if s.Promotion.Mode != spec.PromotionManual {
			fmt.Fprintf(stderr, "controller promote: service %s has promotion mode %s and no canary step waiting: its releases need no approval\n", service, s.Promotion.Mode)
			return exitUsage
		}
		if err := safefile.PrivateDir(o.stateDir); err != nil {
			fmt.Fprintf(stderr, "controller: state directory: %v\n", err)
			return exitUsage
		}
		p := state.Request{Service: service, Generation: s.Generation(), Approval: approval, To: s.ActiveColor, ToImage: s.Image,
			By: currentUser(), Via: "controller promote", At: time.Now()}
		if err := state.Promote(state.NewApprovals(approvalsPath(o)), state.NewHistory(historyPath(o)), p); err != nil {
			fmt.Fprintf(stderr, "controller: %v\n", err)
			return exitNotConverged
		}
		fmt.Fprintf(stdout, "%s: release %s (%s runs %s) approved; %s\n", service, approval, s.ActiveColor, s.Image, what)
		return exitOK
	}
	fmt.Fprintf(stderr, "controller promote: no service %q in %s\n", service, o.file)
	return exitUsage
}

// canaryStepWaiting reports the step (from 0) at which the canary of s's
// current generation is, as status shows it, when that step has no pause:
// it waits for controller promote.
func canaryStepWaiting(o options, s *spec.Service) (step int, ok bool) {
	c := s.Canary()
	if c == nil {
		return 0, false
	}
	st, err := state.ReadStatus(statusPath(o))
	if err != nil || st.Services[s.Name] == nil {
		return 0, false
	}
	v := st.Services[s.Name].Verification
	if !v.InCanaryStep(s) || c.Steps[v.Step].Pause != nil {
		return 0, false
	}
	return v.Step, true
}

// rollback asks the controller to roll back the release of service being
// verified on real traffic, or held after a job that cannot be undone, as
// status shows it: traffic goes back to the color kept warm, as when the
// verification fails, and the same spec is not tried again until it
// changes. Like promote, it writes to the state directory and needs no
// lock.
func rollback(o options, service string, stdout, stderr io.Writer) int {
	st, err := state.ReadStatus(statusPath(o))
	if err != nil {
		fmt.Fprintf(stderr, "controller rollback: %v\n", err)
		return exitNotConverged
	}
	s := st.Services[service]
	if s == nil {
		fmt.Fprintf(stderr, "controller rollback: no service %q in the status %s\n", service, statusPath(o))
		return exitUsage
	}
	v := s.Verification
	if v == nil || v.Outcome != "" && v.Outcome != planner.OutcomeHeld {
		fmt.Fprintf(stderr, "controller rollback: no release of %s is being verified or held (it is %s); roll back by setting the previous color and image in the desired state\n", service, s.Phase)
		return exitUsage
	}
	if err := safefile.PrivateDir(o.stateDir); err != nil {
		fmt.Fprintf(stderr, "controller: state directory: %v\n", err)
		return exitUsage
	}
	r := state.Request{Service: service, Generation: v.Generation, To: v.To, ToImage: v.ToImage,
		By: currentUser(), Via: "controller rollback", At: time.Now()}
	if err := state.AskRollback(state.NewRollbacks(rollbacksPath(o)), state.NewHistory(historyPath(o)), r); err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return exitNotConverged
	}
	fmt.Fprintf(stdout, "%s: rollback of release %s (%s on %s) asked; the controller switches back to %s at its next look\n", service, v.Generation, v.To, v.ToImage, v.From)
	return exitOK
}

// retry asks the controller to try again the release of service that
// was rolled back, or failed its pre-switch checks or a job, as status
// shows it: the new attempt runs under a new generation, as after an
// edit of spec.retry (its jobs run again, a manual promotion is asked
// again). Like rollback, it writes to the state directory and needs no
// lock.
func retry(o options, service string, stdout, stderr io.Writer) int {
	st, err := state.ReadStatus(statusPath(o))
	if err != nil {
		fmt.Fprintf(stderr, "controller retry: %v\n", err)
		return exitNotConverged
	}
	s := st.Services[service]
	if s == nil {
		fmt.Fprintf(stderr, "controller retry: no service %q in the status %s\n", service, statusPath(o))
		return exitUsage
	}
	if why := notRetriable(service, s); why != "" {
		fmt.Fprintf(stderr, "controller retry: %s\n", why)
		return exitUsage
	}
	if err := safefile.PrivateDir(o.stateDir); err != nil {
		fmt.Fprintf(stderr, "controller: state directory: %v\n", err)
		return exitUsage
	}
	r := state.Request{Service: service, Generation: s.ObservedGeneration, To: s.ActiveColor, ToImage: s.Image,
		By: currentUser(), Via: "controller retry", At: time.Now()}
	if err := state.AskRetry(state.NewRetries(retriesPath(o)), state.NewHistory(historyPath(o)), r); err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return exitNotConverged
	}
	fmt.Fprintf(stdout, "%s: retry of release %s (%s on %s, %s) asked; the controller tries it again at its next look, under a new generation\n",
		service, s.ObservedGeneration, s.ActiveColor, s.Image, s.ReadyReason())
	return exitOK
}

// notRetriable says why the release service s is at cannot be retried,
// "" when it can.
func notRetriable(service string, s *state.ServiceStatus) string {
	reason := s.ReadyReason()
	switch {
	case s.Phase == planner.Failed && reason.Retriable():
		return ""
	case s.Phase == planner.Failed && reason.FailsRelease():
		return fmt.Sprintf("the release of %s failed with %s: its new color's container is as it ended, and a new attempt would find it so; fix the image or its resources and change the spec", service, reason)
	}
	return fmt.Sprintf("no release of %s was rolled back or failed its checks or a job (it is %s, %s): there is nothing to try again", service, s.Phase, cmp.Or(string(reason), "no reason yet"))
}

// withHostRetries gives each service of svcs the retries asked for at
// the host that status counts for its spec, so that its generation is
// the one the controller works on; with no status, none.
func withHostRetries(o options, svcs []spec.Service) {
	st, err := state.ReadStatus(statusPath(o))
	if err != nil {
		return
	}
	for i := range svcs {
		svcs[i].HostRetries = st.Services[svcs[i].Name].RetriesOf(svcs[i].WrittenGeneration())
	}
}

// currentUser names the user running the command, for the history.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

// watchStatus prints the status, then again each time the controller
// writes it, until ctx ends (Ctrl-C). With -o json each print is one line.
func watchStatus(ctx context.Context, o options, stdout, stderr io.Writer) int {
	path := statusPath(o)
	var last time.Time
	var lastSize int64 = -1
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if fi, err := os.Stat(path); err == nil && (!fi.ModTime().Equal(last) || fi.Size() != lastSize) {
			last, lastSize = fi.ModTime(), fi.Size()
			switch o.output {
			case "json":
				st, err := state.ReadStatus(path)
				if err == nil {
					b, _ := json.Marshal(st)
					fmt.Fprintln(stdout, string(escapeJSON(b)))
				}
			default:
				fmt.Fprintf(stdout, "--- %s\n", fi.ModTime().Local().Format(time.RFC3339))
				printStatus(o, stdout, stderr)
			}
		} else if err != nil && lastSize != -2 {
			fmt.Fprintf(stderr, "controller: waiting for %s: %v\n", path, err)
			lastSize = -2
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-tick.C:
		}
	}
}

// buildInfo is what version prints.
type buildInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commitTime,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	GoVersion  string `json:"goVersion"`
}

// printVersion prints the module version, the commit it was built from
// (when the build recorded it) and the Go version.
func printVersion(o options, stdout, stderr io.Writer) int {
	var v buildInfo
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Version, v.GoVersion = bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.CommitTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if o.output == "json" || o.output == "yaml" {
		if err := writeData(stdout, o.output, v); err != nil {
			fmt.Fprintf(stderr, "controller: write version: %v\n", err)
			return exitNotConverged
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "controller %s", orDash(v.Version))
	if v.Commit != "" {
		fmt.Fprintf(stdout, ", commit %s", v.Commit)
		if v.Modified {
			fmt.Fprint(stdout, " (modified)")
		}
	}
	fmt.Fprintf(stdout, ", %s\n", v.GoVersion)
	return exitOK
}

// jobState says where a release job is, for status: running, or how it
// ended and how long it ran.
func jobState(j planner.JobRecord) string {
	switch j.Outcome {
	case planner.JobSucceeded:
		return fmt.Sprintf("succeeded after %s (exit code 0)", j.Duration().Round(time.Millisecond))
	case planner.JobFailed:
		return fmt.Sprintf("failed after %s: %s", j.Duration().Round(time.Millisecond), j.Failure)
	case "":
		if !j.StartedAt.IsZero() {
			return fmt.Sprintf("runs in %s since %s", j.Container, j.StartedAt.Format(time.RFC3339))
		}
		return "to run in " + j.Container
	}
	return j.Outcome
}
