package haproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseShowMap(t *testing.T) {
	got, err := parseShowMap("0x55b265ee2550 web web_blue\n0x55b2660b9bd0 a b v3\n0x7fa74004c090 k\n\n")
	if err != nil {
		t.Fatalf("parseShowMap: %v", err)
	}
	want := []MapEntry{{"web", "web_blue"}, {"a", "b v3"}, {"k", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseShowMap = %q, want %q", got, want)
	}
	if _, err := parseShowMap("0x55b265ee2550\n"); err == nil {
		t.Errorf("parseShowMap of a line without key: no error")
	}
}

const testMap = "# hosts\nweb web_blue\n\napi web_green\n"

func TestShowMapAndGetMap(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{Map: testMap})
	ctx := context.Background()
	for _, c := range []*Client{h.admin(t), h.user(t), h.tcp(t)} {
		got, err := c.ShowMap(ctx, h.MapPath)
		if err != nil {
			t.Fatalf("ShowMap on %s: %v", c.Addr(), err)
		}
		if want := []MapEntry{{"web", "web_blue"}, {"api", "web_green"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("ShowMap on %s = %q, want %q", c.Addr(), got, want)
		}
		for _, tt := range []struct {
			key, value string
			found      bool
		}{{"web", "web_blue", true}, {"api", "web_green", true}, {"we", "", false}, {"web2", "", false}} {
			v, found, err := c.GetMap(ctx, h.MapPath, tt.key)
			if err != nil || v != tt.value || found != tt.found {
				t.Errorf("GetMap(%s) on %s = %q, %v, %v; want %q, %v, nil", tt.key, c.Addr(), v, found, err, tt.value, tt.found)
			}
		}
	}
}

func TestSetMap(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{Map: testMap})
	ctx := context.Background()
	for _, c := range []*Client{h.admin(t), h.user(t), h.tcp(t)} {
		// Existing key: changed in place.
		if err := c.SetMap(ctx, h.MapPath, "web", "web_green"); err != nil {
			t.Fatalf("SetMap(web) on %s: %v", c.Addr(), err)
		}
		// Missing key: "entry not found." then added.
		newKey := "new-" + strings.SplitN(c.Addr(), ":", 2)[0] + ".example.com"
		if err := c.SetMap(ctx, h.MapPath, newKey, "web_blue"); err != nil {
			t.Fatalf("SetMap(%s) on %s: %v", newKey, c.Addr(), err)
		}
		// Setting it again must not add a duplicate.
		if err := c.SetMap(ctx, h.MapPath, newKey, "web_green"); err != nil {
			t.Fatalf("SetMap(%s) again on %s: %v", newKey, c.Addr(), err)
		}
		entries, err := c.ShowMap(ctx, h.MapPath)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		values := map[string]string{}
		for _, e := range entries {
			count[e.Key]++
			values[e.Key] = e.Value
		}
		if count["web"] != 1 || values["web"] != "web_green" || count[newKey] != 1 || values[newKey] != "web_green" || values["api"] != "web_green" {
			t.Errorf("after SetMap on %s: %q", c.Addr(), entries)
		}
		if err := c.SetMap(ctx, h.MapPath, "web", "web_blue"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAddMap(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{Map: testMap})
	ctx := context.Background()
	c := h.admin(t)
	if err := c.AddMap(ctx, h.MapPath, "shop.example.com", "web_green"); err != nil {
		t.Fatalf("AddMap: %v", err)
	}
	// HAProxy does not check duplicates; lookups see the first entry.
	if err := c.AddMap(ctx, h.MapPath, "web", "web_green"); err != nil {
		t.Fatalf("AddMap(duplicate): %v", err)
	}
	got, err := c.ShowMap(ctx, h.MapPath)
	if err != nil {
		t.Fatal(err)
	}
	want := []MapEntry{{"web", "web_blue"}, {"api", "web_green"}, {"shop.example.com", "web_green"}, {"web", "web_green"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ShowMap = %q, want %q", got, want)
	}
	if v, _, _ := c.GetMap(ctx, h.MapPath, "web"); v != "web_blue" {
		t.Errorf("GetMap(web) = %q, want the first entry web_blue", v)
	}
}

func TestMapUnknownPath(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{Map: testMap})
	ctx := context.Background()
	c := h.admin(t)
	absent := filepath.Join(h.Dir, "other.map")
	for _, p := range []string{absent, h.MapPath + "x", h.Dir + "/./hosts.map"} {
		_, err := c.ShowMap(ctx, p)
		assertCommandError(t, err, ErrUnknownMap, "show map "+p, "Unknown map identifier. Please use #<id> or <file>.")
		_, _, err = c.GetMap(ctx, p, "web")
		assertCommandError(t, err, ErrUnknownMap, "show map "+p, "Unknown map identifier. Please use #<id> or <file>.")
		err = c.SetMap(ctx, p, "web", "web_green")
		assertCommandError(t, err, ErrUnknownMap, "set map "+p+" web web_green", "Unknown map identifier. Please use #<id> or <file>.")
		err = c.AddMap(ctx, p, "web", "web_green")
		assertCommandError(t, err, ErrUnknownMap, "add map "+p+" web web_green", "Unknown map identifier. Please use #<id> or <file>.")
		if err != nil && !strings.Contains(err.Error(), "check that the map path matches haproxy.cfg exactly") {
			t.Errorf("error %q gives no hint", err)
		}
	}
	// A bare file name never reaches HAProxy.
	if _, err := c.ShowMap(ctx, "hosts.map"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("ShowMap(hosts.map) = %v, want ErrInvalidName", err)
	}
	if err := c.SetMap(ctx, h.MapPath, "web", "web_green;clear map "+h.MapPath); !errors.Is(err, ErrInvalidName) {
		t.Errorf("SetMap with ';' = %v, want ErrInvalidName", err)
	}
	if v, _, _ := c.GetMap(ctx, h.MapPath, "web"); v != "web_blue" {
		t.Errorf("a refused command changed the map: web = %q", v)
	}
}

// TestSetMapRoutesTraffic checks that SetMap switches the backend that
// answers, per request, even on a kept-alive client connection.
func TestSetMapRoutesTraffic(t *testing.T) {
	t.Parallel()
	backend := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
		t.Cleanup(s.Close)
		return s
	}
	blue, green := backend("blue"), backend("green")
	h := startHAProxy(t, haproxyOptions{
		Map: "web web_blue\n",
		Backends: []testBackend{
			{Name: "web_blue", Servers: []testServer{{Name: "s1", Addr: blue.Listener.Addr().String()}}},
			{Name: "web_green", Servers: []testServer{{Name: "s1", Addr: green.Listener.Addr().String()}}},
			{Name: "web_default", Servers: []testServer{{Name: "s1", Addr: freeAddr(t)}}},
		},
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	reused := 0
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			reused++
		}
	}}
	get := func() string {
		t.Helper()
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+h.FrontendAddr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET through HAProxy: %v", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	c := h.admin(t)
	ctx := context.Background()
	if got := get(); got != "blue" {
		t.Fatalf("before SetMap: answered by %q, want blue", got)
	}
	for _, tt := range []struct{ value, want string }{{"web_green", "green"}, {"web_blue", "blue"}, {"web_green", "green"}} {
		if err := c.SetMap(ctx, h.MapPath, "web", tt.value); err != nil {
			t.Fatalf("SetMap(web, %s): %v", tt.value, err)
		}
		for i := 0; i < 3; i++ {
			if got := get(); got != tt.want {
				t.Fatalf("after SetMap(web, %s): request %d answered by %q, want %s", tt.value, i, got, tt.want)
			}
		}
	}
	if reused != 9 {
		t.Errorf("%d of 9 requests after the first reused its connection, want all: the per-request switch was not shown", reused)
	}
}
