package spec

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/bluegreen-host/controller/pkg/haproxy/names"
)

var (
	serviceNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)
	envKeyRe      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// A Docker network name, as the engine accepts it.
	networkNameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)
)

// Environment variables the controller sets itself.
var reservedEnv = map[string]bool{"PORT": true, "COLOR": true}

func validateHeader(d *Document, source string) error {
	var errs []error
	if d.APIVersion != APIVersion {
		errs = append(errs, &FieldError{Source: source, Path: "apiVersion", Msg: fmt.Sprintf("want %q, got %q", APIVersion, d.APIVersion)})
	}
	if d.Kind != Kind {
		errs = append(errs, &FieldError{Source: source, Path: "kind", Msg: fmt.Sprintf("want %q, got %q", Kind, d.Kind)})
	}
	if !serviceNameRe.MatchString(d.Metadata.Name) {
		errs = append(errs, &FieldError{Source: source, Path: "metadata.name", Msg: fmt.Sprintf("%q is not a valid service name: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit", d.Metadata.Name)})
	}
	return errors.Join(errs...)
}

// Validate checks the values of a decoded, defaulted service, nothing on
// disk.
func (s *Service) Validate() error { return s.validate(nil) }

func (s *Service) validate(files FileCheck) error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Source: s.Source, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	s.validateContainer(bad, files)
	s.validateHAProxy(bad)
	s.validateTimers(bad)
	s.validateRelease(bad)
	s.validateWarmup(bad)
	s.validateStrategy(bad)
	s.validateJobs(bad)
	return errors.Join(errs...)
}

// validateContainer checks what the containers are made of: color, image,
// build, pull policy, networks and port, env, volumes, the process, health
// path.
func (s *Service) validateContainer(bad func(path, format string, args ...any), files FileCheck) {
	if s.ActiveColor != Blue && s.ActiveColor != Green {
		bad("spec.activeColor", "%q is not a color: want \"blue\" or \"green\"", s.ActiveColor)
	}
	if s.Image == "" {
		bad("spec.image", "is empty: name the image the active color must run, e.g. \"demo:v2\"")
	} else if _, err := reference.ParseNormalizedNamed(s.Image); err != nil {
		bad("spec.image", "%q is not a valid image reference: %v", s.Image, err)
	}
	if s.Build != nil {
		s.validateBuild(bad, files)
	}
	switch s.Pull {
	case "", PullIfMissing, PullNever:
	default:
		bad("spec.pull", "%q is not a pull policy: want %q (the default) or %q", s.Pull, PullIfMissing, PullNever)
	}
	switch {
	case s.Network == NetworkHost:
	case s.Network == "none" || s.Network == "default" || !networkNameRe.MatchString(string(s.Network)):
		bad("spec.network", "%q is not a network: want \"bridge\", \"host\" or the name of a Docker network (letters, digits, '_', '.', '-')", s.Network)
	case s.ContainerPort < 1 || s.ContainerPort > 65535:
		bad("spec.containerPort", "%d is out of range: want 1 to 65535", s.ContainerPort)
	}
	for k, v := range s.Env {
		switch {
		case !envKeyRe.MatchString(k):
			bad("spec.env."+k, "%q is not a valid environment variable name", k)
		case reservedEnv[k]:
			bad("spec.env."+k, "%s is set by the controller for each color; remove it", k)
		case strings.ContainsAny(v, "\x00"):
			bad("spec.env."+k, "value holds a NUL character")
		}
	}
	s.validateNetworks(bad)
	s.validateEnvFiles(bad)
	s.validateVolumes(bad)
	s.validateProcess(bad)
	if !strings.HasPrefix(s.HealthPath, "/") || strings.ContainsAny(s.HealthPath, " \t\r\n") {
		bad("spec.healthPath", "%q must start with '/' and hold no whitespace", s.HealthPath)
	}
}

