package spec

import (
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
)

// Logging is a container's Docker logging driver and its options, as
// docker compose's logging.
type Logging struct {
	// Driver is the engine's logging driver, e.g. "json-file", "local",
	// "journald".
	Driver string `json:"driver"`
	// Options are the driver's options, e.g. max-size and max-file.
	Options map[string]string `json:"options,omitempty"`
}

// DefaultLogging is the logging of a container whose spec gives none: the
// engine's json-file, rotated (the engine's own default never rotates).
// A new value at each call, so that no caller can change it for others.
func DefaultLogging() Logging {
	return Logging{Driver: "json-file", Options: map[string]string{"max-size": "10m", "max-file": "3"}}
}

// IsDefault reports logging equal to DefaultLogging.
func (l Logging) IsDefault() bool {
	d := DefaultLogging()
	return l.Driver == d.Driver && maps.Equal(l.Options, d.Options)
}

// LoggingInForce is the logging the containers are created with: spec's
// logging, else DefaultLogging. The default is not written into the spec
// by the defaults (see applyDefaults), so that a spec that gives none
// keeps the generation and the container hash it had before logging
// existed.
func (s *ServiceSpec) LoggingInForce() Logging {
	if s.Logging == nil {
		return DefaultLogging()
	}
	return Logging{Driver: s.Logging.Driver, Options: maps.Clone(s.Logging.Options)}
}

func (l Logging) String() string {
	opts := make([]string, 0, len(l.Options))
	for _, k := range slices.Sorted(maps.Keys(l.Options)) {
		opts = append(opts, k+"="+l.Options[k])
	}
	if len(opts) == 0 {
		return l.Driver
	}
	return l.Driver + " (" + strings.Join(opts, ", ") + ")"
}

// StopSignals are the signals spec.stopSignal may name: those an app
// takes as "finish and exit" (SIGKILL, which leaves no grace, is not one).
var StopSignals = []string{"SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH"}

var (
	logDriverRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_./:-]{0,127}$`)
	logOptionRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)
	// logOptions are the options the engine's rotating drivers know.
	logOptions = map[string][]string{
		"json-file": {"max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"},
		"local":     {"max-size", "max-file", "compress"},
		"none":      {},
	}
)

// validateProcess checks what the container runs: entrypoint, command,
// working directory, stop signal and logging.
func (s *Service) validateProcess(bad func(path, format string, args ...any)) {
	for _, f := range []struct {
		name string
		list []string
	}{{"spec.entrypoint", s.Entrypoint}, {"spec.command", s.Command}} {
		for i, a := range f.list {
			if strings.ContainsRune(a, 0) {
				bad(f.name+"["+strconv.Itoa(i)+"]", "%q holds a NUL character", a)
			}
		}
	}
	if len(s.Entrypoint) > 0 && s.Entrypoint[0] == "" {
		bad("spec.entrypoint[0]", "is empty: name the program to run, or leave spec.entrypoint out to run the image's own")
	}
	if w := s.WorkingDir; w != "" && (!path.IsAbs(w) || path.Clean(w) != w || strings.ContainsRune(w, 0)) {
		bad("spec.workingDir", "%q must be an absolute, clean path in the container, e.g. /app", w)
	}
	if sig := s.StopSignal; sig != "" && !slices.Contains(StopSignals, sig) {
		bad("spec.stopSignal", "%q is not a stop signal: want one of %s", sig, strings.Join(StopSignals, ", "))
	}
	if s.Logging != nil {
		validateLogging(*s.Logging, bad)
	}
}

// validateLogging checks spec.logging: a driver name, options the engine
// takes, and, for the drivers that write files on the host, options that
// bound them.
func validateLogging(l Logging, bad func(path, format string, args ...any)) {
	if !logDriverRe.MatchString(l.Driver) {
		bad("spec.logging.driver", "%q is not a logging driver: want a name such as \"json-file\", \"local\" or \"journald\"", l.Driver)
		return
	}
	known, checked := logOptions[l.Driver]
	for _, k := range slices.Sorted(maps.Keys(l.Options)) {
		v, at := l.Options[k], "spec.logging.options."+k
		switch {
		case !logOptionRe.MatchString(k):
			bad(at, "%q is not an option name (letters, digits, '_', '.', '-')", k)
		case checked && !slices.Contains(known, k):
			bad(at, "the %s driver has no option %q: want one of [%s]", l.Driver, k, strings.Join(known, " "))
		case strings.ContainsAny(v, "\x00\r\n"):
			bad(at, "%q holds a line break or NUL character", v)
		case k == "max-size":
			if n, err := units.RAMInBytes(v); err != nil || n <= 0 {
				bad(at, "%q is not a size: want a number and a unit such as \"10m\"", v)
			}
		case k == "max-file":
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				bad(at, "%q is not a count of files: want a whole number of at least 1, quoted (\"3\")", v)
			}
		case k == "compress":
			if _, err := strconv.ParseBool(v); err != nil {
				bad(at, "%q is not \"true\" or \"false\"", v)
			}
		}
	}
	if l.Driver == "json-file" && l.Options["max-size"] == "" {
		bad("spec.logging.options", "the json-file driver without max-size never rotates, and its log grows until the disk is full: set max-size (e.g. \"10m\") and max-file (e.g. \"3\"), or leave spec.logging out for that default")
	}
}

// validateNetworks checks spec.networks: each a user-defined Docker
// network, other than spec.network, named once.
func (s *Service) validateNetworks(bad func(path, format string, args ...any)) {
	if len(s.Networks) > 0 && s.Network == NetworkHost {
		bad("spec.networks", "%v: a container on the host's network (spec.network: host) joins no other network", s.Networks)
		return
	}
	seen := map[string]int{}
	for i, n := range s.Networks {
		at := "spec.networks[" + strconv.Itoa(i) + "]"
		switch {
		case n == string(NetworkHost) || n == string(NetworkBridge) || n == "none" || n == "default":
			bad(at, "%q is not a user-defined network: name one made with docker network create", n)
		case !networkNameRe.MatchString(n):
			bad(at, "%q is not a network name (letters, digits, '_', '.', '-', starting with a letter or digit)", n)
		case n == string(s.Network):
			bad(at, "%q is spec.network already: list only the other networks", n)
		default:
			if j, ok := seen[n]; ok {
				bad(at, "%q is also spec.networks[%d]", n, j)
			}
			seen[n] = i
		}
	}
}

// validateEnvFiles checks spec.envFile's paths; what the files hold is
// checked by the loader that reads them (package specfile).
func (s *Service) validateEnvFiles(bad func(path, format string, args ...any)) {
	seen := map[string]int{}
	for i, f := range s.EnvFile {
		at := "spec.envFile[" + strconv.Itoa(i) + "]"
		switch {
		case !path.IsAbs(f) || path.Clean(f) != f || strings.ContainsRune(f, 0):
			bad(at, "%q must be an absolute, clean path on the host: a relative one would depend on where the controller runs", f)
		default:
			if j, ok := seen[f]; ok {
				bad(at, "%q is also spec.envFile[%d]", f, j)
			}
			seen[f] = i
		}
	}
}

// ValidEnvName reports a name the environment of a container may hold
// (letters, digits and '_', not starting with a digit).
func ValidEnvName(name string) bool { return envKeyRe.MatchString(name) }

// ReservedEnv reports a variable the controller sets itself for each
// color (COLOR, PORT), which no spec may set.
func ReservedEnv(name string) bool { return reservedEnv[name] }
