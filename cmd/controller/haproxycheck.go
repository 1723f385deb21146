package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// liveHAProxy is what one running HAProxy shows through its runtime API:
// what validate --haproxy compares with the desired state. The path of a
// health check is not among it (no runtime command shows it): that is for
// --haproxy-config.
type liveHAProxy struct {
	addr    string
	err     error                        // the runtime API did not answer, or not as expected
	level   string                       // "admin", "operator", "user" ("show cli level"); "" when unknown
	servers map[string]map[string]string // backend -> server -> status ("UP", "DOWN", "no check", ...)
	maps    map[string]liveMap           // by map file path
}

// liveMap is one map file as HAProxy has it loaded.
type liveMap struct {
	loaded  bool // HAProxy loaded the file: a line of haproxy.cfg names it
	err     error
	entries []haproxy.MapEntry
}

// checkLiveHAProxy compares every service with the HAProxy its
// spec.haproxy.runtime names, reading each HAProxy once: the runtime API
// answers at level admin, each color's backend and server exist and the
// server is checked, the map file is loaded. It prints what agrees on
// stdout and each problem, with the haproxy.cfg lines that fix it, on
// stderr; ok is false when there is a problem.
func checkLiveHAProxy(o options, svcs []spec.Service, stdout, stderr io.Writer) (ok bool) {
	timeout := o.haproxyTimeout
	if timeout == 0 {
		timeout = haproxy.DefaultTimeout
	}
	seen := map[string]*liveHAProxy{}
	ok = true
	for i := range svcs {
		s := &svcs[i]
		h := seen[s.HAProxy.Runtime]
		if h == nil {
			h = observeLive(s.HAProxy.Runtime, svcs, timeout)
			seen[s.HAProxy.Runtime] = h
		}
		problems, notes := liveProblems(s, h)
		for _, p := range problems {
			fmt.Fprintf(stderr, "controller: service %s: %s\n", s.Name, p)
			ok = false
		}
		for _, n := range notes {
			fmt.Fprintf(stdout, "  %s: %s\n", s.Name, n)
		}
		if len(problems) == 0 {
			fmt.Fprintf(stdout, "  %s: HAProxy at %s has backends %s and %s, each with its server checked, and map %s loaded\n",
				s.Name, h.addr, s.Colors.Blue.Backend, s.Colors.Green.Backend, s.HAProxy.MapFile)
		}
	}
	fmt.Fprintln(stdout, "the running HAProxy does not show the path its checks ask: --haproxy-config compares it with spec.healthPath")
	return ok
}

// observeLive reads one HAProxy: its CLI level, its backends and servers
// (show stat) and the map files the services at addr name (show map).
func observeLive(addr string, svcs []spec.Service, timeout time.Duration) *liveHAProxy {
	h := &liveHAProxy{addr: addr, servers: map[string]map[string]string{}, maps: map[string]liveMap{}}
	c, err := haproxy.New(addr, timeout)
	if err != nil {
		h.err = err
		return h
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*timeout+time.Second)
	defer cancel()
	level, err := c.Exec(ctx, "show cli level")
	if err != nil {
		h.err = err
		return h
	}
	if _, l, found := strings.Cut(level, "]: "); found {
		level = l
	}
	h.level = strings.TrimSpace(level)
	rows, err := c.ShowStat(ctx)
	if err != nil {
		h.err = err
		return h
	}
	for _, r := range rows {
		switch r.Fields.Get("type") {
		case "1":
			if h.servers[r.Proxy] == nil {
				h.servers[r.Proxy] = map[string]string{}
			}
		case "2":
			if h.servers[r.Proxy] == nil {
				h.servers[r.Proxy] = map[string]string{}
			}
			h.servers[r.Proxy][r.Server] = r.Status
		}
	}
	for _, s := range svcs {
		path := s.HAProxy.MapFile
		if _, done := h.maps[path]; done || s.HAProxy.Runtime != addr {
			continue
		}
		entries, err := c.ShowMap(ctx, path)
		switch {
		case errors.Is(err, haproxy.ErrUnknownMap):
			h.maps[path] = liveMap{}
		default:
			h.maps[path] = liveMap{loaded: err == nil, err: err, entries: entries}
		}
	}
	return h
}

