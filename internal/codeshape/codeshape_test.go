// Package codeshape holds tests of the code's shape: small functions, and
// a loop file that holds the loop only. They read the module's sources and
// need neither Docker nor HAProxy.
package codeshape

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Limits of the shape, outside bench/ and tests.
const (
	maxFuncLines = 80
	maxLoopLines = 400
	loopFile     = "pkg/reconcile/loop.go"
)

// root is the module's root, two directories up.
const root = "../.."

// TestFunctionsAreSmall: no function of the controller (bench/ and tests
// aside) is longer than maxFuncLines.
func TestFunctionsAreSmall(t *testing.T) {
	long, files := longFunctions(t, root, maxFuncLines)
	if files == 0 {
		t.Fatal("no Go source found: is the test run from its directory?")
	}
	for _, l := range long {
		t.Errorf("%s: split it: one function, one job", l)
	}
}

// TestLoopFileHoldsTheLoop: pkg/reconcile/loop.go holds scheduling only;
// syncing, stepping, release records and --once live beside it.
func TestLoopFileHoldsTheLoop(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, loopFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n > maxLoopLines {
		t.Errorf("%s is %d lines, more than %d: move what is not scheduling to a file of its own", loopFile, n, maxLoopLines)
	}
}

// TestLongFunctionsFound: the check finds a long function, so that it
// cannot pass by finding nothing.
func TestLongFunctionsFound(t *testing.T) {
	dir := t.TempDir()
	src := "package p\n\nfunc short() {}\n\nfunc long() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines) + "}\n"
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	long, _ := longFunctions(t, dir, maxFuncLines)
	if len(long) != 1 || !strings.Contains(long[0], "long is 82 lines") {
		t.Fatalf("found %q, want the one function long, 82 lines", long)
	}
}

// longFunctions lists the functions over max lines under dir, outside
// bench/, testdata, hidden directories and tests, and counts the files
// read.
func longFunctions(t *testing.T, dir string, max int) (long []string, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != dir && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bench") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		files++
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			start, end := fset.Position(fd.Pos()).Line, fset.Position(fd.End()).Line
			if n := end - start + 1; n > max {
				rel, _ := filepath.Rel(dir, p)
				long = append(long, rel+": "+fd.Name.Name+" is "+strconv.Itoa(n)+" lines")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return long, files
}
