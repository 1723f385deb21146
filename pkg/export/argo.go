package export

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The Argo Rollouts Go module is not available to this build, so the types
// below mirror, field for field and with the same JSON names, the part of
// github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1 that export
// writes: the Rollout and AnalysisTemplate custom resources, CRD group and
// version argoproj.io/v1alpha1. They were checked against the v1alpha1 types
// of the project's main branch (release line 1.x), where Metric.count and
// Metric.consecutiveErrorLimit take an integer or a string and WebMetric has
// a method. A field of those types that is left out here is one export
// never sets.

// ArgoAPIVersion is the API group and version of Rollout and AnalysisTemplate.
const ArgoAPIVersion = "argoproj.io/v1alpha1"

// Rollout mirrors v1alpha1.Rollout without its status.
type Rollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec RolloutSpec `json:"spec"`
}

// RolloutSpec mirrors v1alpha1.RolloutSpec.
type RolloutSpec struct {
	Replicas *int32                 `json:"replicas,omitempty"`
	Selector *metav1.LabelSelector  `json:"selector"`
	Template corev1.PodTemplateSpec `json:"template"`
	Strategy RolloutStrategy        `json:"strategy"`
	// ProgressDeadlineSeconds bounds how long an update may take to make
	// progress (paused time not counted); with ProgressDeadlineAbort the
	// update is aborted when it passes.
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	ProgressDeadlineAbort   bool   `json:"progressDeadlineAbort,omitempty"`
}

// RolloutStrategy mirrors v1alpha1.RolloutStrategy: blue-green, or
// canary for spec.strategy Canary.
type RolloutStrategy struct {
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`
	Canary    *CanaryStrategy    `json:"canary,omitempty"`
}

// CanaryStrategy mirrors the fields of v1alpha1.CanaryStrategy that a
// canary of the host maps to.
type CanaryStrategy struct {
	// StableService selects the stable ReplicaSet's pods, CanaryService
	// the new one's.
	StableService string       `json:"stableService,omitempty"`
	CanaryService string       `json:"canaryService,omitempty"`
	Steps         []CanaryStep `json:"steps,omitempty"`
}

// CanaryStep mirrors v1alpha1.CanaryStep: one of its fields is set.
type CanaryStep struct {
	SetWeight *int32        `json:"setWeight,omitempty"`
	Pause     *RolloutPause `json:"pause,omitempty"`
}

// RolloutPause mirrors v1alpha1.RolloutPause: no duration waits for
// kubectl argo rollouts promote.
type RolloutPause struct {
	Duration *intstr.IntOrString `json:"duration,omitempty"`
}

// BlueGreenStrategy mirrors v1alpha1.BlueGreenStrategy.
type BlueGreenStrategy struct {
	// ActiveService is the Service whose selector Argo Rollouts points at
	// the serving ReplicaSet; PreviewService at the one being prepared.
	ActiveService  string `json:"activeService"`
	PreviewService string `json:"previewService,omitempty"`
	// AutoPromotionEnabled false pauses the update once the new ReplicaSet
	// is ready, until kubectl argo rollouts promote.
	AutoPromotionEnabled *bool `json:"autoPromotionEnabled,omitempty"`
	// ScaleDownDelaySeconds keeps the previous ReplicaSet running this long
	// after the switch; ScaleDownDelayRevisionLimit bounds how many old
	// ReplicaSets may wait so.
	ScaleDownDelaySeconds       *int32 `json:"scaleDownDelaySeconds,omitempty"`
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`
	// PrePromotionAnalysis must succeed before the switch.
	PrePromotionAnalysis *RolloutAnalysis `json:"prePromotionAnalysis,omitempty"`
}

// RolloutAnalysis mirrors v1alpha1.RolloutAnalysis.
type RolloutAnalysis struct {
	Templates []RolloutAnalysisTemplate `json:"templates,omitempty"`
	Args      []AnalysisRunArgument     `json:"args,omitempty"`
}

// RolloutAnalysisTemplate mirrors v1alpha1.RolloutAnalysisTemplate.
type RolloutAnalysisTemplate struct {
	TemplateName string `json:"templateName"`
}

// AnalysisRunArgument mirrors v1alpha1.AnalysisRunArgument.
type AnalysisRunArgument struct {
	Name      string             `json:"name"`
	ValueFrom *ArgumentValueFrom `json:"valueFrom,omitempty"`
}

// ArgumentValueFrom mirrors v1alpha1.ArgumentValueFrom.
type ArgumentValueFrom struct {
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// FieldRef mirrors v1alpha1.FieldRef: a field of the Rollout, e.g.
// metadata.namespace.
type FieldRef struct {
	FieldPath string `json:"fieldPath"`
}

// AnalysisTemplate mirrors v1alpha1.AnalysisTemplate.
type AnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisTemplateSpec `json:"spec"`
}

// AnalysisTemplateSpec mirrors v1alpha1.AnalysisTemplateSpec.
type AnalysisTemplateSpec struct {
	Metrics []Metric   `json:"metrics"`
	Args    []Argument `json:"args,omitempty"`
}

// Argument mirrors v1alpha1.Argument: an argument the Rollout supplies.
type Argument struct {
	Name string `json:"name"`
}

// Metric mirrors v1alpha1.Metric.
type Metric struct {
	Name string `json:"name"`
	// Interval separates the Count measurements (a Go duration string).
	Interval string              `json:"interval,omitempty"`
	Count    *intstr.IntOrString `json:"count,omitempty"`
	// ConsecutiveErrorLimit is how many measurements in a row may end in
	// error (a non-2xx answer, no answer) before the metric fails (default 4).
	ConsecutiveErrorLimit *intstr.IntOrString `json:"consecutiveErrorLimit,omitempty"`
	Provider              MetricProvider      `json:"provider"`
}

// MetricProvider mirrors v1alpha1.MetricProvider (the web provider only).
type MetricProvider struct {
	Web *WebMetric `json:"web,omitempty"`
}

// WebMetric mirrors v1alpha1.WebMetric: one HTTP request per measurement,
// an error unless the answer is 2xx.
type WebMetric struct {
	Method  string            `json:"method,omitempty"`
	URL     string            `json:"url"`
	Headers []WebMetricHeader `json:"headers,omitempty"`
}

// WebMetricHeader mirrors v1alpha1.WebMetricHeader.
type WebMetricHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}
