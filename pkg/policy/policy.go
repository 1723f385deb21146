// Package policy is what the host's administrator allows desired files to
// ask of the host: where map files may be written, which HAProxy runtime
// addresses may be driven, what may be mounted into or built from, which
// networks, registries, users and resources are allowed. The policy is
// owned by the host (a root-owned file), never by the desired file: whoever
// may push to the config repository gets only what it allows.
package policy

import (
	"fmt"
	"strings"
)

// DefaultPath is where the policy file is read from when no flag names
// another.
const DefaultPath = "/etc/bluegreen/policy.yaml"

// Policy is the host's policy file. A field left out takes its default;
// an empty list allows nothing.
type Policy struct {
	// MapFileDirs are the directories a map file may lie below (its
	// directory's symbolic links resolved).
	MapFileDirs *[]string `json:"mapFileDirs,omitempty"`
	// Runtimes are the HAProxy runtime API addresses that may be driven:
	// "unix" (any unix socket), "loopback" (TCP to 127.0.0.0/8 or ::1), or
	// one address exactly, e.g. "tcp://10.0.0.5:9999".
	Runtimes *[]string `json:"runtimes,omitempty"`
	// BuildContextRoots are the directories a build context may lie below
	// (links resolved), besides lying below the desired file's directory
	// as always; left out: anywhere below the desired file's directory.
	BuildContextRoots *[]string `json:"buildContextRoots,omitempty"`
	// BindMountRoots are the directories a bind mount's host path may lie
	// below (links resolved).
	BindMountRoots *[]string `json:"bindMountRoots,omitempty"`
	// EnvFileDirs are the directories spec.envFile's files may lie in or
	// below (links resolved): the controller reads them and hands their
	// contents to the container, so a desired file must not name another
	// service's secrets, or any root-owned NAME=VALUE file of the host.
	EnvFileDirs *[]string `json:"envFileDirs,omitempty"`
	// VolumeNames are patterns (path.Match) of named volumes.
	VolumeNames *[]string `json:"volumeNames,omitempty"`
	// Networks are patterns of Docker networks; "host" is allowed only
	// when listed by that name.
	Networks *[]string `json:"networks,omitempty"`
	// Registries are patterns of the registries images may come from, as
	// the image reference names them (docker.io for a bare name).
	Registries *[]string `json:"registries,omitempty"`
	// RootUser is "Allow" or "Refuse": with Refuse, spec.user must name a
	// user other than root (the image's own USER may be root).
	RootUser RootUser `json:"rootUser,omitempty"`
	// MaxResources caps spec.resources; a service without the limit is
	// refused when a cap is set.
	MaxResources Resources `json:"maxResources,omitempty"`

	// source says where the policy came from, for refusals; lines gives
	// the line of each field in the file.
	source string
	lines  map[string]int
}

// RootUser says whether a service may run as root.
type RootUser string

const (
	RootAllow  RootUser = "Allow"
	RootRefuse RootUser = "Refuse"
)

// Resources are the largest limits a service may take.
type Resources struct {
	Memory string  `json:"memory,omitempty"`
	CPUs   float64 `json:"cpus,omitempty"`
}

// The defaults of the fields left out.
var (
	DefaultMapFileDirs = []string{"/etc/haproxy"}
	DefaultRuntimes    = []string{"unix", "loopback"}
	DefaultEnvFileDirs = []string{"/etc/bluegreen"}
	DefaultVolumeNames = []string{"*"}
	DefaultNetworks    = []string{"*"}
	DefaultRegistries  = []string{"*"}
)

// Default is the policy in force when the host has no policy file.
func Default() *Policy {
	return &Policy{source: "the built-in default policy (no policy file)"}
}

func (p *Policy) mapFileDirs() []string { return orDefault(p.MapFileDirs, DefaultMapFileDirs) }
func (p *Policy) runtimes() []string    { return orDefault(p.Runtimes, DefaultRuntimes) }
func (p *Policy) bindMountRoots() []string {
	return orDefault(p.BindMountRoots, nil)
}
func (p *Policy) envFileDirs() []string { return orDefault(p.EnvFileDirs, DefaultEnvFileDirs) }
func (p *Policy) volumeNames() []string { return orDefault(p.VolumeNames, DefaultVolumeNames) }
func (p *Policy) networks() []string    { return orDefault(p.Networks, DefaultNetworks) }
func (p *Policy) registries() []string  { return orDefault(p.Registries, DefaultRegistries) }
func (p *Policy) rootUser() RootUser {
	if p.RootUser == "" {
		return RootAllow
	}
	return p.RootUser
}

func orDefault(v *[]string, def []string) []string {
	if v == nil {
		return def
	}
	return *v
}

// Source says where the policy came from: a file, or the defaults.
func (p *Policy) Source() string { return p.source }

// rule names a field of the policy and its value in force, with the file
// and line it was read from, or "default" when the file left it out.
func (p *Policy) rule(field string, value any) string {
	v := fmt.Sprint(value)
	if l, ok := p.lines[field]; ok {
		return fmt.Sprintf("%s line %d (%s: %s)", p.source, l, field, v)
	}
	return fmt.Sprintf("%s, default %s: %s", p.source, field, v)
}

// Summary lists the policy in force, one "field: value" per line, each
// marked default or with its line.
func (p *Policy) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy: %s\n", p.source)
	row := func(field string, v any) {
		at := "default"
		if l, ok := p.lines[field]; ok {
			at = fmt.Sprintf("line %d", l)
		}
		fmt.Fprintf(&b, "  %s: %v (%s)\n", field, v, at)
	}
	row("mapFileDirs", p.mapFileDirs())
	row("runtimes", p.runtimes())
	row("buildContextRoots", buildRoots(p.BuildContextRoots))
	row("bindMountRoots", p.bindMountRoots())
	row("envFileDirs", p.envFileDirs())
	row("volumeNames", p.volumeNames())
	row("networks", p.networks())
	row("registries", p.registries())
	row("rootUser", p.rootUser())
	row("maxResources", maxResources(p.MaxResources))
	return b.String()
}

func buildRoots(v *[]string) any {
	if v == nil {
		return "below the desired file's directory"
	}
	return *v
}

func maxResources(r Resources) string {
	if r == (Resources{}) {
		return "none"
	}
	var parts []string
	if r.Memory != "" {
		parts = append(parts, "memory "+r.Memory)
	}
	if r.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("cpus %v", r.CPUs))
	}
	return strings.Join(parts, ", ")
}
