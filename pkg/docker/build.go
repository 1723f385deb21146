package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/build"
)

// BuildSpec says what to build: the context directory, the Dockerfile's
// path inside it (default "Dockerfile"), the tag to give the image (may be
// empty) and build arguments.
type BuildSpec struct {
	ContextDir, Dockerfile, Tag string
	Args                        map[string]string
}

// Build builds an image with the engine's classic builder and returns its ID.
// The context directory is sent as a tar stream, minus what its .dockerignore
// excludes. A failed step's message is in the error.
func (d *Driver) Build(ctx context.Context, b BuildSpec) (imageID string, err error) {
	tag := b.Tag
	if tag == "" {
		tag = "(untagged)"
	}
	what := fmt.Sprintf("build image %s from %s", tag, b.ContextDir)

	dockerfile, err := checkBuildSpec(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	ignore, err := readDockerignore(b.ContextDir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}

	// Stream the context; if writing it fails, that is the error to report,
	// not the broken upload it causes.
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		err := writeContext(pw, b.ContextDir, ignore, dockerfile)
		pw.CloseWithError(err)
		werr <- err
	}()
	contextErr := func() error {
		pr.Close()
		if err := <-werr; err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return err
		}
		return nil
	}
	defer pr.Close()

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

	resp, err := d.cli.ImageBuild(ctx, pr, opts)
	if err != nil {
		if cerr := contextErr(); cerr != nil {
			return "", fmt.Errorf("%s: %w", what, cerr)
		}
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
		if cerr := contextErr(); cerr != nil {
			return "", fmt.Errorf("%s: %w", what, cerr)
		}
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

// checkBuildSpec checks that the context directory and the Dockerfile exist
// and returns the Dockerfile's slash-separated path inside the context.
func checkBuildSpec(b BuildSpec) (string, error) {
	if b.ContextDir == "" {
		return "", errors.New("no build context directory given")
	}
	fi, err := os.Stat(b.ContextDir)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("build context directory %s does not exist", b.ContextDir)
	}
	if err != nil {
		return "", fmt.Errorf("read build context directory: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("build context %s is not a directory", b.ContextDir)
	}

	dockerfile := b.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if !filepath.IsLocal(dockerfile) {
		return "", fmt.Errorf("dockerfile %s must be a relative path inside the build context", dockerfile)
	}
	fi, err = os.Stat(filepath.Join(b.ContextDir, dockerfile))
	if err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("dockerfile %s not found in the build context directory", dockerfile)
	}
	return filepath.ToSlash(filepath.Clean(dockerfile)), nil
}
