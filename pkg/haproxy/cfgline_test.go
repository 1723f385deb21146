package haproxy

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitCfgLine(t *testing.T) {
	for _, tt := range []struct {
		line    string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"   # only a comment", nil, ""},
		{"\toption  httpchk\tGET /x", []string{"option", "httpchk", "GET", "/x"}, ""},
		{"a b#c", []string{"a", "b"}, ""},
		{`a "b#c" 'd#e' f\#g`, []string{"a", "b#c", "d#e", "f#g"}, ""},
		{`a "b c"d 'e f'`, []string{"a", "b cd", "e f"}, ""},
		{`a "" b`, []string{"a", "", "b"}, ""},
		{`HTTP/1.1\r\nHost:\ www`, []string{"HTTP/1.1\r\nHost: www"}, ""},
		{`a\tb \x41\x62 c\\d \q`, []string{"a\tb", "Ab", `c\d`, `\q`}, ""},
		{`'a\tb' "a\tb"`, []string{`a\tb`, "a\tb"}, ""},
		{`"${HOME}" '$HOME' $HOME "\$x" \$x`, []string{"${HOME}", "$HOME", "$HOME", "$x", `\$x`}, ""},
		{`a \"b\' c`, []string{"a", `"b'`, "c"}, ""},
		{"a b\rc d", []string{"a", "b"}, ""},
		{"a\x00b", []string{"a"}, ""},
		{`a "b`, nil, "unmatched quote"},
		{`a 'b`, nil, "unmatched quote"},
		{`a \x4`, nil, `\x`},
	} {
		words, err := splitCfgLine(tt.line)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("splitCfgLine(%q) error %v, want %q", tt.line, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("splitCfgLine(%q): %v", tt.line, err)
			continue
		}
		if got := texts(words); !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
			t.Errorf("splitCfgLine(%q) = %q, want %q", tt.line, got, tt.want)
		}
		for _, w := range words {
			again, err := splitCfgLine(tt.line[w.start:w.end])
			if err != nil || len(again) != 1 || again[0].text != w.text {
				t.Errorf("splitCfgLine(%q): word %q written as %q, which reads %q", tt.line, w.text, tt.line[w.start:w.end], texts(again))
			}
		}
	}
}

func TestCfgQuoteReadsBack(t *testing.T) {
	for _, s := range []string{"/healthz", "a b", `a\b`, "a#b", `"'`, "tab\tnl\ncr\r", "ctl\x01\x7f", "$HOME ${HOME}", "é"} {
		words, err := splitCfgLine(cfgQuote(s))
		if err != nil || len(words) != 1 || words[0].text != s {
			t.Errorf("cfgQuote(%q) = %q reads %q (%v)", s, cfgQuote(s), texts(words), err)
		}
	}
}
