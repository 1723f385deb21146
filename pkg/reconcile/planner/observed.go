package planner

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// Observed is an immutable snapshot of one service's world, taken by Observe.
type Observed struct {
	// Checks is the outcome of the latest pre-switch checks, as persisted
	// in status (nil: none).
	Checks *CheckRecord
	// Warmup is the latest warm-up, as persisted in status (nil: none).
	Warmup *WarmupRecord
	// Approved is the generation an operator promoted at the host
	// (controller promote), if any.
	Approved string
	// RollbackAsked is the generation an operator asked to roll back at
	// the host (controller rollback, or the dashboard), if any: a release
	// being verified, or held after an irreversible job, goes back to the
	// previous color.
	RollbackAsked string
	// RetryAsked is the generation whose release, rolled back or failed,
	// an operator asked at the host to try again (controller retry, or
	// the dashboard), if any.
	RetryAsked string
	// Verification is the service's latest release verification, as
	// persisted in status (nil: none).
	Verification *Verification
	// Preview is the runtime value of the preview key (spec.preview).
	Preview MapValue
	// MapRuntime is the map value HAProxy uses now; MapFile the one on disk.
	MapRuntime, MapFile MapValue
	// Served is the color MapRuntime routes to ("" for neither), worked
	// out once, by Observe (ServedColor).
	Served spec.Color
	// SwitchedTo and SwitchedAt: the release in progress moved traffic to
	// color SwitchedTo at SwitchedAt, as status records it (zero: no
	// switch recorded).
	SwitchedTo spec.Color
	SwitchedAt time.Time
	// Canary is the canary backend's state (spec.strategy Canary).
	Canary CanaryState
	// Backends holds the backends of the service (its colors', its canary
	// backend) that HAProxy knows.
	Backends map[string]bool
	// Image is the desired image as the engine knows it.
	Image Image
	Blue  ColorState
	Green ColorState
	// Jobs are the job containers of this generation's jobs (spec.jobs)
	// and of the job records in status, as observed, with their records.
	Jobs []JobState
	// EngineStopping is set when the engine answered on the connections
	// already open but refused a new one: it is shutting down (a
	// `systemctl stop docker`, a host shutdown), and the containers it
	// stops now are brought back by its restart policy when it starts
	// again. Observe looks only when a container it read does not run.
	EngineStopping bool
}

// MapValue is the value of the service's map key.
type MapValue struct {
	Value string
	Found bool
}

// Image is the desired image reference resolved by the engine.
type Image struct {
	ID    string
	Found bool
}

// ColorState is what is observed of one color: each of its replicas, and
// its backend.
type ColorState struct {
	// Replicas holds each replica's container and server, in order:
	// spec.replicas of them.
	Replicas []ReplicaState
	// Surplus holds the containers of replicas beyond spec.replicas (it
	// was lowered), from the first on, up to the first slot with none:
	// they are drained, stopped and removed.
	Surplus []ReplicaState
	// Backend holds the response counters of the color's backend (and of
	// its server in the canary backend).
	Backend Counters
	// ResponseTime is HAProxy's average response time of the color's
	// backend (rtime, over its last 1024 responses; 0: none yet).
	ResponseTime time.Duration
	// CheckConfig is how haproxy.cfg has HAProxy check the color's
	// backend, when the controller was given that file and it names the
	// backend (nil otherwise).
	CheckConfig *CheckConfig
}

// Replica returns the state of replica i (from 0), a surplus one past
// spec.replicas: an absent container and server when it was not observed.
func (cs ColorState) Replica(i int) ReplicaState {
	if i < len(cs.Replicas) {
		return cs.Replicas[i]
	}
	if j := i - len(cs.Replicas); j < len(cs.Surplus) {
		return cs.Surplus[j]
	}
	return ReplicaState{}
}

// First is the color's first replica, whose container the release
// records (the previous container of a verification, the checks' run).
func (cs ColorState) First() ReplicaState { return cs.Replica(0) }

