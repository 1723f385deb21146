package haproxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bluegreen-host/controller/pkg/haproxy/names"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrUnreachable: nothing answered at the runtime API address (socket
	// file absent, connection refused, no connection within the deadline).
	ErrUnreachable = errors.New("HAProxy runtime API unreachable")
	// ErrEntryNotFound: HAProxy answered "entry not found." (set map) or
	// "Key not found." (del map).
	ErrEntryNotFound = errors.New("map entry not found")
	// ErrUnknownMap: HAProxy answered "Unknown map identifier. Please use
	// #<id> or <file>.": the map path is not spelled as in haproxy.cfg.
	ErrUnknownMap = errors.New("unknown map")
	// ErrUnknownBackend: HAProxy answered "No such backend." (set server),
	// "Can't find backend." (show servers conn) or "No such proxy." (show
	// stat), or the stats list no such backend.
	ErrUnknownBackend = errors.New("unknown backend")
	// ErrUnknownServer: HAProxy answered "No such server." (set server), or
	// the stats list no such server in the backend.
	ErrUnknownServer = errors.New("unknown server")
	// ErrPermission: HAProxy answered "Permission denied": the stats socket's
	// level is too low for the command.
	ErrPermission = errors.New("permission denied by HAProxy")
	// ErrUnknownCommand: HAProxy does not know the command. HAProxy 2.6
	// reports it at severity 6 ("[6]: Unknown command, but maybe one of the
	// following ones is a better match:"), yet it is a failure.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrInvalidName: a map path, key, value, backend or server name that
	// cannot be passed to the runtime API safely (names.ErrInvalidName).
	ErrInvalidName = names.ErrInvalidName
	// ErrNoAnswer: HAProxy closed the connection without answering, as it
	// does with a line longer than its buffer: the command was not run.
	ErrNoAnswer = errors.New("no answer from HAProxy")
	// ErrNotApplied: HAProxy accepted a change, but reading it back shows
	// another value.
	ErrNotApplied = errors.New("change not applied")
)

// CommandError is a failure answer from HAProxy to one command.
type CommandError struct {
	Addr     string // runtime API address, as given to New
	Command  string // the command, without the severity-output prefix
	Severity int    // 0-7 as in "[3]: ..."; 0-3 are failures
	Answer   string // HAProxy's answer without the "[N]: " prefix
}

// answerKinds maps answer texts measured on HAProxy 2.6.12 to sentinels and
// to what an operator should check.
var answerKinds = []struct {
	contains string
	err      error
	hint     string
}{
	{"Unknown map identifier", ErrUnknownMap, "check that the map path matches haproxy.cfg exactly"},
	{"entry not found", ErrEntryNotFound, "the key is not in the map; add it instead"},
	{"Key not found", ErrEntryNotFound, "the key is not in the map"},
	{"No such backend", ErrUnknownBackend, "check the backend name against haproxy.cfg (show backend lists them)"},
	{"Can't find backend", ErrUnknownBackend, "check the backend name against haproxy.cfg (show backend lists them)"},
	{"No such proxy", ErrUnknownBackend, "check the backend name against haproxy.cfg (show backend lists them)"},
	{"No such server", ErrUnknownServer, "check the server name in that backend of haproxy.cfg"},
	{"Permission denied", ErrPermission, "this stats socket's level is too low; use one declared with \"level admin\""},
	{"Unknown command", ErrUnknownCommand, "this HAProxy version does not know the command"},
}

// kind is the hint and the sentinel error of the answer, if known.
func (e *CommandError) kind() (hint string, err error) {
	for _, k := range answerKinds {
		if strings.Contains(e.Answer, k.contains) {
			return k.hint, k.err
		}
	}
	return "", nil
}

// Error says which command failed against which address, what HAProxy
// answered and, when known, what to check.
func (e *CommandError) Error() string {
	first, _, _ := strings.Cut(e.Answer, "\n")
	first = strings.TrimSuffix(strings.TrimSpace(first), ":")
	msg := fmt.Sprintf("%s on %s: HAProxy answered %q", e.Command, e.Addr, first)
	if hint, _ := e.kind(); hint != "" {
		msg += ": " + hint
	}
	return msg
}

// Is reports whether the answer is one of the sentinel errors.
func (e *CommandError) Is(target error) bool {
	_, err := e.kind()
	return err != nil && err == target
}

// NameError is a name or path refused before it reaches HAProxy, by one of
// the rules of package names.
type NameError = names.NameError
