package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// defaultHAProxyConfig is where --haproxy-config looks when not given.
const defaultHAProxyConfig = "/etc/haproxy/haproxy.cfg"

// compareHealthChecks reads HAProxy's configuration (--haproxy-config) and
// compares the health check of each color's backend with the controller's
// own probe of the service's healthPath. It prints what it could not
// compare on stdout, and each difference, with the lines that fix it, on
// stderr. ok is false when a difference needs attention, or when the file
// named by --haproxy-config cannot be read. When the flag was left at its
// default, a file that is absent or cannot be read is not compared.
func compareHealthChecks(o options, svcs []spec.Service, stdout, stderr io.Writer) (ok bool) {
	file := o.haproxyConfig
	checks, err := haproxy.ReadHealthChecks(file)
	switch {
	case err != nil && o.haproxyConfigSet:
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return false
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(stdout, "health checks not compared: %s does not exist (name HAProxy's configuration with --haproxy-config)\n", file)
		return true
	case err != nil:
		fmt.Fprintf(stdout, "health checks not compared: %v\n", err)
		return true
	}
	ok = true
	compared := 0
	eachBackend(svcs, checks, func(s *spec.Service, c spec.Color, hc haproxy.HealthCheck, found bool) {
		if !found {
			fmt.Fprintf(stdout, "  %s: backend %s is not in %s: its health check is not compared\n", s.Name, s.Color(c).Backend, file)
			return
		}
		compared++
		for _, problem := range healthCheckProblems(hc, s, c) {
			fmt.Fprintf(stderr, "controller: service %s: %s\n", s.Name, problem)
			ok = false
		}
	})
	if ok && compared > 0 {
		fmt.Fprintf(stdout, "%s: the health checks of %d backend(s) agree with spec.healthPath\n", file, compared)
	}
	return ok
}

// healthCheckProblems lists what is wrong with hc, the check of color c of
// service s: a check that differs from the controller's probe (with the
// lines to write instead), a server that is absent or not checked, and a
// backend that does not redispatch a retried connection.
func healthCheckProblems(hc haproxy.HealthCheck, s *spec.Service, c spec.Color) []string {
	var problems []string
	at := fmt.Sprintf("%s:%d", hc.File, hc.Line)
	if !hc.Redispatch {
		problems = append(problems, fmt.Sprintf(`backend %s at %s does not redispatch a retried connection: add "option redispatch 1" to it or to its defaults section. `+
			`The controller moves a server that takes traffic to its container's address; HAProxy writes the address before the port, and a request that connects in between is refused and, without redispatch, fails after its retries`,
			hc.Backend, at))
	}
	if m := hc.Mismatch(s.HealthPath); m != "" {
		fix := "    " + strings.ReplaceAll(haproxy.CheckLines(s.HealthPath), "\n", "\n    ")
		problems = append(problems, fmt.Sprintf("backend %s at %s %s; its check lines should be:\n%s", hc.Backend, at, m, fix))
	}
	for _, r := range s.ReplicasOf(c) {
		checked, found := hc.Servers[r.Server]
		switch {
		case !found && s.Replicas > 0:
			cs := s.Color(c)
			problems = append(problems, fmt.Sprintf("backend %s at %s has no server %s, which %s needs (spec.replicas %d): give it servers %s1 to %s%d, e.g. \"server-template %s %d 127.0.0.1:%d check\"",
				hc.Backend, at, r.Server, r, r.Of, cs.Server, cs.Server, r.Of, cs.Server, r.Of, cs.HostPort))
			return problems
		case !found:
			problems = append(problems, fmt.Sprintf("backend %s at %s has no server %s (spec.colors.%s.server)", hc.Backend, at, r.Server, c))
		case !checked:
			problems = append(problems, fmt.Sprintf(`server %s/%s has no check: HAProxy would never take it DOWN; add "check" to its line in backend %s at %s, or "default-server check" above it`, hc.Backend, r.Server, hc.Backend, at))
		}
	}
	return problems
}

// checkConfigs gives run and plan what HAProxy's configuration says of a
// backend's health check, read again whenever the file changes, so that a
// check that fails while the controller's probe passes is explained
// exactly. A file that cannot be read gives nothing: the message then
// names the likely causes instead.
type checkConfigs struct {
	path string
	mu   sync.Mutex
	mod  time.Time
	size int64
	read map[string]haproxy.HealthCheck
}

// of is what the file says of color c's backend of service s, nil when it
// does not name it.
func (cc *checkConfigs) of(s *spec.Service, c spec.Color) *planner.CheckConfig {
	checks := cc.current()
	hc, ok := checks[s.Color(c).Backend]
	if !ok {
		return nil
	}
	return &planner.CheckConfig{Where: fmt.Sprintf("%s:%d", hc.File, hc.Line), Mismatch: hc.Mismatch(s.HealthPath)}
}

// current returns the checks of the file as it is now.
func (cc *checkConfigs) current() map[string]haproxy.HealthCheck {
	info, err := os.Stat(cc.path)
	if err != nil {
		return nil
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.read == nil || !info.ModTime().Equal(cc.mod) || info.Size() != cc.size {
		checks, err := haproxy.ReadHealthChecks(cc.path)
		if err != nil {
			checks = map[string]haproxy.HealthCheck{}
		}
		cc.read, cc.mod, cc.size = checks, info.ModTime(), info.Size()
	}
	return cc.read
}

// warnHealthChecks logs, once at start, each problem healthCheckProblems
// finds in HAProxy's configuration: a backend whose health check differs
// from the controller's probe (the release of such a service waits for a
// server HAProxy keeps DOWN), or that does not redispatch.
func warnHealthChecks(log logr.Logger, o options, svcs []spec.Service) {
	checks, err := haproxy.ReadHealthChecks(o.haproxyConfig)
	if err != nil {
		if o.haproxyConfigSet {
			log.Info("Warning: cannot read HAProxy's configuration; its health checks are not compared", "reason", err.Error())
		}
		return
	}
	eachBackend(svcs, checks, func(s *spec.Service, c spec.Color, hc haproxy.HealthCheck, found bool) {
		if !found {
			return
		}
		for _, p := range healthCheckProblems(hc, s, c) {
			log.Info("Warning: HAProxy's configuration of a backend does not fit the controller", "service", s.Name, "problem", p)
		}
	})
}

// eachBackend calls f for each color's backend of svcs, with its check in
// checks (found false when the configuration does not name the backend).
func eachBackend(svcs []spec.Service, checks map[string]haproxy.HealthCheck, f func(s *spec.Service, c spec.Color, hc haproxy.HealthCheck, found bool)) {
	for i := range svcs {
		s := &svcs[i]
		for _, c := range spec.Colors() {
			hc, found := checks[s.Color(c).Backend]
			f(s, c, hc, found)
		}
	}
}
