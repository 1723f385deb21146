package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// envPrefix starts the environment variable of every flag: --state-dir is
// BLUEGREEN_STATE_DIR, so that a systemd EnvironmentFile can set any flag.
// A flag given on the command line wins over its variable.
const envPrefix = "BLUEGREEN_"

// newCommand is the controller's command line: a root command that runs
// the controller (as "run" does), and one command per verb, each with its
// own flags. The flags every verb shares (-f, --state-dir, -v,
// --log-format) may come before or after the verb. A verb sets *code.
func newCommand(ctx context.Context, code *int, stdout, stderr io.Writer) *cobra.Command {
	var o options
	done := func(c int) { *code = c }
	root := &cobra.Command{
		Use:   "controller",
		Short: "blue/green deployments on one host with HAProxy and Docker",
		Long: `controller converges the running system towards the desired state in a
YAML file, one safe step at a time: it builds or finds the image, starts
the idle color, waits until HAProxy says UP, switches the HAProxy map,
drains the old color and stops it. With no verb it runs, as "run" does.

Every flag can also be set by an environment variable: BLUEGREEN_ and the
flag's name in capitals, '-' as '_' (--state-dir: BLUEGREEN_STATE_DIR).`,
		Args:              cobra.NoArgs,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			o.haproxyConfigSet = cmd.Flags().Changed("haproxy-config")
			o.policySet = cmd.Flags().Changed("policy")
			return nil
		},
		RunE: func(*cobra.Command, []string) error {
			done(runController(ctx, o, newLogger(stderr, o.verbosity, o.logFormat), stderr))
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&o.file, "file", "f", "desired.yaml", "desired state: a YAML file (several services separated by ---) or a directory of them")
	pf.StringVar(&o.stateDir, "state-dir", "/var/lib/bluegreen", "directory for status.json, the history and the lock that keeps a second controller out (created 0700; refused when its group or others may write to it)")
	pf.IntVarP(&o.verbosity, "verbosity", "v", 0, "log verbosity: 0 state changes and steps, 1 every pass")
	pf.StringVar(&o.logFormat, "log-format", "text", "log format: text (key=value) or json (one object a line, for journald and log shippers)")
	runFlags(root.Flags(), &o)

	runCmd := &cobra.Command{
		Use:   "run",
		Short: "watch the desired state and converge (--once: converge, then exit)",
		Args:  cobra.NoArgs,
		RunE:  root.RunE,
	}
	runFlags(runCmd.Flags(), &o)

	status := statusCommand(ctx, &o, done, stdout, stderr)
	validateCmd := validateCommand(ctx, &o, done, stdout, stderr)
	planCmd := planCommand(ctx, &o, done, stdout, stderr)
	promoteCmd := promoteCommand(ctx, &o, done, stdout, stderr)
	rollbackCmd := rollbackCommand(ctx, &o, done, stdout, stderr)
	retryCmd := retryCommand(ctx, &o, done, stdout, stderr)
	history := historyCommand(ctx, &o, done, stdout, stderr)
	exportCmd := exportCommand(ctx, &o, done, stdout, stderr)
	versionCmd := versionCommand(ctx, &o, done, stdout, stderr)
	initCmd := initCommand(ctx, &o, done, stdout, stderr)

	for _, c := range []*cobra.Command{validateCmd, planCmd, promoteCmd, rollbackCmd, exportCmd} {
		gitFlags(c.Flags(), &o)
		policyFlag(c.Flags(), &o)
	}
	root.AddCommand(runCmd, status, validateCmd, planCmd, promoteCmd, rollbackCmd, retryCmd, history, exportCmd, versionCmd, initCmd)
	for _, c := range root.Commands() {
		c.PreRunE = func(*cobra.Command, []string) error { return checkOutput(o.output) }
	}
	return root
}

