package export

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestExportValidatesAgainstArgoCRDs checks every Argo Rollouts object that
// export writes, for the demo and every desired file in testdata, against
// Argo Rollouts' own CRDs with the API server's structural-schema
// validation, and that each kind the CRDs define is written at least once.
func TestExportValidatesAgainstArgoCRDs(t *testing.T) {
	crds := loadArgoCRDs(t)
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../examples/desired.yaml", notesExample)
	checked := map[schema.GroupVersionKind]int{}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			var ms []Manifests
			if file == notesExample {
				ms = renderNotes(t)
			} else {
				ms = render(t, file, false)
			}
			for _, obj := range decodeDocs(t, Join(ms)) {
				gvk := objectGVK(obj)
				if gvk.Group != "argoproj.io" {
					continue
				}
				name, _, _ := unstructured.NestedString(obj, "metadata", "name")
				c, ok := crds[gvk]
				if !ok {
					t.Errorf("%s %s: no CRD in %s defines %s", gvk.Kind, name, crdDir, gvk)
					continue
				}
				if err := c.check(obj); err != nil {
					t.Errorf("%s %s does not validate against its CRD:\n%v", gvk.Kind, name, err)
				}
				checked[gvk]++
			}
		})
	}
	for gvk := range crds {
		if checked[gvk] == 0 {
			t.Errorf("no desired file makes export write a %s, so its CRD checks nothing: add one to testdata", gvk)
		}
	}
}

