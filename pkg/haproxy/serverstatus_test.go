package haproxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestParseServerStatusesCapture: the server rows of the 2.6 capture, and
// none of its frontend and backends.
func TestParseServerStatusesCapture(t *testing.T) {
	got, err := ParseServerStatuses(readTestdata(t, "show_stat_2.6.12.csv"))
	if err != nil {
		t.Fatalf("ParseServerStatuses: %v", err)
	}
	want := []ServerStatus{
		{"web_blue", "blue1", "UP", 1},
		{"web_blue", "blue2", "DOWN", 1},
		{"web_blue", "blue3", "DRAIN", 1},
		{"web_blue", "blue4", "MAINT", 0}, // chkdown empty
		{"web_green", "green1", "DOWN", 1},
		{"web_green", "green2", "UP", 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statuses:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseServerStatusesShapes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // pxname/svname/status/chkdown of each server
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"blank lines around", "\n# pxname,svname,status,chkdown,type,\n\nbe,s1,UP,0,2,\n\nbe,BACKEND,UP,,1,\n", []string{"be/s1/UP/0"}, ""},
		{"no type column", "# pxname,svname,status,\nfe,FRONTEND,OPEN,\nbe,s1,UP,\nbe,BACKEND,UP,\n", []string{"be/s1/UP/0"}, ""},
		{"columns in another order", "# type,chkdown,status,svname,pxname,\n2,3,DOWN,s1,be,\n", []string{"be/s1/DOWN/3"}, ""},
		{"short row", "# pxname,svname,type,status,chkdown,\nbe,s1,2\n", []string{"be/s1//0"}, ""},
		{"quoted field", "# pxname,svname,status,check_desc,type,chkdown,\nbe,s1,UP,\"a, \"\"b\"\"\",2,1,\n", []string{"be/s1/UP/1"}, ""},
		{"CRLF", "# pxname,svname,status,type,\r\nbe,s1,UP,2,\r\n", []string{"be/s1/UP/0"}, ""},
		{"no header", "be,s1,UP,\n", nil, "header"},
		{"bad chkdown", "# pxname,svname,chkdown,type,\nbe,s1,x,2,\n", nil, `column chkdown is "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseServerStatuses(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseServerStatuses = %v, want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseServerStatuses: %v", err)
			}
			var got []string
			for _, s := range st {
				got = append(got, s.Proxy+"/"+s.Server+"/"+s.Status+"/"+strconv.FormatInt(s.Chkdown, 10))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("statuses = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseServerStatuses: where ParseStat reads a text with a type
// column, ParseServerStatuses reads the same servers from it.
func FuzzParseServerStatuses(f *testing.F) {
	lines := strings.SplitAfter(readTestdata(f, "show_stat_2.6.12.csv"), "\n")
	f.Add(strings.Join(lines[:4], ""))
	for _, s := range []string{
		"# pxname,svname,status,chkdown,type,\nbe,s1,UP,0,2,\nbe,BACKEND,UP,,1,\n",
		"# pxname,svname,type,chkdown,\"a\"\"b\",\n\"x,y\",s,2,1,q,\n", "#pxname,svname,type,pxname,\na,b,2,c,\n",
		"# pxname,svname,type,chkdown,\nbe,s1,2,\"1\n2\",\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		rows, err := ParseStat(text)
		if err != nil || len(rows) == 0 {
			return
		}
		if _, ok := rows[0].Fields.Lookup("type"); !ok {
			return
		}
		var want []ServerStatus
		for _, r := range rows {
			if r.Fields.Get("type") == statTypeServer && !strings.HasPrefix(r.Status, "MAINT") {
				want = append(want, ServerStatus{r.Proxy, r.Server, r.Status, 0})
			}
		}
		st, err := ParseServerStatuses(text)
		if err != nil {
			if !strings.Contains(err.Error(), "column chkdown") {
				t.Fatalf("ParseServerStatuses failed where ParseStat did not: %v", err)
			}
			return
		}
		for i := range st {
			if i < len(want) {
				want[i].Chkdown = st[i].Chkdown
			}
		}
		if !reflect.DeepEqual(st, want) {
			t.Fatalf("ParseServerStatuses = %+v\nParseStat's servers  %+v", st, want)
		}
	})
}

// TestServerStatuses asks a real HAProxy: "show stat -1 4 -1 no-maint" has
// the servers not in maintenance only, with the status and chkdown
// ShowStat has for them.
func TestServerStatuses(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(up.Close)
	h := startHAProxy(t, haproxyOptions{Backends: []testBackend{
		{Name: "web_blue", Servers: []testServer{{Name: "up", Addr: up.Listener.Addr().String(), Check: true}, {Name: "down", Addr: freeAddr(t), Check: true}}},
		{Name: "web_green", Servers: []testServer{{Name: "nocheck", Addr: "127.0.0.1:9"}}},
	}})
	for _, c := range []*Client{h.admin(t), h.user(t), h.tcp(t)} {
		var got []ServerStatus
		waitFor(t, "first checks of both servers", func() (bool, string) {
			var err error
			got, err = c.ServerStatuses(context.Background())
			if err != nil {
				t.Fatalf("ServerStatuses on %s: %v", c.Addr(), err)
			}
			return reflect.DeepEqual(got, []ServerStatus{
				{"web_blue", "up", "UP", 0}, {"web_blue", "down", "DOWN", 1}, {"web_green", "nocheck", "no check", 0},
			}), statusesText(got)
		})
		rows, err := c.ShowStat(context.Background())
		if err != nil {
			t.Fatalf("ShowStat on %s: %v", c.Addr(), err)
		}
		var want []ServerStatus
		for _, r := range rows {
			if r.Fields.Get("type") == statTypeServer {
				want = append(want, ServerStatus{r.Proxy, r.Server, r.Status, r.Count("chkdown")})
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ServerStatuses on %s = %s; ShowStat's servers %s", c.Addr(), statusesText(got), statusesText(want))
		}
	}
	// The answer is read into a buffer kept for the next poll: what was
	// returned is the caller's, and the next read changes none of it.
	c := h.admin(t)
	first, err := c.ServerStatuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	was := statusesText(first)
	if err := c.SetServerState(context.Background(), "web_blue", "up", StateMaint); err != nil {
		t.Fatal(err)
	}
	// A server in maintenance is left out; the others stay.
	if next, err := c.ServerStatuses(context.Background()); err != nil || strings.Contains(statusesText(next), "web_blue/up ") || !strings.Contains(statusesText(next), "web_blue/down ") {
		t.Fatalf("after setting web_blue/up to maint: %s (%v), want it left out, and web_blue/down there", statusesText(next), err)
	}
	if now := statusesText(first); now != was {
		t.Errorf("the statuses of the first read changed with the next read: %s, then %s", was, now)
	}
}

func statusesText(st []ServerStatus) string {
	var b strings.Builder
	for _, s := range st {
		b.WriteString(s.Proxy + "/" + s.Server + " " + s.Status + " chkdown " + strconv.FormatInt(s.Chkdown, 10) + "; ")
	}
	return b.String()
}
