package haproxy

import (
	"context"
	"errors"
	"testing"
)

// TestServersStateShowsDrainUnderDown: the stats CSV says DOWN for a
// drained server whose checks fail; "show servers state" still shows the
// drain, and the other admin states.
func TestServersStateShowsDrainUnderDown(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{Backends: []testBackend{
		{Name: "web_blue", Servers: []testServer{{Name: "s1", Addr: "127.0.0.1:9", Check: true}}},
		{Name: "web_green", Servers: []testServer{{Name: "s1", Addr: "127.0.0.1:9"}}},
	}})
	c := h.admin(t)
	ctx := context.Background()
	waitFor(t, "blue DOWN", func() (bool, string) {
		r, err := c.ServerStat(ctx, "web_blue", "s1")
		if err != nil {
			t.Fatalf("ServerStat: %v", err)
		}
		return r.Status == "DOWN", r.Status
	})
	state := func(backend string) ServerState {
		t.Helper()
		all, err := c.ServersState(ctx)
		if err != nil {
			t.Fatalf("ServersState: %v", err)
		}
		for _, s := range all {
			if s.Backend == backend && s.Server == "s1" {
				return s
			}
		}
		t.Fatalf("no servers state line for %s/s1 in %+v", backend, all)
		return ServerState{}
	}
	if s := state("web_blue"); s.Drain() || s.Maint() || s.OpState != 0 {
		t.Fatalf("fresh DOWN server: %+v", s)
	}
	for _, step := range []struct {
		state        AdminState
		drain, maint bool
	}{
		{StateDrain, true, false},
		{StateMaint, false, true},
		{StateReady, false, false},
	} {
		if err := c.SetServerState(ctx, "web_blue", "s1", step.state); err != nil {
			t.Fatal(err)
		}
		s := state("web_blue")
		if s.Drain() != step.drain || s.Maint() != step.maint {
			t.Errorf("after %s: drain %v maint %v (admin %#x), want drain %v maint %v", step.state, s.Drain(), s.Maint(), s.Admin, step.drain, step.maint)
		}
		if r, _ := c.ServerStat(ctx, "web_blue", "s1"); step.state == StateDrain && r.Status != "DOWN" {
			t.Errorf("stats CSV for a drained DOWN server: %q, want DOWN (the reason ServersState exists)", r.Status)
		}
	}
	if s := state("web_green"); s.OpState != 2 {
		t.Errorf("unchecked server op state %d, want 2 (running)", s.OpState)
	}
}

func TestParseServersState(t *testing.T) {
	text := "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight\n" +
		"3 web_blue 1 app 127.0.0.1 2 0 1\n4 web_green 1 app 127.0.0.1 0 8 1\n\n"
	got, err := ParseServersState(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Backend != "web_green" || !got[1].Drain() || got[0].Drain() || got[0].OpState != 2 {
		t.Fatalf("got %+v", got)
	}
	if _, err := ParseServersState("1\n# be_name srv_name srv_op_state srv_admin_state\nweb app x 0\n"); err == nil {
		t.Fatalf("bad srv_op_state accepted")
	}
}

// TestSetServerHealthUp: a DOWN server is UP at once, and its failing checks
// take it down again.
func TestSetServerHealthUp(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{Backends: []testBackend{
		{Name: "web_blue", Servers: []testServer{{Name: "s1", Addr: "127.0.0.1:9", Check: true}}},
	}})
	c := h.admin(t)
	ctx := context.Background()
	status := func() string {
		r, err := c.ServerStat(ctx, "web_blue", "s1")
		if err != nil {
			t.Fatalf("ServerStat: %v", err)
		}
		return r.Status
	}
	waitFor(t, "blue DOWN", func() (bool, string) { s := status(); return s == "DOWN", s })
	if err := c.SetServerHealthUp(ctx, "web_blue", "s1"); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != "UP" && s != "UP 1/2" {
		t.Fatalf("after health up: %q, want UP", s)
	}
	waitFor(t, "its checks take it DOWN again", func() (bool, string) { s := status(); return s == "DOWN", s })
	if err := c.SetServerHealthUp(ctx, "web_blue", "nope"); !errors.Is(err, ErrUnknownServer) {
		t.Fatalf("unknown server: %v", err)
	}
}
