package export

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestEnvFileValuesNeverShown: a desired file whose env file holds a
// secret is loaded and planned on; the create step (as plan -o json
// prints it, as logs and status show it), the decision, the loaded
// service and both kinds of export hold the file's path and no trace of
// the value. Export points the pods at a Secret made from the file.
func TestEnvFileValuesNeverShown(t *testing.T) {
	const secret = "s3cr3t-hunter2"
	p := filepath.Join(t.TempDir(), "web.env")
	if err := os.WriteFile(p, []byte("DB_PASSWORD="+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := plantest.Service(t, spec.Blue, "demo:v1", "  envFile: ["+p+"]")
	d := planner.Plan(s, plantest.NewWorld(s, plantest.ImageV1).O, plantest.T0)
	if d.Step == nil || d.Step.Action != planner.CreateContainer {
		t.Fatalf("planned %s, want the create of blue", d)
	}
	step, _ := json.Marshal(d.Step)
	decision, _ := json.Marshal(d)
	svc, _ := json.Marshal(s)
	shown := map[string]string{
		"the step as JSON": string(step), "the decision as JSON": string(decision), "the step": d.Step.String(),
		"the service as JSON": string(svc), "the service": fmt.Sprintf("%+v", *s), "the generation": s.Generation(),
	}
	if !strings.Contains(string(step), p) || !strings.Contains(string(step), s.EnvFileDigest) {
		t.Errorf("the step does not name the env file and its digest: %s", step)
	}
	for _, plain := range []bool{false, true} {
		ms, err := Render([]spec.Service{*s}, Options{Plain: plain})
		if err != nil {
			t.Fatal(err)
		}
		var report strings.Builder
		for _, u := range ms[0].Unmapped {
			fmt.Fprintln(&report, u)
		}
		y := string(ms[0].YAML)
		shown[fmt.Sprintf("export (plain %v)", plain)], shown[fmt.Sprintf("export's report (plain %v)", plain)] = y, report.String()
		if !strings.Contains(y, "envFrom:\n        - secretRef:\n            name: web-env\n") {
			t.Errorf("export (plain %v) does not take the variables from Secret web-env:\n%s", plain, y)
		}
		if want := "kubectl create secret generic web-env --from-env-file=" + p; !strings.Contains(report.String(), want) {
			t.Errorf("export's report (plain %v) does not say %q:\n%s", plain, want, report.String())
		}
	}
	for what, text := range shown {
		if strings.Contains(text, secret) {
			t.Errorf("%s shows the env file's value: %s", what, text)
		}
	}
}
