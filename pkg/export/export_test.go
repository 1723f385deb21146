package export

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenCases: the demo service and the services that use every field, as
// Argo Rollouts manifests and as plain ones.
var goldenCases = []struct {
	name, file string
	plain      bool
}{
	{"demo", "../../examples/desired.yaml", false},
	{"demo.plain", "../../examples/desired.yaml", true},
	{"everyfield", "testdata/everyfield.yaml", false},
	{"everyfield.plain", "testdata/everyfield.yaml", true},
	{"canary", "testdata/canary.yaml", false},
	{"canary.plain", "testdata/canary.yaml", true},
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			ms := render(t, tc.file, tc.plain)
			var report strings.Builder
			for _, m := range ms {
				for _, u := range m.Unmapped {
					fmt.Fprintln(&report, u)
				}
			}
			golden(t, tc.name+".golden", Join(ms))
			golden(t, tc.name+".unmapped.golden", []byte(report.String()))
		})
	}
}

// TestRenderDecodesStrictly decodes every document back into the official
// Kubernetes types and the Rollout mirror types, refusing unknown fields,
// and encodes it again: what was written is exactly what the types hold.
func TestRenderDecodesStrictly(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			for i, doc := range bytes.Split(Join(render(t, tc.file, tc.plain)), []byte("---\n")) {
				obj := decodeStrict(t, doc)
				again, err := yaml.Marshal(obj)
				if err != nil {
					t.Fatalf("document %d: encode again: %v", i+1, err)
				}
				if !bytes.Equal(again, doc) {
					t.Errorf("document %d changed in a round trip through %T:\n%s\nbecame\n%s", i+1, obj, doc, again)
				}
			}
		})
	}
}

func TestDecodeStrictRefusesUnknownFields(t *testing.T) {
	doc := []byte("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  strategy:\n    blueGreen: {activeService: web, autoPromotionSeconds: 5}\n")
	if err := strictUnmarshal(doc, &Rollout{}); err == nil || !strings.Contains(err.Error(), "autoPromotionSeconds") {
		t.Fatalf("strict decode of a field Rollout does not mirror: err = %v, want unknown field autoPromotionSeconds", err)
	}
}

