package testenv

import (
	"fmt"
	"os"
	"path/filepath"
)

// NotesContext compiles ./examples/notes (static, CGO_ENABLED=0) once per
// test binary into a temp build context together with its Dockerfile and
// its data directory (the placeholder that gives the image a /data owned by
// uid 10001), and returns the context directory.
//
// The notes app is the realistic example: subcommands serve, migrate and
// version (the image has no CMD), a bbolt database in /data, SECRET_KEY
// required by serve, a graceful stop on SIGQUIT only (SIGTERM exits 143),
// the stop signal recorded in /data/last-signal; see examples/notes.
func NotesContext(t TB) string {
	t.Helper()
	ctxDir := appContext(t, "notes", "examples/notes")
	if _, err := onceBuild("notes data", func() (string, error) {
		src := filepath.Join(ModuleRoot(t), "examples", "notes", "data")
		return "", copyFlatDir(src, filepath.Join(ctxDir, "data"))
	}); err != nil {
		t.Fatalf("testenv: build context of notes: %v", err)
	}
	return ctxDir
}

// copyFlatDir copies the regular files of directory src into dst, created.
func copyFlatDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return fmt.Errorf("copy %s: %s is not a regular file", src, e.Name())
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// BuildNotesImage builds the notes app image as tag with build arg VERSION,
// and returns its image ID. The tag is removed (docker rmi -f) when the test
// ends unless $TESTENV_KEEP_IMAGES is set.
func BuildNotesImage(t TB, tag, version string) string {
	t.Helper()
	return buildAppImage(t, NotesContext(t), tag, version, "")
}
