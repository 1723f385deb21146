package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestParseServersConnCapture(t *testing.T) {
	conns, err := ParseServersConn(readTestdata(t, "show_servers_conn_2.6.12.txt"))
	if err != nil {
		t.Fatalf("ParseServersConn: %v", err)
	}
	if len(conns) != 6 {
		t.Fatalf("got %d lines, want 6", len(conns))
	}
	c := conns[0]
	if c.Backend != "web_blue" || c.Server != "blue1" || c.UsedCur != 0 || c.UsedMax != 1 || c.NeedEst != 1 || c.IdleLim != -1 || c.IdleCur != 0 {
		t.Errorf("first line = %+v", c)
	}
	if c.Fields["addr"] != "127.0.0.1" || c.Fields["port"] != "18181" || c.Fields["idle_per_thr[2]"] != "0 0" {
		t.Errorf("Fields = %q", c.Fields)
	}
	if conns[5].Backend != "web_green" || conns[5].Server != "green2" {
		t.Errorf("last line = %s/%s, want web_green/green2", conns[5].Backend, conns[5].Server)
	}
}

func TestParseServersConnShapes(t *testing.T) {
	for _, tt := range []struct{ in, wantErr string }{
		{"", ""},
		{"\n\n", ""},
		{"web_blue/s1 3/1\n", "header"},
		{"# name used_cur\nx 1\n", "bkname/svname"},
		{"# bkname/svname used_cur\nnoslash 1\n", "not backend/server"},
		{"# bkname/svname used_cur\nbe/s1 many\n", `column used_cur is "many"`},
	} {
		_, err := ParseServersConn(tt.in)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ParseServersConn(%q) = %v, want error mentioning %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestShowServersConn(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{})
	ctx := context.Background()
	for _, c := range []*Client{h.admin(t), h.tcp(t)} {
		conns, err := c.ShowServersConn(ctx, "web_green")
		if err != nil {
			t.Fatalf("ShowServersConn(web_green) on %s: %v", c.Addr(), err)
		}
		if len(conns) != 1 || conns[0].Backend != "web_green" || conns[0].Server != "s1" || conns[0].UsedCur != 0 || conns[0].IdleLim != -1 {
			t.Errorf("ShowServersConn(web_green) on %s = %+v", c.Addr(), conns)
		}
		all, err := c.ShowServersConn(ctx, "")
		if err != nil {
			t.Fatalf("ShowServersConn(all) on %s: %v", c.Addr(), err)
		}
		if len(all) != 2 || all[0].Backend != "web_blue" || all[1].Backend != "web_green" {
			t.Errorf("ShowServersConn(all) on %s = %+v", c.Addr(), all)
		}
	}
	_, err := h.admin(t).ShowServersConn(ctx, "nope")
	assertCommandError(t, err, ErrUnknownBackend, "show servers conn nope", "Can't find backend.")
}

// checkedServer starts an HAProxy whose one server, web_blue/s1, answers
// its checks.
func checkedServer(t *testing.T) *testHAProxy {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(up.Close)
	return startHAProxy(t, haproxyOptions{Backends: []testBackend{
		{Name: "web_blue", Servers: []testServer{{Name: "s1", Addr: up.Listener.Addr().String(), Check: true}}},
	}})
}

// waitPassingCheck waits until web_blue/s1 is UP, its last check passed.
func waitPassingCheck(t *testing.T, c *Client) {
	waitFor(t, "a passing check", func() (bool, string) {
		r, err := c.ServerStat(context.Background(), "web_blue", "s1")
		if err != nil {
			t.Fatalf("ServerStat: %v", err)
		}
		return r.IsUp() && r.CheckPassed(), r.Status + " " + r.CheckStatus
	})
}

func TestSetServerState(t *testing.T) {
	t.Parallel()
	h := checkedServer(t)
	ctx := context.Background()
	for _, c := range []*Client{h.admin(t), h.tcp(t)} {
		waitPassingCheck(t, c)
		for _, step := range []struct {
			state      AdminState
			wantStatus string
		}{
			{StateDrain, "DRAIN"},
			{StateMaint, "MAINT"},
			{StateReady, "UP"}, // leaving MAINT is UP at once, before any check
			{StateMaint, "MAINT"},
			{StateDrain, "DRAIN"}, // drain from maint: out of maintenance, drained
			{StateReady, "UP"},
		} {
			if err := c.SetServerState(ctx, "web_blue", "s1", step.state); err != nil {
				t.Fatalf("SetServerState(%s) on %s: %v", step.state, c.Addr(), err)
			}
			r, err := c.ServerStat(ctx, "web_blue", "s1")
			if err != nil {
				t.Fatalf("ServerStat: %v", err)
			}
			if r.Status != step.wantStatus {
				t.Errorf("after state %s on %s: status %q, want %q", step.state, c.Addr(), r.Status, step.wantStatus)
			}
		}
	}
}

func TestSetServerReadyDown(t *testing.T) {
	t.Parallel()
	c := checkedServer(t).admin(t)
	ctx := context.Background()
	waitPassingCheck(t, c)
	for _, from := range []AdminState{StateMaint, StateDrain} {
		if err := c.SetServerState(ctx, "web_blue", "s1", from); err != nil {
			t.Fatalf("SetServerState(%s): %v", from, err)
		}
		if err := c.SetServerReadyDown(ctx, "web_blue", "s1"); err != nil {
			t.Fatalf("SetServerReadyDown from %s: %v", from, err)
		}
		// DOWN, not UP as state ready alone leaves it; its checks pass and
		// bring it UP again (rise 2).
		r, err := c.ServerStat(ctx, "web_blue", "s1")
		if err != nil {
			t.Fatalf("ServerStat: %v", err)
		}
		if !strings.HasPrefix(r.Status, "DOWN") {
			t.Errorf("after SetServerReadyDown from %s: status %q, want DOWN", from, r.Status)
		}
		waitFor(t, "UP again by its checks", func() (bool, string) {
			r, err := c.ServerStat(ctx, "web_blue", "s1")
			if err != nil {
				t.Fatalf("ServerStat: %v", err)
			}
			return r.Status == "UP", r.Status + " " + r.CheckStatus
		})
	}
	// Both commands of the line fail alike; the error is the first one's.
	if err := c.SetServerReadyDown(ctx, "web_blue", "nope"); !errors.Is(err, ErrUnknownServer) || !strings.Contains(err.Error(), "set server web_blue/nope state ready") {
		t.Errorf("SetServerReadyDown of an unknown server = %v, want ErrUnknownServer naming the command", err)
	}
	if err := c.SetServerReadyDown(ctx, "web_blue", "s1;shutdown sessions"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("SetServerReadyDown with a ; in the name = %v, want ErrInvalidName", err)
	}
}

func TestSetServerStateErrors(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{})
	ctx := context.Background()
	c := h.admin(t)

	err := c.SetServerState(ctx, "nope", "s1", StateDrain)
	assertCommandError(t, err, ErrUnknownBackend, "set server nope/s1 state drain", "No such backend.")
	err = c.SetServerState(ctx, "web_blue", "nope", StateDrain)
	assertCommandError(t, err, ErrUnknownServer, "set server web_blue/nope state drain", "No such server.")
	err = h.user(t).SetServerState(ctx, "web_blue", "s1", StateDrain)
	assertCommandError(t, err, ErrPermission, "set server web_blue/s1 state drain", "Permission denied")

	if err := c.SetServerState(ctx, "web_blue", "s1", AdminState("stopping")); err == nil || !strings.Contains(err.Error(), "unknown state") {
		t.Errorf("SetServerState(stopping) = %v, want an unknown state error", err)
	}
	for _, bad := range [][2]string{{"web_blue/x", "s1"}, {"web_blue", "s1 state maint"}, {"web_blue", "s1;shutdown sessions"}, {"", "s1"}} {
		if err := c.SetServerState(ctx, bad[0], bad[1], StateMaint); !errors.Is(err, ErrInvalidName) {
			t.Errorf("SetServerState(%q, %q) = %v, want ErrInvalidName", bad[0], bad[1], err)
		}
	}
	if r, err := c.ServerStat(ctx, "web_blue", "s1"); err != nil || r.Status == "MAINT" {
		t.Errorf("a refused name changed the server: %q, %v", r.Status, err)
	}
}

