// Package export renders the desired state of blue/green services as
// Kubernetes manifests, for users who move from one host to a cluster.
//
// By default each service becomes an Argo Rollouts Rollout with the
// blue-green strategy, its active and preview Services, and an
// AnalysisTemplate when its pre-switch checks map to one; with
// Options.Plain, two Deployments (blue and green) and a Service whose
// selector names the active color, for clusters without Argo Rollouts.
// Each field with no counterpart is reported as an Unmapped, never dropped
// in silence. The output is deterministic: objects in a fixed order, map
// keys and environment variables sorted.
package export

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// Options choose the manifests Render writes.
type Options struct {
	// Plain writes two Deployments and a Service instead of a Rollout.
	Plain bool
}

// Manifests are the objects of one service.
type Manifests struct {
	Service string
	// YAML holds the objects as YAML documents separated by "---" lines:
	// the Rollout, the active Service, the preview Service, then the
	// AnalysisTemplate if any; or (plain) the blue Deployment, the green
	// one, then the Service.
	YAML []byte
	// Unmapped lists the fields of the service's desired state that the
	// objects leave out, in the order of desired.yaml.
	Unmapped []Unmapped
}

// object is a Kubernetes object export writes.
type object interface {
	GetName() string
	GetObjectKind() schema.ObjectKind
}

// Render renders each service, in the order given (the order of the
// desired state's files and documents). It refuses a service whose name
// cannot name a Kubernetes Service.
func Render(svcs []spec.Service, opt Options) ([]Manifests, error) {
	var out []Manifests
	var errs []error
	for i := range svcs {
		s := &svcs[i]
		if msgs := validation.IsDNS1035Label(s.Name); len(msgs) > 0 {
			errs = append(errs, &spec.FieldError{Source: s.Source, Path: "metadata.name",
				Msg: fmt.Sprintf("%q cannot name a Kubernetes Service: %s", s.Name, strings.Join(msgs, "; "))})
			continue
		}
		var objs []object
		if opt.Plain {
			objs = plainObjects(s)
		} else {
			objs = rolloutObjects(s)
		}
		y, err := marshal(objs)
		if err != nil {
			errs = append(errs, fmt.Errorf("export service %s: %w", s.Name, err))
			continue
		}
		out = append(out, Manifests{Service: s.Name, YAML: y, Unmapped: unmapped(s, opt.Plain)})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Join is the manifests of every service as one YAML stream, for
// kubectl apply -f -.
func Join(ms []Manifests) []byte {
	parts := make([][]byte, len(ms))
	for i, m := range ms {
		parts[i] = m.YAML
	}
	return bytes.Join(parts, []byte("---\n"))
}

func marshal(objs []object) ([]byte, error) {
	var b bytes.Buffer
	for i, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}
