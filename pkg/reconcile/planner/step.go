package planner

import (
	"fmt"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// Action is the kind of one step: one HAProxy command or one Docker call.
type Action string

const (
	BuildImage      Action = "BuildImage"
	PullImage       Action = "PullImage"
	CreateContainer Action = "CreateContainer"
	StartContainer  Action = "StartContainer"
	StopContainer   Action = "StopContainer"
	RemoveContainer Action = "RemoveContainer"
	SetServerReady  Action = "SetServerReady"
	DrainServer     Action = "DrainServer"
	MarkServerUp    Action = "MarkServerUp"
	// DisableServer puts in maintenance the server of a color that does
	// not serve and whose container the controller drained and stopped,
	// or that has no container: HAProxy stops checking an address where
	// nothing runs (with hundreds of services, most of its checks), until
	// a release makes it ready again (SetServerReady, ServerRef.Down).
	DisableServer Action = "DisableServer"
	SwitchMap     Action = "SwitchMap"
	WriteMapFile  Action = "WriteMapFile"
	// SetPreview points the preview map key at the color being prepared.
	SetPreview Action = "SetPreview"
	// RunChecks sends the pre-switch checks to the new color.
	RunChecks Action = "RunChecks"
	// WarmUp sends spec.warmup's requests to each replica of the new color.
	WarmUp Action = "WarmUp"
	// SetCanaryWeights sets the weights of the colors' servers in the
	// canary backend (spec.strategy Canary): the share of new users each
	// version gets while the map points there.
	SetCanaryWeights Action = "SetCanaryWeights"
	// SplitTraffic points the map key at the canary backend, at runtime
	// only: the map file keeps the previous color, where a reload of
	// HAProxy takes all traffic back.
	SplitTraffic Action = "SplitTraffic"
	// SetRestartPolicy gives the served color the engine's restart policy
	// unless-stopped (it comes back by itself when it dies, or when the
	// engine or the host restarts) and every other color "no".
	SetRestartPolicy Action = "SetRestartPolicy"
	// SetServerAddr points a color's HAProxy server at the address its
	// container answers on: its own address on the Docker network (the
	// direct path), or 127.0.0.1:hostPort as in haproxy.cfg (the fallback).
	SetServerAddr Action = "SetServerAddr"
	// RestartContainer stops and starts the served color's container,
	// which has failed its health for spec.health.restartAfter.
	RestartContainer Action = "RestartContainer"
	// CreateJob, StartJob, StopJob and RemoveJob act on the one-shot
	// container of a release job (spec.jobs): created from the new
	// color's container spec, started once, stopped when it outlives its
	// timeout, removed once its end is recorded and the release is at rest.
	CreateJob Action = "CreateJob"
	StartJob  Action = "StartJob"
	StopJob   Action = "StopJob"
	RemoveJob Action = "RemoveJob"
)

// MovesTraffic reports the actions that move the map key to a color's
// traffic: a switch, or a canary's split.
func (a Action) MovesTraffic() bool { return a == SwitchMap || a == SplitTraffic }

// Step is the next single thing to do for one service. It is a value: it
// carries everything its execution needs, in the one field its kind of
// action uses (Image, Container, Server, Map or Checks), so that the
// executor performs it without asking the planner again, and a plan can
// be printed, compared and tested as data.
type Step struct {
	Action  Action     `json:"action"`
	Service string     `json:"service"`
	Color   spec.Color `json:"color,omitempty"` // the color acted on (empty for image steps)
	// Replica is the number (from 1) of the color's replica a container
	// or server step acts on; 0 for the steps on the whole color.
	Replica int `json:"replica,omitempty"`
	// Target names what is acted on, for people: image, container,
	// backend/server or map.
	Target string `json:"target"`
	// Cause says why, in words an operator reads in logs and status.
	Cause string `json:"cause"`

	// Image: BuildImage, PullImage.
	Image *ImageRef `json:"image,omitempty"`
	// Container: CreateContainer, StartContainer, StopContainer,
	// RemoveContainer, RestartContainer, SetRestartPolicy.
	Container *ContainerRef `json:"container,omitempty"`
	// Server: SetServerReady, DrainServer, SetServerAddr, MarkServerUp,
	// DisableServer.
	Server *ServerRef `json:"server,omitempty"`
	// Map: SwitchMap, SplitTraffic, WriteMapFile, SetPreview.
	Map *MapEntry `json:"map,omitempty"`
	// Checks: RunChecks.
	Checks *ChecksRun `json:"checks,omitempty"`
	// Weights: SetCanaryWeights.
	Weights *CanaryWeights `json:"weights,omitempty"`
	// Warmup: WarmUp.
	Warmup *WarmupRun `json:"warmup,omitempty"`
	// Job: CreateJob, StartJob, StopJob, RemoveJob.
	Job *JobRef `json:"job,omitempty"`
}

// JobRef is the container of a release job a job step acts on.
type JobRef struct {
	// Name is the container's name; Job and Generation the job and the
	// release it runs for.
	Name       string `json:"name"`
	Job        string `json:"job"`
	Generation string `json:"generation"`
	// ID is the container as observed ("" before it exists).
	ID string `json:"id,omitempty"`
	// Create: CreateJob.
	Create *ContainerSpec `json:"create,omitempty"`
	// StopTimeout: StopJob.
	StopTimeout time.Duration `json:"stopTimeout,omitempty"`
}

// ImageRef is the image an image step makes: built from Build when it is
// set, else pulled.
type ImageRef struct {
	Ref   string     `json:"ref"`
	Build *BuildArgs `json:"build,omitempty"`
}

// BuildArgs is how an image is built on the host.
type BuildArgs struct {
	ContextDir string            `json:"contextDir"`
	Dockerfile string            `json:"dockerfile"`
	Args       map[string]string `json:"args,omitempty"`
}

// ContainerRef is the container a Docker step acts on, and what the step
// needs beyond its name.
type ContainerRef struct {
	Name string `json:"name"`
	// ID is the container as observed: the run a stop is recorded for.
	ID string `json:"id,omitempty"`
	// StopTimeout: StopContainer and RestartContainer.
	StopTimeout time.Duration `json:"stopTimeout,omitempty"`
	// RestartPolicy: SetRestartPolicy.
	RestartPolicy string `json:"restartPolicy,omitempty"`
	// Create: CreateContainer.
	Create *ContainerSpec `json:"create,omitempty"`
	// NotServed: StopContainer and RemoveContainer are refused while the
	// live map names this entry's value (the color's backend).
	NotServed *MapEntry `json:"notServed,omitempty"`
	// Surplus: the container is a replica beyond spec.replicas, stopped
	// and removed whichever color serves (NotServed is nil).
	Surplus bool `json:"surplus,omitempty"`
}

// ContainerSpec is everything a color's container is created from.
type ContainerSpec struct {
	Name    string     `json:"name"`
	ImageID string     `json:"imageID"`
	Service string     `json:"service"`
	Color   spec.Color `json:"color"`
	// Replica is the replica's number, from 1 (io.bluegreen.replica).
	Replica int `json:"replica"`
	// ImageRef is the image reference the spec names; SpecHash the digest
	// of this spec (ContainerHash), both kept on the container's labels.
	ImageRef      string   `json:"imageRef"`
	SpecHash      string   `json:"specHash"`
	Env           []string `json:"env"`
	ContainerPort int      `json:"containerPort"`
	HostPort      int      `json:"hostPort"`
	HostNetwork   bool     `json:"hostNetwork,omitempty"`
	// Network is the Docker network joined ("" or "bridge": the default
	// bridge); unused with HostNetwork.
	Network string `json:"network,omitempty"`
	// Networks are the other Docker networks joined (spec.networks).
	Networks    []string      `json:"networks,omitempty"`
	Mounts      []spec.Mount  `json:"mounts,omitempty"`
	User        string        `json:"user,omitempty"`
	StopTimeout time.Duration `json:"stopTimeout"`
	Memory      int64         `json:"memory,omitempty"`
	NanoCPUs    int64         `json:"nanoCPUs,omitempty"`
	// Entrypoint and Command replace the image's (empty: its own).
	Entrypoint []string `json:"entrypoint,omitempty"`
	Command    []string `json:"command,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	// StopSignal stops the container ("": the image's, else SIGTERM).
	StopSignal string `json:"stopSignal,omitempty"`
	// Logging is the logging in force: the spec's, else the default.
	Logging spec.Logging `json:"logging"`
	// EnvFiles are read when the container is created, their variables
	// added to Env. The step carries their paths and digest, never a
	// value: steps are printed (plan -o json), logged and recorded.
	EnvFiles *EnvFiles `json:"envFiles,omitempty"`
	// Job and Generation are set for the container of a release job,
	// which publishes no port and is labelled with both.
	Job        string `json:"job,omitempty"`
	Generation string `json:"generation,omitempty"`
}

// EnvFiles names the env files of a container and the digest of their
// contents when the desired state was loaded: the executor reads them
// again and refuses the create when they no longer match it.
type EnvFiles struct {
	Paths  []string `json:"paths"`
	Digest string   `json:"digest"`
}

// ServerRef is an HAProxy server, at the runtime API of Runtime.
type ServerRef struct {
	Runtime string `json:"runtime"`
	Backend string `json:"backend"`
	Server  string `json:"server"`
	// Addr is where SetServerAddr points it (ip:port).
	Addr string `json:"addr,omitempty"`
	// Down: SetServerReady leaves it DOWN (state ready and health down in
	// one command line). HAProxy makes a server leaving maintenance UP at
	// once, before any check; a color that does not serve yet is proven
	// first, by its checks or the controller's probes and MarkServerUp.
	Down bool `json:"down,omitempty"`
}

// MapEntry is a key of a map and the value it must get, at the runtime API
// of Runtime and in the map file File.
type MapEntry struct {
	Runtime string `json:"runtime"`
	File    string `json:"file"`
	Key     string `json:"key"`
	Value   string `json:"value"`
	// Ready, for SwitchMap: what the switch was planned on, each replica
	// of the color, checked live right before it.
	Ready []Readiness `json:"ready,omitempty"`
}

// Readiness is what a switch to a color was planned on, for one of its
// replicas: the run of its container that was probed, the image it runs, and its HAProxy server at
// the address that was probed.
type Readiness struct {
	// Name and Container name the container; StartedAt its run.
	Name      string    `json:"name"`
	Container string    `json:"container"`
	StartedAt time.Time `json:"startedAt"`
	ImageID   string    `json:"imageID"`
	// Network and IP are the container's Docker network and its address
	// there as probed ("" with host networking).
	Network string    `json:"network,omitempty"`
	IP      string    `json:"ip,omitempty"`
	Server  ServerRef `json:"server"`
	// Addr is where HAProxy must send the color's traffic: the probed
	// address.
	Addr string `json:"addr"`
}

// ChecksRun is the pre-switch checks of a run of a color's container.
type ChecksRun struct {
	// Base is where they are sent: http:// and the probed address.
	Base      string       `json:"base"`
	Checks    []spec.Check `json:"checks"`
	Container string       `json:"container"`
	StartedAt time.Time    `json:"startedAt"`
}

func (s Step) String() string {
	return fmt.Sprintf("%s %s: %s", s.Action, s.Target, s.Cause)
}

// Phase summarises a service's state for status.
type Phase string

const (
	Converged   Phase = "Converged"
	Progressing Phase = "Progressing"
	Degraded    Phase = "Degraded"
	Failed      Phase = "Failed"
)

// Decision is what Plan returns: exactly one of a step, a wait, or converged.
type Decision struct {
	Step *Step
	// Phase, Reason (CamelCase) and Message describe the state for status.
	Phase   Phase
	Reason  Reason
	Message string
	// RequeueAfter is when to look again when there is no step to take now.
	RequeueAfter time.Duration
	// LogsOf names a container whose last log lines explain a failure.
	LogsOf string
	// Record, when set, is the release verification to persist in status
	// (before the step is taken, if there is one).
	Record *Verification
	// Retry, when set, is the generation whose failed release an operator
	// asked to try again (Observed.RetryAsked): the loop counts the retry
	// (spec.Service.HostRetries), and the service's next generation is a
	// new attempt of the release.
	Retry string
}

// Converged reports a service at rest.
func (d Decision) Converged() bool { return d.Phase == Converged && d.Step == nil }

func (d Decision) String() string {
	if d.Step != nil {
		return d.Step.String()
	}
	return fmt.Sprintf("%s (%s): %s", d.Phase, d.Reason, d.Message)
}
