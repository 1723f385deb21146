package haproxy

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseMapFile(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []MapEntry
	}{
		{"empty", "", nil},
		{"one", "web web_blue\n", []MapEntry{{"web", "web_blue"}}},
		{"no final newline", "web web_blue", []MapEntry{{"web", "web_blue"}}},
		{"comments and blanks", "# hosts\n\nweb web_blue\n   \n#api web_api\napi\tweb_green\n", []MapEntry{{"web", "web_blue"}, {"api", "web_green"}}},
		{"surrounding blanks", "  web  \t web_blue \t\n", []MapEntry{{"web", "web_blue"}}},
		{"value with spaces", "web a b  c\n", []MapEntry{{"web", "a b  c"}}},
		{"key only", "web\n", []MapEntry{{"web", ""}}},
		{"CRLF", "web web_blue\r\napi web_green\r\n", []MapEntry{{"web", "web_blue"}, {"api", "web_green"}}},
		{"CR ends the line", "web web_blue\rjunk\n", []MapEntry{{"web", "web_blue"}}},
		// HAProxy only treats '#' in the first column as a comment.
		{"indented hash is a key", "  #web web_blue\n", []MapEntry{{"#web", "web_blue"}}},
		{"duplicates kept in order", "web a\nweb b\n", []MapEntry{{"web", "a"}, {"web", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMapFile(tt.in)
			if err != nil {
				t.Fatalf("ParseMapFile: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseMapFile(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if _, err := ParseMapFile("web web_blue\nap\x00i x\n"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ParseMapFile with a NUL byte: err = %v, want an error naming line 2", err)
	}
}

func TestLookupMapFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts.map")
	if err := os.WriteFile(path, []byte("# c\nweb web_blue\napi web_green\nweb web_other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, key string
		value     string
		found     bool
	}{
		{path, "web", "web_blue", true},
		{path, "api", "web_green", true},
		{path, "nope", "", false},
		{path, "# c", "", false},
		{filepath.Join(dir, "absent.map"), "web", "", false},
	}
	for _, tt := range tests {
		v, found, err := LookupMapFile(tt.path, tt.key)
		if err != nil || v != tt.value || found != tt.found {
			t.Errorf("LookupMapFile(%s, %q) = %q, %v, %v; want %q, %v, nil", tt.path, tt.key, v, found, err, tt.value, tt.found)
		}
	}
	if _, _, err := LookupMapFile(dir, "web"); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("LookupMapFile on a directory: err = %v, want an error naming %s", err, dir)
	}
}

func TestWriteMapFile(t *testing.T) {
	const original = "# managed by bluegreen\nweb web_blue\n\n# api\napi web_api\n  web web_blue\nlast web_x"
	tests := []struct {
		name       string
		key, value string
		want       string
	}{
		{"replace every line of the key", "web", "web_green",
			"# managed by bluegreen\nweb web_green\n\n# api\napi web_api\nweb web_green\nlast web_x"},
		{"append a new key after a line without newline", "new", "web_new",
			"# managed by bluegreen\nweb web_blue\n\n# api\napi web_api\n  web web_blue\nlast web_x\nnew web_new\n"},
		{"replace the last line", "last", "web_y",
			"# managed by bluegreen\nweb web_blue\n\n# api\napi web_api\n  web web_blue\nlast web_y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "hosts.map")
			if err := os.WriteFile(path, []byte(original), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := WriteMapFile(path, tt.key, tt.value); err != nil {
				t.Fatalf("WriteMapFile: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("file =\n%q\nwant\n%q", got, tt.want)
			}
			if v, found, err := LookupMapFile(path, tt.key); err != nil || !found || v != tt.value {
				t.Errorf("LookupMapFile after write = %q, %v, %v; want %q", v, found, err, tt.value)
			}
			assertMode(t, path, 0o640)
			assertOnlyFiles(t, dir, "hosts.map")
		})
	}
}

func TestWriteMapFileCreates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts.map")
	if err := WriteMapFile(path, "web", "web_blue"); err != nil {
		t.Fatalf("WriteMapFile: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "web web_blue\n" {
		t.Errorf("file = %q, want %q", got, "web web_blue\n")
	}
	assertMode(t, path, 0o644)
	assertOnlyFiles(t, dir, "hosts.map")
}

func TestWriteMapFileUnchangedIsNotRewritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts.map")
	if err := os.WriteFile(path, []byte("web web_blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if err := WriteMapFile(path, "web", "web_blue"); err != nil {
		t.Fatalf("WriteMapFile: %v", err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Errorf("the file was replaced although it already held the value")
	}
}

// TestWriteMapFileRefusesSymlink: a symbolic link at the map path is
// neither followed nor replaced: the controller runs as root, and the
// link's target (here another user's file) must stay as it is.
func TestWriteMapFileRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "authorized_keys")
	link := filepath.Join(dir, "hosts.map")
	if err := os.WriteFile(other, []byte("web web_blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	err := WriteMapFile(link, "web", "web_green")
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("WriteMapFile through a symlink = %v, want it refused", err)
	}
	if _, _, err := LookupMapFile(link, "web"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("LookupMapFile through a symlink = %v, want it refused", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced")
	}
	if b, _ := os.ReadFile(other); string(b) != "web web_blue\n" {
		t.Errorf("the link's target now holds %q", b)
	}
	assertOnlyFiles(t, dir, "authorized_keys", "hosts.map")
}

func TestWriteMapFileRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts.map")
	tests := []struct {
		path, key, value, want string
	}{
		{path, "web blue", "x", "space"},
		{path, "web", "x;clear map", "semicolon"},
		{path, "web", "", "empty"},
		{"hosts.map", "web", "x", "not absolute"},
		{filepath.Join(dir, "absent", "hosts.map"), "web", "x", "temporary file"},
	}
	for _, tt := range tests {
		err := WriteMapFile(tt.path, tt.key, tt.value)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("WriteMapFile(%q, %q, %q) = %v, want an error naming the path and mentioning %q", tt.path, tt.key, tt.value, err, tt.want)
		}
	}
	assertOnlyFiles(t, dir)
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %o, want %o", path, got, want)
	}
}

// assertOnlyFiles checks that no temporary file was left behind.
func assertOnlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("files in %s = %q, want %q", dir, got, want)
	}
}

func FuzzParseMapFile(f *testing.F) {
	for _, s := range []string{
		"", "web web_blue\n", "# c\n\nweb web_blue\napi\tweb_green\n", "  #k v\n", "k\n", "k  a b \t\r\n",
		"web a\nweb b\n", "\r\n\t\n", "k\x00v\n", "\xff\xfe v\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		entries, err := ParseMapFile(text)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, e := range entries {
			if e.Key == "" || strings.ContainsAny(e.Key, " \t\r\n") {
				t.Fatalf("key %q is empty or has white space", e.Key)
			}
			if strings.ContainsAny(e.Value, "\r\n") || strings.Trim(e.Value, " \t") != e.Value {
				t.Fatalf("value %q has a line break or surrounding blanks", e.Value)
			}
			// A leading space keeps a key starting with '#' from becoming a comment.
			b.WriteString(" " + e.Key + " " + e.Value + "\n")
		}
		again, err := ParseMapFile(b.String())
		if err != nil {
			t.Fatalf("re-parse of the formatted entries: %v", err)
		}
		if len(again) != len(entries) || (len(entries) > 0 && !reflect.DeepEqual(again, entries)) {
			t.Fatalf("round trip: %q became %q", entries, again)
		}
	})
}
