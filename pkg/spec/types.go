// Package spec holds the desired state of blue/green services: the types an
// operator writes in desired.yaml, strict decoding, defaults and validation.
package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"
)

// APIVersion and Kind every document must carry.
const (
	APIVersion = "bluegreen.dev/v1"
	Kind       = "Service"
)

// Color names one of the two slots of a service.
type Color string

const (
	Blue  Color = "blue"
	Green Color = "green"
)

// Colors lists both colors in a fixed order (a new array at each call, so
// no caller can change the order for the others).
func Colors() [2]Color { return [2]Color{Blue, Green} }

// Other returns the opposite color.
func (c Color) Other() Color {
	if c == Blue {
		return Green
	}
	return Blue
}

// PullPolicy says whether a missing image may be pulled from a registry.
type PullPolicy string

const (
	PullIfMissing PullPolicy = "IfMissing"
	PullNever     PullPolicy = "Never"
)

// IdlePolicy says what happens to the color that no longer serves.
type IdlePolicy string

const (
	IdleStop     IdlePolicy = "Stop"
	IdleKeepWarm IdlePolicy = "KeepWarm"
)

// Network is the Docker network the containers join: the engine's default
// bridge, the host's network, or any other value, the name of a
// user-defined Docker network.
type Network string

const (
	NetworkBridge Network = "bridge"
	NetworkHost   Network = "host"
)

// Document is one Kubernetes-style YAML document.
type Document struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Metadata   Metadata    `json:"metadata"`
	Spec       ServiceSpec `json:"spec"`
}

// Metadata names the service.
type Metadata struct {
	Name string `json:"name"`
}

// ServiceSpec is the desired state of one service.
type ServiceSpec struct {
	// ActiveColor is the color that must serve traffic.
	ActiveColor Color `json:"activeColor"`
	// Image is the image reference the active color must run.
	Image string `json:"image"`
	// Build, when set, builds Image from a local context if it is missing.
	Build *Build `json:"build,omitempty"`
	// Pull says whether a missing image with no build may be pulled from
	// its registry: "IfMissing" (the default, also "") or "Never".
	Pull PullPolicy `json:"pull,omitempty"`
	// ContainerPort is the port the app listens on inside the container (bridge network).
	ContainerPort int `json:"containerPort,omitempty"`
	// Network is "bridge" (the engine's default bridge), the name of a
	// Docker network the user created, or "host". On a bridge or a named
	// network HAProxy reaches the container at its address there
	// (containerPort), and 127.0.0.1:hostPort (published) is the fallback.
	Network Network `json:"network,omitempty"`
	// Networks are more user-defined Docker networks the container joins,
	// beside Network (the one HAProxy reaches it on), e.g. the database's.
	Networks []string `json:"networks,omitempty"`
	// Env is passed to the container; PORT and COLOR are set by the controller.
	Env map[string]string `json:"env,omitempty"`
	// EnvFile are host files in Docker's env-file format (KEY=VALUE
	// lines), whose variables are passed to the container too. The loader
	// reads them (package specfile) and keeps only a digest of their
	// contents (Service.EnvFileDigest); the values are read again when the
	// container is created, and never shown.
	EnvFile []string `json:"envFile,omitempty"`
	// Volumes are mounted into both colors' containers, in docker
	// compose's short form: "NAME:/path" (a named volume, created when
	// missing) or "/host/path:/path", each with an optional ":ro".
	Volumes []string `json:"volumes,omitempty"`
	// User runs the container's process as this user ("uid", "uid:gid" or
	// a name the image knows); empty: the image's own USER.
	User string `json:"user,omitempty"`
	// Entrypoint replaces the image's ENTRYPOINT and Command its CMD (as
	// docker compose's entrypoint and command, lists only: no shell splits
	// them); empty: the image's own.
	Entrypoint []string `json:"entrypoint,omitempty"`
	Command    []string `json:"command,omitempty"`
	// WorkingDir is the process's working directory, absolute; empty: the
	// image's WORKDIR.
	WorkingDir string `json:"workingDir,omitempty"`
	// StopSignal is the signal that stops the container, SIGKILL following
	// after stopTimeout; empty: the image's STOPSIGNAL, else SIGTERM.
	StopSignal string `json:"stopSignal,omitempty"`
	// Logging is the container's Docker logging driver and its options
	// (nil: DefaultLogging, a rotating json-file; see LoggingInForce).
	Logging *Logging `json:"logging,omitempty"`
	// Replicas is how many containers each color runs (default 1), each
	// behind its own server of the color's backend; a color is ready when
	// all of them are.
	Replicas int `json:"replicas,omitempty"`
	// HealthPath is probed on the color's host port before traffic moves.
	HealthPath string `json:"healthPath,omitempty"`
	// Colors holds the per-color host port and HAProxy names.
	Colors ColorsSpec `json:"colors"`
	// HAProxy says where the runtime API and the map are.
	HAProxy HAProxySpec `json:"haproxy"`
	// ReadyTimeout bounds how long a new color may take to become UP.
	ReadyTimeout Duration `json:"readyTimeout,omitempty"`
	// DrainTimeout bounds how long a drained color may keep sessions before it is stopped.
	DrainTimeout Duration `json:"drainTimeout,omitempty"`
	// StopTimeout is the grace period between the stop signal and SIGKILL when a container stops.
	StopTimeout Duration `json:"stopTimeout,omitempty"`
	// Idle says what happens to the color that does not serve.
	Idle IdleSpec `json:"idle,omitempty"`
	// Health says how a served color that stays unhealthy is healed
	// (nil: the defaults; a pointer so that a spec without it keeps its
	// generation).
	Health *HealthSpec `json:"health,omitempty"`
	// Resources limits each color's container (Docker's limits).
	Resources Resources `json:"resources,omitempty"`
	// Verify judges a release on real traffic after the switch, while the
	// previous color is kept warm, and rolls it back when it fails.
	Verify VerifySpec `json:"verify,omitempty"`
	// Retry is free text: changing it makes a new attempt of a release
	// that was rolled back or failed, with nothing else changed.
	Retry string `json:"retry,omitempty"`
	// Promotion says whether traffic moves on its own once the new color
	// is ready, or waits for an operator's approval.
	Promotion PromotionSpec `json:"promotion,omitempty"`
	// Strategy says how traffic moves to the new color: all at once
	// (nil, or type BlueGreen) or in weighted steps (type Canary).
	Strategy *Strategy `json:"strategy,omitempty"`
	// Preview, when set, routes a second map key to the color being
	// prepared, so that it can be tried through the real frontend before
	// the switch.
	Preview *PreviewSpec `json:"preview,omitempty"`
	// Warmup, when set, sends requests to each replica of the new color
	// once it is ready and its checks passed, before any traffic moves, so
	// that its first users do not pay its cold start.
	Warmup *Warmup `json:"warmup,omitempty"`
	// Checks are HTTP requests sent straight to the new color once it is
	// ready, before any traffic moves: all must pass, or the release fails
	// with the map untouched.
	Checks []Check `json:"checks,omitempty"`
	// Jobs run once per release, in the order written, one at a time, in
	// containers of the new image, before the switch (see Job).
	Jobs []Job `json:"jobs,omitempty"`
}