// TestCRDCheckRefuses shows that the check bites: each case changes one
// thing in an object export writes, and the check must refuse it, naming
// the field.
func TestCRDCheckRefuses(t *testing.T) {
	crds := loadArgoCRDs(t)
	objs := map[string]map[string]any{}
	for _, obj := range decodeDocs(t, Join(render(t, "testdata/everyfield.yaml", false))) {
		name, _, _ := unstructured.NestedString(obj, "metadata", "name")
		objs[objectGVK(obj).Kind+"/"+name] = obj
	}
	type edit func(t *testing.T, o map[string]any)
	set := func(value any, path ...string) edit {
		return func(t *testing.T, o map[string]any) {
			if err := unstructured.SetNestedField(o, value, path...); err != nil {
				t.Fatalf("set %s: %v", strings.Join(path, "."), err)
			}
		}
	}
	// first edits the first element of the list at path.
	first := func(e func(map[string]any), path ...string) edit {
		return func(t *testing.T, o map[string]any) {
			list, _, err := unstructured.NestedSlice(o, path...)
			if err != nil || len(list) == 0 {
				t.Fatalf("%s: no list (%v)", strings.Join(path, "."), err)
			}
			e(list[0].(map[string]any))
			set(list, path...)(t, o)
		}
	}
	container := func(e func(map[string]any)) edit { return first(e, "spec", "template", "spec", "containers") }
	metric := func(e func(map[string]any)) edit { return first(e, "spec", "metrics") }
	none := func(*testing.T, map[string]any) {}
	cases := []struct {
		name   string
		object string
		edit   edit
		want   string // in the error; "" for none
	}{
		{"Rollout as written", "Rollout/shop", none, ""},
		{"AnalysisTemplate as written", "AnalysisTemplate/shop-checks", none, ""},
		{"replicas a string", "Rollout/shop", set("one", "spec", "replicas"),
			"spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer"},
		{"scaleDownDelaySeconds a boolean", "Rollout/shop", set(true, "spec", "strategy", "blueGreen", "scaleDownDelaySeconds"),
			"spec.strategy.blueGreen.scaleDownDelaySeconds in body must be of type int32"},
		{"scaleDownDelaySeconds past int32", "Rollout/shop", set(int64(1)<<31, "spec", "strategy", "blueGreen", "scaleDownDelaySeconds"),
			"spec.strategy.blueGreen.scaleDownDelaySeconds"},
		{"unknown field in the strategy", "Rollout/shop", set("shop", "spec", "strategy", "blueGreen", "activeServiceName"),
			`unknown field "spec.strategy.blueGreen.activeServiceName"`},
		{"unknown field in the container", "Rollout/shop", container(func(c map[string]any) { c["imagePolicy"] = "Always" }),
			`unknown field "spec.template.spec.containers[0].imagePolicy"`},
		{"unknown field in the metadata", "Rollout/shop", set("x", "metadata", "label"),
			`unknown field "metadata.label"`},
		{"unknown field in the pod template's metadata", "Rollout/shop", set("x", "spec", "template", "metadata", "label"),
			`unknown field "spec.template.metadata.label"`},
		{"activeService missing", "Rollout/shop", func(_ *testing.T, o map[string]any) {
			unstructured.RemoveNestedField(o, "spec", "strategy", "blueGreen", "activeService")
		}, "spec.strategy.blueGreen.activeService: Required value"},
		{"env name twice", "Rollout/shop", container(func(c map[string]any) {
			env := c["env"].([]any)
			c["env"] = append(env, env[0])
		}), "spec.template.spec.containers[0].env[5]: Duplicate value"},
		{"name not a DNS subdomain", "Rollout/shop", set("Shop_1", "metadata", "name"),
			`metadata.name: Invalid value: "Shop_1"`},
		{"version the CRD does not serve", "Rollout/shop", set("argoproj.io/v1", "apiVersion"),
			"apiVersion and kind argoproj.io/v1, Kind=Rollout, want argoproj.io/v1alpha1, Kind=Rollout"},
		{"metric count a boolean", "AnalysisTemplate/shop-checks", metric(func(m map[string]any) { m["count"] = true }),
			"spec.metrics[0].count"},
		{"unknown field in the web provider", "AnalysisTemplate/shop-checks", metric(func(m map[string]any) {
			m["provider"].(map[string]any)["web"].(map[string]any)["bodyContains"] = "ok"
		}), `unknown field "spec.metrics[0].provider.web.bodyContains"`},
		{"metric without a name", "AnalysisTemplate/shop-checks", metric(func(m map[string]any) { delete(m, "name") }),
			"spec.metrics[0].name: Required value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig, ok := objs[tc.object]
			if !ok {
				t.Fatalf("export wrote no %s", tc.object)
			}
			obj := runtime.DeepCopyJSON(orig)
			tc.edit(t, obj)
			c := crds[objectGVK(orig)]
			err := c.check(obj)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func loadArgoCRDs(t *testing.T) map[schema.GroupVersionKind]*crdSchema {
	t.Helper()
	crds, err := argoCRDs()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for gvk := range crds {
		kinds = append(kinds, gvk.Kind)
	}
	slices.Sort(kinds)
	if got := strings.Join(kinds, ","); got != "AnalysisTemplate,Rollout" {
		t.Fatalf("%s defines %s, want AnalysisTemplate,Rollout", crdDir, got)
	}
	return crds
}

// decodeDocs decodes each document of a stream as JSON would: numbers are
// int64 or float64, as the API server sees them.
func decodeDocs(t *testing.T, stream []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i, doc := range bytes.Split(stream, []byte("---\n")) {
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			t.Fatalf("document %d: %v", i+1, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatalf("document %d: %v\n%s", i+1, err, doc)
		}
		out = append(out, u.Object)
	}
	return out
}

// notesExample is the realistic example app's desired file. Its env file
// lives on the host (/etc/bluegreen/notes.env), so it is decoded without
// reading files: export never reads an env file anyway.
const notesExample = "../../examples/notes/desired.yaml"

func renderNotes(t *testing.T) []Manifests {
	t.Helper()
	data, err := os.ReadFile(notesExample)
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := spec.Decode(data, notesExample, filepath.Dir(notesExample), nil)
	if err != nil {
		t.Fatalf("decode %s: %v", notesExample, err)
	}
	ms, err := Render(svcs, Options{})
	if err != nil {
		t.Fatalf("render %s: %v", notesExample, err)
	}
	return ms
}
