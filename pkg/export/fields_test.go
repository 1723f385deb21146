package export

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// handled says, for every field of desired.yaml, what export makes of it:
// where it goes, or that it is reported. A field the spec gains fails
// TestEveryFieldIsHandled until export maps or reports it and it is listed
// here (and in docs/kubernetes.md).
var handled = map[string]string{
	"apiVersion":    "checked by the loader; the manifests carry their own",
	"kind":          "checked by the loader; the manifests carry their own",
	"metadata.name": "names every object",

	"spec.activeColor":             "COLOR of the Rollout's revision; plain: the Service's selector, the Deployment with a replica",
	"spec.image":                   "container image",
	"spec.build.context":           "reported (spec.build)",
	"spec.build.dockerfile":        "reported (spec.build)",
	"spec.build.args":              "reported (spec.build)",
	"spec.pull":                    "imagePullPolicy",
	"spec.containerPort":           "containerPort, PORT",
	"spec.network":                 "bridge: the pod network; otherwise reported",
	"spec.env":                     "env",
	"spec.envFile":                 "envFrom a Secret <name>-env, reported: create it from the files (export never reads them)",
	"spec.networks":                "reported",
	"spec.entrypoint":              "command",
	"spec.command":                 "args",
	"spec.workingDir":              "workingDir",
	"spec.stopSignal":              "reported: STOPSIGNAL in the image",
	"spec.logging.driver":          "reported (spec.logging): the kubelet rotates logs",
	"spec.logging.options":         "reported (spec.logging): the kubelet rotates logs",
	"spec.volumes":                 "reported, each entry",
	"spec.user":                    "reported",
	"spec.healthPath":              "readinessProbe",
	"spec.colors.blue.hostPort":    "reported; host network: the port",
	"spec.colors.blue.backend":     "reported",
	"spec.colors.blue.server":      "reported",
	"spec.colors.green.hostPort":   "reported; host network: the port",
	"spec.colors.green.backend":    "reported",
	"spec.colors.green.server":     "reported",
	"spec.haproxy.runtime":         "reported (spec.haproxy)",
	"spec.haproxy.mapFile":         "reported (spec.haproxy)",
	"spec.haproxy.mapKey":          "reported (spec.haproxy)",
	"spec.readyTimeout":            "progressDeadlineSeconds",
	"spec.drainTimeout":            "scaleDownDelaySeconds; plain: reported",
	"spec.stopTimeout":             "terminationGracePeriodSeconds",
	"spec.idle.policy":             "scaleDownDelaySeconds, scaleDownDelayRevisionLimit; plain: KeepWarm reported",
	"spec.idle.stopAfter":          "scaleDownDelaySeconds; plain: reported",
	"spec.health.restartAfter":     "livenessProbe (failureThreshold of 10 s periods); 0s: none",
	"spec.resources.memory":        "memory limit and request",
	"spec.resources.cpus":          "cpu limit and request",
	"spec.verify.window":           "scaleDownDelaySeconds; plain: reported",
	"spec.verify.maxErrorRate":     "reported",
	"spec.verify.minRequests":      "reported",
	"spec.verify.maxResponseTime":  "reported",
	"spec.verify.maxLatencyRatio":  "reported",
	"spec.retry":                   "reported",
	"spec.replicas":                "Rollout replicas; plain: the active Deployment's replicas",
	"spec.promotion.mode":          "autoPromotionEnabled; plain: reported",
	"spec.promotion.approved":      "reported",
	"spec.warmup.path":             "reported",
	"spec.warmup.requests":         "reported",
	"spec.warmup.concurrency":      "reported",
	"spec.preview.mapKey":          "reported; the preview Service is always written",
	"spec.strategy.type":           "Canary: the Rollout's canary strategy, Service <name>-canary; plain: reported",
	"spec.strategy.backend":        "reported",
	"spec.strategy.steps[].weight": "canary step setWeight",
	"spec.strategy.steps[].pause":  "canary step pause (none: until promoted)",
	"spec.checks[].name":           "metric name",
	"spec.checks[].path":           "web metric url, through the preview Service",
	"spec.checks[].method":         "web metric method; other than GET, POST, PUT: reported, check left out",
	"spec.checks[].headers":        "web metric headers; Host: reported",
	"spec.checks[].expectStatus":   "2xx: a web metric's own rule; otherwise reported, check left out",
	"spec.checks[].bodyContains":   "reported",
	"spec.checks[].count":          "metric count",
	"spec.checks[].interval":       "metric interval",
	"spec.jobs[].name":             "reported (spec.jobs[i])",
	"spec.jobs[].command":          "reported (spec.jobs[i])",
	"spec.jobs[].timeout":          "reported (spec.jobs[i])",
	"spec.jobs[].when":             "reported (spec.jobs[i])",
	"spec.jobs[].reversible":       "reported (spec.jobs[i])",
}

func TestEveryFieldIsHandled(t *testing.T) {
	var fields []string
	walkFields(reflect.TypeOf(spec.Document{}), "", &fields)
	seen := map[string]bool{}
	for _, f := range fields {
		seen[f] = true
		if _, ok := handled[f]; !ok {
			t.Errorf("desired.yaml field %s is neither mapped nor reported by export: map it or report it (unmapped.go), then list it in handled", f)
		}
	}
	var stale []string
	for f := range handled {
		if !seen[f] {
			stale = append(stale, f)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("handled lists fields desired.yaml no longer has: %s", strings.Join(stale, ", "))
	}
}

// walkFields lists the paths of t's JSON fields, down to the leaves: a
// duration, a map, a scalar. A list of structs is written name[].
func walkFields(t reflect.Type, path string, out *[]string) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(spec.Duration{}):
		*out = append(*out, path)
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if path != "" {
				name = path + "." + name
			}
			walkFields(t.Field(i).Type, name, out)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		walkFields(t.Elem(), path+"[]", out)
	default:
		*out = append(*out, path)
	}
}
