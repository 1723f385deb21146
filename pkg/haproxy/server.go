package haproxy

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/bluegreen-host/controller/pkg/haproxy/names"
)

// AdminState is a server state set through the runtime API.
type AdminState string

// The states of "set server <backend>/<server> state".
const (
	StateReady AdminState = "ready" // takes traffic; leaving MAINT makes it UP at once, before any check
	StateDrain AdminState = "drain" // no new requests without persistence; requests in flight finish
	StateMaint AdminState = "maint" // no traffic and no health checks
)

// SetServerState sets a server's admin state. It needs a stats socket at
// level admin; otherwise the error wraps ErrPermission.
func (c *Client) SetServerState(ctx context.Context, backend, server string, s AdminState) error {
	if err := validateServer(backend, server); err != nil {
		return fmt.Errorf("set server %q state %s on %s: %w", backend+"/"+server, s, c.addr, err)
	}
	switch s {
	case StateReady, StateDrain, StateMaint:
	default:
		return fmt.Errorf("set server %s/%s state %q on %s: unknown state; use %s, %s or %s", backend, server, s, c.addr, StateReady, StateDrain, StateMaint)
	}
	return c.execAdmin(ctx, fmt.Sprintf("set server %s/%s state %s", backend, server, s), backend, server, s)
}

// execAdmin runs cmd, then reads back the server's admin state, which
// must be s.
func (c *Client) execAdmin(ctx context.Context, cmd, backend, server string, s AdminState) error {
	if _, err := c.Exec(ctx, cmd); err != nil {
		return err
	}
	st, err := c.serverState(ctx, backend, server)
	if err != nil {
		return fmt.Errorf("%s on %s: read it back: %w", cmd, c.addr, err)
	}
	drain, maint := st.Admin&adminForcedDrain != 0, st.Admin&adminForcedMaint != 0
	if drain != (s == StateDrain) || maint != (s == StateMaint) {
		return fmt.Errorf("%s on %s: %w: reading it back gives admin state %#x", cmd, c.addr, ErrNotApplied, st.Admin)
	}
	return nil
}

// SetServerReadyDown takes a server out of maintenance or drain and leaves
// it DOWN: "set server <backend>/<server> state ready" and "health down"
// in one command line, so that no check and no reader sees it in between.
// Leaving MAINT makes a server UP at once, before any check; a server
// taken out so is DOWN until its checks pass, or until SetServerHealthUp.
// It needs a stats socket at level admin.
func (c *Client) SetServerReadyDown(ctx context.Context, backend, server string) error {
	if err := validateServer(backend, server); err != nil {
		return fmt.Errorf("set server %q state ready, health down on %s: %w", backend+"/"+server, c.addr, err)
	}
	cmd := fmt.Sprintf("set server %s/%s state ready; set server %s/%s health down", backend, server, backend, server)
	return c.execAdmin(ctx, cmd, backend, server, StateReady)
}

// validateServer checks a backend and a server name.
func validateServer(backend, server string) error {
	if err := names.ValidateBackendName(backend); err != nil {
		return err
	}
	return names.ValidateServerName(server)
}

// ServerConn is one line of "show servers conn".
type ServerConn struct {
	Backend, Server string
	UsedCur         int // connections to the server serving a request now (not idle keep-alives of clients)
	UsedMax         int
	NeedEst         int
	UnsafeNb        int // idle connections not safe to reuse
	SafeNb          int // idle connections safe to reuse
	IdleLim         int // -1 when unlimited
	IdleCur         int
	Fields          map[string]string // every column by header name
}

// ShowServersConn returns the connection counts of the servers of backend,
// or of every backend when backend is "". The error wraps ErrUnknownBackend
// when HAProxy has no such backend. To know whether a drained server still
// serves clients, use StatRow.Sessions instead.
func (c *Client) ShowServersConn(ctx context.Context, backend string) ([]ServerConn, error) {
	cmd := "show servers conn"
	if backend != "" {
		if err := names.ValidateBackendName(backend); err != nil {
			return nil, fmt.Errorf("show servers conn of backend %q on %s: %w", backend, c.addr, err)
		}
		cmd += " " + backend
	}
	answer, err := c.Exec(ctx, cmd)
	if err != nil {
		return nil, err
	}
	conns, err := ParseServersConn(answer)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", cmd, c.addr, err)
	}
	return conns, nil
}

