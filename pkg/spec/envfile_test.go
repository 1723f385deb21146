package spec

import (
	"reflect"
	"strings"
	"testing"
)

// secret is a value no error may show.
const secret = "s3cr3t-hunter2"

// TestParseEnvFile reads Docker's env-file format: NAME=VALUE lines, the
// value as written, comments and blank lines skipped.
func TestParseEnvFile(t *testing.T) {
	got, err := ParseEnvFile([]byte("\xef\xbb\xbf# the database\n\nDB_URL=postgres://db/web?sslmode=require\r\n  TOKEN=" + secret + "\nQUOTED=\"kept as written\" \nEMPTY=\nEQ=a=b\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []EnvVar{
		{"DB_URL", "postgres://db/web?sslmode=require", 3},
		{"TOKEN", secret, 4},
		{"QUOTED", `"kept as written" `, 5},
		{"EMPTY", "", 6},
		{"EQ", "a=b", 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// TestParseEnvFileRefuses: a bare name (Docker would take the
// controller's own variable), a bad or reserved name, a name set twice,
// a NUL, bytes that are not UTF-8; each error names the line, and never
// shows a value or a line that does not parse.
func TestParseEnvFileRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"a bare name", "A=1\n" + secret + "\n", "line 2 has no '=': Docker would take a bare name's value from the controller's own environment"},
		{"a bad name", "A=1\nMY " + secret + "=x\n", "line 2: the name before '=' is not a valid environment variable name"},
		{"a name starting with a digit", "1A=" + secret + "\n", "line 1: the name before '='"},
		{"PORT", "PORT=" + secret + "\n", "line 1: PORT is set by the controller for each color"},
		{"COLOR", "# c\nCOLOR=" + secret + "\n", "line 2: COLOR is set by the controller"},
		{"twice", "TOKEN=" + secret + "\nTOKEN=" + secret + "2\n", "line 2: TOKEN is also set on line 1"},
		{"a NUL", "TOKEN=" + secret + "\x00\n", "line 1: the value of TOKEN holds a NUL character"},
		{"not UTF-8", "TOKEN=" + secret + "\xff\n", "not UTF-8"},
	} {
		_, err := ParseEnvFile([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
}
