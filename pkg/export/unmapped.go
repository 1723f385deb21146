package export

import (
	"fmt"
	"strings"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// Unmapped is a field of a service's desired state that has no counterpart
// in its manifests. Export reports each one rather than drop it.
type Unmapped struct {
	Service string
	// Path is the field's path in the document, e.g. spec.haproxy or
	// spec.checks[0].bodyContains.
	Path string
	// Why shows the value and says what becomes of it, or what to do
	// instead, on Kubernetes.
	Why string
}

func (u Unmapped) String() string {
	return u.Service + ": " + u.Path + ": no counterpart: " + u.Why
}

// unmapped lists, in the order of the fields in desired.yaml, each field
// of s that the manifests leave out. A field left at a value that changes
// nothing on the host (no build, the bridge network, no retry) is not
// listed.
func unmapped(s *spec.Service, plain bool) []Unmapped {
	var out []Unmapped
	add := func(path, format string, args ...any) {
		out = append(out, Unmapped{Service: s.Name, Path: path, Why: fmt.Sprintf(format, args...)})
	}
	unmappedHost(s, plain, add)
	unmappedRelease(s, plain, add, &out)
	return out
}

// unmappedHost reports what of the host has no counterpart: the build,
// the networks, the env files, the mounts, the user, the process's stop
// signal and logging, each color's port and HAProxy names, the map.
func unmappedHost(s *spec.Service, plain bool, add func(path, format string, args ...any)) {
	if b := s.Build; b != nil {
		add("spec.build", "context %s, dockerfile %s: a cluster pulls %s from a registry: build it and push it there", b.Context, b.Dockerfile, s.Image)
	}
	switch s.Network {
	case spec.NetworkBridge:
	case spec.NetworkHost:
		add("spec.network", "host: a pod has a network of its own; the app listens on its color's hostPort (PORT) in the pod, and hostNetwork is not set")
	default:
		add("spec.network", "%q: pods are on the cluster's pod network, not on a Docker network", s.Network)
	}
	if len(s.Networks) > 0 {
		add("spec.networks", "%v: pods are on the cluster's pod network and reach other pods through Services; restrict who may reach what with a NetworkPolicy", s.Networks)
	}
	if len(s.EnvFile) > 0 {
		var from strings.Builder
		for _, f := range s.EnvFile {
			from.WriteString(" --from-env-file=" + f)
		}
		add("spec.envFile", "%v: export never reads them; the pods take their variables from Secret %s (envFrom), which you create from the files: kubectl create secret generic %s%s (kubectl reads the same NAME=VALUE lines)",
			s.EnvFile, envSecret(s), envSecret(s), from.String())
	}
	for i, m := range s.Mounts() {
		at := fmt.Sprintf("spec.volumes[%d]", i)
		if m.Bind {
			add(at, "%q: a pod runs on any node, where host path %s may not exist; copy its data into a PersistentVolumeClaim mounted at %s", s.Volumes[i], m.Source, m.Target)
		} else {
			add(at, "%q: create a PersistentVolumeClaim for volume %s (shared by both colors, so ReadWriteMany, or one color at a time) and mount it at %s", s.Volumes[i], m.Source, m.Target)
		}
	}
	if s.User != "" {
		add("spec.user", "%q: set the container's securityContext.runAsUser (and runAsGroup) to its numeric ids", s.User)
	}
	unmappedProcess(s, add)
	for _, c := range spec.Colors() {
		cs, at := s.Color(c), "spec.colors."+string(c)
		if s.Network != spec.NetworkHost {
			add(at+".hostPort", "%d: pods are reached through the Services, at their own address", cs.HostPort)
		}
		add(at+".backend", "%q: HAProxy's backend; the Service's selector picks the pods instead", cs.Backend)
		add(at+".server", "%q: HAProxy's server; the Service's selector picks the pods instead", cs.Server)
	}
	if plain {
		add("spec.haproxy", "map key %q in %s (runtime API %s): the Service %s takes its place; its selector names the active color",
			s.HAProxy.MapKey, s.HAProxy.MapFile, s.HAProxy.Runtime, s.Name)
	} else {
		add("spec.haproxy", "map key %q in %s (runtime API %s): the Service %s takes its place; Argo Rollouts points it at the serving ReplicaSet",
			s.HAProxy.MapKey, s.HAProxy.MapFile, s.HAProxy.Runtime, s.Name)
	}
}

// unmappedRelease reports what of a release's gates has no counterpart:
// draining, the idle color, verification, checks, preview, promotion and
// retry. A check that does map is added to out as what it leaves out.
func unmappedRelease(s *spec.Service, plain bool, add func(path, format string, args ...any), out *[]Unmapped) {
	if plain {
		add("spec.drainTimeout", "%s: scale the previous color's Deployment down once its connections are done", s.DrainTimeout.Duration)
		switch {
		case s.Idle.Policy == spec.IdleKeepWarm:
			add("spec.idle.policy", "KeepWarm: the idle color's Deployment is written with 0 replicas; leave the previous one scaled up to keep it warm")
		case s.Idle.StopAfter.Duration > 0:
			add("spec.idle.stopAfter", "%s: scale the previous color's Deployment down that long after the switch", s.Idle.StopAfter.Duration)
		}
	}
	unmappedVerify(s, plain, add)
	if c := s.Canary(); c != nil {
		if plain {
			add("spec.strategy", "Canary, %d steps: the Service's selector moves all traffic at once; split it in steps with Argo Rollouts (export without --plain)", len(c.Steps))
		} else {
			add("spec.strategy.backend", "%q: without traffic routing Argo Rollouts splits by pod counts (setWeight rounds to whole pods of spec.replicas), and no cookie keeps a user on one version", c.Backend)
		}
	}
	if len(s.Checks) > 0 && s.Canary() != nil && !plain {
		add("spec.checks", "%d check(s): a canary has no pre-promotion analysis; send them to the new pods before its first step", len(s.Checks))
	} else if len(s.Checks) > 0 {
		if plain {
			add("spec.checks", "%d check(s): nothing sends them before the switch; send them to the new color's pods before you point the Service at it", len(s.Checks))
		} else {
			_, u := checkMetrics(s)
			*out = append(*out, u...)
		}
	}
	if w := s.Warmup; w != nil {
		add("spec.warmup", "%d requests of %s to each new pod, %d at a time: nothing sends them before the switch; a readiness probe or a startup job of the app itself can warm it",
			w.Requests, w.Path, w.Concurrency)
	}
	for i, j := range s.Jobs {
		held := ""
		if j.Irreversible() {
			held = "; reversible: false has no counterpart: an aborted update goes back to the previous ReplicaSet whatever ran"
		}
		add(fmt.Sprintf("spec.jobs[%d]", i), "job %s (%q, timeout %s) is not run by the manifests: run it before the new version takes traffic, "+
			"e.g. as an Argo CD PreSync hook (a Job of the new image with the annotation argocd.argoproj.io/hook: PreSync)%s",
			j.Name, strings.Join(j.Command, " "), j.Timeout.Duration, held)
	}
	if p := s.Preview; p != nil {
		if plain {
			add("spec.preview.mapKey", "%q: there is no preview Service; reach the new color through its Deployment's pods", p.MapKey)
		} else if s.Canary() != nil {
			add("spec.preview.mapKey", "%q: the Service %s reaches the new version's pods instead", p.MapKey, canaryName(s))
		} else {
			add("spec.preview.mapKey", "%q: the Service %s reaches the color being prepared instead (it is written whether or not preview is set)", p.MapKey, previewName(s))
		}
	}
	if plain {
		add("spec.promotion.mode", "%s: every switch is made by hand, by pointing the Service's selector at the other color", s.Promotion.Mode)
	}
	if a := s.Promotion.Approved; a != "" {
		if plain {
			add("spec.promotion.approved", "%q: every switch is made by hand", a)
		} else {
			add("spec.promotion.approved", "%q: approve a paused update with kubectl argo rollouts promote %s", a, s.Name)
		}
	}
	if r := s.Retry; r != "" {
		if plain {
			add("spec.retry", "%q: every step of a release is made by hand", r)
		} else {
			add("spec.retry", "%q: try an aborted update again with kubectl argo rollouts retry rollout %s", r, s.Name)
		}
	}
}

// unmappedVerify reports what of the verification window has no
// counterpart.
func unmappedVerify(s *spec.Service, plain bool, add func(path, format string, args ...any)) {
	if w := s.Verify.Window.Duration; w > 0 {
		if plain {
			add("spec.verify.window", "%s: nothing watches the new color after the switch; keep the previous color's Deployment up that long to switch back", w)
		}
		if plain {
			add("spec.verify.maxErrorRate", "%v: nothing judges the new color on real traffic; roll back by pointing the Service's selector at the previous color",
				*s.Verify.MaxErrorRate)
		} else {
			add("spec.verify.maxErrorRate", "%v: nothing judges the new color on real traffic: that needs a postPromotionAnalysis on a metrics provider (e.g. Prometheus), which desired.yaml does not name; roll back with kubectl argo rollouts undo %s while the previous ReplicaSet still runs",
				*s.Verify.MaxErrorRate, s.Name)
		}
		add("spec.verify.minRequests", "%d: nothing judges the new color on real traffic (see spec.verify.maxErrorRate)", s.Verify.MinRequests)
		if m := s.Verify.MaxResponseTime; m != nil {
			add("spec.verify.maxResponseTime", "%s: nothing judges the new color's response time (see spec.verify.maxErrorRate)", m.Duration)
		}
		if r := s.Verify.MaxLatencyRatio; r != nil {
			add("spec.verify.maxLatencyRatio", "%v: nothing compares the new color's response time with the previous one's (see spec.verify.maxErrorRate)", *r)
		}
	}
}

// unmappedProcess reports what of the container's process has no
// counterpart: the stop signal and the logging.
func unmappedProcess(s *spec.Service, add func(path, format string, args ...any)) {
	if sig := s.StopSignal; sig != "" {
		add("spec.stopSignal", "%s: the kubelet stops a container with its image's STOPSIGNAL (else SIGTERM): put STOPSIGNAL %s in the Dockerfile (or, where the ContainerStopSignals feature is on, set lifecycle.stopSignal)", sig, sig)
	}
	if l := s.Logging; l != nil {
		add("spec.logging", "%s: the kubelet keeps and rotates container logs itself (containerLogMaxSize, containerLogMaxFiles in its configuration); ship them with a cluster log agent", l)
	}
}
