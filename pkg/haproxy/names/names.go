// Package names is the one home of the rules for what reaches HAProxy's
// runtime API: one rule for each kind of name, and the runtime API's
// address. The client (pkg/haproxy) checks its arguments with them and
// pkg/spec validates the desired state with them, so the desired state is
// refused up front with exactly what a command would be refused with. Each
// name error is a *NameError, which wraps ErrInvalidName and names the bad
// character and why HAProxy cannot take it. It does no I/O: the planner's
// dependencies include it.
package names

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidName: a map path, key, value, backend or server name that
// cannot be passed to the runtime API safely. Retrying will not help.
var ErrInvalidName = errors.New("invalid name")

// NameError is a name or path refused before it reaches HAProxy, by one of
// the rules of this package.
type NameError struct {
	What   string // "backend name", "server name", "map key", "map value" or "map path"
	Value  string
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.What, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidName) true.
func (e *NameError) Is(target error) bool { return target == ErrInvalidName }

// Clip shortens text quoted in an error.
func Clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// ParseRuntimeAddr parses a runtime API address, as the "stats socket"
// line of haproxy.cfg gives it: unix:///absolute/path or tcp://host:port.
// The path may not hold a NUL byte, white space or ';' (an address with
// those is two things pasted together, or a path no socket has); the port
// must be 1 to 65535. The error says what to write instead.
func ParseRuntimeAddr(addr string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(addr, "unix://"):
		path := strings.TrimPrefix(addr, "unix://")
		if !strings.HasPrefix(path, "/") {
			return "", "", fmt.Errorf("use HAProxy runtime API address %q: the socket path must be absolute, as in unix:///run/haproxy/admin.sock", addr)
		}
		if i := strings.IndexAny(path, "\x00 \t\r\n;"); i >= 0 {
			r, _ := utf8.DecodeRuneInString(path[i:])
			return "", "", fmt.Errorf("use HAProxy runtime API address %q: the socket path contains %s (byte %d): write the path of the \"stats socket\" line of haproxy.cfg alone, as in unix:///run/haproxy/admin.sock", addr, describeRune(r), len("unix://")+i)
		}
		return "unix", path, nil
	case strings.HasPrefix(addr, "tcp://"):
		hostPort := strings.TrimPrefix(addr, "tcp://")
		host, port, err := splitHostPort(hostPort)
		if err != nil {
			return "", "", fmt.Errorf("use HAProxy runtime API address %q: want tcp://host:port, as in tcp://127.0.0.1:9999: %v", addr, err)
		}
		if host == "" {
			return "", "", fmt.Errorf("use HAProxy runtime API address %q: the host is empty; write tcp://127.0.0.1:%s", addr, port)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("use HAProxy runtime API address %q: port %q is not a number between 1 and 65535", addr, port)
		}
		return "tcp", hostPort, nil
	}
	return "", "", fmt.Errorf("use HAProxy runtime API address %q: want unix:///absolute/path or tcp://host:port", addr)
}

// splitHostPort splits "host:port" or "[host]:port" (an IPv6 address) as
// net.SplitHostPort does, without the net package: the planner's
// dependencies hold no networking code.
func splitHostPort(hostPort string) (host, port string, err error) {
	i := strings.LastIndexByte(hostPort, ':')
	if i < 0 {
		return "", "", fmt.Errorf("address %s: missing port in address", hostPort)
	}
	host, port = hostPort[:i], hostPort[i+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return "", "", fmt.Errorf("address %s: missing ']' in address", hostPort)
		}
		host = host[1 : len(host)-1]
	} else if strings.ContainsAny(host, ":[]") {
		return "", "", fmt.Errorf("address %s: too many colons in address", hostPort)
	}
	if strings.ContainsAny(port, "[]") {
		return "", "", fmt.Errorf("address %s: unexpected bracket in port", hostPort)
	}
	return host, port, nil
}

// MaxNameLen caps names and map paths: HAProxy drops a command line longer
// than its buffer without running it.
const MaxNameLen = 255

// ValidateBackendName checks a backend name. haproxy.cfg allows only ASCII
// letters, digits, '_', '.', ':' and '-' in a backend name (HAProxy 2.6:
// "character '@' is not permitted in 'backend' name"), so no other name can
// name a backend that exists.
func ValidateBackendName(s string) error { return checkProxyName("backend name", "backend name", s) }

// ValidateServerName checks a server name, which haproxy.cfg limits to the
// characters of a backend name ("character '@' is not permitted in server
// name").
func ValidateServerName(s string) error { return checkProxyName("server name", "server name", s) }

// ValidateMapValue checks a map value. The controller's maps route to
// backends (use_backend %[...,map(file)]), so a value is a backend name and
// has its rule.
func ValidateMapValue(s string) error { return checkProxyName("map value", "backend name", s) }

// ValidateMapKey checks a map key: anything HAProxy keeps as one argument of
// the runtime API and as the key of a map file line. It refuses an empty key,
// invalid UTF-8, white space, control and other non-printable characters,
// ';', '\', '<' and '#'; anything else (letters of any script, '/', '@',
// '%', '+', ...) reaches HAProxy unchanged.
func ValidateMapKey(s string) error { return checkArg("map key", s) }

