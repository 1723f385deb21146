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
	if err := names.ValidateBackendName(backend); err != nil {
		return nil, fmt.Errorf("read stats of backend %q on %s: %w", backend, c.addr, err)
	}
	answer, err := c.Exec(ctx, "show stat "+backend+" 6 -1")
	if errors.Is(err, ErrUnknownBackend) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stats of backend %s: %w", backend, err)
	}
	rows, err := ParseStat(answer)
	if err != nil {
		return nil, fmt.Errorf("read stats of backend %s on %s: %w", backend, c.addr, err)
	}
	// HAProxy takes an unknown name for a numeric proxy id: keep the
	// rows of backend only.
	out := rows[:0]
	for _, r := range rows {
		if r.Proxy == backend {
			out = append(out, r)
		}
	}
	return out, nil
}

// ServersStateOf returns the state of one backend's servers ("show
// servers state <backend>"), none when HAProxy has no such backend.
func (c *Client) ServersStateOf(ctx context.Context, backend string) ([]ServerState, error) {
	if err := names.ValidateBackendName(backend); err != nil {
		return nil, fmt.Errorf("read servers state of backend %q on %s: %w", backend, c.addr, err)
	}
	answer, err := c.Exec(ctx, "show servers state "+backend)
	if errors.Is(err, ErrUnknownBackend) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read servers state of backend %s: %w", backend, err)
	}
	states, err := ParseServersState(answer)
	if err != nil {
		return nil, fmt.Errorf("read servers state of backend %s on %s: %w", backend, c.addr, err)
	}
	out := states[:0]
	for _, s := range states {
		if s.Backend == backend {
			out = append(out, s)
		}
	}
	return out, nil
}
