package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

type buildResult struct {
	once sync.Once
	path string
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*buildResult{}
)

// goTool finds the go command: PATH first, then $GOROOT/bin, then where
// scripts/deps.sh looks for it (/usr/local/go/bin).
func goTool(t TB) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	for _, dir := range []string{os.Getenv("GOROOT"), "/usr/local/go"} {
		if dir == "" {
			continue
		}
		if p := filepath.Join(dir, "bin", "go"); fileExists(p) {
			return p
		}
	}
	t.Fatalf("testenv: the go command is not in PATH, $GOROOT/bin or /usr/local/go/bin")
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// onceBuild runs build once per key per test binary and caches its outcome
// (a failure too, so later tests fail fast with the same message).
func onceBuild(key string, build func() (string, error)) (string, error) {
	buildsMu.Lock()
	b, ok := builds[key]
	if !ok {
		b = &buildResult{}
		builds[key] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() { b.path, b.err = build() })
	return b.path, b.err
}

// goBuild runs `go build -o out pkg` in the module root with extra env.
func goBuild(t TB, out, pkg string, env ...string) error {
	return goBuildTags(t, out, pkg, "", env...)
}

// goBuildTags is goBuild with build tags (comma separated; "" for none).
func goBuildTags(t TB, out, pkg, tags string, env ...string) error {
	t.Helper()
	gobin := goTool(t)
	root := ModuleRoot(t)
	cmd := exec.Command(gobin, "build", "-tags", tags, "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build -tags %q -o %s %s (in %s, %s): %v\n%s", tags, out, pkg, root, strings.Join(env, " "), err, b)
	}
	t.Logf("testenv: built %s in %s", pkg, time.Since(start).Round(time.Millisecond))
	return nil
}

// GoBuild builds a main package of this module (e.g. "./cmd/controller") once
// per test binary and returns the path of the binary, named after the
// package's last element.
func GoBuild(t TB, pkg string) string {
	t.Helper()
	return GoBuildTags(t, pkg, "")
}

// GoBuildTags is GoBuild with build tags, e.g. "crashpoints" for the
// controller with its crash points (comma separated; "" for none).
func GoBuildTags(t TB, pkg, tags string) string {
	t.Helper()
	p, err := onceBuild("gobuild "+pkg+" tags "+tags, func() (string, error) {
		dir, err := os.MkdirTemp(processTempDir(t), "bin-")
		if err != nil {
			return "", err
		}
		out := filepath.Join(dir, path.Base(strings.TrimSuffix(pkg, "/")))
		return out, goBuildTags(t, out, pkg, tags)
	})
	if err != nil {
		t.Fatalf("testenv: GoBuild(%s): %v", pkg, err)
	}
	return p
}
