package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// Logs returns the last tail lines of a container's output, stdout and
// stderr merged in the order the engine returns them. tail <= 0 means all.
func (d *Driver) Logs(ctx context.Context, name string, tail int) (string, error) {
	what := "read logs of container " + name
	parent := ctx
	ctx, cancel := d.read(ctx)
	defer cancel()
	info, err := d.cli.ContainerInspect(ctx, name)
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return "", fmt.Errorf("%s: %w", what, d.readErr(parent, err))
	}
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "all"}
	if tail > 0 {
		opts.Tail = strconv.Itoa(tail)
	}
	rc, err := d.cli.ContainerLogs(ctx, info.ID, opts)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, d.readErr(parent, err))
	}
	defer rc.Close()

	var buf bytes.Buffer
	if info.Config != nil && info.Config.Tty {
		_, err = io.Copy(&buf, rc) // a TTY's output is not multiplexed
	} else {
		_, err = stdcopy.StdCopy(&buf, &buf, rc)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, d.readErr(parent, err))
	}
	return buf.String(), nil
}