// TestDrainResetsLastChg records a fact of HAProxy 2.6: "set server ...
// state drain" is a status change, so lastchg restarts from 0. A drained
// server and an untouched sibling are compared in one snapshot.
func TestDrainResetsLastChg(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{Backends: []testBackend{
		{Name: "web_blue", Servers: []testServer{{Name: "s1", Addr: "127.0.0.1:9"}, {Name: "s2", Addr: "127.0.0.1:9"}}},
	}})
	c := h.admin(t)
	ctx := context.Background()
	lastChg := func() map[string]int {
		rows, err := c.ShowStat(ctx)
		if err != nil {
			t.Fatalf("ShowStat: %v", err)
		}
		m := map[string]int{}
		for _, r := range rows {
			m[r.Server] = r.LastChg
		}
		return m
	}
	waitFor(t, "lastchg of s2 to reach 2 s", func() (bool, string) {
		m := lastChg()
		return m["s2"] >= 2, "lastchg " + strconv.Itoa(m["s2"])
	})
	if err := c.SetServerState(ctx, "web_blue", "s1", StateDrain); err != nil {
		t.Fatalf("SetServerState: %v", err)
	}
	m := lastChg()
	if m["s1"] >= m["s2"] {
		t.Errorf("after drain: lastchg s1 %d, untouched s2 %d; want s1 reset below s2", m["s1"], m["s2"])
	}
}

