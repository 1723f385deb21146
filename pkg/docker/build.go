package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/build"
)

// BuildSpec says what to build: the context directory, the Dockerfile's
// path inside it (required: the desired state's default and checks are
// pkg/spec's), the tag to give the image (may be empty) and build arguments.
type BuildSpec struct {
	ContextDir, Dockerfile, Tag string
	Args                        map[string]string
}

// Build builds an image with the engine's classic builder and returns its ID.
// The context directory is sent as the docker CLI sends it (see
// buildcontext.go). A failed step's message is in the error.
func (d *Driver) Build(ctx context.Context, b BuildSpec) (imageID string, err error) {
	tag := b.Tag
	if tag == "" {
		tag = "(untagged)"
	}
	what := fmt.Sprintf("build image %s from %s", tag, b.ContextDir)

	if b.Dockerfile == "" {
		return "", fmt.Errorf("%s: no Dockerfile path given", what)
	}
	dir, err := contextDir(b.ContextDir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	dockerfile := filepath.ToSlash(filepath.Clean(b.Dockerfile))
	excludes, err := contextExcludes(dir, dockerfile)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	buildCtx, err := contextTar(dir, excludes)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	defer buildCtx.Close()

	opts := build.ImageBuildOptions{
		Dockerfile:  dockerfile,
		BuildArgs:   make(map[string]*string, len(b.Args)),
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	}
	if b.Tag != "" {
		opts.Tags = []string{b.Tag}
	}
	for k, v := range b.Args {
		opts.BuildArgs[k] = &v
	}

	resp, err := d.cli.ImageBuild(ctx, buildCtx, opts)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, d.engineErr(err))
	}
	defer resp.Body.Close()

	var step string
	id, err := readProgress(resp.Body, func(m progressMessage) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(m.Stream), "Step "); ok {
			step = "step " + strings.Replace(s, " : ", " ", 1)
		}
	})
	if err != nil {
		if step != "" {
			return "", fmt.Errorf("%s: %s: %w", what, step, err)
		}
		return "", fmt.Errorf("%s: %w", what, d.engineErr(err))
	}
	if id != "" {
		return id, nil
	}
	if b.Tag == "" {
		return "", fmt.Errorf("%s: the engine did not report the new image's ID", what)
	}
	id, found, err := d.ImageID(ctx, b.Tag)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if !found {
		return "", fmt.Errorf("%s: the build finished but the engine has no image tagged %s", what, b.Tag)
	}
	return id, nil
}

// contextDir checks that the build context directory exists and returns
// it with symbolic links resolved, as the docker CLI does: the archiver
// would send a link to a directory as the link itself.
func contextDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("no build context directory given")
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("build context directory %s does not exist", dir)
	}
	if err != nil {
		return "", fmt.Errorf("read build context directory: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("build context %s is not a directory", dir)
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("read build context directory: %w", err)
	}
	return resolved, nil
}
