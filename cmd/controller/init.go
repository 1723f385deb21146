package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
)

// initAnswers are what controller init asks for, each also a flag.
type initAnswers struct {
	name, image   string
	containerPort int
	healthPath    string
	replicas      int // containers per color; 1 writes no replicas field
	hosts         []string
	bluePort      int
	greenPort     int
	runtime       string
	mapFile       string
	listen        string                 // the frontend's bind address, ADDRESS:PORT
	out           string                 // the directory of desired.yaml and haproxy.cfg
	force         bool                   // overwrite desired.yaml and haproxy.cfg
	changed       func(flag string) bool // the flag was given (or its variable)
}

// initCommand is the "init" verb.
func initCommand(ctx context.Context, o *options, done func(int), stdout, stderr io.Writer) *cobra.Command {
	a := &initAnswers{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "write desired.yaml, an haproxy.cfg that fits it and the map file for a new service (asks what the flags do not say when the input is a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a.changed = cmd.Flags().Changed
			done(initService(*o, a, cmd.InOrStdin(), stdout, stderr))
			return nil
		},
	}
	initFlags(cmd.Flags(), a)
	policyFlag(cmd.Flags(), o)
	return cmd
}

// initFlags are the flags of init; their defaults are the answers offered.
func initFlags(fs *pflag.FlagSet, a *initAnswers) {
	fs.StringVar(&a.name, "name", "", "the service's name: 1-40 of a-z 0-9 - (required unless asked)")
	fs.StringVar(&a.image, "image", "", "the image the service runs, e.g. registry.example/web:v1 (required unless asked)")
	fs.IntVar(&a.containerPort, "container-port", 8080, "the port the app listens on in the container")
	fs.StringVar(&a.healthPath, "health-path", "/healthz", "the path HAProxy's checks and the controller's probes ask, answering 2xx when healthy")
	fs.StringSliceVar(&a.hosts, "host", nil, "a host name HAProxy routes to the service by the Host header (repeatable, or comma separated; none: every request)")
	fs.IntVar(&a.replicas, "replicas", 1, "containers per color, each behind its own server of the color's backend (1 to 32); green's port then defaults to blue's plus this")
	fs.IntVar(&a.bluePort, "blue-port", 18081, "the 127.0.0.1 port blue's container is published on (1024-65535)")
	fs.IntVar(&a.greenPort, "green-port", 18082, "the 127.0.0.1 port green's container is published on (1024-65535)")
	fs.StringVar(&a.runtime, "runtime", "unix:///run/haproxy/admin.sock", "HAProxy's runtime API: unix:///path or tcp://127.0.0.1:PORT")
	fs.StringVar(&a.mapFile, "map-file", "/etc/haproxy/hosts.map", "the map file HAProxy routes through (absolute); created with the service's line, or the line added to it")
	fs.StringVar(&a.listen, "listen", ":80", "the address of HAProxy's frontend, ADDRESS:PORT (:80: port 80 of every address)")
	fs.StringVar(&a.out, "out", ".", "the directory to write desired.yaml and haproxy.cfg into")
	fs.BoolVar(&a.force, "force", false, "overwrite desired.yaml and haproxy.cfg when they exist (the map file's line for the service is never changed)")
}

// initService gathers the answers, checks the desired state they make as
// validate would, and writes the files; nothing is written when anything
// is refused.
func initService(o options, a *initAnswers, in io.Reader, stdout, stderr io.Writer) int {
	if err := gatherAnswers(a, in, stdout); err != nil {
		fmt.Fprintf(stderr, "controller init: %v\n", err)
		return exitUsage
	}
	desired := filepath.Join(a.out, "desired.yaml")
	svc, data, err := buildDesired(o, a, desired)
	if err != nil {
		fmt.Fprintf(stderr, "controller init: %v\n", err)
		return exitUsage
	}
	files, err := planInitFiles(a, svc, data)
	if err != nil {
		fmt.Fprintf(stderr, "controller init: %v\n", err)
		return exitUsage
	}
	for _, f := range files {
		if err := f.write(); err != nil {
			fmt.Fprintf(stderr, "controller init: %v\n", err)
			return exitNotConverged
		}
		fmt.Fprintf(stdout, "%s: %s\n", f.path, f.said)
	}
	fmt.Fprint(stdout, nextSteps(files, a.out, desired))
	return exitOK
}

