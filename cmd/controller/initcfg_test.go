package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestStatsSocketLineForEachAddress: the "stats socket" line init writes
// for a unix socket, an IPv4 and an IPv6 loopback address is one that
// HAProxy accepts (an IPv6 address written as ipv4@ is refused).
func TestStatsSocketLineForEachAddress(t *testing.T) {
	dir := t.TempDir()
	for i, tc := range []struct{ runtime, want string }{
		{"unix://" + filepath.Join(dir, "admin.sock"), "stats socket " + filepath.Join(dir, "admin.sock") + " mode 600 level admin"},
		{"tcp://127.0.0.1:29997", "stats socket ipv4@127.0.0.1:29997 level admin"},
		{"tcp://[::1]:29996", "stats socket ipv6@[::1]:29996 level admin"},
	} {
		line, err := cfgStatsSocket(tc.runtime)
		if err != nil || line != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.runtime, line, err, tc.want)
			continue
		}
		cfg := writeTemp(t, dir, strings.Repeat("x", i+1)+".cfg", "global\n    "+line+"\ndefaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n")
		haproxyCheck(t, cfg)
	}
}
