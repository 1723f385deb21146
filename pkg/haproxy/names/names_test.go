package names

import (
	"errors"
	"fmt"
	"strings"
	"testing"
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

func TestParseRuntimeAddr(t *testing.T) {
	tests := []struct {
		addr             string
		network, address string
		wantErr          string // part of the error; "" means valid
	}{
		{"unix:///run/haproxy/admin.sock", "unix", "/run/haproxy/admin.sock", ""},
		{"unix:///run/haproxy@1/admin+x.sock", "unix", "/run/haproxy@1/admin+x.sock", ""},
		{"tcp://127.0.0.1:9999", "tcp", "127.0.0.1:9999", ""},
		{"tcp://[::1]:9999", "tcp", "[::1]:9999", ""},
		{"tcp://localhost:1", "tcp", "localhost:1", ""},
		{"tcp://localhost:65535", "tcp", "localhost:65535", ""},
		{"", "", "", "want unix:///absolute/path or tcp://host:port"},
		{"/run/haproxy.sock", "", "", "want unix:///absolute/path or tcp://host:port"},
		{"http://127.0.0.1:9999", "", "", "want unix:///absolute/path or tcp://host:port"},
		{"UNIX:///run/haproxy.sock", "", "", "want unix:///absolute/path or tcp://host:port"},
		{"unix://run/haproxy.sock", "", "", "the socket path must be absolute, as in unix:///run/haproxy/admin.sock"},
		{"unix://", "", "", "the socket path must be absolute"},
		{"unix:///run/haproxy.sock;x", "", "", "contains a semicolon (byte 24)"},
		{"unix:///run/my haproxy.sock", "", "", "contains a space (byte 14)"},
		{"unix:///run/haproxy.sock\n", "", "", "a line feed (U+000A)"},
		{"unix:///run/\thaproxy.sock", "", "", "a tab (U+0009)"},
		{"unix:///run/haproxy.sock\x00", "", "", "a NUL byte (U+0000)"},
		{"tcp://127.0.0.1", "", "", "want tcp://host:port, as in tcp://127.0.0.1:9999"},
		{"tcp://:9999", "", "", "the host is empty; write tcp://127.0.0.1:9999"},
		{"tcp://127.0.0.1:http", "", "", `port "http" is not a number between 1 and 65535`},
		{"tcp://127.0.0.1:0", "", "", `port "0" is not a number between 1 and 65535`},
		{"tcp://127.0.0.1:70000", "", "", `port "70000" is not a number between 1 and 65535`},
		{"tcp://127.0.0.1:9999/x", "", "", `port "9999/x" is not a number`},
	}
	for _, tt := range tests {
		network, address, err := ParseRuntimeAddr(tt.addr)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), fmt.Sprintf("use HAProxy runtime API address %q: ", tt.addr)) {
				t.Errorf("ParseRuntimeAddr(%q) = %v, want an error naming the address and mentioning %q", tt.addr, err, tt.wantErr)
			}
			continue
		}
		if err != nil || network != tt.network || address != tt.address {
			t.Errorf("ParseRuntimeAddr(%q) = %q, %q, %v, want %q, %q", tt.addr, network, address, err, tt.network, tt.address)
		}
	}
}