// ParseServersConn parses "show servers conn" by header name. The header is
// "# bkname/svname bkid/svid addr port - purge_delay used_cur ..."; its last
// column (idle_per_thr[N]) holds one value per thread, joined here with
// spaces.
func ParseServersConn(text string) ([]ServerConn, error) {
	var names []string
	var conns []ServerConn
	for i, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if names == nil {
			if !strings.HasPrefix(line, "#") {
				return nil, fmt.Errorf("parse show servers conn: the first line %q is not a \"# bkname/svname ...\" header", clip(line))
			}
			names = strings.Fields(line[1:])
			if len(names) == 0 || names[0] != "bkname/svname" {
				return nil, fmt.Errorf("parse show servers conn: the header %q does not start with bkname/svname", clip(line))
			}
			continue
		}
		values := strings.Fields(line)
		f := make(map[string]string, len(names))
		for j, name := range names {
			switch {
			case j >= len(values):
				f[name] = ""
			case j == len(names)-1:
				f[name] = strings.Join(values[j:], " ")
			default:
				f[name] = values[j]
			}
		}
		sc := ServerConn{Fields: f}
		var ok bool
		if sc.Backend, sc.Server, ok = strings.Cut(f["bkname/svname"], "/"); !ok {
			return nil, fmt.Errorf("parse show servers conn line %d: %q is not backend/server", i+1, clip(f["bkname/svname"]))
		}
		for _, col := range []struct {
			name string
			dst  *int
		}{
			{"used_cur", &sc.UsedCur}, {"used_max", &sc.UsedMax}, {"need_est", &sc.NeedEst},
			{"unsafe_nb", &sc.UnsafeNb}, {"safe_nb", &sc.SafeNb}, {"idle_lim", &sc.IdleLim}, {"idle_cur", &sc.IdleCur},
		} {
			v := f[col.name]
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("parse show servers conn line %d (%s): column %s is %q, not a number", i+1, f["bkname/svname"], col.name, clip(v))
			}
			*col.dst = n
		}
		conns = append(conns, sc)
	}
	return conns, nil
}

// SetServerHealthUp marks a server's health UP at once ("set server
// <backend>/<server> health up"), as if its checks had passed; its own
// checks go on and take it down again if they fail. The controller does this
// only after its own probes of the same address have passed. It needs a
// stats socket at level admin.
func (c *Client) SetServerHealthUp(ctx context.Context, backend, server string) error {
	if err := validateServer(backend, server); err != nil {
		return fmt.Errorf("set server %q health up on %s: %w", backend+"/"+server, c.addr, err)
	}
	_, err := c.Exec(ctx, fmt.Sprintf("set server %s/%s health up", backend, server))
	return err
}

// SetServerAddr points a server at a new address and port ("set server
// <backend>/<server> addr <ip> port <port>"). Health checks follow it: the
// server's state is not reset, its next checks go to the new address. An
// HAProxy reload puts back the address written in its configuration. It
// needs a stats socket at level admin.
func (c *Client) SetServerAddr(ctx context.Context, backend, server string, addr netip.AddrPort) error {
	what := fmt.Sprintf("set server %s/%s addr %s", backend, server, addr)
	if err := validateServer(backend, server); err != nil {
		return fmt.Errorf("set server %q addr on %s: %w", backend+"/"+server, c.addr, err)
	}
	if !addr.IsValid() || addr.Port() == 0 {
		return fmt.Errorf("%s on %s: not an IP address and port", what, c.addr)
	}
	answer, err := c.Exec(ctx, fmt.Sprintf("set server %s/%s addr %s port %d", backend, server, addr.Addr().Unmap(), addr.Port()))
	if err != nil {
		return err
	}
	// HAProxy says what it changed, or that nothing needed to; any other
	// answer is an error that came without a severity (2.6 answers some
	// of them so).
	if strings.Contains(answer, "changed from") || strings.Contains(answer, "no need to change") {
		return nil
	}
	return &CommandError{Addr: c.addr, Command: what, Answer: answer}
}

// SetServerWeight sets a server's weight ("set server <backend>/<server>
// weight <n>"), 0 to 256, as an absolute value: its share of the new
// connections the backend balances. A server of weight 0 gets none, but
// still takes the requests its persistence cookie sends it; a backend whose
// servers all weigh 0 is DOWN. An HAProxy reload puts back the weight
// written in its configuration. It needs a stats socket at level admin.
func (c *Client) SetServerWeight(ctx context.Context, backend, server string, weight int) error {
	what := fmt.Sprintf("set server %s/%s weight %d", backend, server, weight)
	if err := validateServer(backend, server); err != nil {
		return fmt.Errorf("set server %q weight on %s: %w", backend+"/"+server, c.addr, err)
	}
	if weight < 0 || weight > 256 {
		return fmt.Errorf("%s on %s: a weight is 0 to 256", what, c.addr)
	}
	answer, err := c.Exec(ctx, what)
	if err != nil {
		return err
	}
	// Success is an empty answer; HAProxy 2.6 answers some errors without
	// a severity.
	if answer != "" {
		return &CommandError{Addr: c.addr, Command: what, Answer: answer}
	}
	return nil
}
