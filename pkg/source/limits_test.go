package source

import (
	"compress/zlib"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/objfile"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// looseBlob writes, in the repository at dir, a blob of size zero bytes as
// a loose object, streamed: the test never holds it in memory.
func looseBlob(t *testing.T, dir string, size int64) plumbing.Hash {
	t.Helper()
	objects := filepath.Join(dir, "objects")
	f, err := os.CreateTemp(objects, "tmp-")
	if err != nil {
		t.Fatal(err)
	}
	w := objfile.NewWriter(f)
	if err := w.WriteHeader(plumbing.BlobObject, size); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(w, zeros{}, size); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	h := w.Hash()
	if err := os.MkdirAll(filepath.Join(objects, h.String()[:2]), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.Name(), filepath.Join(objects, h.String()[:2], h.String()[2:])); err != nil {
		t.Fatal(err)
	}
	return h
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestSyncRefusesAFileLargerThanTheLimit: a 256 MiB file in the config
// repository used to be read and written whole (1.1 GB of RSS for
// validate, 256 MB on disk). A commit holding a file larger than
// MaxFileSize is now refused like an unsafe tree, naming the file, its
// size and the limit, and nothing of it is written.
func TestSyncRefusesAFileLargerThanTheLimit(t *testing.T) {
	rm := newRemote(t)
	c1 := rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
	rm.push(false)
	g := rm.source()
	mustSync(t, g)

	big := looseBlob(t, rm.bare, 64<<20)
	bad := rm.rawCommit(c1, []object.TreeEntry{
		{Name: "big.bin", Mode: filemode.Regular, Hash: big},
		{Name: "desired.yaml", Mode: filemode.Regular},
	})
	snap, err := g.Sync(context.Background())
	want := "file big.bin is 67108864 bytes (64.0 MiB), more than the limit of 16777216 bytes (16.0 MiB) per file"
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Sync: err = %v, want ErrTooLarge naming commit %s and saying %q", err, bad, want)
	}
	if snap.Commit != bad || snap.Path != "" {
		t.Fatalf("Sync = %+v, want commit %s and no path", snap, bad)
	}
	if got := checkouts(t, g); len(got) != 1 || got[0] != c1 {
		t.Fatalf("checkouts = %v, want only %s: nothing of the refused commit is written", got, c1)
	}
}

// TestSyncRefusesACommitLargerThanTheLimit: files each under
// MaxFileSize that add up to more than MaxCheckoutSize.
func TestSyncRefusesACommitLargerThanTheLimit(t *testing.T) {
	rm := newRemote(t)
	half := make([]byte, 600<<10)
	c1 := rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML), "a.bin": half, "b.bin": append(half[:len(half):len(half)], 1)})
	rm.push(false)
	g := rm.source()
	g.MaxCheckoutSize = 1 << 20

	snap, err := g.Sync(context.Background())
	want := "the files up to b.bin add up to 1228801 bytes (1.2 MiB), more than the limit of 1048576 bytes (1.0 MiB) for a commit"
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Sync: err = %v, want ErrTooLarge saying %q", err, want)
	}
	if snap.Commit != c1 || snap.Path != "" {
		t.Fatalf("Sync = %+v, want commit %s and no path", snap, c1)
	}
}

// TestTooLargeIsToldFromTheHeader: the size is read from the object's
// header, so a file too large is refused before it is read. The blob here
// says 64 MiB in its header and holds five bytes: reading it would fail as
// a damaged clone, not refuse it as too large.
func TestTooLargeIsToldFromTheHeader(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo.git")
	r, err := git.PlainInit(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	lying := plumbing.NewHash("1111111111111111111111111111111111111111")
	p := filepath.Join(dir, "objects", "11", strings.Repeat("1", 38))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zlib.NewWriter(f)
	zw.Write([]byte("blob 67108864\x00short"))
	zw.Close()
	f.Close()

	tree := r.Storer.NewEncodedObject()
	if err := (&object.Tree{Entries: []object.TreeEntry{{Name: "big.bin", Mode: filemode.Regular, Hash: lying}}}).Encode(tree); err != nil {
		t.Fatal(err)
	}
	th, err := r.Storer.SetEncodedObject(tree)
	if err != nil {
		t.Fatal(err)
	}
	c, err := (&Git{URL: "file://" + dir, Dir: t.TempDir()}).config()
	if err != nil {
		t.Fatal(err)
	}
	_, err = treeEntries(r, c, &object.Commit{Hash: plumbing.NewHash("2222222222222222222222222222222222222222"), TreeHash: th})
	var ce *corruptError
	if !errors.Is(err, ErrTooLarge) || errors.As(err, &ce) || !strings.Contains(err.Error(), "big.bin is 67108864 bytes") {
		t.Fatalf("treeEntries: err = %v, want ErrTooLarge naming big.bin and its size", err)
	}
}
