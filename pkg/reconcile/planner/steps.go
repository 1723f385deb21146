package planner

import (
	"fmt"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// The constructors of the steps the planner takes, each with the values
// its execution needs (see Step).

// step is a step of action a on color c of s, with what it acts on for
// people (target) and why; the constructors below add its values.
func step(a Action, s *spec.Service, c spec.Color, target, cause string) Decision {
	st := &Step{Action: a, Service: s.Name, Color: c, Target: target, Cause: cause}
	return Decision{Step: st, Phase: Progressing, Reason: Reason(a), Message: st.String()}
}

// containerStep acts on replica r's container, observed as ct.
func containerStep(a Action, s *spec.Service, r spec.Replica, ct Container, cause string) Decision {
	d := step(a, s, r.Color, r.Container, cause)
	d.Step.Replica = r.Number()
	ref := &ContainerRef{Name: r.Container, ID: ct.ID}
	switch a {
	case StopContainer, RestartContainer:
		ref.StopTimeout = s.StopTimeout.Duration
	}
	switch {
	case (a == StopContainer || a == RemoveContainer) && r.Index >= s.ReplicaCount():
		ref.Surplus = true
	case a == StopContainer || a == RemoveContainer:
		ref.NotServed = mapEntry(s, s.HAProxy.MapKey, r.Backend)
	}
	d.Step.Container = ref
	return d
}

// createStep creates replica r's container on image imageID.
func createStep(s *spec.Service, r spec.Replica, imageID, cause string) Decision {
	d := containerStep(CreateContainer, s, r, Container{}, cause)
	d.Step.Container.Create = ContainerSpecOf(s, r, imageID)
	return d
}

// ContainerSpecOf is what replica r's container of s is created from, on
// image imageID.
func ContainerSpecOf(s *spec.Service, r spec.Replica, imageID string) *ContainerSpec {
	return &ContainerSpec{
		Name: r.Container, ImageID: imageID, Service: s.Name, Color: r.Color, Replica: r.Number(),
		ImageRef: s.Image, SpecHash: ContainerHash(s, r, imageID), Env: ContainerEnv(s, r),
		ContainerPort: s.ContainerPort, HostPort: r.HostPort, HostNetwork: s.Network == spec.NetworkHost,
		StopTimeout: s.StopTimeout.Duration, Memory: s.Resources.MemoryBytes(), NanoCPUs: s.Resources.NanoCPUs(),
		Network: containerNetwork(s), Networks: s.Networks, Mounts: s.Mounts(), User: s.User,
		Entrypoint: s.Entrypoint, Command: s.Command, WorkingDir: s.WorkingDir, StopSignal: s.StopSignal,
		Logging: s.LoggingInForce(), EnvFiles: envFiles(s),
	}
}

// containerNetwork is the Docker network the container joins by name: ""
// for the host's network and the engine's default bridge.
func containerNetwork(s *spec.Service) string {
	if s.Network == spec.NetworkHost || s.Network == spec.NetworkBridge {
		return ""
	}
	return string(s.Network)
}

// restartPolicyStep gives replica r's container the engine's restart policy.
func restartPolicyStep(s *spec.Service, r spec.Replica, ct Container, policy, cause string) Decision {
	d := containerStep(SetRestartPolicy, s, r, ct, cause)
	d.Step.Container.RestartPolicy = policy
	return d
}

// serverStep acts on replica r's HAProxy server.
func serverStep(a Action, s *spec.Service, r spec.Replica, cause string) Decision {
	d := step(a, s, r.Color, serverName(r), cause)
	d.Step.Replica = r.Number()
	d.Step.Server = serverRef(s, r)
	return d
}

func serverRef(s *spec.Service, r spec.Replica) *ServerRef {
	return &ServerRef{Runtime: s.HAProxy.Runtime, Backend: r.Backend, Server: r.Server}
}

// mapEntry is key of s's map, to be set to value.
func mapEntry(s *spec.Service, key, value string) *MapEntry {
	return &MapEntry{Runtime: s.HAProxy.Runtime, File: s.HAProxy.MapFile, Key: key, Value: value}
}

// switchStep points the map key at color c, whose state cs the switch is
// planned on: each replica's readiness is checked again, live, right
// before it.
func switchStep(s *spec.Service, c spec.Color, cs ColorState, cause string) Decision {
	backend := s.Color(c).Backend
	d := step(SwitchMap, s, c, s.HAProxy.MapKey+" -> "+backend, cause)
	d.Step.Map = mapEntry(s, s.HAProxy.MapKey, backend)
	for _, st := range cs.Replicas {
		r := Readiness{Name: st.Slot.Container, Container: st.Container.ID, StartedAt: st.Container.StartedAt, ImageID: st.Container.ImageID,
			Server: *serverRef(s, st.Slot), Addr: st.ProbedAddr}
		if s.Network != spec.NetworkHost {
			r.Network, r.IP = string(s.Network), st.Container.IP
		}
		d.Step.Map.Ready = append(d.Step.Map.Ready, r)
	}
	return d
}

// writeMapFileStep writes the map key's value for color c to the map file.
func writeMapFileStep(s *spec.Service, c spec.Color, cause string) Decision {
	d := step(WriteMapFile, s, c, s.HAProxy.MapFile, cause)
	d.Step.Map = mapEntry(s, s.HAProxy.MapKey, s.Color(c).Backend)
	return d
}

// previewStep points the preview key at color c.
func previewStep(s *spec.Service, c spec.Color, cause string) Decision {
	backend := s.Color(c).Backend
	d := step(SetPreview, s, c, s.Preview.MapKey+" -> "+backend, cause)
	d.Step.Map = mapEntry(s, s.Preview.MapKey, backend)
	return d
}

// checksStep sends the pre-switch checks to color c's first replica st, at
// the address its probes passed at.
func checksStep(s *spec.Service, c spec.Color, st ReplicaState, cause string) Decision {
	d := step(RunChecks, s, c, st.Slot.Container, cause)
	d.Step.Checks = &ChecksRun{Base: "http://" + ServerAddr(s, st.Slot, st.Container), Checks: s.Checks,
		Container: st.Container.ID, StartedAt: st.Container.StartedAt}
	return d
}

// imageStep makes the desired image: built when the spec says how, else
// pulled, unless pulls are forbidden.
func imageStep(s *spec.Service) Decision {
	ref := &ImageRef{Ref: s.Image}
	if s.Build != nil {
		ref.Build = &BuildArgs{ContextDir: s.BuildContext(), Dockerfile: s.Build.Dockerfile, Args: s.Build.Args}
		d := step(BuildImage, s, "", s.Image, fmt.Sprintf("image %s is not on this host; build it from %s", s.Image, s.BuildContext()))
		d.Step.Image = ref
		return d
	}
	if s.Pull == spec.PullNever {
		return failed(ReasonImageMissing, fmt.Sprintf("image %s is not on this host, the spec gives no build and forbids pulls (spec.pull: Never): load it (docker load) or build it, or give spec.build", s.Image))
	}
	d := step(PullImage, s, "", s.Image, fmt.Sprintf("image %s is not on this host and no build is given", s.Image))
	d.Step.Image = ref
	return d
}
