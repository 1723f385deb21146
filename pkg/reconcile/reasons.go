package reconcile

import "github.com/bluegreen-host/controller/pkg/reconcile/planner"

// Reasons of the loop itself, beside the planner's (planner.Reason): a
// service it could not observe, or whose step failed.
const (
	ReasonHAProxyUnreachable = planner.Reason("HAProxyUnreachable")
	ReasonDockerUnreachable  = planner.Reason("DockerUnreachable")
	ReasonTimeout            = planner.Reason("Timeout")
	ReasonObserveFailed      = planner.Reason("ObserveFailed")
	// ReasonStepFailed: a step failed; it is retried with backoff.
	ReasonStepFailed = planner.Reason("StepFailed")
	// ReasonStepRefused: a step that retrying cannot mend (a name HAProxy
	// would refuse, a container without the controller's labels).
	ReasonStepRefused = planner.Reason("StepRefused")
)
