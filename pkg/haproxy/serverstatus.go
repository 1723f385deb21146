package haproxy

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// ServerStatus is what "show stat" says of a server's health: enough to
// tell that it changed between two reads.
type ServerStatus struct {
	Proxy, Server string // pxname, svname
	Status        string // as StatRow.Status: "UP", "DOWN 1/2", "MAINT", ...
	// Chkdown counts the server's transitions from UP to DOWN: it moves
	// when the server went DOWN and came back between two reads.
	Chkdown int64
}

// ParseServerStatuses reads the server rows of a "show stat" answer (type
// 2; frontends and backends are left out), by header name, with the
// tolerance of ParseStat; it looks at pxname, svname, status, chkdown and
// type only.
func ParseServerStatuses(text string) ([]ServerStatus, error) {
	h, body, err := parseStatHeader(text)
	if h == nil || err != nil {
		return nil, err
	}
	c := h.cols
	typ, chkdown := h.column("type"), h.column("chkdown")
	upto := max(c.pxname, c.svname, c.status, typ, chkdown) + 1
	out := make([]ServerStatus, 0, strings.Count(body, "\n")+1)
	buf := make([]string, 0, upto)
	recs := statRecords{rest: body, upto: upto}
	for {
		rec, ok, err := recs.next(buf[:0])
		if err != nil {
			return nil, fmt.Errorf("parse show stat: %w", err)
		}
		if !ok {
			break
		}
		f := StatFields{header: h, values: rec}
		if h.blank(rec) || !isServerRow(f, typ) {
			continue
		}
		n := statNums{f: f}
		s := ServerStatus{Proxy: f.value(c.pxname), Server: f.value(c.svname), Status: f.value(c.status), Chkdown: n.get("chkdown", chkdown)}
		if n.err != nil {
			return nil, fmt.Errorf("parse show stat row %d (%s/%s): %w", recs.line, s.Proxy, s.Server, n.err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, nil // as ParseStat: no server, no rows
	}
	return out, nil
}

// isServerRow reports whether the row is a server's: its type is 2, or
// without a type column, its svname is neither FRONTEND nor BACKEND.
func isServerRow(f StatFields, typ int) bool {
	if typ >= 0 {
		return f.value(typ) == statTypeServer
	}
	sv := f.value(f.header.cols.svname)
	return sv != "FRONTEND" && sv != "BACKEND"
}

// ServerStatuses returns the status of every server not in maintenance,
// from "show stat -1 4 -1 no-maint": every proxy (-1), servers only (type
// 4), every server (-1), but those in maintenance. It reads a fraction of
// what ShowStat does, for polling: the stopped colors' servers, in
// maintenance, are half the servers of a host. A server that enters or
// leaves maintenance is gone from it, or new in it.
//
// The answer is read into a buffer kept for the address between polls:
// with hundreds of servers it is hundreds of KB, and a new one at every
// poll was a third of an idle controller's CPU (pages the runtime gave
// back and faulted in again). What is returned is copied out of it.
func (c *Client) ServerStatuses(ctx context.Context) ([]ServerStatus, error) {
	const cmd = "show stat -1 4 -1 no-maint"
	v, _ := pollBuffers.LoadOrStore(c.network+"://"+c.address, &pollBuffer{})
	buf := v.(*pollBuffer)
	buf.mu.Lock()
	defer buf.mu.Unlock()
	answer, err := c.exec(ctx, cmd, &buf.b)
	if err != nil {
		return nil, fmt.Errorf("read the servers' statuses: %w", err)
	}
	st, err := ParseServerStatuses(answer)
	if err != nil {
		return nil, fmt.Errorf("read the servers' statuses on %s: %w", c.addr, err)
	}
	for i := range st {
		st[i].Proxy, st[i].Server, st[i].Status = buf.keep(st[i].Proxy), buf.keep(st[i].Server), buf.keep(st[i].Status)
	}
	return st, nil
}

// pollBuffer is the buffer of an address's polled answers, and the
// strings copied out of them.
type pollBuffer struct {
	mu sync.Mutex
	b  []byte
	// kept are the names and statuses copied out of b so far: the same
	// few hundred come back at every poll, and are copied once.
	kept map[string]string
}

// maxKept bounds pollBuffer.kept: backends and servers come and go.
const maxKept = 1 << 14

// keep is s, which points into b, as a string of its own.
func (p *pollBuffer) keep(s string) string {
	if k, ok := p.kept[s]; ok {
		return k
	}
	if p.kept == nil || len(p.kept) >= maxKept {
		p.kept = map[string]string{}
	}
	k := strings.Clone(s)
	p.kept[k] = k
	return k
}

// pollBuffers holds a *pollBuffer by runtime API address.
var pollBuffers sync.Map
