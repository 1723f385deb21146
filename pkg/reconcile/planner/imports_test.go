package planner_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pureImports is all the planner may import: the spec, and packages of the
// standard library that do no I/O and read no clock (time is there for its
// types; the calls that read the clock are refused below).
var pureImports = map[string]bool{
	"github.com/bluegreen-host/controller/pkg/spec": true,

	"bytes": true, "cmp": true, "crypto/sha256": true, "encoding/hex": true, "encoding/json": true,
	"errors": true, "fmt": true, "maps": true, "math": true, "net/netip": true, "slices": true,
	"sort": true, "strconv": true, "strings": true, "time": true, "unicode": true, "unicode/utf8": true,
}

// clockCalls are the functions of package time that read or wait on the
// clock: the planner is given now instead.
var clockCalls = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
	"Tick": true, "NewTicker": true, "NewTimer": true,
}

// TestPlannerImportsNoIO enforces "the planner is pure" by construction:
// every file of the package (whatever its build tags) imports only the spec
// and pure standard packages, and never reads the clock. An import of os,
// net, a client or a driver fails here, and so in CI.
func TestPlannerImportsNoIO(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, bad := range impurities(t, name, src) {
			t.Errorf("%s: %s", name, bad)
		}
	}
	if checked == 0 {
		t.Fatal("no source file of the planner found: is the test run from its directory?")
	}
}

// impurities lists what makes one source file impure.
func impurities(t *testing.T, name string, src []byte) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	var bad []string
	timeName := ""
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if !pureImports[path] {
			bad = append(bad, "imports "+path+": the planner may import only pkg/spec and pure standard packages; do the I/O in pkg/reconcile and pass the result in Observed")
		}
		if path == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && timeName != "" && x.Name == timeName && clockCalls[sel.Sel.Name] {
			bad = append(bad, "calls time."+sel.Sel.Name+": the planner is given now; it never reads the clock")
		}
		return true
	})
	return bad
}

// TestImpuritiesFound: the check above finds what it must, so that it
// cannot pass by finding nothing.
func TestImpuritiesFound(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      int
	}{
		{"pure", "package p\nimport (\"fmt\"; \"time\"; \"github.com/bluegreen-host/controller/pkg/spec\")\nvar _ = fmt.Sprint\nvar _ time.Duration\nvar _ spec.Color", 0},
		{"os", "package p\nimport \"os\"\nvar _ = os.Getenv", 1},
		{"net and a driver", "package p\nimport (\"net\"; \"github.com/bluegreen-host/controller/pkg/docker\")", 2},
		{"clock", "package p\nimport \"time\"\nvar t0 = time.Now()", 1},
		{"renamed clock", "package p\nimport tm \"time\"\nfunc f() { tm.Sleep(1) }", 1},
	} {
		if got := impurities(t, tc.name+".go", []byte(tc.src)); len(got) != tc.want {
			t.Errorf("%s: found %d impurities %q, want %d", tc.name, len(got), got, tc.want)
		}
	}
}
