package haproxy

import (
	"strconv"
	"strings"
	"testing"
)

// syntheticStat builds a "show stat" answer with the captured 2.6 header:
// one frontend, then backends of one UP server each, every row with a
// value in each of the header's columns, as HAProxy prints them.
func syntheticStat(tb testing.TB, backends int) string {
	tb.Helper()
	capture := readTestdata(tb, "show_stat_2.6.12.csv")
	header, _, _ := strings.Cut(strings.TrimLeft(capture, "\n"), "\n")
	names := strings.Split(strings.TrimPrefix(header, "# "), ",")
	var b strings.Builder
	b.WriteString(header + "\n")
	row := func(set map[string]string) {
		for _, n := range names[:len(names)-1] { // the last name is the empty one after the trailing comma
			v, ok := set[n]
			if !ok {
				v = "0"
			}
			b.WriteString(v + ",")
		}
		b.WriteString("\n")
	}
	row(map[string]string{"pxname": "fe_http", "svname": "FRONTEND", "status": "OPEN", "type": "0", "check_status": "", "addr": ""})
	for i := range backends {
		be := "svc" + strconv.Itoa(i) + "_blue"
		row(map[string]string{"pxname": be, "svname": "app", "status": "UP", "type": "2", "check_status": "L7OK", "check_code": "200",
			"addr": "127.0.0.1:" + strconv.Itoa(20000+i), "last_chk": "OK", "lastchg": "3600", "mode": "http", "cookie": "", "algo": ""})
		row(map[string]string{"pxname": be, "svname": "BACKEND", "status": "UP", "type": "1", "check_status": "", "addr": "",
			"mode": "http", "algo": "roundrobin", "cookie": "", "last_chk": ""})
	}
	return b.String()
}

// BenchmarkParseStat parses the "show stat" of 400 backends (200 services,
// two colors) of one server each: 801 rows of 128 columns.
func BenchmarkParseStat(b *testing.B) {
	text := syntheticStat(b, 400)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		rows, err := ParseStat(text)
		if err != nil || len(rows) != 801 {
			b.Fatalf("ParseStat = %d rows, %v; want 801", len(rows), err)
		}
	}
}

// BenchmarkParseServerStatuses parses what "show stat -1 4 -1" answers for
// the 400 backends of BenchmarkParseStat: the header and 400 server rows.
func BenchmarkParseServerStatuses(b *testing.B) {
	var servers []string
	for i, l := range strings.SplitAfter(syntheticStat(b, 400), "\n") {
		if i == 0 || strings.Contains(l, ",app,") {
			servers = append(servers, l)
		}
	}
	text := strings.Join(servers, "")
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		st, err := ParseServerStatuses(text)
		if err != nil || len(st) != 400 {
			b.Fatalf("ParseServerStatuses = %d servers, %v; want 400", len(st), err)
		}
	}
}
