package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/haproxy/names"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Check refuses every service of svcs that asks for what the policy does
// not allow. Each refusal is a *spec.FieldError naming the desired field,
// its value and the policy rule that refuses it. svcs are validated.
func (p *Policy) Check(svcs []spec.Service) error {
	return errors.Join(p.CheckEach(svcs)...)
}

// CheckEach is Check service by service: its i-th error is svcs[i]'s
// refusal, nil if the policy allows it. The services share one resolution
// of each path (hundreds of services name the same map file and runtime
// socket).
func (p *Policy) CheckEach(svcs []spec.Service) []error {
	errs := make([]error, len(svcs))
	paths := resolved{} // the services of a file share their directories
	for i := range svcs {
		s := &svcs[i]
		var refusals []error
		refuse := func(field, rule string, format string, args ...any) {
			refusals = append(refusals, &spec.FieldError{Source: s.Source, Path: field,
				Msg: fmt.Sprintf(format, args...) + ": refused by " + rule})
		}
		p.checkHAProxy(s, paths, refuse)
		p.checkFiles(s, paths, refuse)
		p.checkContainer(s, refuse)
		errs[i] = errors.Join(refusals...)
	}
	return errs
}

type refuseFunc func(field, rule string, format string, args ...any)

// checkHAProxy: the map file lies below an allowed directory, the runtime
// address is allowed.
func (p *Policy) checkHAProxy(s *spec.Service, paths resolved, refuse refuseFunc) {
	dirs := p.mapFileDirs()
	if real, ok := paths.below(filepath.Dir(s.HAProxy.MapFile), dirs); !ok {
		refuse("spec.haproxy.mapFile", p.rule("mapFileDirs", dirs), "%s (in %s) is not below an allowed directory", s.HAProxy.MapFile, real)
	}
	if !p.runtimeAllowed(s.HAProxy.Runtime) {
		refuse("spec.haproxy.runtime", p.rule("runtimes", p.runtimes()), "%s is not an allowed HAProxy runtime address", s.HAProxy.Runtime)
	}
}

// checkFiles: build contexts, bind mounts and env files lie below allowed
// roots.
func (p *Policy) checkFiles(s *spec.Service, paths resolved, refuse refuseFunc) {
	for i, f := range s.EnvFile {
		if real, ok := paths.below(filepath.Dir(f), p.envFileDirs()); !ok {
			refuse(fmt.Sprintf("spec.envFile[%d]", i), p.rule("envFileDirs", p.envFileDirs()), "env file %s (in %s) is not below an allowed directory", f, real)
		}
	}
	if s.Build != nil && p.BuildContextRoots != nil {
		if real, ok := paths.below(s.BuildContext(), *p.BuildContextRoots); !ok {
			refuse("spec.build.context", p.rule("buildContextRoots", *p.BuildContextRoots), "%q (%s) is not below an allowed directory", s.Build.Context, real)
		}
	}
	for i, m := range s.Mounts() {
		field := fmt.Sprintf("spec.volumes[%d]", i)
		if m.Bind {
			roots := p.bindMountRoots()
			if real, ok := paths.below(m.Source, roots); !ok {
				refuse(field, p.rule("bindMountRoots", roots), "bind mount of host path %s (%s) is not below an allowed directory", m.Source, real)
			}
		} else if !matchAny(p.volumeNames(), m.Source) {
			refuse(field, p.rule("volumeNames", p.volumeNames()), "volume %q matches no allowed name", m.Source)
		}
	}
}

