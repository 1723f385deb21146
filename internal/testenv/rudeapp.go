package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// RudeContext compiles ./test/rudeapp (static, CGO_ENABLED=0) once per test
// binary into a temp build context together with test/rudeapp/Dockerfile,
// and returns the context directory.
//
// The rude app answers like the demo app but has no signal handler (as PID 1
// it exits 2 on docker stop) and misbehaves on request through APP_MODE
// (crashafter=<duration>, crashatstart, alloc=<MiB>, leak=<MiB/s>,
// flap=<duration>, fail500); see test/rudeapp/main.go.
func RudeContext(t TB) string {
	t.Helper()
	dir, err := onceBuild("rude context", func() (string, error) {
		root := ModuleRoot(t)
		df, err := os.ReadFile(filepath.Join(root, "test", "rudeapp", "Dockerfile"))
		if err != nil {
			return "", fmt.Errorf("rude app Dockerfile: %w", err)
		}
		dir, err := os.MkdirTemp(processTempDir(t), "rudeapp-")
		if err != nil {
			return "", fmt.Errorf("rude app build context: %w", err)
		}
		if err := goBuild(t, filepath.Join(dir, "rudeapp"), "./test/rudeapp", "CGO_ENABLED=0"); err != nil {
			return "", err
		}
		return dir, os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644)
	})
	if err != nil {
		t.Fatalf("testenv: RudeContext: %v", err)
	}
	return dir
}

// BuildRudeImage builds the rude app image as tag with build args VERSION
// and MODE (APP_MODE, e.g. "alloc=64" or "flap=2s,fail500"), and returns its
// image ID. The tag is removed (docker rmi -f) when the test ends unless
// $TESTENV_KEEP_IMAGES is set.
func BuildRudeImage(t TB, tag, version, mode string) string {
	t.Helper()
	RequireDocker(t)
	ctxDir := RudeContext(t)
	start := time.Now()
	if _, err := docker(5*time.Minute, "build", "-q", "-t", tag,
		"--build-arg", "VERSION="+version, "--build-arg", "MODE="+mode, ctxDir); err != nil {
		t.Fatalf("testenv: building rude image %s: %v", tag, err)
	}
	if os.Getenv(KeepImagesEnv) == "" {
		t.Cleanup(func() {
			if _, err := docker(time.Minute, "rmi", "-f", tag); err != nil {
				t.Logf("testenv: cleanup: %v", err)
			}
		})
	}
	id, err := docker(30*time.Second, "image", "inspect", "--format", "{{.Id}}", tag)
	if err != nil || id == "" {
		t.Fatalf("testenv: inspecting image %s: %v", tag, err)
	}
	t.Logf("testenv: built rude image %s (%s, APP_MODE=%q) in %s", tag, shortID(id), mode, time.Since(start).Round(time.Millisecond))
	return id
}