// runFlags are the flags of run (and of the root command, which runs).
func runFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.lockDir, "lock-dir", "/run/bluegreen", "directory shared by every controller on the host, holding one lock per HAProxy runtime address, so that two controllers never drive one HAProxy (created 0700; refused when another user owns it)")
	fs.BoolVar(&o.once, "once", false, "converge, then exit 0; exit 1 when a service needs attention or --timeout passes, 4 when a release waits for controller promote")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "--once: give up after this long")
	fs.DurationVar(&o.resync, "resync", 10*time.Second, "look at every service at least this often, even when nothing changes, and check the containers kept between passes against the engine's list")
	fs.DurationVar(&o.debounce, "debounce", 5*time.Millisecond, "wait this long after a file event before reading the desired state (a single desired file that a new file was renamed over is read at once)")
	fs.DurationVar(&o.haproxyTimeout, "haproxy-timeout", 2*time.Second, "deadline of one HAProxy runtime API command")
	fs.DurationVar(&o.haproxyWatch, "haproxy-watch", 500*time.Millisecond, "read HAProxy's server states (one show stat of the servers only per runtime API) this often between passes, so that a served color going DOWN is seen within it (0: at passes only)")
	fs.DurationVar(&o.dockerTimeout, "docker-timeout", 10*time.Second, "deadline of one read of the Docker engine (image or container inspect, logs); builds, starts and stops are bounded by --step-timeout instead")
	fs.DurationVar(&o.stepTimeout, "step-timeout", 30*time.Minute, "deadline of one step (an image build, a container start or stop, a runtime API command); one cut short is reported and retried")
	fs.DurationVar(&o.probeTimeout, "probe-timeout", 200*time.Millisecond, "deadline of one health probe of a new color (a probe that times out is retried at the next pass)")
	haproxyConfigFlag(fs, o)
	policyFlag(fs, o)
	fs.BoolVar(&o.noPull, "no-pull", false, "never pull an image from a registry; a missing image must be built (spec.build) or loaded (docker load)")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus /metrics, /healthz and /readyz on this address, e.g. 127.0.0.1:9464 (default: off)")
	fs.StringVar(&o.uiListen, "ui-listen", "", "serve the dashboard, a live page of the services and their releases, on this address, e.g. 127.0.0.1:9465 (default: off); an address that is not loopback needs --ui-token-file")
	fs.StringVar(&o.uiTokenFile, "ui-token-file", "", "let the holders of the tokens in this file (NAME:SECRET lines, mode 0600) promote and roll back releases from the dashboard; without it the dashboard is read-only")
	gitFlags(fs, o)
	fs.DurationVar(&o.gitPoll, "git-poll", 30*time.Second, "--git-url: fetch this often")
	fs.StringArrayVar(&o.webhooks, "webhook", nil, "POST a JSON event to this URL when a release starts, succeeds, fails or is rolled back, and when a served color crash-loops (repeat for several; BLUEGREEN_WEBHOOK takes one)")
	fs.StringVar(&o.webhookSecretFile, "webhook-secret-file", "", "sign each webhook body with the secret in this file (HMAC-SHA256, header X-Bluegreen-Signature-256); the file must be private (mode 0600)")
}

// haproxyConfigFlag is --haproxy-config, of validate, plan and run.
func haproxyConfigFlag(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.haproxyConfig, "haproxy-config", defaultHAProxyConfig, "HAProxy's configuration: validate compares each backend's health check with the service's healthPath; run and plan name the difference when HAProxy's check fails (default file absent: not compared)")
}

// gitFlags are the flags of a desired state read from a git repository,
// for run and for every verb that reads the desired state.
func gitFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.gitURL, "git-url", "", "read the desired state from this git repository (https://, ssh://, git@host:path or file://) instead of -f")
	fs.StringVar(&o.gitRef, "git-ref", "main", "--git-url: the branch to follow, or tags/<name>")
	fs.StringVar(&o.gitPath, "git-path", "desired.yaml", "--git-url: the desired state's file or directory inside the repository")
	fs.StringVar(&o.gitSSHKey, "git-ssh-key-file", "", "--git-url over ssh: the private key (mode 0600)")
	fs.StringVar(&o.gitKnownHosts, "git-known-hosts-file", "", "--git-url over ssh: the known_hosts file to check the server's key against (default: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts)")
	fs.StringVar(&o.gitTokenFile, "git-token-file", "", "--git-url over https: a file holding the access token (mode 0600)")
	fs.StringVar(&o.gitTokenUser, "git-token-user", "", "--git-url over https: the user name sent with the token (default git; x-access-token for a GitHub App, x-token-auth for Bitbucket, oauth2 for a GitLab OAuth token)")
	fs.BoolVar(&o.gitInsecure, "git-insecure-transport", false, "--git-url: accept http:// and git:// URLs, which neither encrypt nor authenticate the server (anyone on the network path could supply the desired state); only for a network trusted end to end")
	fs.DurationVar(&o.gitTimeout, "git-timeout", 60*time.Second, "--git-url: deadline of one fetch, from the connection to the last object")
}

func outputFlag(fs *pflag.FlagSet, o *options) {
	fs.StringVarP(&o.output, "output", "o", "", "output format: json or yaml (default: text for people)")
}

// jsonAlias keeps --json, from before -o, working.
func jsonAlias(fs *pflag.FlagSet, o *options) {
	fs.Var(jsonFlag{o}, "json", "the same as -o json")
	fs.Lookup("json").NoOptDefVal = "true"
}

type jsonFlag struct{ o *options }

func (f jsonFlag) String() string { return "false" }
func (f jsonFlag) Type() string   { return "bool" }
func (f jsonFlag) Set(v string) error {
	switch v {
	case "true":
		f.o.output = "json"
	case "false":
	default:
		return fmt.Errorf("%q is not true or false", v)
	}
	return nil
}

func checkOutput(format string) error {
	switch format {
	case "", "text", "json", "yaml":
		return nil
	}
	return fmt.Errorf("-o %q: want json or yaml", format)
}

// writeData writes v as JSON (indented) or YAML.
func writeData(w io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = escapeJSON(b)
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// applyEnv sets each flag not given on the command line from its
// environment variable, if set.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" || f.Name == "json" {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("environment variable %s=%q: %v", name, v, serr)
			}
		}
	})
	return err
}