// assertCommandError checks that err is a *CommandError for cmd with the
// HAProxy answer, and that it matches the sentinel.
func assertCommandError(t *testing.T, err error, sentinel error, cmd, answer string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("%s: err = %v, want %v", cmd, err, sentinel)
		return
	}
	var ce *CommandError
	if !errors.As(err, &ce) {
		t.Errorf("%s: err = %T, want *CommandError", cmd, err)
		return
	}
	if ce.Command != cmd || ce.Answer != answer || ce.Severity != 3 {
		t.Errorf("CommandError = %+v, want command %q answer %q severity 3", ce, cmd, answer)
	}
	for _, part := range []string{cmd, ce.Addr, answer} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %q", err, part)
		}
	}
}

// TestSetServerAddr moves a checked UP server between two live addresses and
// then to a dead one: the address in show stat and show servers state
// follows at once, the state is not reset, and the checks follow the
// address (the server goes DOWN at the dead one).
func TestSetServerAddr(t *testing.T) {
	t.Parallel()
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(a.Close)
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(b.Close)
	h := startHAProxy(t, haproxyOptions{Backends: []testBackend{
		{Name: "web_blue", Servers: []testServer{{Name: "s1", Addr: a.Listener.Addr().String(), Check: true}}},
	}})
	ctx := context.Background()
	c := h.admin(t)
	addrOf := func() (stat, state string) {
		r, err := c.ServerStat(ctx, "web_blue", "s1")
		if err != nil {
			t.Fatalf("ServerStat: %v", err)
		}
		states, err := c.ServersState(ctx)
		if err != nil {
			t.Fatalf("ServersState: %v", err)
		}
		for _, s := range states {
			if s.Backend == "web_blue" && s.Server == "s1" {
				state = s.AddrPort()
			}
		}
		return r.Addr, state
	}
	waitFor(t, "UP", func() (bool, string) {
		r, err := c.ServerStat(ctx, "web_blue", "s1")
		if err != nil {
			t.Fatalf("ServerStat: %v", err)
		}
		return r.IsUp() && r.CheckPassed(), r.Status + " " + r.CheckStatus
	})
	for _, to := range []string{b.Listener.Addr().String(), a.Listener.Addr().String(), b.Listener.Addr().String()} {
		if err := c.SetServerAddr(ctx, "web_blue", "s1", netip.MustParseAddrPort(to)); err != nil {
			t.Fatalf("SetServerAddr(%s): %v", to, err)
		}
		if stat, state := addrOf(); stat != to || state != to {
			t.Errorf("after SetServerAddr(%s): show stat addr %q, show servers state %q", to, stat, state)
		}
	}
	// Again to the same address: HAProxy has nothing to change, no error.
	if err := c.SetServerAddr(ctx, "web_blue", "s1", netip.MustParseAddrPort(b.Listener.Addr().String())); err != nil {
		t.Errorf("SetServerAddr to the address it has: %v", err)
	}
	dead := netip.MustParseAddrPort(freeAddr(t))
	if err := c.SetServerAddr(ctx, "web_blue", "s1", dead); err != nil {
		t.Fatalf("SetServerAddr(%s): %v", dead, err)
	}
	waitFor(t, "DOWN at the dead address", func() (bool, string) {
		r, err := c.ServerStat(ctx, "web_blue", "s1")
		if err != nil {
			t.Fatalf("ServerStat: %v", err)
		}
		return r.Status == "DOWN", r.Status + " " + r.CheckStatus
	})

	cmd := func(srv string) string {
		return fmt.Sprintf("set server web_blue/%s addr %s port %d", srv, dead.Addr(), dead.Port())
	}
	err := c.SetServerAddr(ctx, "web_blue", "nope", dead)
	assertCommandError(t, err, ErrUnknownServer, cmd("nope"), "No such server.")
	err = h.user(t).SetServerAddr(ctx, "web_blue", "s1", dead)
	assertCommandError(t, err, ErrPermission, cmd("s1"), "Permission denied")
	if err := c.SetServerAddr(ctx, "web_blue", "s1;shutdown sessions", dead); !errors.Is(err, ErrInvalidName) {
		t.Errorf("SetServerAddr with a ';' in the name = %v, want ErrInvalidName", err)
	}
	if err := c.SetServerAddr(ctx, "web_blue", "s1", netip.AddrPort{}); err == nil {
		t.Error("SetServerAddr with no address: no error")
	}
}