// ReplicaState is what is observed of one replica of a color: its
// container, its HAProxy server and the controller's probes of it.
type ReplicaState struct {
	// Slot names the replica: its container, server and published port.
	Slot      spec.Replica
	Server    Server
	Container Container
	// Probes counts the consecutive health probes of the replica's address
	// that passed during this observation (the controller's own checks).
	Probes int
	// ProbeError is the last failed probe's error, if any.
	ProbeError string
	// ProbedAddr is the address the probes went to ("" when not probed):
	// the one HAProxy must send the replica's traffic to (ServerAddr).
	ProbedAddr string
	// FallbackOK: the replica answered at its published port too (the
	// address an HAProxy reload puts back), in this observation;
	// FallbackError says why not, when it was probed and did not answer.
	FallbackOK    bool
	FallbackError string
	// CheckConfig is the color's (ColorState.CheckConfig), for messages.
	CheckConfig *CheckConfig
	Remembered
}

// Remembered is what the controller keeps of one color in status because
// the world does not show it: it survives a restart of the controller.
type Remembered struct {
	// OutOfServiceSince is when the server was first seen out of service:
	// drained, in maintenance or DOWN, so that HAProxy sends it no new
	// requests; zero while the server is in service.
	OutOfServiceSince time.Time
	// UnhealthySince is when the color's running container was first seen
	// failing both HAProxy's check and the controller's probe of
	// healthPath; zero while it is not.
	UnhealthySince time.Time
	// MarkedUp is the container run whose server the controller last set
	// UP through the runtime API: once per run at most, so that the
	// controller never overrides a check HAProxy has made and failed.
	MarkedUp Run
	// HealthRestarts counts the restarts of the container HealthRestarted
	// names for failing its health (spec.health.restartAfter).
	HealthRestarts  int
	HealthRestarted string
}

// Run is one run of a container: its ID and when it started.
type Run struct {
	Container string    `json:"container"`
	StartedAt time.Time `json:"startedAt"`
}

// Is reports the same run (times compared as instants: one read back
// from status has lost its monotonic reading and location).
func (r Run) Is(o Run) bool { return r.Container == o.Container && r.StartedAt.Equal(o.StartedAt) }

// CheckConfig is what haproxy.cfg says of one backend's health check.
type CheckConfig struct {
	// Where is the file and line of the backend ("haproxy.cfg:38").
	Where string
	// Mismatch says how the check differs from the controller's probe of
	// healthPath, "" when they agree.
	Mismatch string
}

// Server is the color's HAProxy server.
type Server struct {
	Found bool
	// Status as HAProxy says it: "UP", "DOWN", "UP 1/2", "DRAIN", "MAINT", ...
	Status string
	// CheckStatus is the last check result, e.g. "L7OK", "L4CON".
	CheckStatus string
	CheckPassed bool
	// CheckCode is the HTTP status of the last layer-7 check ("" for none);
	// CheckDesc HAProxy's words for its result ("Not Found", "Layer7
	// timeout").
	CheckCode, CheckDesc string
	// Sessions is scur + qcur: requests in flight or queued on the server.
	Sessions int
	// Addr is the address HAProxy checks and sends traffic to.
	Addr string
	// AdminDrain and AdminMaint are the admin state set through the runtime
	// API, which the status hides under DOWN.
	AdminDrain, AdminMaint bool
}

// Container is the color's Docker container.
type Container struct {
	Exists  bool
	Managed bool // carries the controller's label io.bluegreen.managed=true
	// Service and Color are its io.bluegreen.service and io.bluegreen.color
	// labels: a managed container is the slot's only when both match it.
	Service, Color string
	// Replica is its io.bluegreen.replica label, 1 when it has none
	// (containers made before replicas).
	Replica int
	Running bool
	ID      string
	ImageID string
	// Image is the image reference the spec named when it was created.
	Image string
	// SpecHash is the hash label the controller put on it at creation.
	SpecHash   string
	State      string
	ExitCode   int
	StartedAt  time.Time
	FinishedAt time.Time
	// OOMKilled: the kernel killed it for passing its memory limit.
	OOMKilled bool
	// StoppedByController is set when the controller's own record says it
	// stopped this run of the container: it did not die. An exit code
	// never tells (a Go binary as PID 1 exits 2 on SIGTERM, a JVM 143).
	StoppedByController bool
	// Restarting: the engine waits to start it again under its restart
	// policy; RestartCount counts the engine's restarts since the
	// controller last started it.
	Restarting   bool
	RestartCount int
	// RestartPolicy is the engine's restart policy for it.
	RestartPolicy string
	// IP is its address on the service's Docker network while it runs
	// ("" with host networking, or when it does not run).
	IP string
}