// ValidateMapPath checks a map file path. HAProxy knows a map by the exact
// path written in haproxy.cfg, so it must be absolute; it is one argument of
// the runtime API, so it follows the rule of map keys; and it may not hold a
// ".." element, which makes one file go by several spellings (HAProxy would
// not know one for the other, nor would the controller's check that no two
// services write the same key of the same file).
func ValidateMapPath(p string) error {
	const what = "map path"
	if err := checkArg(what, p); err != nil {
		return err
	}
	if !strings.HasPrefix(p, "/") {
		return &NameError{What: what, Value: p, Reason: "is not absolute: use the exact absolute path written in haproxy.cfg"}
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return &NameError{What: what, Value: p, Reason: "contains a \"..\" element: write the path without it, exactly as in haproxy.cfg"}
		}
	}
	return nil
}

// checkLength refuses an empty name and one longer than MaxNameLen.
func checkLength(what, s string) error {
	if s == "" {
		return &NameError{What: what, Value: s, Reason: "is empty"}
	}
	if len(s) > MaxNameLen {
		return &NameError{What: what, Value: Clip(s), Reason: fmt.Sprintf("is %d bytes long: at most %d reach the HAProxy runtime API (HAProxy drops a longer command line unanswered)", len(s), MaxNameLen)}
	}
	if !utf8.ValidString(s) {
		return &NameError{What: what, Value: s, Reason: "is not valid UTF-8"}
	}
	return nil
}

// checkProxyName applies haproxy.cfg's rule for proxy and server names
// (invalid_char in HAProxy's source): [A-Za-z0-9_.:-]. rule names the kind
// of name whose rule it is, for the message.
func checkProxyName(what, rule, s string) error {
	if err := checkLength(what, s); err != nil {
		return err
	}
	for i, r := range s {
		if proxyNameChar(r) {
			continue
		}
		reason := fmt.Sprintf("contains %s (byte %d): haproxy.cfg allows only ASCII letters, digits, '_', '.', ':' and '-' in a %s", describeRune(r), i, rule)
		if r == '/' {
			reason += ", and the runtime API reads '/' as the separator of <backend>/<server>"
		}
		return &NameError{What: what, Value: s, Reason: reason}
	}
	return nil
}

func proxyNameChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		r == '_' || r == '.' || r == ':' || r == '-'
}

// argRefused are printable characters that HAProxy's runtime API or its
// config and map-file parsers would split on or interpret, with why.
var argRefused = map[rune]string{
	' ':  "which the runtime API splits arguments on",
	';':  "which the runtime API reads as the start of another command",
	'\\': "which the runtime API reads as an escape",
	'<':  "and a line ending in \"<<\" makes the runtime API wait for a payload",
	'#':  "which starts a comment in haproxy.cfg and at the start of a map file line, and a map id at the start of a runtime API argument",
}

// checkArg applies the rule of a runtime API argument that is also written
// into a map file: see ValidateMapKey.
func checkArg(what, s string) error {
	if err := checkLength(what, s); err != nil {
		return err
	}
	for i, r := range s {
		if why, bad := argRefused[r]; bad {
			return &NameError{What: what, Value: s, Reason: fmt.Sprintf("contains %s (byte %d), %s", describeRune(r), i, why)}
		}
		if !unicode.IsPrint(r) {
			return &NameError{What: what, Value: s, Reason: fmt.Sprintf("contains %s (byte %d), %s", describeRune(r), i, nonPrintableReason(r))}
		}
	}
	return nil
}

// describeRune names a character in an error: "a semicolon", "'@'",
// "a tab (U+0009)", "'é' (U+00E9)".
func describeRune(r rune) string {
	switch r {
	case ' ':
		return "a space"
	case ';':
		return "a semicolon"
	case '\\':
		return "a backslash"
	case '\n':
		return "a line feed (U+000A)"
	case '\r':
		return "a carriage return (U+000D)"
	case '\t':
		return "a tab (U+0009)"
	case 0:
		return "a NUL byte (U+0000)"
	}
	switch {
	case r < utf8.RuneSelf && unicode.IsPrint(r):
		return fmt.Sprintf("'%c'", r)
	case unicode.IsPrint(r):
		return fmt.Sprintf("'%c' (%U)", r, r)
	case unicode.IsSpace(r):
		return fmt.Sprintf("white space %U", r)
	}
	return fmt.Sprintf("the non-printable character %U", r)
}

// nonPrintableReason says why a non-printable character is refused.
func nonPrintableReason(r rune) string {
	switch r {
	case '\n', '\r':
		return "which ends the runtime API command"
	case '\t':
		return "which the runtime API splits arguments on"
	case 0:
		return "which ends the string for HAProxy (a map file line is cut there)"
	}
	if unicode.IsSpace(r) {
		return "which would read as a space in haproxy.cfg and in logs"
	}
	return "which would not show in haproxy.cfg or in logs"
}
