package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

const demoFile = "../../examples/desired.yaml"

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestExportToStdout(t *testing.T) {
	code, out, errOut := runCmd("export", "-f", demoFile)
	if code != exitOK {
		t.Fatalf("export exited %d, want %d; stderr:\n%s", code, exitOK, errOut)
	}
	for _, want := range []string{"kind: Rollout\n", "activeService: web\n", "previewService: web-preview\n", "---\n", "kind: Service\n", "image: demo:v1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	// Unmapped fields: on stderr, one line each, naming the service and the path.
	for _, want := range []string{
		"controller export: web: spec.build: no counterpart: ",
		"controller export: web: spec.haproxy: no counterpart: ",
		"controller export: web: spec.colors.green.hostPort: no counterpart: ",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(out, "no counterpart") {
		t.Error("the report of unmapped fields reached stdout, among the manifests")
	}
}

func TestExportPlain(t *testing.T) {
	code, out, errOut := runCmd("export", "--plain", "-f", demoFile)
	if code != exitOK {
		t.Fatalf("export --plain exited %d; stderr:\n%s", code, errOut)
	}
	if strings.Contains(out, "Rollout") || strings.Count(out, "kind: Deployment\n") != 2 {
		t.Errorf("export --plain: want two Deployments and no Rollout:\n%s", out)
	}
	if !strings.Contains(out, "bluegreen.dev/color: blue\n") {
		t.Errorf("export --plain: no selector on the active color blue:\n%s", out)
	}
}

func TestExportToDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "manifests")
	code, out, errOut := runCmd("export", "-f", "../../pkg/export/testdata/everyfield.yaml", "--out", dir)
	if code != exitOK {
		t.Fatalf("export --out exited %d; stderr:\n%s", code, errOut)
	}
	var want []string
	for svc, other := range map[string]string{"shop": "cache", "cache": "shop"} {
		path := filepath.Join(dir, svc+".yaml")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("export --out wrote no file for %s: %v", svc, err)
		}
		if !strings.Contains(string(b), "name: "+svc+"\n") || strings.Contains(string(b), "name: "+other+"\n") {
			t.Errorf("%s holds other than service %s's manifests:\n%s", path, svc, b)
		}
	}
	for _, svc := range []string{"shop", "cache"} {
		want = append(want, filepath.Join(dir, svc+".yaml"))
	}
	if got := strings.Fields(out); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("stdout = %q, want the files written, in order: %q", got, want)
	}
}

// TestExportRefusesWhatValidateRefuses: same loading, same errors, same
// exit code.
func TestExportRefusesWhatValidateRefuses(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "desired.yaml")
	demo, err := os.ReadFile(demoFile)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(demo), "\n  activeColor: blue\n", "\n  activeColor: purple\n  imagee: x\n", 1)
	if broken == string(demo) {
		t.Fatalf("%s has no line \"  activeColor: blue\" to break", demoFile)
	}
	if err := os.WriteFile(bad, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{bad, filepath.Join(dir, "missing.yaml")} {
		vCode, vOut, vErr := runCmd("validate", "-f", file)
		eCode, eOut, eErr := runCmd("export", "-f", file)
		if vCode != exitUsage || eCode != vCode {
			t.Errorf("%s: validate exited %d, export %d; want both %d", file, vCode, eCode, exitUsage)
		}
		if eErr != vErr || vErr == "" {
			t.Errorf("%s: export's errors differ from validate's:\nvalidate:\n%s\nexport:\n%s", file, vErr, eErr)
		}
		if vOut != "" || eOut != "" {
			t.Errorf("%s: a refused desired state printed on stdout: validate %q, export %q", file, vOut, eOut)
		}
	}
}

func TestExportRefusesANameKubernetesCannotUse(t *testing.T) {
	file := filepath.Join(t.TempDir(), "desired.yaml")
	d := spectest.Web()
	d.Name = "1web"
	doc := d.YAML()
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd("validate", "-f", file); code != exitOK {
		t.Fatalf("validate of service 1web exited %d: %s", code, errOut)
	}
	code, out, errOut := runCmd("export", "-f", file)
	if code != exitUsage || !strings.Contains(errOut, `metadata.name: "1web" cannot name a Kubernetes Service`) || out != "" {
		t.Errorf("export of service 1web: exit %d, stdout %q, stderr %q; want exit %d naming metadata.name", code, out, errOut, exitUsage)
	}
}

// TestExportRefusesASymlink: a file of --out planted as a symbolic link
// to a file only root may write is refused, naming the link, and its
// target is left as it was.
func TestExportRefusesASymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "shadow")
	if err := os.WriteFile(target, []byte("root:x:0:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "manifests")
	if err := os.Mkdir(out, 0o777); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(out, "shop.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd("export", "-f", "../../pkg/export/testdata/everyfield.yaml", "--out", out)
	if code != exitNotConverged || !strings.Contains(errOut, link) || !strings.Contains(errOut, "symbolic link") {
		t.Errorf("export through a symlink exited %d, stderr %q; want %d and a message naming the link %s", code, errOut, exitNotConverged, link)
	}
	if b, _ := os.ReadFile(target); string(b) != "root:x:0:0\n" {
		t.Errorf("the link's target now holds %q", b)
	}
}