// Run is the container's current (or last) run.
func (c Container) Run() Run { return Run{Container: c.ID, StartedAt: c.StartedAt} }

// Died reports a container that exited without the controller stopping it.
func (c Container) Died() bool {
	return c.Exists && !c.Running && (c.State == "exited" || c.State == "dead" || c.Restarting) && !c.StoppedByController
}

// Exit describes how the container last ended, for messages.
func (c Container) Exit() string {
	s := fmt.Sprintf("exited with code %d", c.ExitCode)
	if c.OOMKilled {
		s = fmt.Sprintf("was killed for passing its memory limit (OOMKilled, exit code %d)", c.ExitCode)
	}
	if !c.FinishedAt.IsZero() {
		s += " at " + c.FinishedAt.UTC().Format(time.RFC3339)
	}
	return s
}

// Color returns the state of color c.
func (o *Observed) Color(c spec.Color) ColorState {
	if c == spec.Green {
		return o.Green
	}
	return o.Blue
}

// SetColor replaces the state of color c.
func (o *Observed) SetColor(c spec.Color, s ColorState) {
	if c == spec.Green {
		o.Green = s
	} else {
		o.Blue = s
	}
}

// Draining reports whether the server is drained (admin state), UP or not.
func (s Server) Draining() bool { return s.AdminDrain || s.Status == "DRAIN" }

// Maint reports whether the server is in maintenance, directly or via another server.
func (s Server) Maint() bool { return s.AdminMaint || len(s.Status) >= 5 && s.Status[:5] == "MAINT" }

// Restart policies of a container, spelled as the Docker engine spells them:
// the served color comes back by itself when it dies, every other color
// stays down.
const (
	RestartNo            = "no"
	RestartUnlessStopped = "unless-stopped"
)

// Down reports a server HAProxy's checks found down ("DOWN", "DOWN 1/2").
func (s Server) Down() bool { return len(s.Status) >= 4 && s.Status[:4] == "DOWN" }

// GoingDown reports a server HAProxy still sends requests to whose last
// checks failed ("UP 1/2"): one more failure takes it DOWN.
func (s Server) GoingDown() bool { return strings.HasPrefix(s.Status, "UP ") }

// InService reports a server HAProxy sends requests to: "UP", "UP 1/2"
// (failing, not yet DOWN), or "no check".
func (s Server) InService() bool {
	return s.Status == "UP" || strings.HasPrefix(s.Status, "UP ") || s.Status == "no check"
}

// Check describes HAProxy's last check of the server for messages:
// "L7STS, HTTP 404 Not Found".
func (s Server) Check() string {
	if s.CheckStatus == "" {
		return "none yet"
	}
	out := s.CheckStatus
	if s.CheckCode != "" && s.CheckCode != "0" {
		out += ", HTTP " + s.CheckCode
	}
	if s.CheckDesc != "" {
		out += " " + strconv.Quote(s.CheckDesc)
	}
	return out
}

// CheckFailedL7 reports a check that reached the app and did not like its
// answer, or got none in time: HTTP status, response, timeout (L7STS,
// L7RSP, L7TOUT) or the same at layer 6.
func (s Server) CheckFailedL7() bool {
	switch s.CheckStatus {
	case "L7STS", "L7RSP", "L7TOUT", "L6RSP", "L6TOUT":
		return true
	}
	return false
}
