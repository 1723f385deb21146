package haproxy

import (
	"errors"
	"strings"
)

// cfgWord is one word of a haproxy.cfg line once HAProxy has unquoted it,
// with where it was written in the line.
type cfgWord struct {
	text       string
	start, end int // byte offsets of the word as written, quotes included
}

// splitCfgLine splits one line of haproxy.cfg into words as HAProxy 2.6's
// parse_line does: blanks separate words; '#' outside quotes starts a
// comment; "..." and '...' quote (nothing is escaped between single
// quotes); a backslash escapes a blank, '\', '#', a quote, and '$' between
// double quotes, and writes \t, \n, \r and \xHH as those bytes; any other
// backslash stays. A NUL or CR ends the line, as it does for HAProxy.
// Environment variables ("${NAME}" and "$NAME" between double quotes) are
// kept as written, not expanded.
func splitCfgLine(line string) ([]cfgWord, error) {
	var (
		words          []cfgWord
		cur            strings.Builder
		inWord         bool
		start          int
		squote, dquote bool
	)
	begin := func(i int) {
		if !inWord {
			inWord, start = true, i
			cur.Reset()
		}
	}
	i := 0
loop:
	for i < len(line) {
		c := line[i]
		switch {
		case c == 0 || c == '\n' || c == '\r':
			break loop
		case c == '#' && !squote && !dquote:
			break loop
		case c == '"' && !squote:
			begin(i)
			dquote = !dquote
			i++
		case c == '\'' && !dquote:
			begin(i)
			squote = !squote
			i++
		case c == '\\' && !squote:
			begin(i)
			b, n, err := cfgEscape(line[i:], dquote)
			if err != nil {
				return nil, err
			}
			cur.WriteByte(b)
			i += n
		case isCfgBlank(c) && !squote && !dquote:
			if inWord {
				words = append(words, cfgWord{text: cur.String(), start: start, end: i})
				inWord = false
			}
			i++
		default:
			begin(i)
			cur.WriteByte(c)
			i++
		}
	}
	if squote || dquote {
		return nil, errors.New("unmatched quote")
	}
	if inWord {
		words = append(words, cfgWord{text: cur.String(), start: start, end: i})
	}
	return words, nil
}

// cfgEscape reads the escape sequence at the start of s (which begins with a
// backslash) and returns the byte it stands for and how many bytes of s it
// takes.
func cfgEscape(s string, dquote bool) (byte, int, error) {
	if len(s) < 2 {
		return '\\', 1, nil
	}
	switch s[1] {
	case ' ', '\\', '#', '\'', '"':
		return s[1], 2, nil
	case 't':
		return '\t', 2, nil
	case 'n':
		return '\n', 2, nil
	case 'r':
		return '\r', 2, nil
	case '$':
		if dquote {
			return '$', 2, nil
		}
	case 'x':
		if len(s) < 4 || !isHex(s[2]) || !isHex(s[3]) {
			return 0, 0, errors.New(`invalid or incomplete \x sequence`)
		}
		return hexVal(s[2])<<4 | hexVal(s[3]), 4, nil
	}
	return '\\', 1, nil
}

func isCfgBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\v' || c == '\f' }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// cfgQuote writes s as one haproxy.cfg word that splitCfgLine reads back as
// s: the bytes that split, quote, escape or comment are escaped.
func cfgQuote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\\', '#', '\'', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c < 0x20 || c == 0x7f {
				b.WriteString(`\x`)
				b.WriteByte("0123456789abcdef"[c>>4])
				b.WriteByte("0123456789abcdef"[c&15])
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}
