package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// ContainerEnv is the environment of replica r's container: the spec's
// env, plus COLOR and PORT (the port the app must listen on) set by the
// controller.
func ContainerEnv(s *spec.Service, r spec.Replica) []string {
	env := make([]string, 0, len(s.Env)+2)
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	port := s.ContainerPort
	if s.Network == spec.NetworkHost {
		port = r.HostPort
	}
	return append(env, "COLOR="+string(r.Color), "PORT="+strconv.Itoa(port))
}

// ContainerHash digests everything replica r's container is created from
// (not the number of replicas: more of them leave the others be).
// A container whose hash label differs is drift, replaced only while idle.
//
// A field added to the spec is left out of the digest while unset
// (omitempty), so that the containers of a spec without it keep their
// hash: a changed hash replaces the idle color, and moves traffic off the
// served one first. Logging is left out while it is the default, given at
// create only: containers made before logging existed run the engine's
// json-file without rotation, and take the default at their next
// replacement, not through one of their own.
func ContainerHash(s *spec.Service, r spec.Replica, imageID string) string {
	b, _ := json.Marshal(struct {
		ImageID       string
		Env           []string
		Network       spec.Network
		ContainerPort int
		HostPort      int
		Resources     *spec.Resources `json:",omitempty"`
		Volumes       []string        `json:",omitempty"`
		User          string          `json:",omitempty"`
		Networks      []string        `json:",omitempty"`
		Entrypoint    []string        `json:",omitempty"`
		Command       []string        `json:",omitempty"`
		WorkingDir    string          `json:",omitempty"`
		StopSignal    string          `json:",omitempty"`
		Logging       *spec.Logging   `json:",omitempty"`
		EnvFiles      *EnvFiles       `json:",omitempty"`
	}{
		ImageID: imageID, Env: ContainerEnv(s, r), Network: s.Network, ContainerPort: s.ContainerPort,
		HostPort: r.HostPort, Resources: resources(s), Volumes: s.Volumes, User: s.User,
		Networks: s.Networks, Entrypoint: s.Entrypoint, Command: s.Command, WorkingDir: s.WorkingDir,
		StopSignal: s.StopSignal, Logging: logging(s), EnvFiles: envFiles(s),
	})
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

// logging is the service's logging for the container hash: nil when it is
// not set or is the default, which the containers get either way.
func logging(s *spec.Service) *spec.Logging {
	if s.Logging == nil || s.Logging.IsDefault() {
		return nil
	}
	return s.Logging
}

// envFiles are the service's env files, by path and digest of contents;
// nil when it has none.
func envFiles(s *spec.Service) *EnvFiles {
	if len(s.EnvFile) == 0 {
		return nil
	}
	return &EnvFiles{Paths: s.EnvFile, Digest: s.EnvFileDigest}
}
