package haproxy

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
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
	Fields          StatFields // every column by header name
}

// Count returns the counter column name as a number; 0 when it is empty
// or not a number (HAProxy leaves counters empty where they do not apply).
func (r StatRow) Count(name string) int64 {
	n, err := strconv.ParseInt(r.Fields.Get(name), 10, 64)
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

// StatFields are the columns of one "show stat" row by header name. The
// rows of one answer share the header's index; each holds its values only.
// The zero value has no column.
type StatFields struct {
	header *statHeader
	values []string // by column; a short row has fewer than the header
}

// NewStatFields returns fields holding the columns of m, for rows built
// by hand (fakes, tests).
func NewStatFields(m map[string]string) StatFields {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	values := make([]string, len(names))
	for i, n := range names {
		values[i] = m[n]
	}
	return StatFields{header: newStatHeader(names), values: values}
}

// Get returns the column name, "" when the row has no such column or the
// column is empty.
func (f StatFields) Get(name string) string {
	v, _ := f.Lookup(name)
	return v
}

// Lookup returns the column name and whether the header has it; a column
// the header names but the row is too short for reads as empty.
func (f StatFields) Lookup(name string) (string, bool) {
	if f.header == nil {
		return "", false
	}
	i, ok := f.header.index[name]
	if !ok {
		return "", false
	}
	return f.value(i), true
}

// Len is the number of columns: the distinct non-empty names of the header.
func (f StatFields) Len() int {
	if f.header == nil {
		return 0
	}
	return len(f.header.index)
}

// Names returns the column names in the header's order, without the
// empty ones and the repeats.
func (f StatFields) Names() []string {
	if f.header == nil {
		return nil
	}
	names := make([]string, len(f.header.named))
	for i, col := range f.header.named {
		names[i] = f.header.names[col]
	}
	return names
}

// Map returns a copy of every column by name.
func (f StatFields) Map() map[string]string {
	m := make(map[string]string, f.Len())
	for _, n := range f.Names() {
		m[n] = f.Get(n)
	}
	return m
}

// value is column i, "" when the row is shorter or i is -1 (no column).
func (f StatFields) value(i int) string {
	if i >= 0 && i < len(f.values) {
		return f.values[i]
	}
	return ""
}

// statHeader is the header line of a "show stat" answer: the column of
// each name (the first one when a name repeats; empty names are no
// column), looked up once for the columns StatRow has fields for.
type statHeader struct {
	names []string
	index map[string]int
	named []int // the columns of index, in order
	cols  statCols
}

// statCols are the columns of StatRow's fields, -1 where the header has none.
type statCols struct {
	pxname, svname, status, checkStatus, checkCode, lastChk, addr int
	scur, qcur, weight, checkRise, checkFall, checkHealth         int
	reqTot, hrsp5xx, lastchg                                      int
}

func newStatHeader(names []string) *statHeader {
	h := &statHeader{names: names, index: make(map[string]int, len(names))}
	for i, n := range names {
		if _, dup := h.index[n]; n != "" && !dup {
			h.index[n] = i
			h.named = append(h.named, i)
		}
	}
	col := h.column
	h.cols = statCols{
		pxname: col("pxname"), svname: col("svname"), status: col("status"), checkStatus: col("check_status"),
		checkCode: col("check_code"), lastChk: col("last_chk"), addr: col("addr"),
		scur: col("scur"), qcur: col("qcur"), weight: col("weight"),
		checkRise: col("check_rise"), checkFall: col("check_fall"), checkHealth: col("check_health"),
		reqTot: col("req_tot"), hrsp5xx: col("hrsp_5xx"), lastchg: col("lastchg"),
	}
	return h
}

// column is the column of name, -1 when the header has none.
func (h *statHeader) column(name string) int {
	if i, ok := h.index[name]; ok {
		return i
	}
	return -1
}

// blank reports whether every named column of values is blank.
func (h *statHeader) blank(values []string) bool {
	for _, i := range h.named {
		if i < len(values) && strings.TrimSpace(values[i]) != "" {
			return false
		}
	}
	return true
}

// statType is the "type" column: 0 frontend, 1 backend, 2 server, 3 listener.
const (
	statTypeBackend = "1"
	statTypeServer  = "2"
)

// slabValues bounds the values ParseStat allocates at once, for all the
// rows it can hold: 512 rows of HAProxy 2.6's 128 columns.
const slabValues = 1 << 16

// ParseStat parses the CSV of "show stat" by header name. The header line
// starts with "# "; every line ends with a comma; quoted fields, blank lines
// and a missing column (read as empty) are tolerated.
func ParseStat(text string) ([]StatRow, error) {
	h, body, err := parseStatHeader(text)
	if h == nil || err != nil {
		return nil, err
	}
	width := len(h.names)
	rows := make([]StatRow, 0, strings.Count(body, "\n")+1)
	var slab []string // the rows' values, cut from one allocation
	recs := statRecords{rest: body}
	for recs.rest != "" {
		if len(slab) < width {
			slab = make([]string, width*min(strings.Count(recs.rest, "\n")+1, max(slabValues/width, 1)))
		}
		rec, ok, err := recs.next(slab[:0:width])
		if err != nil {
			return nil, fmt.Errorf("parse show stat: %w", err)
		}
		if !ok {
			break
		}
		if h.blank(rec) {
			continue // a blank line, or values only under unnamed columns
		}
		if len(rec) <= width {
			slab = slab[len(rec):]
		}
		f := StatFields{header: h, values: rec[:len(rec):len(rec)]}
		row, err := statRow(f)
		if err != nil {
			return nil, fmt.Errorf("parse show stat row %d (%s/%s): %w", recs.line, f.Get("pxname"), f.Get("svname"), err)
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows, nil
}

// parseStatHeader reads the header line of a "show stat" answer, after
// blank lines; it returns the lines after it. A text of blank lines has
// no header (nil) and no error.
func parseStatHeader(text string) (*statHeader, string, error) {
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
		return nil, "", nil
	}
	if !strings.HasPrefix(header, "#") {
		return nil, "", fmt.Errorf("parse show stat: the first line %q is not a \"# pxname,svname,...\" header", clip(header))
	}
	recs := statRecords{rest: strings.TrimLeft(header[1:], " ")}
	names, _, err := recs.next(nil)
	if err != nil {
		return nil, "", fmt.Errorf("parse show stat header: %w", err)
	}
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	if !contains(names, "pxname") || !contains(names, "svname") {
		return nil, "", fmt.Errorf("parse show stat: the header %q has no pxname or svname column", clip(header))
	}
	return newStatHeader(names), body, nil
}

// statRecords walks the records of a CSV text. A line without a quote is
// split at its commas; one with a quote is read by encoding/csv with
// LazyQuotes, and may run over several lines. Empty lines are skipped, as
// encoding/csv does.
type statRecords struct {
	rest string
	line int // the line the last record started on, from 1
	read int // lines read before rest
	// upto, when above 0, stops the split of a line without a quote after
	// that many fields: the columns after are not read.
	upto int
}

// next appends the fields of the next record to dst; false at the end.
// The fields are substrings of the text, or of a copy for a quoted record.
func (s *statRecords) next(dst []string) ([]string, bool, error) {
	for s.rest != "" {
		line, rest, _ := strings.Cut(s.rest, "\n")
		if strings.IndexByte(line, '"') < 0 {
			s.rest = rest
			s.read++
			s.line = s.read
			line = strings.TrimSuffix(line, "\r")
			if line == "" {
				continue
			}
			start, n := 0, 0
			for i := 0; i < len(line); i++ {
				if line[i] == ',' {
					dst = append(dst, line[start:i])
					start = i + 1
					if n++; n == s.upto {
						return dst, true, nil
					}
				}
			}
			return append(dst, line[start:]), true, nil
		}
		r := csvReader(s.rest)
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, err
		}
		s.line = s.read + 1
		used := s.rest[:r.InputOffset()]
		s.rest = s.rest[len(used):]
		s.read += strings.Count(used, "\n")
		return append(dst, rec...), true, nil
	}
	s.rest = ""
	return nil, false, nil
}

func statRow(f StatFields) (StatRow, error) {
	c := &f.header.cols
	row := StatRow{
		Proxy:       f.value(c.pxname),
		Server:      f.value(c.svname),
		Status:      f.value(c.status),
		CheckStatus: f.value(c.checkStatus),
		CheckCode:   f.value(c.checkCode),
		LastChk:     f.value(c.lastChk),
		Addr:        f.value(c.addr),
		LastChg:     -1,
		Fields:      f,
	}
	if s, ok := strings.CutPrefix(row.CheckStatus, "* "); ok {
		row.CheckStatus, row.CheckInProgress = s, true
	}
	n := statNums{f: f}
	row.Scur, row.Qcur, row.Weight = int(n.get("scur", c.scur)), int(n.get("qcur", c.qcur)), int(n.get("weight", c.weight))
	row.CheckRise, row.CheckFall = int(n.get("check_rise", c.checkRise)), int(n.get("check_fall", c.checkFall))
	row.CheckHealth = int(n.get("check_health", c.checkHealth))
	row.ReqTot, row.Hrsp5xx = n.get("req_tot", c.reqTot), n.get("hrsp_5xx", c.hrsp5xx)
	if strings.TrimSpace(f.value(c.lastchg)) != "" {
		row.LastChg = int(n.get("lastchg", c.lastchg))
	}
	if n.err != nil {
		return StatRow{}, n.err
	}
	return row, nil
}

// statNums reads the number columns of a row and keeps the first error.
type statNums struct {
	f   StatFields
	err error
}

// get returns the number in column col (named name), 0 after an error.
func (n *statNums) get(name string, col int) int64 {
	if n.err != nil {
		return 0
	}
	v, err := statInt(name, n.f.value(col))
	n.err = err
	return v
}

// statInt reads the number v of column name; a blank v is 0.
func statInt(name, v string) (int64, error) {
	v = strings.TrimSpace(v)
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
		switch r.Fields.Get("type") {
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