// validateHAProxy checks what reaches HAProxy: each color's host port,
// backend and server, the runtime API, the map and the preview key.
func (s *Service) validateHAProxy(bad func(path, format string, args ...any)) {
	for _, c := range Colors() {
		cs := s.Color(c)
		p := "spec.colors." + string(c)
		if cs.HostPort == 0 {
			bad(p+".hostPort", "is missing: give the 127.0.0.1 port this color listens on (1024 to 65535)")
		} else if cs.HostPort < 1024 || cs.HostPort > 65535 {
			bad(p+".hostPort", "%d is out of range: want 1024 to 65535 (privileged ports are refused)", cs.HostPort)
		}
		checkHAProxy(bad, p+".backend", names.ValidateBackendName(cs.Backend))
		checkHAProxy(bad, p+".server", names.ValidateServerName(cs.Server))
	}
	if s.Colors.Blue.HostPort != 0 && s.Colors.Blue.HostPort == s.Colors.Green.HostPort {
		bad("spec.colors.green.hostPort", "%d is also blue's port: each color needs its own port", s.Colors.Green.HostPort)
	}
	s.validateReplicas(bad)
	if s.Colors.Blue.Backend == s.Colors.Green.Backend {
		bad("spec.colors.green.backend", "%q is also blue's backend: each color needs its own backend", s.Colors.Green.Backend)
	}
	if _, _, err := names.ParseRuntimeAddr(s.HAProxy.Runtime); err != nil {
		bad("spec.haproxy.runtime", "%v", err)
	}
	checkHAProxy(bad, "spec.haproxy.mapFile", names.ValidateMapPath(s.HAProxy.MapFile))
	checkHAProxy(bad, "spec.haproxy.mapKey", names.ValidateMapKey(s.HAProxy.MapKey))
	if p := s.Preview; p != nil {
		checkHAProxy(bad, "spec.preview.mapKey", names.ValidateMapKey(p.MapKey))
		if p.MapKey == s.HAProxy.MapKey {
			bad("spec.preview.mapKey", "%q is also spec.haproxy.mapKey: the preview needs a key of its own", p.MapKey)
		}
	}
}

// validateTimers checks the timeouts, the idle and health policies and the
// resources.
func (s *Service) validateTimers(bad func(path, format string, args ...any)) {
	if s.ReadyTimeout.Duration <= 0 {
		bad("spec.readyTimeout", "%s must be positive", s.ReadyTimeout.Duration)
	}
	if s.DrainTimeout.Duration <= 0 {
		bad("spec.drainTimeout", "%s must be positive", s.DrainTimeout.Duration)
	}
	if s.StopTimeout.Duration <= 0 {
		bad("spec.stopTimeout", "%s must be positive", s.StopTimeout.Duration)
	}
	if s.Idle.StopAfter.Duration < 0 {
		bad("spec.idle.stopAfter", "%s must not be negative", s.Idle.StopAfter.Duration)
	}
	if s.RestartAfter() < 0 {
		bad("spec.health.restartAfter", "%s must not be negative (0s turns healing off)", s.RestartAfter())
	}
	if s.Idle.Policy != IdleStop && s.Idle.Policy != IdleKeepWarm {
		bad("spec.idle.policy", "%q is not a policy: want \"Stop\" or \"KeepWarm\"", s.Idle.Policy)
	}
	if m := s.Resources.Memory; m != "" {
		n, err := ParseMemory(m)
		switch {
		case err != nil:
			bad("spec.resources.memory", "%q is not a size: want a number and a unit such as \"256m\", \"1g\" or \"512Mi\"", m)
		case n < MinMemory:
			bad("spec.resources.memory", "%q is below the engine's minimum of 6m", m)
		}
	}
	if c := s.Resources.CPUs; c < 0 || c > 0 && c < 0.01 || c > 1024 {
		bad("spec.resources.cpus", "%v must be between 0.01 and 1024 (or left out: no limit)", c)
	}
}

