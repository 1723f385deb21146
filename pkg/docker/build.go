package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/build"

	"github.com/bluegreen-host/controller/internal/safefile"
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
	dockerfile := filepath.ToSlash(filepath.Clean(b.Dockerfile))
	buildCtx, err := buildContext(b.ContextDir, dockerfile)
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

// buildContext opens the context directory dir once and returns the tar
// stream of what the build sends, read through that directory to the end:
// a directory swapped for a symbolic link after the desired state was
// checked, or during the build, sends nothing from elsewhere on the host.
// The caller closes the stream.
func buildContext(dir, dockerfile string) (io.ReadCloser, error) {
	root, err := openContext(dir)
	if err != nil {
		return nil, err
	}
	excludes, err := contextExcludes(root, dockerfile)
	if err != nil {
		root.Close()
		return nil, err
	}
	rc, err := contextTar(root, excludes)
	if err != nil {
		root.Close()
		return nil, err
	}
	return &closeRoot{ReadCloser: rc, root: root}, nil
}

// openContext opens the build context directory. A symbolic link in any
// component of its path is refused: the desired state was checked with
// the path resolved, and a link there could have been swapped since for
// one to another directory (whoever can write its parent can do it).
// Below it, links are sent as links, as the docker CLI sends them.
func openContext(dir string) (*os.Root, error) {
	if dir == "" {
		return nil, errors.New("no build context directory given")
	}
	f, err := safefile.OpenDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("build context directory %s does not exist", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read build context: %w", err)
	}
	defer f.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("read build context: %w", err)
	}
	// os.OpenRoot resolves dir once more: it must have found the same
	// directory as the walk that refused links.
	fi, err := f.Stat()
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("read build context: %w", err)
	}
	if ri, err := root.Stat("."); err != nil || !os.SameFile(fi, ri) {
		root.Close()
		return nil, fmt.Errorf("build context directory %s was replaced while it was opened; refused, as a swap for a link to another directory would look the same", dir)
	}
	return root, nil
}

// closeRoot closes the context directory with the stream read from it.
type closeRoot struct {
	io.ReadCloser
	root *os.Root
}

func (c *closeRoot) Close() error {
	err := c.ReadCloser.Close()
	c.root.Close()
	return err
}
