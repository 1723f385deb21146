package main

import (
	"fmt"
	"strings"

	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/haproxy/names"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// The haproxy.cfg lines that fit a service's spec: written whole by
// controller init, and quoted by validate --haproxy as the lines to add.
// Each takes the service as decoded (defaults applied), so the names are
// the ones the controller will use.

// serverCheck is the health-check cadence on each color's server line, as
// in examples/haproxy.cfg: an UP server checked every second and DOWN
// after two failures; a DOWN one (a stopped idle color) every 250 ms. A
// new color does not wait for it: the controller probes it itself.
const serverCheck = "check inter 1s fastinter 100ms downinter 250ms rise 2 fall 2"

// cfgStatsSocket is the "stats socket" line of section global for the
// runtime API address runtime, at level admin (the controller sets server
// states). A unix socket is mode 600: only root may drive HAProxy.
func cfgStatsSocket(runtime string) (string, error) {
	network, address, err := names.ParseRuntimeAddr(runtime)
	if err != nil {
		return "", err
	}
	if network == "unix" {
		return "stats socket " + address + " mode 600 level admin", nil
	}
	family := "ipv4@"
	if strings.HasPrefix(address, "[") {
		family = "ipv6@" // [::1]:9999: HAProxy reads the brackets too
	}
	return "stats socket " + family + address + " level admin", nil
}

// cfgServer is replica r's server line: its published port on 127.0.0.1.
func cfgServer(r spec.Replica) string {
	return fmt.Sprintf("server %s 127.0.0.1:%d %s", r.Server, r.HostPort, serverCheck)
}

// cfgBackend is color c's backend section: the check of spec.healthPath
// as the controller probes it, and a server per replica.
func cfgBackend(s *spec.Service, c spec.Color) string {
	lines := []string{"backend " + s.Color(c).Backend}
	for _, l := range strings.Split(haproxy.CheckLines(s.HealthPath), "\n") {
		lines = append(lines, "    "+l)
	}
	for _, r := range s.ReplicasOf(c) {
		lines = append(lines, "    "+cfgServer(r))
	}
	return strings.Join(lines, "\n") + "\n"
}

// cfgCanaryBackend is the canary backend of a service with spec.strategy
// Canary ("" for another): a server per color at its published port, each
// tracking its color's server (HAProxy checks it once, and takes its share
// away when it goes DOWN), weight 0 until the controller sets a step's; and
// a cookie HAProxy inserts, so that each user stays on the version it
// first got.
func cfgCanaryBackend(s *spec.Service) string {
	c := s.Canary()
	if c == nil {
		return ""
	}
	lines := []string{"backend " + c.Backend,
		fmt.Sprintf("    cookie %s_version insert indirect nocache httponly", s.Name)}
	for _, col := range spec.Colors() {
		r := s.Replica(col, 0)
		lines = append(lines, fmt.Sprintf("    server %s 127.0.0.1:%d track %s/%s cookie %s weight 0 no-check",
			spec.CanaryServer(col), r.HostPort, r.Backend, r.Server, spec.CanaryServer(col)))
	}
	return strings.Join(lines, "\n") + "\n"
}

// cfgUseBackend is the frontend's use_backend line: the map key names the
// backend that serves, so the controller moves all new requests at once
// by changing one map value. With hosts, only requests whose Host header
// (lower case, port removed) is one of them; without, every request.
func cfgUseBackend(s *spec.Service, hosts []string) []string {
	use := fmt.Sprintf("use_backend %%[str(%s),map(%s)]", s.HAProxy.MapKey, s.HAProxy.MapFile)
	if len(hosts) == 0 {
		return []string{use}
	}
	acl := "host_" + s.Name
	return []string{
		fmt.Sprintf("acl %s req.hdr(host),lower,field(1,:) -m str %s", acl, strings.Join(hosts, " ")),
		use + " if " + acl,
	}
}

// cfgDefaults is section defaults: HTTP mode, logging and timeouts.
const cfgDefaults = `defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout check 1s
    retries 3
    # A request that connects while the controller moves a server to its
    # container's address takes the address afresh when it is retried.
    option redispatch 1
`

// haproxyConfig is a whole haproxy.cfg for service s alone: the runtime
// API, defaults, one frontend on listen that routes hosts to it, and one
// backend per color.
func haproxyConfig(s *spec.Service, hosts []string, listen string) (string, error) {
	socket, err := cfgStatsSocket(s.HAProxy.Runtime)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# HAProxy for service %[1]s, written by controller init. The map key %[1]q
# in %[2]s names the backend that serves; the controller
# switches it through the runtime API and writes the same value to the
# map file, so a reload or restart keeps the active color.
global
    # Runtime API at level admin: the controller needs "set server ... state".
    %[3]s
    stats timeout 10s
    log stderr format short local0 notice

`, s.HAProxy.MapKey, s.HAProxy.MapFile, socket)
	b.WriteString(cfgDefaults)
	fmt.Fprintf(&b, "\nfrontend http\n    bind %s\n", listen)
	for _, l := range cfgUseBackend(s, hosts) {
		b.WriteString("    " + l + "\n")
	}
	b.WriteString(`
# Each server names its color's published port on 127.0.0.1, the fallback:
# while a color's container runs, the controller points the server at the
# container's own address (set server ... addr).
`)
	for _, c := range spec.Colors() {
		b.WriteString("\n" + cfgBackend(s, c))
	}
	if canary := cfgCanaryBackend(s); canary != "" {
		b.WriteString("\n# The canary backend: during a canary's steps the map key names it.\n" + canary)
	}
	return b.String(), nil
}

// haproxyFragment is what to add to an existing haproxy.cfg for service s:
// the lines of global and of the frontend as comments (they go into
// sections that exist), then the two backends, so that the file is also a
// valid configuration fragment (haproxy -f haproxy.cfg -f this).
func haproxyFragment(s *spec.Service, hosts []string, cfgPath string) (string, error) {
	socket, err := cfgStatsSocket(s.HAProxy.Runtime)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Service %s, written by controller init: the lines to add to
# %s, which exists and was left as it is.
#
# 1. In section global, unless a stats socket at level admin is there:
#        %s
#
# 2. In the frontend that receives the service's requests, before its
#    other use_backend and default_backend lines:
`, s.Name, cfgPath, socket)
	for _, l := range cfgUseBackend(s, hosts) {
		b.WriteString("#        " + l + "\n")
	}
	b.WriteString("#\n# 3. These backends, one per color (and the canary's), after section defaults.\n")
	for _, c := range spec.Colors() {
		b.WriteString("\n" + cfgBackend(s, c))
	}
	if canary := cfgCanaryBackend(s); canary != "" {
		b.WriteString("\n" + canary)
	}
	return b.String(), nil
}

// mapFileText is a new map file routing the service's key to blue.
func mapFileText(s *spec.Service) string {
	return "# key   backend: the backend that serves the key (the controller keeps this line current)\n" +
		s.HAProxy.MapKey + " " + s.Color(spec.Blue).Backend + "\n"
}
