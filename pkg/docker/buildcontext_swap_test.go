package docker

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// swapForLink replaces the directory dir with a symbolic link to target,
// as whoever may write dir's parent can do at any time.
func swapForLink(t *testing.T, dir, target string) {
	t.Helper()
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, dir); err != nil {
		t.Fatal(err)
	}
}

// contextNames reads the whole stream and returns its names.
func contextNames(t *testing.T, rc io.ReadCloser) []string {
	t.Helper()
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("read the context tar: %v", err)
		}
		names = append(names, h.Name)
	}
}

// TestContextSwappedForLink: a build context directory swapped for a
// symbolic link to another directory of the host, after the desired state
// was checked or while the build runs, sends no file of that directory:
// the build is refused, or sends the original content.
func TestContextSwappedForLink(t *testing.T) {
	setup := func(t *testing.T) (ctxDir, secret string) {
		base := t.TempDir()
		ctxDir = filepath.Join(base, "app")
		secret = filepath.Join(base, "root-only")
		for p, text := range map[string]string{
			filepath.Join(ctxDir, "Dockerfile"): "FROM scratch\nCOPY . /\n",
			filepath.Join(ctxDir, "app.txt"):    "app",
			filepath.Join(secret, "Dockerfile"): "FROM scratch\nCOPY . /\n",
			filepath.Join(secret, "id_rsa"):     "PRIVATE KEY",
		} {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return ctxDir, secret
	}

	t.Run("after the check", func(t *testing.T) {
		ctxDir, secret := setup(t)
		// What the desired state's check saw: a directory.
		if fi, err := os.Stat(ctxDir); err != nil || !fi.IsDir() {
			t.Fatalf("the context is not a directory before the swap: %v", err)
		}
		swapForLink(t, ctxDir, secret)
		rc, err := buildContext(ctxDir, "Dockerfile")
		if err != nil {
			if !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("refused with %q, want a message naming the symbolic link", err)
			}
			return
		}
		if names := contextNames(t, rc); slices.Contains(names, "id_rsa") {
			t.Fatalf("the context sent holds %q: the linked directory's files reached the tar", names)
		}
	})

	t.Run("during the build", func(t *testing.T) {
		ctxDir, secret := setup(t)
		rc, err := buildContext(ctxDir, "Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		swapForLink(t, ctxDir, secret)
		want := []string{"Dockerfile", "app.txt"}
		if names := contextNames(t, rc); !slices.Equal(names, want) {
			t.Fatalf("the context sent holds %q, want the original %q", names, want)
		}
	})
}
