package spec

import (
	"reflect"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestDecodeReadsNoFile: decoding checks values only; what a service names
// on disk is checked by the FileCheck a loader gives, with the field's
// path.
func TestDecodeReadsNoFile(t *testing.T) {
	doc := []byte(spectest.Good + "  build: {context: nowhere}\n")
	if _, err := Decode(doc, "desired.yaml", "/nonexistent", nil); err != nil {
		t.Fatalf("Decode without a FileCheck: %v", err)
	}
	var asked []string
	files := func(s *Service, bad func(path, format string, args ...any)) {
		asked = append(asked, s.BuildContext())
		bad("spec.build.context", "%q: not here", s.Build.Context)
	}
	_, err := Decode(doc, "desired.yaml", "/nonexistent", files)
	if len(asked) != 1 || asked[0] != "/nonexistent/nowhere" {
		t.Fatalf("FileCheck asked about %v, want [/nonexistent/nowhere]", asked)
	}
	if err == nil || !strings.Contains(err.Error(), `desired.yaml service "web": spec.build.context: "nowhere": not here`) {
		t.Fatalf("Decode with a FileCheck that refuses: %v", err)
	}
	// A value is refused before anything on disk is asked.
	asked = nil
	if _, err := Decode([]byte(spectest.Good+"  build: {context: app, dockerfile: ../Dockerfile}\n"), "d.yaml", "/x", files); err == nil || len(asked) != 0 {
		t.Fatalf("a Dockerfile outside its context: err %v, FileCheck asked %v", err, asked)
	}
}

// TestDecodeTwiceSharesNothing: a document read again (a controller reads
// the same ones at every resync; their conversion is kept) decodes to the
// same service, and neither decode shares anything the other can change;
// an edited document is read afresh, and so is its refusal.
func TestDecodeTwiceSharesNothing(t *testing.T) {
	doc := []byte(spectest.Web("  env: {A: one}").YAML())
	first, err := Decode(doc, "desired.yaml", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Decode(doc, "desired.yaml", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if first[0].Env["A"] != "one" || !reflect.DeepEqual(first[0].Env, second[0].Env) {
		t.Fatalf("env %v, then %v; want A=one both times", first[0].Env, second[0].Env)
	}
	first[0].Env["A"] = "changed"
	if second[0].Env["A"] != "one" {
		t.Fatal("the second decode shares the first one's env")
	}
	edited := []byte(strings.Replace(string(doc), "A: one", "A: two", 1))
	if svcs, err := Decode(edited, "desired.yaml", t.TempDir(), nil); err != nil || svcs[0].Env["A"] != "two" {
		t.Fatalf("an edited document decoded to %v (%v), want A=two", svcs, err)
	}
	bad := []byte(strings.Replace(string(doc), "A: one", "A: [one]", 1))
	for range 2 {
		if _, err := Decode(bad, "desired.yaml", t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "env") {
			t.Fatalf("a refused document read twice: %v, want a refusal naming env", err)
		}
	}
}
