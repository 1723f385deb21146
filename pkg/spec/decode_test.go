package spec

import (
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