// Check is one pre-switch HTTP check of the new color.
type Check struct {
	// Name names the check in status (default: method and path).
	Name string `json:"name,omitempty"`
	// Path is requested on the color's address, e.g. "/api/ping".
	Path   string `json:"path"`
	Method string `json:"method,omitempty"` // default GET
	// Headers are sent with the request (e.g. Host).
	Headers map[string]string `json:"headers,omitempty"`
	// ExpectStatus is the status the answer must have (default 200).
	ExpectStatus int `json:"expectStatus,omitempty"`
	// BodyContains, when set, must appear in the answer's body.
	BodyContains string `json:"bodyContains,omitempty"`
	// Count requests are sent, Interval apart; all must pass (default 1, 100ms).
	Count    int      `json:"count,omitempty"`
	Interval Duration `json:"interval,omitempty"`
}

// PreviewSpec names the map key that points at the color being prepared.
type PreviewSpec struct {
	// MapKey is the key, in the service's map file (e.g. "preview.web").
	MapKey string `json:"mapKey"`
}

// PromotionMode says whether a ready release switches by itself.
type PromotionMode string

const (
	PromotionAuto   PromotionMode = "Auto"
	PromotionManual PromotionMode = "Manual"
)

// PromotionSpec is the manual gate before the switch.
type PromotionSpec struct {
	// Mode is "Auto" (default) or "Manual": the release stops once the new
	// color is ready (status WaitingForPromotion) until it is approved.
	Mode PromotionMode `json:"mode,omitempty"`
	// Approved promotes the release whose generation it names (as shown by
	// controller status); it is not part of the generation itself.
	Approved string `json:"approved,omitempty"`
}

