package haproxy

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Admin state bits of "show servers state" (srv_admin_state).
const (
	adminForcedMaint  = 0x01
	adminInheritMaint = 0x02
	adminConfigMaint  = 0x04
	adminForcedDrain  = 0x08
	adminInheritDrain = 0x10
	adminResolvMaint  = 0x20
	adminIPResolMaint = 0x40
)

// ServerState is one line of "show servers state": what the stats CSV
// hides, such as a drained server that is also DOWN.
type ServerState struct {
	Backend, Server string
	// OpState: 0 stopped, 1 starting, 2 running, 3 stopping.
	OpState int
	// Admin holds the srv_admin_state bits.
	Admin int
	// Fields holds every column by header name.
	Fields map[string]string
}

// AddrPort is the address and port HAProxy sends the server's traffic and
// checks to ("srv_addr" and "srv_port"), as "ip:port" ("[ip]:port" for
// IPv6); "" when either column is missing.
func (s ServerState) AddrPort() string {
	ip, err := netip.ParseAddr(s.Fields["srv_addr"])
	port, perr := strconv.ParseUint(s.Fields["srv_port"], 10, 16)
	if err != nil || perr != nil {
		return ""
	}
	return netip.AddrPortFrom(ip, uint16(port)).String()
}

// Drain reports a server drained by the runtime API or its tracked server.
func (s ServerState) Drain() bool { return s.Admin&(adminForcedDrain|adminInheritDrain) != 0 }

// Maint reports a server in maintenance for any reason.
func (s ServerState) Maint() bool {
	return s.Admin&(adminForcedMaint|adminInheritMaint|adminConfigMaint|adminResolvMaint|adminIPResolMaint) != 0
}

// serverState reads one server's state ("show servers state <backend>").
func (c *Client) serverState(ctx context.Context, backend, server string) (ServerState, error) {
	answer, err := c.Exec(ctx, "show servers state "+backend)
	if err != nil {
		return ServerState{}, err
	}
	states, err := ParseServersState(answer)
	if err != nil {
		return ServerState{}, fmt.Errorf("read servers state of %s on %s: %w", backend, c.addr, err)
	}
	for _, s := range states {
		if s.Backend == backend && s.Server == server {
			return s, nil
		}
	}
	return ServerState{}, fmt.Errorf("show servers state %s on %s: no server %s: %w", backend, c.addr, server, ErrUnknownServer)
}

// ServersState lists the state of every server ("show servers state").
func (c *Client) ServersState(ctx context.Context) ([]ServerState, error) {
	answer, err := c.Exec(ctx, "show servers state")
	if err != nil {
		return nil, err
	}
	states, err := ParseServersState(answer)
	if err != nil {
		return nil, fmt.Errorf("read servers state on %s: %w", c.addr, err)
	}
	return states, nil
}

// ParseServersState parses "show servers state": a version line, a "# "
// header naming the columns, then one line per server. Columns are read by
// header name.
func ParseServersState(text string) ([]ServerState, error) {
	var header []string
	var out []ServerState
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "#"):
			header = strings.Fields(strings.TrimPrefix(line, "#"))
			continue
		case header == nil:
			continue // the format version line
		}
		f := strings.Fields(line)
		row := ServerState{Fields: make(map[string]string, len(header))}
		for i, name := range header {
			if i < len(f) {
				row.Fields[name] = f[i]
			}
		}
		row.Backend, row.Server = row.Fields["be_name"], row.Fields["srv_name"]
		if row.Backend == "" || row.Server == "" {
			return nil, fmt.Errorf("servers state line %q has no be_name or srv_name", line)
		}
		var err error
		if row.OpState, err = strconv.Atoi(row.Fields["srv_op_state"]); err != nil {
			return nil, fmt.Errorf("servers state line %q: srv_op_state: %w", line, err)
		}
		if row.Admin, err = strconv.Atoi(row.Fields["srv_admin_state"]); err != nil {
			return nil, fmt.Errorf("servers state line %q: srv_admin_state: %w", line, err)
		}
		out = append(out, row)
	}
	return out, nil
}
