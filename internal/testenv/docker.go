package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DockerHint is the hint given when Docker is unusable.
const DockerHint = "start dockerd, or set DOCKER_HOST"

// KeepImagesEnv, when set to a non-empty value, keeps the images built by
// BuildDemoImage after the test (for debugging).
const KeepImagesEnv = "TESTENV_KEEP_IMAGES"

// docker runs the docker CLI with a timeout and returns its trimmed stdout.
func docker(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s", timeout)
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %v\n%s%s", strings.Join(args, " "), err, tail(stdout.String(), 20), tail(stderr.String(), 30))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// RequireDocker fails the test unless the docker CLI is installed and the
// engine answers `docker info`.
func RequireDocker(t TB) {
	t.Helper()
	RequireBinary(t, "docker", "docker CLI not found: apt-get install -y docker.io")
	v, err := docker(20*time.Second, "info", "--format", "{{.ServerVersion}}")
	if err != nil || v == "" {
		Missing(t, "the Docker engine does not answer (%s): %v", DockerHint, err)
	}
}

// DemoContext compiles ./examples/demoapp (static, CGO_ENABLED=0) once per
// test binary into a temp build context together with
// examples/demoapp/Dockerfile, and returns the context directory.
func DemoContext(t TB) string {
	t.Helper()
	return appContext(t, "demoapp", "examples/demoapp")
}

// appContext compiles the app in the module directory dir (static,
// CGO_ENABLED=0) once per test binary, as a binary called name, into a temp
// build context together with its Dockerfile, and returns the context.
func appContext(t TB, name, dir string) string {
	t.Helper()
	ctxDir, err := onceBuild(name+" context", func() (string, error) {
		root := ModuleRoot(t)
		df, err := os.ReadFile(filepath.Join(root, dir, "Dockerfile"))
		if err != nil {
			return "", fmt.Errorf("%s Dockerfile: %w", name, err)
		}
		ctxDir, err := os.MkdirTemp(processTempDir(t), name+"-")
		if err != nil {
			return "", err
		}
		if err := goBuild(t, filepath.Join(ctxDir, name), "./"+dir, "CGO_ENABLED=0"); err != nil {
			return "", err
		}
		return ctxDir, os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), df, 0o644)
	})
	if err != nil {
		t.Fatalf("testenv: build context of %s: %v", name, err)
	}
	return ctxDir
}

// BuildDemoImage builds the demo app image as tag with build args VERSION and
// MODE, and returns its image ID. The tag is removed (docker rmi -f) when the
// test ends unless $TESTENV_KEEP_IMAGES is set.
func BuildDemoImage(t TB, tag, version, mode string) string {
	t.Helper()
	return buildAppImage(t, DemoContext(t), tag, version, mode)
}

// buildAppImage builds the image of the app in build context ctxDir as tag,
// with build args VERSION and MODE, and returns its image ID; the tag is
// removed when the test ends unless $TESTENV_KEEP_IMAGES is set.
func buildAppImage(t TB, ctxDir, tag, version, mode string) string {
	t.Helper()
	RequireDocker(t)
	start := time.Now()
	if _, err := docker(5*time.Minute, "build", "-q", "-t", tag,
		"--build-arg", "VERSION="+version, "--build-arg", "MODE="+mode, ctxDir); err != nil {
		t.Fatalf("testenv: building image %s: %v", tag, err)
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
	t.Logf("testenv: built image %s (%s, MODE=%q) in %s", tag, shortID(id), mode, time.Since(start).Round(time.Millisecond))
	return id
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// RemoveContainersByLabel removes (docker rm -f) every container, running or
// not, that carries the label key=value. Call it at the start of a test and
// from t.Cleanup for services named uniquely per test.
func RemoveContainersByLabel(t TB, key, value string) {
	t.Helper()
	ids, err := docker(time.Minute, "ps", "-aq", "--no-trunc", "--filter", "label="+key+"="+value)
	if err != nil {
		t.Errorf("testenv: listing containers with label %s=%s: %v", key, value, err)
		return
	}
	if ids == "" {
		return
	}
	args := append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)
	if _, err := docker(2*time.Minute, args...); err != nil {
		t.Errorf("testenv: removing containers with label %s=%s: %v", key, value, err)
	}
}
