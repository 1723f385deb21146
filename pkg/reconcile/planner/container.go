package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// ContainerEnv is the environment of color c's container: the spec's env,
// plus COLOR and PORT (the port the app must listen on) set by the controller.
func ContainerEnv(s *spec.Service, c spec.Color) []string {
	env := make([]string, 0, len(s.Env)+2)
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	port := s.ContainerPort
	if s.Network == spec.NetworkHost {
		port = s.Color(c).HostPort
	}
	return append(env, "COLOR="+string(c), "PORT="+strconv.Itoa(port))
}

// ContainerHash digests everything a container of color c is created from.
// A container whose hash label differs is drift, replaced only while idle.
func ContainerHash(s *spec.Service, c spec.Color, imageID string) string {
	b, _ := json.Marshal(struct {
		ImageID       string
		Env           []string
		Network       spec.Network
		ContainerPort int
		HostPort      int
		Resources     *spec.Resources `json:",omitempty"` // left out when unset: existing containers keep their hash
		Volumes       []string        `json:",omitempty"`
		User          string          `json:",omitempty"`
	}{imageID, ContainerEnv(s, c), s.Network, s.ContainerPort, s.Color(c).HostPort, resources(s), s.Volumes, s.User})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// resources is the service's limits for the container hash, nil when none
// are set.
func resources(s *spec.Service) *spec.Resources {
	if s.Resources == (spec.Resources{}) {
		return nil
	}
	r := s.Resources
	return &r
}
