package export

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// keepWarmDelay is scaleDownDelaySeconds for idle.policy KeepWarm: the
// largest the field holds (about 68 years). With
// scaleDownDelayRevisionLimit 1 the previous ReplicaSet stays up, as the
// drained color does on the host, until the next release scales it down.
const keepWarmDelay = math.MaxInt32

// rolloutObjects are the Argo Rollouts manifests of s: the Rollout, its
// active and preview Services, and the AnalysisTemplate of its checks when
// any check maps to one.
func rolloutObjects(s *spec.Service) []object {
	labels := map[string]string{LabelName: s.Name}
	bg := &BlueGreenStrategy{
		ActiveService:         s.Name,
		PreviewService:        previewName(s),
		AutoPromotionEnabled:  new(s.Promotion.Mode != spec.PromotionManual),
		ScaleDownDelaySeconds: new(scaleDownDelay(s)),
	}
	if s.Idle.Policy == spec.IdleKeepWarm {
		bg.ScaleDownDelayRevisionLimit = new(int32(1))
	}
	metrics, _ := checkMetrics(s)
	var template []object
	if len(metrics) > 0 {
		name := s.Name + "-checks"
		bg.PrePromotionAnalysis = &RolloutAnalysis{
			Templates: []RolloutAnalysisTemplate{{TemplateName: name}},
			Args: []AnalysisRunArgument{{
				Name:      namespaceArg,
				ValueFrom: &ArgumentValueFrom{FieldRef: &FieldRef{FieldPath: "metadata.namespace"}},
			}},
		}
		template = append(template, &AnalysisTemplate{
			TypeMeta:   metav1.TypeMeta{APIVersion: ArgoAPIVersion, Kind: "AnalysisTemplate"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: AnalysisTemplateSpec{
				Metrics: metrics,
				Args:    []Argument{{Name: namespaceArg}},
			},
		})
	}
	ro := &Rollout{
		TypeMeta:   metav1.TypeMeta{APIVersion: ArgoAPIVersion, Kind: "Rollout"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: labels},
		Spec: RolloutSpec{
			Replicas: new(int32(s.ReplicaCount())),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			// A revision is a color: its pods are told the active color,
			// so a change of activeColor alone is a new revision, as it
			// starts the other color on the host.
			Template:                podTemplate(s, s.ActiveColor, labels),
			Strategy:                RolloutStrategy{BlueGreen: bg},
			ProgressDeadlineSeconds: new(seconds(s.ReadyTimeout.Duration)),
			ProgressDeadlineAbort:   true,
		},
	}
	if c := s.Canary(); c != nil {
		ro.Spec.Strategy = RolloutStrategy{Canary: canaryStrategy(s, c)}
		return []object{ro, service(s, s.Name, labels), service(s, canaryName(s), labels)}
	}
	objs := []object{ro, service(s, s.Name, labels), service(s, previewName(s), labels)}
	return append(objs, template...)
}

// canaryStrategy is Argo Rollouts' canary for spec.strategy c: each step
// a setWeight, then its pause (none: until promoted).
func canaryStrategy(s *spec.Service, c *spec.Strategy) *CanaryStrategy {
	cs := &CanaryStrategy{StableService: s.Name, CanaryService: canaryName(s)}
	for _, st := range c.Steps {
		pause := &RolloutPause{}
		if st.Pause != nil {
			pause.Duration = new(intstr.FromInt32(seconds(st.Pause.Duration)))
		}
		cs.Steps = append(cs.Steps, CanaryStep{SetWeight: new(int32(st.Weight))}, CanaryStep{Pause: pause})
	}
	return cs
}

func canaryName(s *spec.Service) string { return s.Name + "-canary" }

// scaleDownDelay is how long the previous ReplicaSet keeps running after
// the switch. KeepWarm: until the next release. Stop: as long as the host
// keeps the previous color at most, which is the longest of the
// verification window (it stays warm for a rollback), idle.stopAfter and
// the drain timeout (its sessions finish).
func scaleDownDelay(s *spec.Service) int32 {
	if s.Idle.Policy == spec.IdleKeepWarm {
		return keepWarmDelay
	}
	return seconds(max(s.Verify.Window.Duration, s.Idle.StopAfter.Duration, s.DrainTimeout.Duration))
}

func previewName(s *spec.Service) string { return s.Name + "-preview" }

// service is a Service named name on port 80 that sends to the pods
// selector selects, at their named port.
func service(s *spec.Service, name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelName: s.Name}},
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports:    []corev1.ServicePort{{Name: portName, Port: servicePort, TargetPort: intstr.FromString(portName)}},
		},
	}
}
