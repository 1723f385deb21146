package docker

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestIgnoreRules(t *testing.T) {
	tests := []struct {
		rules string
		path  string
		want  bool
	}{
		{"secret.txt", "secret.txt", true},
		{"secret.txt", "sub/secret.txt", false},
		{"/secret.txt", "secret.txt", true},
		{"*.log", "a.log", true},
		{"*.log", "sub/a.log", false},
		{"*/*.log", "sub/a.log", true},
		{"**/*.log", "a.log", true},
		{"**/*.log", "x/y/a.log", true},
		{"build", "build/out/bin", true},
		{"build/", "build/out/bin", true},
		{"build/**", "build/out/bin", true},
		{"file?.txt", "file1.txt", true},
		{"file?.txt", "file10.txt", false},
		{"[ab].txt", "a.txt", true},
		{"[!ab].txt", "a.txt", false},
		{"[!ab].txt", "c.txt", true},
		{"*\n!keep.txt", "keep.txt", false},
		{"*\n!keep.txt", "other.txt", true},
		{"!keep.txt\n*", "keep.txt", true}, // the last match wins
		{"# comment\n\n  spaced.txt  ", "spaced.txt", true},
		{"a.b", "axb", false},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(tt.rules), 0o644); err != nil {
			t.Fatal(err)
		}
		rules, err := readDockerignore(dir)
		if err != nil {
			t.Fatalf("readDockerignore(%q): %v", tt.rules, err)
		}
		if got := rules.excluded(tt.path); got != tt.want {
			t.Errorf("rules %q: excluded(%q) = %v, want %v", tt.rules, tt.path, got, tt.want)
		}
	}
}

func TestWriteContext(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"Dockerfile":      "FROM scratch\n",
		".dockerignore":   "*.log\nsecret\n.dockerignore\nDockerfile\ncache\n!cache/keep",
		"app":             "binary",
		"debug.log":       "x",
		"secret/key":      "x",
		"cache/junk":      "x",
		"cache/keep":      "kept",
		"sub/nested.log":  "kept: *.log matches only the top level",
		"sub/dir/file.go": "package x",
	})
	if err := os.Symlink("app", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	rules, err := readDockerignore(dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeContext(&buf, dir, rules, "Dockerfile"); err != nil {
		t.Fatal(err)
	}

	var names []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want 0:0", h.Name, h.Uid, h.Gid)
		}
		if h.Name == "link" && (h.Typeflag != tar.TypeSymlink || h.Linkname != "app") {
			t.Errorf("link: type %c -> %q, want a symlink to app", h.Typeflag, h.Linkname)
		}
		names = append(names, h.Name)
	}
	want := []string{".dockerignore", "Dockerfile", "app", "cache/keep", "link", "sub/", "sub/dir/", "sub/dir/file.go", "sub/nested.log"}
	if !slices.Equal(names, want) {
		t.Errorf("context holds %q, want %q", names, want)
	}
}