// TestSetServerWeight: the weight in show stat follows at once, as an
// absolute value; an unknown server and a weight out of range are refused.
func TestSetServerWeight(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{Backends: []testBackend{
		{Name: "web_canary", Servers: []testServer{{Name: "blue", Addr: "127.0.0.1:9"}, {Name: "green", Addr: "127.0.0.1:9"}}},
	}})
	c := h.admin(t)
	ctx := context.Background()
	weight := func(server string) int64 {
		r, err := c.ServerStat(ctx, "web_canary", server)
		if err != nil {
			t.Fatalf("ServerStat: %v", err)
		}
		return r.Count("weight")
	}
	for _, w := range []int{80, 20, 0, 256} {
		if err := c.SetServerWeight(ctx, "web_canary", "green", w); err != nil {
			t.Fatalf("SetServerWeight(%d): %v", w, err)
		}
		if got := weight("green"); got != int64(w) {
			t.Fatalf("after SetServerWeight(%d): show stat says weight %d", w, got)
		}
	}
	if got := weight("blue"); got != 1 {
		t.Fatalf("blue's weight moved to %d", got)
	}
	if err := c.SetServerWeight(ctx, "web_canary", "nope", 10); !errors.Is(err, ErrUnknownServer) {
		t.Fatalf("unknown server: %v", err)
	}
	if err := c.SetServerWeight(ctx, "web_canary", "green", 257); err == nil || !strings.Contains(err.Error(), "0 to 256") {
		t.Fatalf("weight 257: %v", err)
	}
}
