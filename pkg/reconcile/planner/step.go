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
	SwitchMap       Action = "SwitchMap"
	WriteMapFile    Action = "WriteMapFile"
	// SetPreview points the preview map key at the color being prepared.
	SetPreview Action = "SetPreview"
	// RunChecks sends the pre-switch checks to the new color.
	RunChecks Action = "RunChecks"
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
)

// Step is the next single thing to do for one service.
type Step struct {
	Action  Action     `json:"action"`
	Service string     `json:"service"`
	Color   spec.Color `json:"color,omitempty"` // the color acted on (empty for image steps)
	// Target names what is acted on: image, container, backend/server or map.
	Target string `json:"target"`
	// Cause says why, in words an operator reads in logs and status.
	Cause string `json:"cause"`
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
	Reason  string
	Message string
	// RequeueAfter is when to look again when there is no step to take now.
	RequeueAfter time.Duration
	// LogsOf names a container whose last log lines explain a failure.
	LogsOf string
	// Record, when set, is the release verification to persist in status
	// (before the step is taken, if there is one).
	Record *Verification
}

// Converged reports a service at rest.
func (d Decision) Converged() bool { return d.Phase == Converged && d.Step == nil }

func (d Decision) String() string {
	if d.Step != nil {
		return d.Step.String()
	}
	return fmt.Sprintf("%s (%s): %s", d.Phase, d.Reason, d.Message)
}