// liveProblems compares service s with what HAProxy h shows: problems,
// each naming the haproxy.cfg lines to add, and notes that need no action.
func liveProblems(s *spec.Service, h *liveHAProxy) (problems, notes []string) {
	socket, _ := cfgStatsSocket(s.HAProxy.Runtime)
	if h.err != nil {
		return []string{fmt.Sprintf("cannot read HAProxy at %s (spec.haproxy.runtime): %v\n    nothing else was checked; HAProxy's section global needs:\n        %s",
			h.addr, h.err, socket)}, nil
	}
	if h.level != "admin" {
		problems = append(problems, fmt.Sprintf("the runtime API at %s answers at level %q: the controller needs level admin to set server states; in section global of haproxy.cfg write:\n        %s",
			h.addr, h.level, socket))
	}
	for _, c := range spec.Colors() {
		problems = append(problems, colorProblems(s, c, h)...)
	}
	problems = append(problems, canaryProblems(s, h)...)
	m := h.maps[s.HAProxy.MapFile]
	switch {
	case m.err != nil:
		problems = append(problems, fmt.Sprintf("cannot read map %s (spec.haproxy.mapFile) at %s: %v", s.HAProxy.MapFile, h.addr, m.err))
	case !m.loaded:
		problems = append(problems, fmt.Sprintf("HAProxy at %s has not loaded map file %s (spec.haproxy.mapFile): no line of its configuration names it, so switching the map would move no traffic; add to the frontend, then reload:\n        %s",
			h.addr, s.HAProxy.MapFile, strings.Join(cfgUseBackend(s, nil), "\n        ")))
	default:
		notes = append(notes, mapKeyNote(s, m.entries)...)
	}
	return problems, notes
}

// colorProblems: color c's backend and server are missing from h, or the
// server is not checked.
func colorProblems(s *spec.Service, c spec.Color, h *liveHAProxy) []string {
	cs := s.Color(c)
	servers, found := h.servers[cs.Backend]
	if !found {
		block := strings.ReplaceAll(strings.TrimSuffix(cfgBackend(s, c), "\n"), "\n", "\n        ")
		return []string{fmt.Sprintf("HAProxy at %s has no backend %s (spec.colors.%s.backend); add to haproxy.cfg, then reload:\n        %s",
			h.addr, cs.Backend, c, block)}
	}
	var problems []string
	for _, r := range s.ReplicasOf(c) {
		status, found := servers[r.Server]
		switch {
		case !found && s.Replicas > 0:
			problems = append(problems, fmt.Sprintf("backend %s at %s has no server %s, which %s needs (spec.replicas %d); add to backend %s, then reload:\n        %s",
				cs.Backend, h.addr, r.Server, r, r.Of, cs.Backend, cfgServer(r)))
		case !found:
			problems = append(problems, fmt.Sprintf("backend %s at %s has no server %s (spec.colors.%s.server); add to backend %s, then reload:\n        %s",
				cs.Backend, h.addr, r.Server, c, cs.Backend, cfgServer(r)))
		case status == "no check":
			problems = append(problems, fmt.Sprintf(`server %s/%s at %s is not checked (HAProxy says "no check"): HAProxy would never take it DOWN; write its line in backend %s so, then reload:
        %s`, cs.Backend, r.Server, h.addr, cs.Backend, cfgServer(r)))
		}
	}
	return problems
}

// canaryProblems: the canary backend of a service with spec.strategy
// Canary, or one of its servers, is missing from h.
func canaryProblems(s *spec.Service, h *liveHAProxy) []string {
	c := s.Canary()
	if c == nil {
		return nil
	}
	servers, found := h.servers[c.Backend]
	missing := !found
	for _, col := range spec.Colors() {
		if _, ok := servers[spec.CanaryServer(col)]; !ok {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	block := strings.ReplaceAll(strings.TrimSuffix(cfgCanaryBackend(s), "\n"), "\n", "\n        ")
	return []string{fmt.Sprintf("HAProxy at %s has no canary backend %s (spec.strategy.backend) with servers blue and green; add to haproxy.cfg, then reload:\n        %s",
		h.addr, c.Backend, block)}
}

// mapKeyNote says when the running map has no line for the service's key
// yet (the controller adds it at its first pass).
func mapKeyNote(s *spec.Service, entries []haproxy.MapEntry) []string {
	for _, e := range entries {
		if e.Key == s.HAProxy.MapKey {
			return nil
		}
	}
	return []string{fmt.Sprintf("map %s has no key %s yet: the controller adds it at its first pass", s.HAProxy.MapFile, s.HAProxy.MapKey)}
}
