package export

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// crdDir holds Argo Rollouts' CustomResourceDefinitions, copied unchanged
// (testdata/argo-rollouts/README.md says from where).
const crdDir = "testdata/argo-rollouts"

// crdSchema is one served version of a CustomResourceDefinition, which
// checks a new object as the API server does on a create with kubectl's
// default strict field validation: an unknown field, a value the
// openAPIV3Schema refuses, a list-map with a duplicate key, or metadata
// the server refuses is an error.
type crdSchema struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
}

// argoCRDs are the schemas of crdDir by group, version and kind, read once.
var argoCRDs = sync.OnceValues(func() (map[schema.GroupVersionKind]*crdSchema, error) {
	files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("read CRDs: no *.yaml in %s", crdDir)
	}
	out := map[schema.GroupVersionKind]*crdSchema{}
	for _, f := range files {
		schemas, err := loadCRD(f)
		if err != nil {
			return nil, err
		}
		for _, s := range schemas {
			out[s.gvk] = s
		}
	}
	return out, nil
})

// loadCRD reads the CustomResourceDefinition in file and returns a schema
// for each served version. It refuses a CRD that the API server would
// refuse for a schema that is not structural, and one with CEL rules that
// apply on a create, as check does not evaluate them.
func loadCRD(file string) ([]*crdSchema, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CRD: %w", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		return nil, fmt.Errorf("decode CRD %s: %w", file, err)
	}
	if crd.Kind != "CustomResourceDefinition" {
		return nil, fmt.Errorf("decode CRD %s: kind %q, want CustomResourceDefinition", file, crd.Kind)
	}
	var out []*crdSchema
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("CRD %s version %s: no openAPIV3Schema", file, v.Name)
		}
		var internal apiextensions.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return nil, fmt.Errorf("CRD %s version %s: convert schema: %w", file, v.Name, err)
		}
		structural, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return nil, fmt.Errorf("CRD %s version %s: structural schema: %w", file, v.Name, err)
		}
		if errs := structuralschema.ValidateStructural(nil, structural); len(errs) > 0 {
			return nil, fmt.Errorf("CRD %s version %s: schema is not structural: %w", file, v.Name, errs.ToAggregate())
		}
		if rules := createRules(structural, ""); len(rules) > 0 {
			return nil, fmt.Errorf("CRD %s version %s: CEL rules this check does not evaluate: %s", file, v.Name, strings.Join(rules, "; "))
		}
		validator, _, err := apiservervalidation.NewSchemaValidator(&internal)
		if err != nil {
			return nil, fmt.Errorf("CRD %s version %s: schema validator: %w", file, v.Name, err)
		}
		out = append(out, &crdSchema{
			gvk:        schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind},
			namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
			structural: structural,
			validator:  validator,
		})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("CRD %s: no served version", file)
	}
	return out, nil
}

// createRules lists the x-kubernetes-validations rules under s that the
// API server evaluates on a create: all but transition rules, which name
// oldSelf and run on an update only.
func createRules(s *structuralschema.Structural, path string) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, r := range s.XValidations {
		if !strings.Contains(r.Rule, "oldSelf") {
			out = append(out, fmt.Sprintf("%s: %s", path, r.Rule))
		}
	}
	for name, p := range s.Properties {
		out = append(out, createRules(&p, path+"."+name)...)
	}
	if s.AdditionalProperties != nil {
		out = append(out, createRules(s.AdditionalProperties.Structural, path+"[*]")...)
	}
	return append(out, createRules(s.Items, path+"[]")...)
}

// check returns what the API server would refuse in obj, one error each,
// or nil. obj is not changed.
func (c *crdSchema) check(obj map[string]any) error {
	var errs []error
	if gvk := objectGVK(obj); gvk != c.gvk {
		return fmt.Errorf("apiVersion and kind %s, want %s", gvk, c.gvk)
	}

	// Unknown fields, as fieldValidation=Strict reports them: in the
	// metadata, then wherever the schema does not preserve them.
	_, _, unknown, err := objectmeta.GetObjectMetaWithOptions(obj, objectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	pruned := runtime.DeepCopyJSON(obj)
	unknown = append(unknown, pruning.PruneWithOptions(pruned, c.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	ferr, embedded := objectmeta.CoerceWithOptions(nil, pruned, c.structural, false, objectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if ferr != nil {
		errs = append(errs, ferr)
	}
	for _, p := range append(unknown, embedded...) {
		errs = append(errs, fmt.Errorf("unknown field %q", p))
	}
	// The server drops nulls the schema does not allow and sets the
	// schema's defaults (e.g. a port's protocol) before it validates.
	defaulting.PruneNonNullableNullsWithoutDefaults(pruned, c.structural)
	defaulting.Default(pruned, c.structural)

	// The object's metadata, as for any resource. kubectl -n fills in the
	// namespace that export leaves out.
	meta, _, err := objectmeta.GetObjectMeta(pruned, false)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if c.namespaced && meta.Namespace == "" {
		meta.Namespace = "default"
	}
	fields := metavalidation.ValidateObjectMetaAccessor(meta, c.namespaced, metavalidation.NameIsDNSSubdomain, field.NewPath("metadata"))

	// The openAPIV3Schema, embedded resources and list types.
	fields = append(fields, apiservervalidation.ValidateCustomResource(nil, pruned, c.validator)...)
	fields = append(fields, objectmeta.Validate(context.Background(), nil, pruned, c.structural, false)...)
	fields = append(fields, listtype.ValidateListSetsAndMaps(nil, c.structural, pruned)...)
	for _, e := range fields {
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// objectGVK is the group, version and kind a decoded object names.
func objectGVK(obj map[string]any) schema.GroupVersionKind {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}
