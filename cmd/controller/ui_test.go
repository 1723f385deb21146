package main

import (
	"strings"
	"testing"
)

func TestCheckUIListen(t *testing.T) {
	for _, c := range []struct {
		addr, tokens string
		refused      string
	}{
		{"127.0.0.1:9465", "", ""},
		{"[::1]:9465", "", ""},
		{"localhost:9465", "", ""},
		{"0.0.0.0:9465", "", "0.0.0.0 is not a loopback address: give --ui-token-file too"},
		{":9465", "", "every address of the host is not a loopback address"},
		{"192.0.2.10:9465", "", "not a loopback address"},
		{"ui.example:9465", "", "not a loopback address"},
		{"0.0.0.0:9465", "/etc/bluegreen/ui-tokens", ""},
		{"9465", "", "want HOST:PORT"},
	} {
		err := checkUIListen(c.addr, c.tokens)
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("checkUIListen(%q, %q) = %v, want it accepted", c.addr, c.tokens, err)
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)):
			t.Errorf("checkUIListen(%q, %q) = %v, want %q", c.addr, c.tokens, err, c.refused)
		}
	}
}
