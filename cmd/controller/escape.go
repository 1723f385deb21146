package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/bluegreen-host/controller/internal/termtext"
)

// termSafe escapes what a terminal would act on in text that comes from
// outside (container log lines, HAProxy answers, error text, the desired
// file): control characters other than newline and tab, bidirectional
// overrides and invalid UTF-8 are written as Go escapes (\x1b, \u202e), so
// that nothing printed can move the cursor, clear the screen or
// masquerade as the controller's own output.
type termSafe struct{ w io.Writer }

// escapeTerminal is termtext.Escape; termSafe and escapeJSON escape alike.
func escapeTerminal(s string) string { return termtext.Escape(s) }

func (t termSafe) Write(p []byte) (int, error) {
	if _, err := io.WriteString(t.w, escapeTerminal(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeJSON rewrites, in JSON text, every character that escapeTerminal
// would escape as a JSON escape (\u007f, \u009b, \u202e): the same value
// to a JSON or YAML reader, and nothing a terminal acts on. encoding/json
// escapes C0 controls itself but leaves DEL, C1 controls and bidirectional
// overrides raw, which the YAML reader refuses ("control characters are
// not allowed") and termSafe would turn into \x7f, which is not JSON.
// Outside strings JSON holds only ASCII and its whitespace, so the text
// is rewritten as a whole.
func escapeJSON(b []byte) []byte {
	s := string(b)
	if escapeTerminal(s) == s {
		return b
	}
	var out strings.Builder
	for _, r := range s { // invalid UTF-8 comes out as U+FFFD, escaped too
		if !termtext.Unsafe(r) {
			out.WriteRune(r)
			continue
		}
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
			continue
		}
		fmt.Fprintf(&out, `\u%04x`, r)
	}
	return []byte(out.String())
}
