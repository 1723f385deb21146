package haproxy

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"testing"
)

// TestReadsOfOneBackend: StatOf and ServersStateOf give the rows of one
// backend, the same as the full reads filtered to it, and none for a
// backend HAProxy does not have (not another proxy's rows, not an error).
// A backend's rows include its own ("BACKEND"), even with no servers: the
// controller knows from it that the backend exists.
func TestReadsOfOneBackend(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{Backends: []testBackend{
		{Name: "web_blue", Servers: []testServer{{Name: "a", Addr: freeAddr(t)}, {Name: "b", Addr: freeAddr(t)}}},
		{Name: "web_green", Servers: []testServer{{Name: "a", Addr: freeAddr(t)}}},
		{Name: "web_empty"},
	}})
	ctx := context.Background()
	c := h.admin(t)
	all, err := c.ShowStat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	states, err := c.ServersState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"web_blue", "web_green", "web_empty", "nosuch", "1"} {
		rows, err := c.StatOf(ctx, b)
		if err != nil {
			t.Fatalf("StatOf(%s): %v", b, err)
		}
		exists := b != "nosuch" && b != "1"
		if own := slices.ContainsFunc(rows, func(r StatRow) bool { return r.Server == "BACKEND" }); own != exists {
			t.Errorf("StatOf(%s) has a BACKEND row: %v, want %v", b, own, exists)
		}
		var got, want []string
		for _, r := range rows {
			got = append(got, r.Proxy+"/"+r.Server+" "+r.Status)
		}
		for _, r := range all {
			if r.Proxy == b && r.Server != "FRONTEND" {
				want = append(want, r.Proxy+"/"+r.Server+" "+r.Status)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("StatOf(%s) = %q, want %q", b, got, want)
		}
		st, err := c.ServersStateOf(ctx, b)
		if err != nil {
			t.Fatalf("ServersStateOf(%s): %v", b, err)
		}
		got, want = nil, nil
		for _, s := range st {
			got = append(got, s.Backend+"/"+s.Server)
		}
		for _, s := range states {
			if s.Backend == b {
				want = append(want, s.Backend+"/"+s.Server)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ServersStateOf(%s) = %q, want %q", b, got, want)
		}
	}
}
