package haproxy

import (
	"errors"
	"strings"
	"testing"
)

// The answers are the texts HAProxy 2.6.12 gives (after "[3]: ").
func TestCommandErrorIs(t *testing.T) {
	tests := []struct {
		answer string
		want   error
		hint   string
	}{
		{"Unknown map identifier. Please use #<id> or <file>.", ErrUnknownMap, "matches haproxy.cfg exactly"},
		{"entry not found.", ErrEntryNotFound, "not in the map"},
		{"Key not found.", ErrEntryNotFound, "not in the map"},
		{"No such backend.", ErrUnknownBackend, "backend name"},
		{"Can't find backend.", ErrUnknownBackend, "backend name"},
		{"No such proxy.", ErrUnknownBackend, "backend name"},
		{"No such server.", ErrUnknownServer, "server name"},
		{"Permission denied", ErrPermission, "level admin"},
		{"Unknown command, but maybe one of the following ones is a better match:\n  add map ...", ErrUnknownCommand, "does not know"},
		{"'set server <srv> state' expects 'ready', 'drain' and 'maint'.", nil, ""},
	}
	sentinels := []error{ErrUnreachable, ErrEntryNotFound, ErrUnknownMap, ErrUnknownBackend, ErrUnknownServer, ErrPermission, ErrUnknownCommand, ErrInvalidName}
	for _, tt := range tests {
		err := error(&CommandError{Addr: "unix:///run/haproxy.sock", Command: "set map /etc/haproxy/hosts.map web x", Severity: 3, Answer: tt.answer})
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == tt.want) {
				t.Errorf("answer %q: errors.Is(err, %v) = %v", tt.answer, s, got)
			}
		}
		msg := err.Error()
		for _, want := range []string{"set map /etc/haproxy/hosts.map web x", "unix:///run/haproxy.sock", "HAProxy answered", tt.hint} {
			if !strings.Contains(msg, want) {
				t.Errorf("answer %q: Error() = %q, want it to contain %q", tt.answer, msg, want)
			}
		}
	}
}

func TestCommandErrorMessage(t *testing.T) {
	err := &CommandError{Addr: "unix:///run/haproxy.sock", Command: "set map /etc/haproxy/hosts.map web web_green", Severity: 3, Answer: "Unknown map identifier. Please use #<id> or <file>."}
	want := `set map /etc/haproxy/hosts.map web web_green on unix:///run/haproxy.sock: HAProxy answered "Unknown map identifier. Please use #<id> or <file>.": check that the map path matches haproxy.cfg exactly`
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}
