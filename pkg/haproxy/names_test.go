package haproxy

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// nameCase is one value for a name rule: wantErr is "" when the value is
// valid, else a part of the error that names the bad character or the
// reason.
type nameCase struct {
	name    string
	in      string
	wantErr string
}

func checkNameCases(t *testing.T, fn string, validate func(string) error, tests []nameCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("%s(%q) = %v, want nil", fn, tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s(%q) = nil, want an error mentioning %q", fn, tt.in, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s(%q) = %q, want it to mention %q", fn, tt.in, err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("%s(%q): errors.Is(err, ErrInvalidName) = false", fn, tt.in)
			}
		})
	}
}

// proxyNameCases hold for backend names, server names and map values,
// which share haproxy.cfg's rule.
var proxyNameCases = []nameCase{
	{"backend", "web_blue", ""},
	{"every allowed punctuation", "a-b.c:d_e", ""},
	{"digits and capitals", "Web2_BLUE", ""},
	{"255 bytes", strings.Repeat("b", 255), ""},
	{"256 bytes", strings.Repeat("b", 256), "is 256 bytes long: at most 255"},
	{"empty", "", "is empty"},
	{"at sign", "web@blue", "'@' (byte 3): haproxy.cfg allows only ASCII letters, digits, '_', '.', ':' and '-'"},
	{"plus", "web+blue", "'+' (byte 3)"},
	{"slash", "web/blue", "separator of <backend>/<server>"},
	{"semicolon", "web;show info", "a semicolon (byte 3)"},
	{"space", "web blue", "a space (byte 3)"},
	{"tab", "web\tblue", "a tab (U+0009)"},
	{"newline", "web\nshow info", "a line feed (U+000A)"},
	{"hash", "#1", "'#' (byte 0)"},
	{"backslash", `web\blue`, "a backslash"},
	{"less than", "web<<", "'<'"},
	{"non-ASCII", "café", "'é' (U+00E9) (byte 3)"},
	{"NUL", "web\x00", "a NUL byte"},
	{"invalid UTF-8", "web\xff", "UTF-8"},
}

func TestValidateBackendName(t *testing.T) {
	checkNameCases(t, "ValidateBackendName", ValidateBackendName, proxyNameCases)
	if err := ValidateBackendName("web@blue"); err == nil || !strings.Contains(err.Error(), `invalid backend name "web@blue"`) {
		t.Errorf("ValidateBackendName(web@blue) = %v, want it to say it is a backend name", err)
	}
}

func TestValidateServerName(t *testing.T) {
	checkNameCases(t, "ValidateServerName", ValidateServerName, proxyNameCases)
	if err := ValidateServerName("s@1"); err == nil || !strings.Contains(err.Error(), `invalid server name "s@1"`) || !strings.Contains(err.Error(), "in a server name") {
		t.Errorf("ValidateServerName(s@1) = %v, want it to give the rule of server names", err)
	}
}

func TestValidateMapValue(t *testing.T) {
	checkNameCases(t, "ValidateMapValue", ValidateMapValue, proxyNameCases)
	if err := ValidateMapValue("web blue"); err == nil || !strings.Contains(err.Error(), `invalid map value "web blue"`) || !strings.Contains(err.Error(), "in a backend name") {
		t.Errorf("ValidateMapValue(web blue) = %v, want it to say a map value is a backend name", err)
	}
}

func TestValidateMapKey(t *testing.T) {
	checkNameCases(t, "ValidateMapKey", ValidateMapKey, []nameCase{
		{"backend-like", "web_blue", ""},
		{"host", "app.example.com", ""},
		{"host with port", "app.example.com:8080", ""},
		{"path key", "/api/v1", ""},
		{"at sign", "user@example.com", ""},
		{"punctuation HAProxy keeps", "a+b%20c~d=e&f?g*h'i\"j", ""},
		{"unicode", "café.example", ""},
		{"255 bytes", strings.Repeat("k", 255), ""},
		{"256 bytes", strings.Repeat("k", 256), "is 256 bytes long: at most 255"},
		{"empty", "", "is empty"},
		{"semicolon", "web;show info", "a semicolon (byte 3), which the runtime API reads as the start of another command"},
		{"newline", "web\nshow info", "a line feed (U+000A) (byte 3), which ends the runtime API command"},
		{"carriage return", "web\r", "carriage return"},
		{"space", "web blue", "a space (byte 3), which the runtime API splits arguments on"},
		{"tab", "web\tblue", "a tab (U+0009)"},
		{"backslash", `web\ blue`, "a backslash (byte 3), which the runtime API reads as an escape"},
		{"payload marker", "web<<", "'<' (byte 3), and a line ending in \"<<\""},
		{"hash", "#1", "'#' (byte 0), which starts a comment"},
		{"NUL", "web\x00", "a NUL byte (U+0000)"},
		{"DEL", "web\x7f", "the non-printable character U+007F"},
		{"non-breaking space", "web\u00a0blue", "white space U+00A0"},
		{"invalid UTF-8", "web\xff", "is not valid UTF-8"},
	})
}

func TestValidateMapPath(t *testing.T) {
	checkNameCases(t, "ValidateMapPath", ValidateMapPath, []nameCase{
		{"etc", "/etc/haproxy/hosts.map", ""},
		{"run", "/run/bluegreen/maps/web-1.map", ""},
		{"two dots in a file name", "/etc/haproxy/hosts..map", ""},
		{"double slash", "/etc/haproxy//hosts.map", ""},
		{"255 bytes", "/" + strings.Repeat("m", 254), ""},
		{"256 bytes", "/" + strings.Repeat("m", 255), "is 256 bytes long: at most 255"},
		{"relative", "hosts.map", "is not absolute"},
		{"relative with a directory", "etc/haproxy/hosts.map", "is not absolute"},
		{"dot-dot element", "/etc/haproxy/../passwd", `contains a ".." element`},
		{"trailing dot-dot", "/etc/haproxy/..", `contains a ".." element`},
		{"empty", "", "is empty"},
		{"space", "/etc/haproxy/my hosts.map", "a space (byte 15)"},
		{"semicolon", "/etc/haproxy/hosts.map;clear map /x", "a semicolon"},
		{"newline", "/etc/haproxy/hosts.map\n", "a line feed"},
		{"hash", "/etc/haproxy/h#.map", "'#'"},
		{"map id", "#2", "'#'"},
		{"less than", "/etc/haproxy/h<<", "'<'"},
		{"backslash", `/etc/haproxy\hosts.map`, "a backslash"},
	})
}

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
			if got := ValidateBackendName(backend); (got != nil) != refusedBackend {
				t.Errorf("backend %q: ValidateBackendName = %v, HAProxy refuses it: %v", backend, got, refusedBackend)
			}
			if got := ValidateServerName(server); (got != nil) != refusedServer {
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
		if k := "k" + string(r) + "x"; ValidateMapKey(k) == nil {
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
