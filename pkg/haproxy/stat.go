package haproxy

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bluegreen-host/controller/pkg/haproxy/names"
)

// StatRow is one line of "show stat": a frontend, a backend or a server.
type StatRow struct {
	Proxy, Server string // pxname, svname ("FRONTEND" and "BACKEND" for those rows)
	// Status exactly as HAProxy says: "UP", "DOWN", "UP 1/2", "DOWN 1/2",
	// "NOLB", "DRAIN", "MAINT", "MAINT (via x/y)", "no check", ...
	Status string
	// CheckStatus is the last check result without the "* " that marks a
	// check in progress: "L7OK", "L4CON", "INI", "" when checks are off.
	CheckStatus     string
	CheckInProgress bool   // check_status had the "* " prefix
	CheckCode       string // e.g. "200"; "0" while a check is in progress
	Scur, Qcur      int
	LastChg         int // seconds since the last status change, -1 if empty
	LastChk         string
	Weight          int
	Addr            string
	CheckRise       int
	CheckFall       int
	CheckHealth     int
	ReqTot, Hrsp5xx int64
	Fields          map[string]string // every column by header name
}

// Count returns the counter column name as a number; 0 when it is empty
// or not a number (HAProxy leaves counters empty where they do not apply).
func (r StatRow) Count(name string) int64 {
	n, err := strconv.ParseInt(r.Fields[name], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// IsUp reports whether Status is exactly "UP" (not "UP 1/2", which is
// failing checks on its way down).
func (r StatRow) IsUp() bool { return r.Status == "UP" }

// Sessions is the server's current sessions plus its queued requests: zero
// means a drained server holds nothing any more.
func (r StatRow) Sessions() int { return r.Scur + r.Qcur }

// CheckPassed reports whether the last health check passed (L4OK, L6OK,
// L7OK, or L7OKC for a 404 with "http-check disable-on-404").
func (r StatRow) CheckPassed() bool {
	switch r.CheckStatus {
	case "L4OK", "L6OK", "L7OK", "L7OKC":
		return true
	}
	return false
}

// statType is the "type" column: 0 frontend, 1 backend, 2 server, 3 listener.
const (
	statTypeBackend = "1"
	statTypeServer  = "2"
)

// ParseStat parses the CSV of "show stat" by header name. The header line
// starts with "# "; every line ends with a comma; quoted fields, blank lines
// and a missing column (read as empty) are tolerated.
func ParseStat(text string) ([]StatRow, error) {
	var header, body string
	rest := text
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if strings.TrimSpace(line) != "" {
			header, body = line, rest
			break
		}
	}
	if header == "" {
		return nil, nil
	}
	if !strings.HasPrefix(header, "#") {
		return nil, fmt.Errorf("parse show stat: the first line %q is not a \"# pxname,svname,...\" header", clip(header))
	}
	names, err := csvReader(strings.TrimLeft(header[1:], " ")).Read()
	if err != nil {
		return nil, fmt.Errorf("parse show stat header: %w", err)
	}
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	if !contains(names, "pxname") || !contains(names, "svname") {
		return nil, fmt.Errorf("parse show stat: the header %q has no pxname or svname column", clip(header))
	}

	var rows []StatRow
	r := csvReader(body)
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse show stat: %w", err)
		}
		fields := make(map[string]string, len(names))
		for i, name := range names {
			if _, dup := fields[name]; name == "" || dup {
				continue
			}
			if i < len(rec) {
				fields[name] = rec[i]
			} else {
				fields[name] = ""
			}
		}
		if allBlank(fields) {
			continue // a blank line, or values only under unnamed columns
		}
		row, err := statRow(fields)
		if err != nil {
			line, _ := r.FieldPos(0)
			return nil, fmt.Errorf("parse show stat row %d (%s/%s): %w", line, fields["pxname"], fields["svname"], err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func statRow(f map[string]string) (StatRow, error) {
	row := StatRow{
		Proxy:       f["pxname"],
		Server:      f["svname"],
		Status:      f["status"],
		CheckStatus: f["check_status"],
		CheckCode:   f["check_code"],
		LastChk:     f["last_chk"],
		Addr:        f["addr"],
		LastChg:     -1,
		Fields:      f,
	}
	if s, ok := strings.CutPrefix(row.CheckStatus, "* "); ok {
		row.CheckStatus, row.CheckInProgress = s, true
	}
	ints := []struct {
		name string
		dst  *int
	}{
		{"scur", &row.Scur}, {"qcur", &row.Qcur}, {"weight", &row.Weight},
		{"check_rise", &row.CheckRise}, {"check_fall", &row.CheckFall}, {"check_health", &row.CheckHealth},
	}
	for _, c := range ints {
		n, err := statInt(f, c.name)
		if err != nil {
			return StatRow{}, err
		}
		*c.dst = int(n)
	}
	for _, c := range []struct {
		name string
		dst  *int64
	}{{"req_tot", &row.ReqTot}, {"hrsp_5xx", &row.Hrsp5xx}} {
		n, err := statInt(f, c.name)
		if err != nil {
			return StatRow{}, err
		}
		*c.dst = n
	}
	if strings.TrimSpace(f["lastchg"]) != "" {
		n, err := statInt(f, "lastchg")
		if err != nil {
			return StatRow{}, err
		}
		row.LastChg = int(n)
	}
	return row, nil
}

func statInt(f map[string]string, name string) (int64, error) {
	v := strings.TrimSpace(f[name])
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("column %s is %q, not a number", name, clip(v))
	}
	return n, nil
}

func csvReader(s string) *csv.Reader {
	r := csv.NewReader(strings.NewReader(s))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	return r
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func allBlank(fields map[string]string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// clip shortens text quoted in an error.
func clip(s string) string { return names.Clip(s) }

// ShowStat returns every row of "show stat".
func (c *Client) ShowStat(ctx context.Context) ([]StatRow, error) {
	answer, err := c.Exec(ctx, "show stat")
	if err != nil {
		return nil, err
	}
	rows, err := ParseStat(answer)
	if err != nil {
		return nil, fmt.Errorf("show stat on %s: %w", c.addr, err)
	}
	return rows, nil
}

// ServerStat returns the stats row of one server. The error wraps
// ErrUnknownBackend or ErrUnknownServer when HAProxy has no such backend or
// no such server in it.
func (c *Client) ServerStat(ctx context.Context, backend, server string) (StatRow, error) {
	if err := validateServer(backend, server); err != nil {
		return StatRow{}, fmt.Errorf("read stats of server %q on %s: %w", backend+"/"+server, c.addr, err)
	}
	// Type 6 = backends and servers. HAProxy falls back to a numeric proxy
	// id when the name is unknown, so every row is checked by name.
	answer, err := c.Exec(ctx, "show stat "+backend+" 6 -1")
	if err != nil {
		return StatRow{}, fmt.Errorf("read stats of server %s/%s: %w", backend, server, err)
	}
	rows, err := ParseStat(answer)
	if err != nil {
		return StatRow{}, fmt.Errorf("read stats of server %s/%s on %s: %w", backend, server, c.addr, err)
	}
	haveBackend := false
	for _, r := range rows {
		if r.Proxy != backend {
			continue
		}
		switch r.Fields["type"] {
		case statTypeServer:
			if r.Server == server {
				return r, nil
			}
		case statTypeBackend:
			haveBackend = true
		}
	}
	if !haveBackend {
		return StatRow{}, fmt.Errorf("read stats of server %s/%s on %s: %w %s: check the backend name against haproxy.cfg (show backend lists them)", backend, server, c.addr, ErrUnknownBackend, backend)
	}
	return StatRow{}, fmt.Errorf("read stats of server %s/%s on %s: %w %s in backend %s: check the server name in that backend of haproxy.cfg", backend, server, c.addr, ErrUnknownServer, server, backend)
}
