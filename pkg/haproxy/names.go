package haproxy

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// refusedChars are printable characters that HAProxy's runtime API or its
// config and map-file parsers would split on or interpret.
var refusedChars = map[rune]string{
	' ':  "a space, which the runtime API splits arguments on",
	';':  "a semicolon, which the runtime API reads as the start of another command",
	'\\': "a backslash, which the runtime API reads as an escape",
	'<':  "a '<', and a line ending in \"<<\" makes the runtime API wait for a payload",
	'#':  "a '#', which starts a comment in haproxy.cfg and map files and a map id in the runtime API",
}

// ValidateName checks a name that reaches the runtime API: a map key or
// value, a backend or a server name. It refuses an empty name, invalid
// UTF-8, white space, control characters, ';', '\', '<' and '#', and names
// the bad character in the error, which wraps ErrInvalidName.
func ValidateName(s string) error {
	return validate("name", s)
}

// ValidatePath checks a map file path the way ValidateName checks names; the
// path must also be absolute, because HAProxy knows a map by the exact path
// written in haproxy.cfg.
func ValidatePath(p string) error {
	if err := validate("map path", p); err != nil {
		return err
	}
	if !strings.HasPrefix(p, "/") {
		return &NameError{What: "map path", Value: p, Reason: "is not absolute; use the exact absolute path written in haproxy.cfg"}
	}
	return nil
}

// MaxNameLen caps names and map paths: HAProxy drops a command line longer
// than its buffer without running it.
const MaxNameLen = 255

func validate(what, s string) error {
	if s == "" {
		return &NameError{What: what, Value: s, Reason: "is empty"}
	}
	if len(s) > MaxNameLen {
		return &NameError{What: what, Value: clip(s), Reason: fmt.Sprintf("is %d bytes long, more than %d", len(s), MaxNameLen)}
	}
	if !utf8.ValidString(s) {
		return &NameError{What: what, Value: s, Reason: "is not valid UTF-8"}
	}
	for i, r := range s {
		if reason, bad := refusedChars[r]; bad {
			return &NameError{What: what, Value: s, Reason: fmt.Sprintf("contains %s (byte %d)", reason, i)}
		}
		if !unicode.IsPrint(r) {
			return &NameError{What: what, Value: s, Reason: fmt.Sprintf("contains %s (byte %d)", describeRune(r), i)}
		}
	}
	return nil
}

func describeRune(r rune) string {
	switch r {
	case '\n':
		return "a line feed (U+000A), which ends the runtime API command"
	case '\r':
		return "a carriage return (U+000D), which ends the runtime API command"
	case '\t':
		return "a tab (U+0009), which the runtime API splits arguments on"
	case 0:
		return "a NUL byte (U+0000)"
	}
	if unicode.IsSpace(r) {
		return fmt.Sprintf("white space %U", r)
	}
	return fmt.Sprintf("the non-printable character %U", r)
}
