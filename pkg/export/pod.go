package export

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Labels on every object and pod export writes.
const (
	// LabelName names the service.
	LabelName = "app.kubernetes.io/name"
	// LabelColor names the color of a plain Deployment's pods; the plain
	// Service selects the active color by it.
	LabelColor = "bluegreen.dev/color"
)

const (
	// portName names the app's container port; Services and probes refer
	// to it by name, so colors may listen on different ports.
	portName = "http"
	// servicePort is the port of every Service. desired.yaml does not say
	// on which port HAProxy's frontend listens.
	servicePort = 80
	// probesToPass is how many readiness probes in a row must pass, as the
	// controller probes a new color twice before traffic moves.
	probesToPass = 2
)

// podTemplate is the pod of color c, running the container the controller
// would start for it.
func podTemplate(s *spec.Service, c spec.Color, labels map[string]string) corev1.PodTemplateSpec {
	env, port := containerEnv(s, c)
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:            s.Name,
				Image:           s.Image,
				ImagePullPolicy: pullPolicy(s.Pull),
				Command:         s.Entrypoint,
				Args:            s.Command,
				WorkingDir:      s.WorkingDir,
				Env:             env,
				EnvFrom:         envFrom(s),
				Ports:           []corev1.ContainerPort{{Name: portName, ContainerPort: port}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: s.HealthPath, Port: intstr.FromString(portName)},
					},
					SuccessThreshold: probesToPass,
				},
				LivenessProbe: livenessProbe(s),
				Resources:     resources(s.Resources),
			}},
			TerminationGracePeriodSeconds: new(int64(seconds(s.StopTimeout.Duration))),
		},
	}
}

// livenessPeriod is how often the liveness probe asks.
const livenessPeriod = 10 * time.Second

// livenessProbe restarts a container whose health path keeps failing for
// spec.health.restartAfter, as the controller restarts a served color that
// fails HAProxy's check and its probe that long (nil: restartAfter 0s).
func livenessProbe(s *spec.Service) *corev1.Probe {
	after := s.RestartAfter()
	if after <= 0 {
		return nil
	}
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: s.HealthPath, Port: intstr.FromString(portName)},
		},
		PeriodSeconds:    seconds(livenessPeriod),
		FailureThreshold: int32(min(math.MaxInt32, max(1, (after+livenessPeriod-1)/livenessPeriod))),
	}
}

// pullPolicy is spec.pull as Kubernetes says it: the host pulls an image
// only when it is missing, whatever its tag, or never.
func pullPolicy(pull spec.PullPolicy) corev1.PullPolicy {
	if pull == spec.PullNever {
		return corev1.PullNever
	}
	return corev1.PullIfNotPresent
}

// containerEnv is color c's environment exactly as the controller gives it
// to the container (spec.env, COLOR and PORT), sorted by name, and the port
// the app is told to listen on (PORT).
func containerEnv(s *spec.Service, c spec.Color) ([]corev1.EnvVar, int32) {
	var env []corev1.EnvVar
	var port int32
	for _, kv := range planner.ContainerEnv(s, s.Replica(c, 0)) {
		k, v, _ := strings.Cut(kv, "=")
		env = append(env, corev1.EnvVar{Name: k, Value: v})
		if k == "PORT" {
			n, _ := strconv.ParseInt(v, 10, 32) // the controller writes a validated port
			port = int32(n)
		}
	}
	slices.SortFunc(env, func(a, b corev1.EnvVar) int { return strings.Compare(a.Name, b.Name) })
	return env, port
}

// envSecret names the Secret that stands for a service's env files.
func envSecret(s *spec.Service) string { return s.Name + "-env" }

// envFrom takes the variables of the service's env files from the Secret
// envSecret, which export does not write: it never reads the files, so
// that no value reaches its output.
func envFrom(s *spec.Service) []corev1.EnvFromSource {
	if len(s.EnvFile) == 0 {
		return nil
	}
	return []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: envSecret(s)}}}}
}

// resources turns Docker's limits into the container's limits, with
// requests equal to them: the scheduler then reserves for the pod all that
// its limits let it use.
func resources(r spec.Resources) corev1.ResourceRequirements {
	l := corev1.ResourceList{}
	if b := r.MemoryBytes(); b > 0 {
		l[corev1.ResourceMemory] = *resource.NewQuantity(b, resource.BinarySI)
	}
	if r.CPUs > 0 {
		l[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(math.Round(r.CPUs*1000)), resource.DecimalSI)
	}
	if len(l) == 0 {
		return corev1.ResourceRequirements{}
	}
	return corev1.ResourceRequirements{Limits: l, Requests: l.DeepCopy()}
}

// seconds is d in whole seconds, rounded up, at most the largest int32 (the
// type of the Kubernetes fields that hold it).
func seconds(d time.Duration) int32 {
	s := math.Ceil(d.Seconds())
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(s)
}