// hostName is a host name as the frontend's ACL compares it: lower case,
// labels of letters, digits and '-'.
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// checkAnswers refuses what init itself writes into haproxy.cfg and cannot
// write safely there; the rest is the desired state's, checked by spec.
func checkAnswers(a *initAnswers) error {
	var errs []error
	for i, h := range a.hosts {
		a.hosts[i] = strings.ToLower(strings.TrimSpace(h))
		if len(a.hosts[i]) > 253 || !hostName.MatchString(a.hosts[i]) {
			errs = append(errs, fmt.Errorf("--host %q is not a host name: labels of letters, digits and '-', separated by '.' (no port, no wildcard)", h))
		}
	}
	if err := checkListen(a.listen); err != nil {
		errs = append(errs, err)
	}
	if a.replicas < 0 || a.replicas > spec.MaxReplicas {
		errs = append(errs, fmt.Errorf("--replicas %d: want 1 to %d", a.replicas, spec.MaxReplicas))
	}
	if strings.ContainsAny(a.mapFile, `,()"'$`) {
		errs = append(errs, fmt.Errorf("--map-file %q: a path with , ( ) quotes or $ cannot be written into haproxy.cfg's map() converter: choose another path", a.mapFile))
	}
	return errors.Join(errs...)
}

// listenAddr is HAProxy's "bind" address: ADDRESS:PORT, the address empty,
// "*", an IPv4 address or a bracketed IPv6 one.
var listenAddr = regexp.MustCompile(`^(|\*|[0-9.]+|\[[0-9a-fA-F:.]+\]):([0-9]{1,5})$`)

func checkListen(listen string) error {
	m := listenAddr.FindStringSubmatch(listen)
	port := 0
	if m != nil {
		fmt.Sscan(m[2], &port)
	}
	if m == nil || port < 1 || port > 65535 {
		return fmt.Errorf("--listen %q: want ADDRESS:PORT, such as :80 (every address) or 127.0.0.1:8080", listen)
	}
	return nil
}

// buildDesired writes the answers as a desired file and decodes it as
// validate would, the host policy included: what init writes, validate
// accepts.
func buildDesired(o options, a *initAnswers, path string) (*spec.Service, []byte, error) {
	data, err := desiredYAML(a)
	if err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	svcs, err := specfile.Parse(data, abs, filepath.Dir(abs))
	if err == nil {
		err = checkPolicy(o, svcs)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("the answers make a desired state that would be refused:\n%s", fieldFlags.Replace(err.Error()))
	}
	return &svcs[0], data, nil
}

// checkPolicy refuses what the host policy does not allow, as validate does.
func checkPolicy(o options, svcs []spec.Service) error {
	p, err := o.hostPolicy()
	if err != nil {
		return err
	}
	return p.Check(svcs)
}

// fieldFlags names, in a refusal, the flag that sets each field init writes.
var fieldFlags = strings.NewReplacer(
	" metadata.name: ", " metadata.name (--name): ",
	" spec.image: ", " spec.image (--image): ",
	" spec.containerPort: ", " spec.containerPort (--container-port): ",
	" spec.healthPath: ", " spec.healthPath (--health-path): ",
	" spec.colors.blue.hostPort: ", " spec.colors.blue.hostPort (--blue-port): ",
	" spec.colors.green.hostPort: ", " spec.colors.green.hostPort (--green-port): ",
	" spec.replicas: ", " spec.replicas (--replicas): ",
	" spec.haproxy.runtime: ", " spec.haproxy.runtime (--runtime): ",
	" spec.haproxy.mapFile: ", " spec.haproxy.mapFile (--map-file): ",
)

// plainYAML is a string that may be written unquoted if YAML reads it
// back as the same string.
var plainYAML = regexp.MustCompile(`^[A-Za-z0-9/][A-Za-z0-9_./:@+-]*$`)

// desiredYAML is the desired file of the answers. Every string is written
// as YAML reads it back unchanged, quoted when it needs to be, so that no
// answer can add a field.
func desiredYAML(a *initAnswers) ([]byte, error) {
	q := func(s string) string {
		var back map[string]any
		if plainYAML.MatchString(s) &&
			yaml.Unmarshal([]byte("v: "+s), &back) == nil && back["v"] == s {
			return s
		}
		return fmt.Sprintf("%q", s)
	}
	routed := "every request HAProxy's frontend receives"
	if len(a.hosts) > 0 {
		routed = "requests for " + strings.Join(a.hosts, ", ")
	}
	if strings.ContainsAny(a.name+a.image+a.healthPath+a.runtime+a.mapFile, "\x00\r\n") {
		return nil, errors.New("an answer holds a line break or a NUL byte: give each on one line")
	}
	replicas := ""
	if a.replicas > 1 {
		replicas = fmt.Sprintf("\n  replicas: %d", a.replicas)
	}
	return fmt.Appendf(nil, `# Desired state of service %[1]s, written by controller init. HAProxy routes
# %[2]s to it (haproxy.cfg).
#
# Release: set activeColor: green and image: the new version, and save;
# the controller starts green, waits until it is healthy, switches the map
# and drains blue. Every field: docs/reference.md.
apiVersion: bluegreen.dev/v1
kind: Service
metadata:
  name: %[3]s
spec:
  activeColor: blue
  image: %[4]s
  containerPort: %[5]d
  healthPath: %[6]s%[11]s
  colors:
    blue:
      hostPort: %[7]d
    green:
      hostPort: %[8]d
  haproxy:
    runtime: %[9]s
    mapFile: %[10]s
`, a.name, routed, q(a.name), q(a.image), a.containerPort, q(a.healthPath), a.bluePort, a.greenPort, q(a.runtime), q(a.mapFile), replicas), nil
}

