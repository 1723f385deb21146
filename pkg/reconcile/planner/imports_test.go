package planner_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
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

// module is the project's module path.
const module = "github.com/bluegreen-host/controller/"

// ownPure are the project's packages the planner may depend on, all of
// which do no I/O: the spec's types and values, and HAProxy's name rules.
var ownPure = map[string]bool{
	module + "pkg/spec": true, module + "pkg/haproxy/names": true, module + "pkg/reconcile/planner": true,
}

// ioPackages are the standard packages that do I/O. os, io/fs and syscall
// reach every program through fmt and crypto/sha256 (the standard library
// holds os.Stdout there), so they are refused as direct imports of the
// project's packages; the others anywhere in the planner's dependencies.
var ioPackages = map[string]bool{
	"os": true, "io/fs": true, "syscall": true, "path/filepath": true,
	"net": true, "net/http": true, "os/exec": true, "os/signal": true, "io/ioutil": true,
}

// TestPlannerDependenciesDoNoIO: the planner is pure by construction, not
// only in its own imports: its whole dependency list ("go list -deps")
// holds no networking or process package, no Docker or fsnotify module,
// no driver (pkg/haproxy, pkg/docker) and no project package but the
// spec and the name rules, none of which imports an I/O package.
func TestPlannerDependenciesDoNoIO(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}\t{{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "\t")
		deps[pkg] = strings.Fields(imports)
	}
	for _, bad := range dependencyImpurities(deps) {
		t.Error(bad)
	}
	if _, ok := deps[module+"pkg/spec"]; !ok {
		t.Fatalf("go list -deps does not list pkg/spec: %v", deps)
	}
}

// dependencyImpurities lists what makes a dependency list (package ->
// its direct imports) impure.
func dependencyImpurities(deps map[string][]string) []string {
	var bad []string
	for pkg, imports := range deps {
		switch {
		case strings.HasPrefix(pkg, module) && !ownPure[pkg]:
			bad = append(bad, "the planner depends on "+pkg+", a package of the project that may do I/O")
		case strings.Contains(pkg, "github.com/docker/docker") || strings.Contains(pkg, "fsnotify"):
			bad = append(bad, "the planner depends on "+pkg+", a driver's module")
		case ioPackages[pkg] && pkg != "os" && pkg != "io/fs" && pkg != "syscall":
			bad = append(bad, "the planner depends on "+pkg+", which does I/O")
		}
		if !strings.HasPrefix(pkg, module) {
			continue
		}
		for _, imp := range imports {
			if ioPackages[imp] {
				bad = append(bad, pkg+" imports "+imp+": a package the planner depends on does no I/O (read files in a loader such as pkg/spec/specfile)")
			}
		}
	}
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
	// The dependency check, on the lists the tree had before the spec read
	// no file: pkg/spec imported os and pkg/haproxy, which imports net.
	old := map[string][]string{
		module + "pkg/reconcile/planner": {"fmt", module + "pkg/spec"},
		module + "pkg/spec":              {"os", "path/filepath", module + "pkg/haproxy"},
		module + "pkg/haproxy":           {"net", "os"},
		"net":                            {"syscall"},
		"fmt":                            {"os"},
		"os":                             {"syscall"},
	}
	if got := dependencyImpurities(old); len(got) != 6 {
		t.Errorf("the old dependencies: found %d impurities %q, want 6 (pkg/haproxy; net; spec's os and path/filepath; haproxy's net and os)", len(got), got)
	}
}
