package haproxy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/haproxy/names"
)

// TestProxyNameRuleIsHAProxys runs every printable ASCII character, and a
// letter outside ASCII, in a backend and a server name through HAProxy's own
// config check ("haproxy -c") and requires the same verdict from
// ValidateBackendName and ValidateServerName.
func TestProxyNameRuleIsHAProxys(t *testing.T) {
	bin := testenv.RequireBinary(t, "haproxy", "apt-get install -y haproxy")
	dir := t.TempDir()
	chars := []rune{'é'}
	for r := rune(0x20); r < 0x7f; r++ {
		chars = append(chars, r)
	}
	// HAProxy stops after 50 errors: 20 characters, so at most 40, a run.
	for len(chars) > 0 {
		batch := chars[:min(20, len(chars))]
		chars = chars[len(batch):]
		var cfg strings.Builder
		cfg.WriteString("defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n")
		for _, r := range batch {
			q := "'" // haproxy.cfg takes anything but ' between ' and '
			if r == '\'' {
				q = `"`
			}
			fmt.Fprintf(&cfg, "backend %sa%cb%s\n  server %ss%cx%s 127.0.0.1:9\n", q, r, q, q, r, q)
		}
		file := filepath.Join(dir, fmt.Sprintf("%d.cfg", batch[0]))
		if err := os.WriteFile(file, []byte(cfg.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command(bin, "-c", "-f", file).CombinedOutput()
		refusals := 0
		for _, r := range batch {
			backend, server := "a"+string(r)+"b", "s"+string(r)+"x"
			refusedBackend := strings.Contains(string(out), "in 'backend' name '"+backend+"'")
			refusedServer := strings.Contains(string(out), "in server name '"+server+"'")
			if got := names.ValidateBackendName(backend); (got != nil) != refusedBackend {
				t.Errorf("backend %q: ValidateBackendName = %v, HAProxy refuses it: %v", backend, got, refusedBackend)
			}
			if got := names.ValidateServerName(server); (got != nil) != refusedServer {
				t.Errorf("server %q: ValidateServerName = %v, HAProxy refuses it: %v", server, got, refusedServer)
			}
			if refusedBackend {
				refusals++
			}
			if refusedServer {
				refusals++
			}
		}
		// Nothing else may have failed: the verdicts above are HAProxy's
		// word on the names and nothing else.
		if n := strings.Count(string(out), "is not permitted in"); n != refusals || refusals == 0 && !strings.Contains(string(out), "has no error") {
			t.Fatalf("haproxy -c refused %d names, of which %d were found by name:\n%s", n, refusals, out)
		}
	}
}

// TestMapKeysReachHAProxyUnchanged: every key ValidateMapKey accepts that
// holds a printable ASCII character, or letters outside ASCII, is stored by
// HAProxy as it is, both through the runtime API and from the map file that
// WriteMapFile writes.
func TestMapKeysReachHAProxyUnchanged(t *testing.T) {
	keys := []string{"café.example", "ключ", "/path/ü"}
	for r := rune(0x21); r < 0x7f; r++ {
		if k := "k" + string(r) + "x"; names.ValidateMapKey(k) == nil {
			keys = append(keys, k)
		}
	}
	// From the map file, as HAProxy loads it at start.
	mapFile := filepath.Join(t.TempDir(), "keys.map")
	for _, k := range keys {
		if err := WriteMapFile(mapFile, k, "web_blue"); err != nil {
			t.Fatalf("WriteMapFile key %q: %v", k, err)
		}
	}
	text, err := os.ReadFile(mapFile)
	if err != nil {
		t.Fatal(err)
	}
	h := startHAProxy(t, haproxyOptions{Map: string(text)})
	c := h.admin(t)
	ctx := t.Context()
	entries, err := c.ShowMap(ctx, h.MapPath)
	if err != nil {
		t.Fatal(err)
	}
	loaded := map[string]string{}
	for _, e := range entries {
		loaded[e.Key] = e.Value
	}
	for _, k := range keys {
		if v, ok := loaded[k]; !ok || v != "web_blue" {
			t.Errorf("key %q from the map file: HAProxy loaded %q (found: %v)", k, v, ok)
		}
	}
	if len(entries) != len(keys) {
		t.Errorf("HAProxy loaded %d entries from a map file of %d keys: %v", len(entries), len(keys), entries)
	}
	// Through the runtime API.
	for _, k := range keys {
		if err := c.SetMap(ctx, h.MapPath, k, "web_green"); err != nil {
			t.Errorf("SetMap key %q: %v", k, err)
		}
	}
}