// TestRenderMapping checks the mapping decisions one by one, on the
// decoded objects.
func TestRenderMapping(t *testing.T) {
	objs := decodeAll(t, Join(render(t, "testdata/everyfield.yaml", false)))
	shop := objs["Rollout/shop"].(*Rollout)
	bg := shop.Spec.Strategy.BlueGreen
	ctr := shop.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	var names []string
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
		names = append(names, e.Name)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"activeService", bg.ActiveService, "shop"},
		{"previewService", bg.PreviewService, "shop-preview"},
		{"autoPromotionEnabled (Manual)", *bg.AutoPromotionEnabled, false},
		{"scaleDownDelaySeconds (stopAfter 5m > window 2m > drain 45s)", *bg.ScaleDownDelaySeconds, int32(300)},
		{"scaleDownDelayRevisionLimit (Stop)", bg.ScaleDownDelayRevisionLimit, (*int32)(nil)},
		{"progressDeadlineSeconds (readyTimeout)", *shop.Spec.ProgressDeadlineSeconds, int32(120)},
		{"progressDeadlineAbort", shop.Spec.ProgressDeadlineAbort, true},
		{"analysis template", bg.PrePromotionAnalysis.Templates[0].TemplateName, "shop-checks"},
		{"image", ctr.Image, "registry.example/shop:v7"},
		{"env order", strings.Join(names, ","), "A_FIRST,COLOR,DB_URL,LOG_LEVEL,PORT"},
		{"COLOR", env["COLOR"], "green"},
		{"PORT", env["PORT"], "9090"},
		{"containerPort", ctr.Ports[0].ContainerPort, int32(9090)},
		{"readiness path", ctr.ReadinessProbe.HTTPGet.Path, "/ready"},
		{"memory limit", ctr.Resources.Limits.Memory().String(), "512Mi"},
		{"cpu limit", ctr.Resources.Limits.Cpu().String(), "1500m"},
		{"cpu request", ctr.Resources.Requests.Cpu().String(), "1500m"},
		{"terminationGracePeriodSeconds (stopTimeout)", *shop.Spec.Template.Spec.TerminationGracePeriodSeconds, int64(20)},
	}
	at := objs["AnalysisTemplate/shop-checks"].(*AnalysisTemplate)
	if n := len(at.Spec.Metrics); n != 2 {
		t.Fatalf("AnalysisTemplate has %d metrics, want 2 (the 404 and DELETE checks have no counterpart)", n)
	}
	ping := at.Spec.Metrics[0]
	checks = append(checks, []struct {
		what      string
		got, want any
	}{
		{"metric name", ping.Name, "api-ping"},
		{"metric url", ping.Provider.Web.URL, "http://shop-preview.{{args.namespace}}.svc.cluster.local/api/ping"},
		{"metric method", ping.Provider.Web.Method, "POST"},
		{"metric headers (Host left out)", fmt.Sprint(ping.Provider.Web.Headers), "[{Accept application/json} {X-Check 1}]"},
		{"metric count", ping.Count.IntValue(), 3},
		{"metric interval", ping.Interval, "250ms"},
		{"metric consecutiveErrorLimit", ping.ConsecutiveErrorLimit.IntValue(), 0},
	}...)

	cache := objs["Rollout/cache"].(*Rollout)
	cbg := cache.Spec.Strategy.BlueGreen
	cctr := cache.Spec.Template.Spec.Containers[0]
	checks = append(checks, []struct {
		what      string
		got, want any
	}{
		{"KeepWarm scaleDownDelaySeconds", *cbg.ScaleDownDelaySeconds, int32(keepWarmDelay)},
		{"KeepWarm scaleDownDelayRevisionLimit", *cbg.ScaleDownDelayRevisionLimit, int32(1)},
		{"Auto autoPromotionEnabled", *cbg.AutoPromotionEnabled, true},
		{"no checks, no analysis", cbg.PrePromotionAnalysis, (*RolloutAnalysis)(nil)},
		{"host network: the active color's hostPort is the port", cctr.Ports[0].ContainerPort, int32(19091)},
		{"no resources", len(cctr.Resources.Limits), 0},
	}...)
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestRenderPlainMapping(t *testing.T) {
	objs := decodeAll(t, Join(render(t, "testdata/everyfield.yaml", true)))
	svc := objs["Service/shop"].(*corev1.Service)
	if got := svc.Spec.Selector[LabelColor]; got != "green" {
		t.Errorf("Service selects color %q, want the active color green", got)
	}
	for c, want := range map[string]int32{"blue": 0, "green": 1} {
		d := objs["Deployment/shop-"+c].(*appsv1.Deployment)
		if *d.Spec.Replicas != want {
			t.Errorf("Deployment shop-%s has %d replicas, want %d", c, *d.Spec.Replicas, want)
		}
		if got := d.Spec.Template.Labels[LabelColor]; got != c {
			t.Errorf("Deployment shop-%s labels its pods %q", c, got)
		}
	}
	cache := objs["Deployment/cache-green"].(*appsv1.Deployment)
	if p := cache.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort; p != 19092 {
		t.Errorf("host network: green listens on %d, want its hostPort 19092", p)
	}
	if _, ok := objs["Service/shop-preview"]; ok {
		t.Error("plain manifests hold a preview Service")
	}
}