// VerifySpec says how a release is judged after the switch.
type VerifySpec struct {
	// Window is how long the new color is watched after the switch
	// (default 30s; "0s" turns verification off: the previous color is
	// then settled at once, as idle says).
	Window *Duration `json:"window,omitempty"`
	// MaxErrorRate is the share of the new backend's responses that may be
	// 5xx, or requests that failed to connect or to get a response, before
	// the release is rolled back (default 0.05: 5 %).
	MaxErrorRate *float64 `json:"maxErrorRate,omitempty"`
	// MinRequests is how many responses the rate needs before it is
	// judged (default 20); a server that goes DOWN or a container that dies
	// fails the release whatever the count.
	MinRequests int `json:"minRequests,omitempty"`
	// MaxResponseTime, when set, fails the release when the new color's
	// average response time is above it: HAProxy's own rtime (the time
	// from the request sent to the server to its response's headers,
	// averaged over its last 1024 responses), once there are minRequests.
	MaxResponseTime *Duration `json:"maxResponseTime,omitempty"`
	// MaxLatencyRatio, when set, fails the release when the new color's
	// average response time is above this many times the previous color's
	// (HAProxy's rtime of each; differences under MinLatencyGap are not
	// judged: HAProxy measures whole milliseconds).
	MaxLatencyRatio *float64 `json:"maxLatencyRatio,omitempty"`
}

// MinLatencyGap is the smallest difference of average response times
// verify.maxLatencyRatio judges.
const MinLatencyGap = 10 * time.Millisecond

// Resources are Docker's limits on a container. Zero values: no limit.
type Resources struct {
	// Memory is the memory limit, e.g. "256m", "1g", "512Mi" (binary units,
	// as docker run --memory); a container that passes it is OOM-killed.
	Memory string `json:"memory,omitempty"`
	// CPUs is how many CPUs the container may use, e.g. 0.5 (docker run --cpus).
	CPUs float64 `json:"cpus,omitempty"`
}

// MemoryBytes is the memory limit in bytes (0: none). The spec is validated,
// so it parses.
func (r Resources) MemoryBytes() int64 {
	if r.Memory == "" {
		return 0
	}
	n, _ := ParseMemory(r.Memory)
	return n
}

// ParseMemory reads a size the way docker run --memory does ("256m",
// "1g", binary units), also in the Kubernetes spelling ("512Mi", "1Gi").
func ParseMemory(s string) (int64, error) {
	if n := len(s); n >= 2 && (s[n-1] == 'i' || s[n-1] == 'I') && strings.ContainsRune("kKmMgGtTpP", rune(s[n-2])) {
		s = s[:n-1]
	}
	return units.RAMInBytes(s)
}

// NanoCPUs is the CPU limit in billionths of a CPU (0: none).
func (r Resources) NanoCPUs() int64 { return int64(math.Round(r.CPUs * 1e9)) }

// Build describes how to build the image from a local context.
type Build struct {
	Context    string            `json:"context"`
	Dockerfile string            `json:"dockerfile,omitempty"`
	Args       map[string]string `json:"args,omitempty"`
}

// ColorsSpec holds both colors' settings.
type ColorsSpec struct {
	Blue  ColorSpec `json:"blue"`
	Green ColorSpec `json:"green"`
}

// ColorSpec is one color's host port and HAProxy names.
type ColorSpec struct {
	HostPort int    `json:"hostPort"`
	Backend  string `json:"backend,omitempty"`
	Server   string `json:"server,omitempty"`
}

// HAProxySpec locates the runtime API and the map that routes the service.
type HAProxySpec struct {
	// Runtime is "unix:///path" or "tcp://127.0.0.1:port" of a stats socket at level admin.
	Runtime string `json:"runtime"`
	// MapFile is the map's path exactly as written in haproxy.cfg.
	MapFile string `json:"mapFile"`
	// MapKey is the key whose value names the active backend (default: metadata.name).
	MapKey string `json:"mapKey,omitempty"`
}

// IdleSpec says what happens to the color that no longer serves.
type IdleSpec struct {
	// Policy is "Stop" (default) or "KeepWarm".
	Policy IdlePolicy `json:"policy,omitempty"`
	// StopAfter keeps a drained color running this long before it is stopped (policy Stop).
	StopAfter Duration `json:"stopAfter,omitempty"`
}

// HealthSpec says how a served color that stays unhealthy is healed.
type HealthSpec struct {
	// RestartAfter: a served container that fails both HAProxy's check and
	// the controller's probe of healthPath this long, while it runs, is
	// restarted (default DefaultRestartAfter; 0s: never).
	RestartAfter *Duration `json:"restartAfter,omitempty"`
}

// DefaultRestartAfter is spec.health.restartAfter when it is not given.
const DefaultRestartAfter = 60 * time.Second

