package spec

import (
	"fmt"
	"strconv"
)

// MaxReplicas bounds spec.replicas: each replica is a container, an HAProxy
// server and a published port of each color.
const MaxReplicas = 32

// Replica names one of a color's containers and the HAProxy server that
// sends it traffic.
type Replica struct {
	Color Color
	// Index counts from 0; people count from 1 (Number).
	Index int
	// Container is the container's name: bg-NAME-COLOR for the first,
	// bg-NAME-COLOR-2, bg-NAME-COLOR-3, ... for the others.
	Container string
	// Backend is the color's backend; Server the replica's server in it:
	// colors.COLOR.server itself while spec.replicas is not set, else that
	// name and the replica's number, as HAProxy's server-template names
	// them (app1, app2, ...; also with replicas: 1, so that a count can go
	// up and down under one server-template line).
	Backend, Server string
	// HostPort is the replica's published port on 127.0.0.1: the color's
	// hostPort plus Index.
	HostPort int
	// Of is how many replicas the color has.
	Of int
}

// Number is the replica's number as people count: 1 to replicas.
func (r Replica) Number() int { return r.Index + 1 }

// String names the replica in messages: "blue" with one replica,
// "blue replica 2" (of several, or beyond the count) otherwise.
func (r Replica) String() string {
	if r.Of <= 1 && r.Index == 0 {
		return string(r.Color)
	}
	return fmt.Sprintf("%s replica %d", r.Color, r.Number())
}

// ReplicaCount is spec.replicas, 1 when unset.
func (s *ServiceSpec) ReplicaCount() int { return max(s.Replicas, 1) }

// ReplicasOf returns color c's replicas in order.
func (s *Service) ReplicasOf(c Color) []Replica {
	out := make([]Replica, s.ReplicaCount())
	for i := range out {
		out[i] = s.Replica(c, i)
	}
	return out
}

// Replica returns replica i (from 0) of color c.
func (s *Service) Replica(c Color, i int) Replica {
	cs := s.Color(c)
	r := Replica{Color: c, Index: i, Container: "bg-" + s.Name + "-" + string(c), Backend: cs.Backend, Server: cs.Server, HostPort: cs.HostPort + i, Of: s.ReplicaCount()}
	if i > 0 {
		r.Container += "-" + strconv.Itoa(i+1)
	}
	if s.Replicas > 0 || i > 0 {
		r.Server += strconv.Itoa(i + 1)
	}
	return r
}

// validateReplicas checks spec.replicas and that each color's published
// ports (hostPort to hostPort+replicas-1) stay apart and in range.
func (s *Service) validateReplicas(bad func(path, format string, args ...any)) {
	if s.Replicas < 0 || s.Replicas > MaxReplicas {
		bad("spec.replicas", "%d is out of range: want 1 to %d", s.Replicas, MaxReplicas)
		return
	}
	n := s.ReplicaCount()
	if n == 1 {
		return
	}
	for _, c := range Colors() {
		if last := s.Color(c).HostPort + n - 1; s.Color(c).HostPort != 0 && last > 65535 {
			bad("spec.colors."+string(c)+".hostPort", "%d to %d (one port per replica) passes 65535", s.Color(c).HostPort, last)
		}
	}
	b, g := s.Colors.Blue.HostPort, s.Colors.Green.HostPort
	if b != 0 && g != 0 && b != g && b < g+n && g < b+n {
		bad("spec.colors.green.hostPort", "%s overlaps blue's %s: with %d replicas each color publishes %d ports from its hostPort on",
			portRange(g, n), portRange(b, n), n, n)
	}
}

func portRange(from, n int) string { return fmt.Sprintf("%d-%d", from, from+n-1) }
