package planner

// Reason says in one CamelCase word why a service is in its phase: the
// Ready condition's reason in status, the label of the log line, what
// metrics and webhooks key on. A decision with a step has its action as its
// reason (Reason(Action)).
type Reason string

// Reasons of the planner's decisions.
const (
	ReasonConverged = Reason("Converged")

	// Waits (Progressing).
	ReasonWaitingForReady     = Reason("WaitingForReady")
	ReasonWaitingForFallback  = Reason("WaitingForFallback")
	ReasonWaitingForPromotion = Reason("WaitingForPromotion")
	ReasonDraining            = Reason("Draining")
	ReasonVerifying           = Reason("Verifying")
	ReasonVerified            = Reason("Verified")
	ReasonRollingBack         = Reason("RollingBack")
	// ReasonCanary: a canary step sends the new color its share of new
	// users, for the step's pause.
	ReasonCanary = Reason("Canary")
	// ReasonRetrying: an operator asked to try a failed release again;
	// its new attempt begins at the next look.
	ReasonRetrying = Reason("Retrying")
	// ReasonRunningJob: a release job runs; ReasonWaitingForJob: a job of
	// an earlier release still runs, and this release's jobs wait.
	ReasonRunningJob    = Reason("RunningJob")
	ReasonWaitingForJob = Reason("WaitingForJob")
	// ReasonSettling: the release is done but for the served color's
	// restart policy, given once it has run RestartPolicyDelay.
	ReasonSettling = Reason("Settling")

	// The served color (Degraded).
	ReasonCrashLoop      = Reason("CrashLoop")
	ReasonActiveDown     = Reason("ActiveDown")
	ReasonActiveNotReady = Reason("ActiveNotReady")
	// ReasonServedColorDown: HAProxy says the color the map points at is
	// DOWN: its requests get 503, whatever else holds.
	ReasonServedColorDown = Reason("ServedColorDown")
	// ReasonCanaryStranded: the map points at the canary backend, no
	// canary of the spec is in progress, and no color is ready to take
	// all traffic.
	ReasonCanaryStranded = Reason("CanaryStranded")
	// ReasonReplicaDown: HAProxy says one replica of the served color is
	// DOWN; the others take its requests.
	ReasonReplicaDown = Reason("ReplicaDown")

	// A release that failed, and what needs a person (Failed).
	ReasonContainerExited = Reason("ContainerExited")
	ReasonOOMKilled       = Reason("OOMKilled")
	ReasonReadyTimeout    = Reason("ReadyTimeout")
	ReasonCheckFailed     = Reason("CheckFailed")
	// ReasonJobFailed: a release job exited non-zero, was OOM-killed or
	// outlived its timeout.
	ReasonJobFailed = Reason("JobFailed")
	// ReasonHeldAfterIrreversibleJob: the release failed its verification
	// but a job that cannot be undone ran: traffic stays on the new color
	// until a person rolls back (controller rollback) or edits the spec.
	ReasonHeldAfterIrreversibleJob = Reason("HeldAfterIrreversibleJob")
	ReasonVerificationFailed       = Reason("VerificationFailed")
	ReasonRolledBack               = Reason("RolledBack")
	ReasonRollbackImpossible       = Reason("RollbackImpossible")
	ReasonImageMissing             = Reason("ImageMissing")
	ReasonBackendNotFound          = Reason("BackendNotFound")
	ReasonServerNotFound           = Reason("ServerNotFound")
	ReasonContainerNotOwned        = Reason("ContainerNotOwned")
)

// Reasons of the loop itself: a service it could not observe, or whose
// step failed.
const (
	ReasonHAProxyUnreachable = Reason("HAProxyUnreachable")
	ReasonDockerUnreachable  = Reason("DockerUnreachable")
	ReasonTimeout            = Reason("Timeout")
	ReasonObserveFailed      = Reason("ObserveFailed")
	// ReasonEngineStopping: the Docker engine is shutting down; nothing is
	// changed until it answers again.
	ReasonEngineStopping = Reason("EngineStopping")
	// ReasonStepFailed: a step failed; it is retried with backoff.
	ReasonStepFailed = Reason("StepFailed")
	// ReasonStepRefused: a step that retrying cannot mend (a name HAProxy
	// would refuse, a container without the controller's labels).
	ReasonStepRefused = Reason("StepRefused")
	// ReasonSpecRefused: the service's latest document is refused; it runs
	// on at its last valid spec.
	ReasonSpecRefused = Reason("SpecRefused")
)

// FailsRelease reports a reason that ends a release attempt before any
// traffic moved.
func (r Reason) FailsRelease() bool {
	switch r {
	case ReasonContainerExited, ReasonOOMKilled, ReasonReadyTimeout, ReasonCheckFailed, ReasonJobFailed:
		return true
	}
	return false
}

// Retriable reports a release failure that a new attempt of the same
// spec tries afresh (an edit of spec.retry, controller retry): a
// rollback, failed pre-switch checks, a failed job. A new color whose
// container exited or was not ready in time is not: a new attempt finds
// that very container as it is, so the spec must change.
func (r Reason) Retriable() bool {
	switch r {
	case ReasonRolledBack, ReasonCheckFailed, ReasonJobFailed:
		return true
	}
	return false
}