// RestartAfter is how long a served container may stay unhealthy before it
// is restarted; 0 turns healing off.
func (s *ServiceSpec) RestartAfter() time.Duration {
	if s.Health == nil || s.Health.RestartAfter == nil {
		return DefaultRestartAfter
	}
	return s.Health.RestartAfter.Duration
}

// Duration is a time.Duration written as a string such as "30s" or "1m30s".
type Duration struct{ time.Duration }

// UnmarshalJSON accepts a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"30s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"30s\", got %q", s)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Duration.String()) }

// Service is one validated, defaulted service with where it came from.
type Service struct {
	Name string
	ServiceSpec
	// Source is the file (and document index) the service came from.
	Source string
	// BaseDir is the directory relative paths (build context) resolve against.
	BaseDir string
	// EnvFileDigest is the digest of the contents of spec.envFile's files
	// as the loader read them (package specfile; "" when there are none or
	// no file was read): a change of their contents is a change of the
	// containers' hash and of the generation, and the values themselves
	// are never held here.
	EnvFileDigest string
	// HostRetries counts the retries of this spec an operator asked for
	// at the host (controller retry, the dashboard), as the loop keeps
	// them in its status: each is a new attempt of the release, as an
	// edit of spec.retry is, so it is part of the generation.
	HostRetries int

	// encoded is the spec as Generation encodes it, made once (Memoize);
	// nil: made at every call.
	encoded *encodedSpec
}

// encodedSpec is a memoized encoding of a spec, and the generations made
// of it (a pass asks each service's generation several times).
type encodedSpec struct {
	once sync.Once
	b    []byte
	mu   sync.Mutex
	gens map[generationOf]string
}

// generationOf is what a generation adds to the encoded spec.
type generationOf struct {
	name, envFileDigest string
	hostRetries         int
}

// maxGenerations bounds encodedSpec.gens: HostRetries grows with each
// retry asked for at the host.
const maxGenerations = 8

// Color returns the settings of color c.
func (s *ServiceSpec) Color(c Color) ColorSpec {
	if c == Green {
		return s.Colors.Green
	}
	return s.Colors.Blue
}

// ContainerName is the name of color c's first container (Replica has
// every replica's).
func (s *Service) ContainerName(c Color) string { return s.Replica(c, 0).Container }

// Generation is a short digest of the defaulted spec: it changes whenever the
// desired state changes, or a retry is asked for at the host, and status
// reports the one the controller acted on.
//
// The approval of a manual promotion is left out: approving a release does
// not make it another release.
func (s *Service) Generation() string {
	e := s.encoded
	if e == nil {
		return s.generation(s.encodeSpec())
	}
	of := generationOf{name: s.Name, envFileDigest: s.EnvFileDigest, hostRetries: s.HostRetries}
	e.mu.Lock()
	g, ok := e.gens[of]
	e.mu.Unlock()
	if ok {
		return g
	}
	e.once.Do(func() { e.b = s.encodeSpec() })
	g = s.generation(slices.Clip(e.b))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gens == nil || len(e.gens) >= maxGenerations {
		e.gens = map[generationOf]string{}
	}
	e.gens[of] = g
	return g
}

// generation digests the encoded spec b with what is added to it.
func (s *Service) generation(b []byte) string {
	if s.EnvFileDigest != "" {
		// Added only when there are env files, so that the generation of a
		// spec without them is what it was before they existed.
		b = append(b, "\x00envFile "+s.EnvFileDigest...)
	}
	if s.HostRetries > 0 {
		// Added only once retried, so that the generation of a spec
		// never retried at the host is its generation as written.
		b = append(b, "\x00hostRetries "+strconv.Itoa(s.HostRetries)...)
	}
	sum := sha256.Sum256(append([]byte(s.Name+"\x00"), b...))
	return hex.EncodeToString(sum[:6])
}

// encodeSpec is the spec as the generation digests it.
func (s *Service) encodeSpec() []byte {
	sp := s.ServiceSpec
	sp.Promotion.Approved = ""
	b, _ := json.Marshal(sp)
	return b
}

// Memoize makes Generation encode s's spec once rather than at every
// call, for a service that is asked for it many times and whose spec no
// longer changes (the loop's desired state, read once and used by every
// pass until the next read). Copies share the memo: change no field of a
// memoized service's spec; EnvFileDigest and HostRetries may change.
func (s *Service) Memoize() { s.encoded = &encodedSpec{} }

// WrittenGeneration is the generation of the spec as written, without
// the retries asked for at the host (HostRetries).
func (s *Service) WrittenGeneration() string {
	w := *s
	w.HostRetries = 0
	return w.Generation()
}
