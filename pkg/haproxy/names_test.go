package haproxy

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // substring naming the bad character; "" means valid
	}{
		{"backend", "web_blue", ""},
		{"host", "app.example.com", ""},
		{"host with port", "app.example.com:8080", ""},
		{"path key", "/api/v1", ""},
		{"unicode", "café.example", ""},
		{"empty", "", "is empty"},
		{"semicolon", "web;show info", "semicolon"},
		{"newline", "web\nshow info", "line feed"},
		{"carriage return", "web\r", "carriage return"},
		{"space", "web blue", "space"},
		{"tab", "web\tblue", "tab"},
		{"backslash", `web\ blue`, "backslash"},
		{"payload marker", "web<<", "'<'"},
		{"hash", "#1", "'#'"},
		{"NUL", "web\x00", "NUL"},
		{"DEL", "web\x7f", "U+007F"},
		{"non-breaking space", "web\u00a0blue", "U+00A0"},
		{"invalid UTF-8", "web\xff", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateName(%q) = nil, want an error mentioning %q", tt.in, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ValidateName(%q) = %q, want it to mention %q", tt.in, err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("ValidateName(%q): errors.Is(err, ErrInvalidName) = false", tt.in)
			}
		})
	}
}

func TestValidatePath(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"/etc/haproxy/hosts.map", ""},
		{"/run/bluegreen/maps/web-1.map", ""},
		{"hosts.map", "not absolute"},
		{"etc/haproxy/hosts.map", "not absolute"},
		{"", "is empty"},
		{"/etc/haproxy/my hosts.map", "space"},
		{"/etc/haproxy/hosts.map;clear map /x", "semicolon"},
		{"/etc/haproxy/hosts.map\n", "line feed"},
		{"/etc/haproxy/h#.map", "'#'"},
		{"#2", "'#'"},
	}
	for _, tt := range tests {
		err := ValidatePath(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ValidatePath(%q) = %v, want nil", tt.in, err)
		case tt.wantErr != "" && err == nil:
			t.Errorf("ValidatePath(%q) = nil, want an error mentioning %q", tt.in, tt.wantErr)
		case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
			t.Errorf("ValidatePath(%q) = %q, want it to mention %q", tt.in, err, tt.wantErr)
		case tt.wantErr != "" && !errors.Is(err, ErrInvalidName):
			t.Errorf("ValidatePath(%q): errors.Is(err, ErrInvalidName) = false", tt.in)
		}
	}
}
