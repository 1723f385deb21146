package termtext

import "testing"

func TestEscapeTerminal(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\nand\ttabs": "plain text\nand\ttabs",
		"\x1b[2J\x1b[Hclear":    `\x1b[2J\x1b[Hclear`,
		"bell\a cr\r del\x7f":   `bell\x07 cr\x0d del\x7f`,
		"bidi \u202eevil":       `bidi \u202eevil`,
		"csi \u009b31m":         `csi \u009b31m`,
		"bad \xff utf8":         `bad \xff utf8`,
		"grün ✓":                "grün ✓",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