// checkContainer: networks, registry, user and resources.
func (p *Policy) checkContainer(s *spec.Service, refuse refuseFunc) {
	nets := p.networks()
	if n := string(s.Network); (n == string(spec.NetworkHost) && !slices.Contains(nets, n)) || !matchAny(nets, n) {
		refuse("spec.network", p.rule("networks", nets), "network %q is not allowed (\"host\" only when listed by name)", n)
	}
	for i, n := range s.Networks {
		if !matchAny(nets, n) {
			refuse(fmt.Sprintf("spec.networks[%d]", i), p.rule("networks", nets), "network %q is not allowed", n)
		}
	}
	if reg := registry(s.Image); !matchAny(p.registries(), reg) {
		refuse("spec.image", p.rule("registries", p.registries()), "%s comes from registry %s, which is not allowed", s.Image, reg)
	}
	if p.rootUser() == RootRefuse {
		switch {
		case s.User == "":
			refuse("spec.user", p.rule("rootUser", RootRefuse), "not set: the image's own user may be root; name a user other than root")
		case isRoot(s.User):
			refuse("spec.user", p.rule("rootUser", RootRefuse), "%q is root", s.User)
		}
	}
	maxR := p.MaxResources
	if maxR.Memory != "" {
		capBytes, _ := spec.ParseMemory(maxR.Memory)
		if got := s.Resources.MemoryBytes(); got == 0 || got > capBytes {
			refuse("spec.resources.memory", p.rule("maxResources", maxResources(maxR)), "%s: a service must set a memory limit of at most %s", orNone(s.Resources.Memory), maxR.Memory)
		}
	}
	if maxR.CPUs > 0 && (s.Resources.CPUs == 0 || s.Resources.CPUs > maxR.CPUs) {
		refuse("spec.resources.cpus", p.rule("maxResources", maxResources(maxR)), "%s: a service must set a CPU limit of at most %v", orNone(fmt.Sprint(s.Resources.CPUs)), maxR.CPUs)
	}
}

func orNone(v string) string {
	if v == "" || v == "0" {
		return "no limit"
	}
	return v
}

// runtimeAllowed reports an address the policy allows.
func (p *Policy) runtimeAllowed(addr string) bool {
	network, hostPort, err := names.ParseRuntimeAddr(addr)
	if err != nil {
		return false
	}
	for _, r := range p.runtimes() {
		switch {
		case r == addr:
			return true
		case r == "unix" && network == "unix":
			return true
		case r == "loopback" && network == "tcp" && isLoopback(hostPort):
			return true
		}
	}
	return false
}

// isLoopback reports host:port whose host is a loopback IP address (a
// name such as localhost is not taken: it resolves through files others
// may change).
func isLoopback(hostPort string) bool {
	host := hostPort[:strings.LastIndex(hostPort, ":")]
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

// resolved holds the paths resolve gave during one check of services.
type resolved map[string]string

// below resolves dir's symbolic links as far as it exists and reports
// whether it lies below (or is) one of roots, themselves resolved. It
// returns the resolved directory, for the refusal.
func (c resolved) below(dir string, roots []string) (string, bool) {
	real := c.resolve(dir)
	for _, r := range roots {
		if safefile.Within(c.resolve(r), real) {
			return real, true
		}
	}
	return real, false
}

// resolve is resolve(p), looked up once per check of services.
func (c resolved) resolve(p string) string {
	if real, ok := c[p]; ok {
		return real
	}
	real := resolve(p)
	c[p] = real
	return real
}

// resolve is p with the symbolic links of its longest existing prefix
// resolved, the rest appended: a directory still to be created cannot
// escape through a link that does not exist yet.
func resolve(p string) string {
	p = filepath.Clean(p)
	var rest []string
	for {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(append([]string{real}, rest...)...)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(append([]string{p}, rest...)...)
		}
		rest = append([]string{filepath.Base(p)}, rest...)
		p = parent
	}
}

func matchAny(pats []string, v string) bool {
	for _, pat := range pats {
		if ok, _ := path.Match(pat, v); ok {
			return true
		}
	}
	return false
}

// registry is the registry an image reference pulls from (docker.io for
// a bare name).
func registry(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ""
	}
	return reference.Domain(named)
}

// isRoot reports a spec.user that names root, by name or by uid 0.
func isRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u == "root" || strings.TrimLeft(u, "0") == ""
}