// validateRelease checks the gates of a release: verification, pre-switch
// checks and promotion.
func (s *Service) validateRelease(bad func(path, format string, args ...any)) {
	if w := s.Verify.Window.Duration; w < 0 {
		bad("spec.verify.window", "%s must not be negative (0s turns verification off)", w)
	}
	if r := *s.Verify.MaxErrorRate; r < 0 || r > 1 {
		bad("spec.verify.maxErrorRate", "%v must be between 0 and 1 (0.05 is 5 %%)", r)
	}
	for i, c := range s.Checks {
		at := fmt.Sprintf("spec.checks[%d]", i)
		if !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, " \t\r\n") {
			bad(at+".path", "%q must start with / and hold no space", c.Path)
		}
		if !checkMethods[c.Method] {
			bad(at+".method", "%q is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", c.Method)
		}
		if c.ExpectStatus < 100 || c.ExpectStatus > 599 {
			bad(at+".expectStatus", "%d is not an HTTP status (100 to 599)", c.ExpectStatus)
		}
		if c.Count < 1 || c.Count > 1000 {
			bad(at+".count", "%d must be between 1 and 1000", c.Count)
		}
		if c.Interval.Duration < 0 || c.Interval.Duration > time.Minute {
			bad(at+".interval", "%s must be between 0s and 1m", c.Interval.Duration)
		}
		for k, v := range c.Headers {
			if !headerNameRe.MatchString(k) || strings.ContainsAny(v, "\r\n\x00") {
				bad(at+".headers", "%q: %q is not a valid header (a token name, a value without line breaks)", k, v)
			}
		}
	}
	if m := s.Promotion.Mode; m != PromotionAuto && m != PromotionManual {
		bad("spec.promotion.mode", "%q is not a mode: want \"Auto\" or \"Manual\"", m)
	}
	if n := s.Verify.MinRequests; n < 1 {
		bad("spec.verify.minRequests", "%d must be at least 1", n)
	}
	if m := s.Verify.MaxResponseTime; m != nil && m.Duration <= 0 {
		bad("spec.verify.maxResponseTime", "%s must be positive (leave it out: not judged)", m.Duration)
	}
	if r := s.Verify.MaxLatencyRatio; r != nil && (*r < 1 || *r > 1000) {
		bad("spec.verify.maxLatencyRatio", "%v must be between 1 and 1000 (1.5: half as slow again as the previous version)", *r)
	}
}

var (
	checkMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true}
	headerNameRe = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// MinMemory is the smallest memory limit the Docker engine accepts.
const MinMemory = 6 << 20

// validateBuild checks spec.build's values, then, with files, what they
// name on disk.
func (s *Service) validateBuild(bad func(path, format string, args ...any), files FileCheck) {
	if s.Build.Context == "" {
		bad("spec.build.context", "is empty: name the directory to build the image from")
		return
	}
	if !isLocal(s.Build.Dockerfile) {
		bad("spec.build.dockerfile", "%q must be a relative path inside the build context", s.Build.Dockerfile)
		return
	}
	if files != nil {
		files(s, bad)
	}
}

// isLocal reports a relative path that stays below its directory, as
// filepath.IsLocal does on Linux: not empty, not absolute, no ".." out.
func isLocal(p string) bool {
	if p == "" || path.IsAbs(p) {
		return false
	}
	c := path.Clean(p)
	return c != ".." && !strings.HasPrefix(c, "../")
}

// BuildContext is the build context directory, resolved against the desired file's directory.
func (s *Service) BuildContext() string {
	if s.Build == nil {
		return ""
	}
	if path.IsAbs(s.Build.Context) {
		return s.Build.Context
	}
	return path.Join(s.BaseDir, s.Build.Context)
}

// checkHAProxy reports at path a name that package names, the one home of
// what may reach HAProxy, refuses: the value, what is wrong with it and
// why.
func checkHAProxy(bad func(path, format string, args ...any), path string, err error) {
	var ne *names.NameError
	switch {
	case err == nil:
	case errors.As(err, &ne):
		bad(path, "%q %s", ne.Value, ne.Reason)
	default:
		bad(path, "%v", err)
	}
}

// CheckAcross refuses what is wrong only between services: duplicate
// names, and host ports, backends and map keys used twice.
func CheckAcross(svcs []Service) error {
	_, refused := CheckAcrossEach(svcs, nil)
	errs := make([]error, len(refused))
	for i, r := range refused {
		errs[i] = r.Err
	}
	return errors.Join(errs...)
}