// initFile is one file init writes, and what it says about it.
type initFile struct {
	path, said string
	write      func() error
}

// planInitFiles decides what to write, and refuses before anything is
// written: desired.yaml that exists (without --force), a map file whose
// directory is missing or whose content HAProxy could not load. An
// haproxy.cfg that exists gets, without --force, a fragment beside it.
func planInitFiles(a *initAnswers, s *spec.Service, desired []byte) ([]initFile, error) {
	if err := os.MkdirAll(a.out, 0o755); err != nil {
		return nil, fmt.Errorf("create directory --out %s: %w", a.out, err)
	}
	desiredPath := filepath.Join(a.out, "desired.yaml")
	if err := refuseExisting(desiredPath, a.force); err != nil {
		return nil, err
	}
	files := []initFile{{desiredPath, "the desired state", func() error { return writeNew(desiredPath, desired) }}}
	cfg, err := planHAProxyConfig(a, s)
	if err != nil {
		return nil, err
	}
	m, err := planMapFile(s)
	if err != nil {
		return nil, err
	}
	return append(files, cfg, m), nil
}

// planHAProxyConfig is haproxy.cfg, or the fragment to add to the one that
// exists.
func planHAProxyConfig(a *initAnswers, s *spec.Service) (initFile, error) {
	cfgPath := filepath.Join(a.out, "haproxy.cfg")
	_, err := os.Lstat(cfgPath)
	if err == nil && !a.force {
		frag := filepath.Join(a.out, "haproxy-"+s.Name+".cfg")
		if err := refuseExisting(frag, false); err != nil {
			return initFile{}, err
		}
		text, err := haproxyFragment(s, a.hosts, cfgPath)
		if err != nil {
			return initFile{}, err
		}
		said := "the lines to add to " + cfgPath + ", which exists and is left as it is (--force overwrites it)"
		return initFile{frag, said, func() error { return writeNew(frag, []byte(text)) }}, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return initFile{}, fmt.Errorf("look for %s: %w", cfgPath, err)
	}
	text, err := haproxyConfig(s, a.hosts, a.listen)
	if err != nil {
		return initFile{}, err
	}
	return initFile{cfgPath, "HAProxy's configuration for the service", func() error { return writeNew(cfgPath, []byte(text)) }}, nil
}

// planMapFile creates the map file, or adds the service's key to the one
// that exists; a key already there is left as it is (it may name the
// color that serves now).
func planMapFile(s *spec.Service) (initFile, error) {
	path, key := s.HAProxy.MapFile, s.HAProxy.MapKey
	if info, err := os.Stat(filepath.Dir(path)); err != nil || !info.IsDir() {
		return initFile{}, fmt.Errorf("map file %s: directory %s does not exist: create it, or name another file with --map-file", path, filepath.Dir(path))
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return initFile{path, "the map file, routing " + key + " to " + s.Colors.Blue.Backend, func() error { return writeNew(path, []byte(mapFileText(s))) }}, nil
	}
	value, found, err := haproxy.LookupMapFile(path, key)
	switch {
	case err != nil:
		return initFile{}, fmt.Errorf("read map file %s (--map-file): %w", path, err)
	case found:
		return initFile{path, fmt.Sprintf("the map file already routes %s to %s: left as it is", key, value), func() error { return nil }}, nil
	}
	blue := s.Colors.Blue.Backend
	return initFile{path, "the map file: line " + key + " " + blue + " added", func() error { return haproxy.WriteMapFile(path, key, blue) }}, nil
}

// refuseExisting refuses a file that exists, unless force.
func refuseExisting(path string, force bool) error {
	if _, err := os.Lstat(path); err == nil && !force {
		return fmt.Errorf("%s exists: it is left as it is; move it away, choose another --out, or give --force to overwrite it", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("look for %s: %w", path, err)
	}
	return nil
}

// writeNew writes a file of init atomically (a link at path is replaced,
// not followed).
func writeNew(path string, data []byte) error {
	if err := safefile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// nextSteps says what to do after init: check HAProxy's configuration
// (once the fragment's lines are in it), reload, check the running
// HAProxy, run.
func nextSteps(files []initFile, out, desired string) string {
	cfg := filepath.Join(out, "haproxy.cfg")
	first := ""
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f.path), "haproxy-") {
			first = fmt.Sprintf("  add the lines of %s to %s\n", f.path, cfg)
		}
	}
	return fmt.Sprintf(`
Next:
%[1]s  haproxy -c -f %[2]s    # then reload HAProxy
  controller validate -f %[3]s --haproxy-config %[2]s --haproxy
  controller run -f %[3]s
`, first, cfg, desired)
}