// statusCommand is the "status" verb.
func statusCommand(ctx context.Context, o *options, done func(int), stdout, stderr io.Writer) *cobra.Command {
	status := &cobra.Command{
		Use:   "status",
		Short: "print the status the controller last wrote; exit 1 unless every service is converged",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if o.watch {
				done(watchStatus(ctx, *o, stdout, stderr))
				return nil
			}
			done(printStatus(*o, stdout, stderr))
			return nil
		},
	}
	outputFlag(status.Flags(), o)
	jsonAlias(status.Flags(), o)
	status.Flags().BoolVarP(&o.watch, "watch", "w", false, "print the status again each time the controller writes it, until interrupted")
	return status
}

// validateCommand is the "validate" verb.
func validateCommand(ctx context.Context, o *options, done func(int), stdout, stderr io.Writer) *cobra.Command {
	validateCmd := &cobra.Command{
		Use:   "validate",
		Short: "check the desired state, change nothing",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			done(validate(*o, stdout, stderr))
			return nil
		},
	}
	haproxyConfigFlag(validateCmd.Flags(), o)
	validateCmd.Flags().BoolVar(&o.haproxyLive, "haproxy", false, "also check the running HAProxy of each service (spec.haproxy.runtime): level admin, each color's backend and checked server, the map file loaded; prints the haproxy.cfg lines to add")
	return validateCmd
}

// planCommand is the "plan" verb.
func planCommand(ctx context.Context, o *options, done func(int), stdout, stderr io.Writer) *cobra.Command {
	planCmd := &cobra.Command{
		Use:   "plan",
		Short: "observe and print the next step per service, change nothing; exit 1 unless every service is converged",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			done(plan(*o, stdout, stderr))
			return nil
		},
	}
	outputFlag(planCmd.Flags(), o)
	planCmd.Flags().DurationVar(&o.haproxyTimeout, "haproxy-timeout", 2*time.Second, "deadline of one HAProxy runtime API command")
	planCmd.Flags().DurationVar(&o.dockerTimeout, "docker-timeout", 10*time.Second, "deadline of one read of the Docker engine")
	planCmd.Flags().DurationVar(&o.probeTimeout, "probe-timeout", 200*time.Millisecond, "deadline of one health probe of a new color")
	haproxyConfigFlag(planCmd.Flags(), o)
	return planCmd
}

// promoteCommand is the "promote" verb.
func promoteCommand(ctx context.Context, o *options, done func(int), stdout, stderr io.Writer) *cobra.Command {
	promoteCmd := &cobra.Command{
		Use:   "promote SERVICE",
		Short: "approve the release of SERVICE waiting for promotion (promotion: Manual)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			done(promote(*o, args[0], stdout, stderr))
			return nil
		},
	}
	return promoteCmd
}

// rollbackCommand is the "rollback" verb.
func rollbackCommand(ctx context.Context, o *options, done func(int), stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback SERVICE",
		Short: "roll back the release of SERVICE being verified on real traffic, or held after a job that cannot be undone (HeldAfterIrreversibleJob), to the color kept warm",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			done(rollback(*o, args[0], stdout, stderr))
			return nil
		},
	}
}

// retryCommand is the "retry" verb.
func retryCommand(ctx context.Context, o *options, done func(int), stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "retry SERVICE",
		Short: "try again the release of SERVICE that was rolled back, or failed its pre-switch checks or a job, as a new attempt",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			done(retry(*o, args[0], stdout, stderr))
			return nil
		},
	}
}

// historyCommand is the "history" verb.
func historyCommand(ctx context.Context, o *options, done func(int), stdout, stderr io.Writer) *cobra.Command {
	history := &cobra.Command{
		Use:   "history [SERVICE]",
		Short: "print the release attempts, of one service or of all, and how each ended",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			service := ""
			if len(args) == 1 {
				service = args[0]
			}
			done(printHistory(*o, service, stdout, stderr))
			return nil
		},
	}
	outputFlag(history.Flags(), o)
	jsonAlias(history.Flags(), o)
	return history
}

// exportCommand is the "export" verb.
func exportCommand(ctx context.Context, o *options, done func(int), stdout, stderr io.Writer) *cobra.Command {
	exportCmd := &cobra.Command{
		Use:   "export",
		Short: "write the desired state as Kubernetes manifests (Argo Rollouts, or --plain)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			done(exportManifests(*o, stdout, stderr))
			return nil
		},
	}
	exportCmd.Flags().BoolVar(&o.plain, "plain", false, "two Deployments (blue, green) and a Service selecting the active color, for a cluster without Argo Rollouts")
	exportCmd.Flags().StringVar(&o.out, "out", "", "write one file per service, <service>.yaml, into this directory instead of standard output")
	return exportCmd
}

// versionCommand is the "version" verb.
func versionCommand(ctx context.Context, o *options, done func(int), stdout, stderr io.Writer) *cobra.Command {
	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "print the controller's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			done(printVersion(*o, stdout, stderr))
			return nil
		},
	}
	outputFlag(versionCmd.Flags(), o)
	return versionCmd
}