// TestRenderReportsUnmapped: each field with no counterpart is reported
// with the service and its path.
func TestRenderReportsUnmapped(t *testing.T) {
	want := map[bool][]string{
		false: {"spec.build", "spec.network", "spec.colors.blue.hostPort", "spec.colors.green.backend", "spec.haproxy",
			"spec.verify.maxErrorRate", "spec.verify.minRequests", "spec.checks[0].headers.Host", "spec.checks[0].bodyContains",
			"spec.checks[2].expectStatus", "spec.checks[3].method", "spec.jobs[0]", "spec.preview.mapKey", "spec.promotion.approved", "spec.retry"},
		true: {"spec.build", "spec.haproxy", "spec.drainTimeout", "spec.idle.stopAfter", "spec.verify.window",
			"spec.verify.maxErrorRate", "spec.checks", "spec.jobs[0]", "spec.preview.mapKey", "spec.promotion.mode", "spec.promotion.approved", "spec.retry"},
	}
	for plain, paths := range want {
		ms := render(t, "testdata/everyfield.yaml", plain)
		got := map[string]bool{}
		for _, u := range ms[0].Unmapped {
			if u.Service != "shop" {
				t.Errorf("plain %v: %s is reported under service %q", plain, u.Path, u.Service)
			}
			if !strings.HasPrefix(u.String(), "shop: "+u.Path+": no counterpart: ") {
				t.Errorf("plain %v: report line %q does not start with the service and the path", plain, u)
			}
			got[u.Path] = true
		}
		for _, p := range paths {
			if !got[p] {
				t.Errorf("plain %v: %s is not reported; reported: %v", plain, p, ms[0].Unmapped)
			}
		}
	}
}

func TestRenderRefusesNameKubernetesCannotUse(t *testing.T) {
	svcs := load(t, "../../examples/desired.yaml")
	svcs[0].Name = "1web"
	_, err := Render(svcs, Options{})
	if err == nil || !strings.Contains(err.Error(), `metadata.name: "1web" cannot name a Kubernetes Service`) {
		t.Fatalf("Render of service 1web: err = %v, want a refusal naming metadata.name", err)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	first := Join(render(t, "testdata/everyfield.yaml", false))
	for range 20 {
		if again := Join(render(t, "testdata/everyfield.yaml", false)); !bytes.Equal(again, first) {
			t.Fatalf("two renders of the same desired state differ:\n%s\n---- and ----\n%s", first, again)
		}
	}
}

func load(t *testing.T, file string) []spec.Service {
	t.Helper()
	svcs, err := specfile.Load(file)
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	return svcs
}

func render(t *testing.T, file string, plain bool) []Manifests {
	t.Helper()
	ms, err := Render(load(t, file), Options{Plain: plain})
	if err != nil {
		t.Fatalf("render %s: %v", file, err)
	}
	return ms
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("update %s: %v", path, err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v (go test ./pkg/export -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test ./pkg/export -update rewrites it after a deliberate change):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first lines where want and got part.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, wl, gl)
		}
	}
	return "same lines"
}

// decodeAll decodes a stream strictly, by kind and name.
func decodeAll(t *testing.T, stream []byte) map[string]any {
	t.Helper()
	objs := map[string]any{}
	for _, doc := range bytes.Split(stream, []byte("---\n")) {
		obj := decodeStrict(t, doc)
		objs[obj.GetObjectKind().GroupVersionKind().Kind+"/"+obj.GetName()] = obj
	}
	return objs
}

// decodeStrict decodes one document into the type its apiVersion and kind
// name, refusing any field the type does not have.
func decodeStrict(t *testing.T, doc []byte) object {
	t.Helper()
	var head struct{ APIVersion, Kind string }
	if err := yaml.Unmarshal(doc, &head); err != nil {
		t.Fatalf("read apiVersion and kind: %v\n%s", err, doc)
	}
	var obj object
	switch head.APIVersion + " " + head.Kind {
	case "argoproj.io/v1alpha1 Rollout":
		obj = &Rollout{}
	case "argoproj.io/v1alpha1 AnalysisTemplate":
		obj = &AnalysisTemplate{}
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "v1 Service":
		obj = &corev1.Service{}
	default:
		t.Fatalf("unexpected object %s %s", head.APIVersion, head.Kind)
	}
	if err := strictUnmarshal(doc, obj); err != nil {
		t.Fatalf("decode %s strictly: %v\n%s", head.Kind, err, doc)
	}
	return obj
}

func strictUnmarshal(doc []byte, v any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
