package haproxy

import (
	"context"
	"errors"
	"fmt"

	"github.com/bluegreen-host/controller/pkg/haproxy/names"
)

// StatOf returns the "show stat" rows of one backend: its BACKEND row and
// its servers' ("show stat <backend> 6 -1"), none when HAProxy has no such
// backend. With hundreds of backends it is far less to produce, send and
// parse than "show stat" of them all.
func (c *Client) StatOf(ctx context.Context, backend string) ([]StatRow, error) {
	return readBackend(ctx, c, "stats", "show stat "+backend+" 6 -1", backend, ParseStat,
		func(r StatRow) string { return r.Proxy })
}

// ServersStateOf returns the state of one backend's servers ("show
// servers state <backend>"), none when HAProxy has no such backend.
func (c *Client) ServersStateOf(ctx context.Context, backend string) ([]ServerState, error) {
	return readBackend(ctx, c, "servers state", "show servers state "+backend, backend, ParseServersState,
		func(s ServerState) string { return s.Backend })
}

// readBackend sends cmd, a read of backend's what, and parses its answer;
// none when HAProxy has no such backend. HAProxy takes an unknown name for
// a numeric proxy id: only the rows of backend (by of) are kept.
func readBackend[T any](ctx context.Context, c *Client, what, cmd, backend string,
	parse func(string) ([]T, error), of func(T) string) ([]T, error) {
	if err := names.ValidateBackendName(backend); err != nil {
		return nil, fmt.Errorf("read %s of backend %q on %s: %w", what, backend, c.addr, err)
	}
	answer, err := c.Exec(ctx, cmd)
	if errors.Is(err, ErrUnknownBackend) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of backend %s: %w", what, backend, err)
	}
	rows, err := parse(answer)
	if err != nil {
		return nil, fmt.Errorf("read %s of backend %s on %s: %w", what, backend, c.addr, err)
	}
	out := rows[:0]
	for _, r := range rows {
		if of(r) == backend {
			out = append(out, r)
		}
	}
	return out, nil
}
