// Package termtext makes text that comes from outside (container log
// lines, HAProxy answers, error text, the desired file) safe to show: in
// a terminal, or on the dashboard's page.
package termtext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape writes what a terminal would act on as Go escapes: control
// characters other than newline and tab (\x1b), bidirectional overrides
// (\u202e) and invalid UTF-8 (\xff), so that nothing shown can move the
// cursor, clear the screen or masquerade as the controller's own words.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if Unsafe(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case Unsafe(r) && r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case Unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Unsafe reports a rune Escape writes as an escape.
func Unsafe(r rune) bool {
	if r == '\n' || r == '\t' {
		return false
	}
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