// CheckAcrossEach is CheckAcross service by service: a service that
// takes a name, a host port, a backend or a map key another one holds is
// refused, and the others are kept. Of two, the one known (a service
// already running under the controller: known says so; nil knows none)
// keeps it, else the one that comes first.
func CheckAcrossEach(svcs []Service, known func(name string) bool) (kept []Service, refused []Refusal) {
	order := make([]int, 0, len(svcs))
	for pass := 0; pass < 2; pass++ {
		for i, s := range svcs {
			if isKnown := known != nil && known(s.Name); isKnown == (pass == 0) {
				order = append(order, i)
			}
		}
	}
	taken := newTakenSet()
	var keep []bool = make([]bool, len(svcs))
	for _, i := range order {
		s := svcs[i]
		if errs := taken.check(&s); len(errs) > 0 {
			refused = append(refused, Refusal{File: s.File(), Name: s.Name, Err: errors.Join(errs...)})
			continue
		}
		taken.add(&s)
		keep[i] = true
	}
	for i, s := range svcs {
		if keep[i] {
			kept = append(kept, s)
		}
	}
	return kept, refused
}

// takenSet is what the services kept so far hold that no other may.
type takenSet struct {
	names, keys, backends map[string]string
	ports                 map[int]string
}

func newTakenSet() *takenSet {
	return &takenSet{names: map[string]string{}, keys: map[string]string{}, backends: map[string]string{}, ports: map[int]string{}}
}

// check says what s would take that is taken.
func (t *takenSet) check(s *Service) []error {
	if prev, ok := t.names[s.Name]; ok {
		return []error{&FieldError{Source: s.Source, Path: "metadata.name", Msg: fmt.Sprintf("%q is already defined in %s", s.Name, prev)}}
	}
	var errs []error
	for _, c := range Colors() {
		for _, r := range s.ReplicasOf(c) {
			if prev, ok := t.ports[r.HostPort]; ok && r.HostPort != 0 {
				errs = append(errs, &FieldError{Source: s.Source, Path: "spec.colors." + string(c) + ".hostPort", Msg: fmt.Sprintf("%d is already used by %s", r.HostPort, prev)})
				break
			}
		}
		if prev, ok := t.backends[s.HAProxy.Runtime+" "+s.Color(c).Backend]; ok {
			errs = append(errs, &FieldError{Source: s.Source, Path: "spec.colors." + string(c) + ".backend", Msg: fmt.Sprintf("%q is already used by %s", s.Color(c).Backend, prev)})
		}
	}
	if c := s.Canary(); c != nil {
		if prev, ok := t.backends[s.HAProxy.Runtime+" "+c.Backend]; ok {
			errs = append(errs, &FieldError{Source: s.Source, Path: "spec.strategy.backend", Msg: fmt.Sprintf("%q is already used by %s", c.Backend, prev)})
		}
	}
	if prev, ok := t.keys[s.HAProxy.Runtime+" "+s.HAProxy.MapFile+" "+s.HAProxy.MapKey]; ok {
		errs = append(errs, &FieldError{Source: s.Source, Path: "spec.haproxy.mapKey", Msg: fmt.Sprintf("%q in %s is already routed by service %q", s.HAProxy.MapKey, s.HAProxy.MapFile, prev)})
	}
	return errs
}

// add takes what s holds.
func (t *takenSet) add(s *Service) {
	t.names[s.Name] = s.Source
	for _, c := range Colors() {
		for _, r := range s.ReplicasOf(c) {
			t.ports[r.HostPort] = fmt.Sprintf("service %q %s", s.Name, r)
		}
		t.backends[s.HAProxy.Runtime+" "+s.Color(c).Backend] = fmt.Sprintf("service %q %s", s.Name, c)
	}
	if c := s.Canary(); c != nil {
		t.backends[s.HAProxy.Runtime+" "+c.Backend] = fmt.Sprintf("service %q canary", s.Name)
	}
	t.keys[s.HAProxy.Runtime+" "+s.HAProxy.MapFile+" "+s.HAProxy.MapKey] = s.Name
}
