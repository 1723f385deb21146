package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// entry is one path of a commit's tree as its checkout holds it.
type entry struct {
	path   string            // slash-separated, relative to the checkout
	mode   filemode.FileMode // Dir, Regular, Executable or Symlink
	hash   plumbing.Hash     // the blob, for a file
	target string            // for a link
}

// perm is the mode a file is written with, whatever the umask: what git
// would write with umask 022, so that an image built from the checkout
// gets the same modes on every host.
func (e entry) perm() fs.FileMode {
	if e.mode == filemode.Executable {
		return 0o755
	}
	return 0o644
}

const (
	maxTreeDepth  = 128
	maxLinkTarget = 4096
	// maxTreeObject bounds one directory listing (a tree object): some
	// 100,000 names.
	maxTreeObject = 4 << 20
	// maxEntries bounds the paths of a commit's tree.
	maxEntries = 100_000
)

// treeEntries lists the commit's tree, parents before children. A name
// that cannot be written safely refuses the commit, and so does a file,
// a directory listing or a whole tree larger than its limit; sizes are
// read from the objects' headers, so nothing too large is read.
func treeEntries(r *git.Repository, c config, commit *object.Commit) ([]entry, error) {
	w := walker{r: r, c: c}
	t, err := w.tree(commit.TreeHash, "/")
	if err != nil {
		return nil, err
	}
	if err := w.walk(t, "", 0); err != nil {
		return nil, err
	}
	return w.out, nil
}

// walker lists a tree and adds up its files' sizes as it goes.
type walker struct {
	r    *git.Repository
	c    config
	size int64 // of the files listed so far
	out  []entry
}

// tree reads the tree object h, at p, after checking its size.
func (w *walker) tree(h plumbing.Hash, p string) (*object.Tree, error) {
	n, err := objectSize(w.r, h)
	if err != nil {
		return nil, corrupt(fmt.Errorf("read tree %s (%s) in local clone: %w", h, p, err))
	}
	if n > maxTreeObject {
		return nil, fmt.Errorf("%w: directory %s lists %s, more than the limit of %s per directory", ErrTooLarge, p, bytesize(n), bytesize(maxTreeObject))
	}
	t, err := w.r.TreeObject(h)
	if err != nil {
		return nil, corrupt(fmt.Errorf("read tree %s (%s) in local clone: %w", h, p, err))
	}
	return t, nil
}

// file checks the size of the blob of the file at p.
func (w *walker) file(h plumbing.Hash, p string) error {
	n, err := objectSize(w.r, h)
	if err != nil {
		return corrupt(fmt.Errorf("read blob %s (%s) in local clone: %w", h, p, err))
	}
	if n > w.c.maxFileSize {
		return fmt.Errorf("%w: file %s is %s, more than the limit of %s per file", ErrTooLarge, p, bytesize(n), bytesize(w.c.maxFileSize))
	}
	w.size += n
	if w.size > w.c.maxCheckoutSize {
		return fmt.Errorf("%w: the files up to %s add up to %s, more than the limit of %s for a commit", ErrTooLarge, p, bytesize(w.size), bytesize(w.c.maxCheckoutSize))
	}
	return nil
}

func (w *walker) add(e entry) error {
	if len(w.out) >= maxEntries {
		return fmt.Errorf("%w: the tree holds more than %d files and directories (at %s)", ErrTooLarge, maxEntries, e.path)
	}
	w.out = append(w.out, e)
	return nil
}

func (w *walker) walk(t *object.Tree, prefix string, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%w: directory %s is nested more than %d deep", ErrUnsafeTree, prefix, maxTreeDepth)
	}
	seen := make(map[string]bool, len(t.Entries))
	for _, te := range t.Entries {
		p := path.Join(prefix, te.Name)
		if !validName(te.Name) || seen[te.Name] {
			return fmt.Errorf("%w: it holds the name %q in %q", ErrUnsafeTree, te.Name, prefix+"/")
		}
		seen[te.Name] = true
		var err error
		switch te.Mode {
		case filemode.Dir:
			if err := w.add(entry{path: p, mode: filemode.Dir}); err != nil {
				return err
			}
			sub, err := w.tree(te.Hash, p)
			if err != nil {
				return err
			}
			if err := w.walk(sub, p, depth+1); err != nil {
				return err
			}
		case filemode.Submodule:
			// An empty directory, as git leaves a submodule it does not
			// clone: submodules are not followed.
			err = w.add(entry{path: p, mode: filemode.Dir})
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			mode := filemode.Regular
			if te.Mode == filemode.Executable {
				mode = filemode.Executable
			}
			if err := w.file(te.Hash, p); err != nil {
				return err
			}
			err = w.add(entry{path: p, mode: mode, hash: te.Hash})
		case filemode.Symlink:
			target, lerr := linkTarget(w.r, te.Hash, p)
			if lerr != nil {
				return lerr
			}
			err = w.add(entry{path: p, mode: filemode.Symlink, hash: te.Hash, target: target})
		default:
			return fmt.Errorf("%w: %s has mode %s, which git does not write", ErrUnsafeTree, p, te.Mode)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// objectSize reads an object's size from its header, without reading the
// object.
func objectSize(r *git.Repository, h plumbing.Hash) (int64, error) {
	s, ok := r.Storer.(interface {
		EncodedObjectSize(plumbing.Hash) (int64, error)
	})
	if !ok {
		return 0, fmt.Errorf("the local clone's storage cannot tell an object's size")
	}
	return s.EncodedObjectSize(h)
}

// bytesize is n in words: "67108864 bytes (64.0 MiB)".
func bytesize(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%d bytes (%.1f MiB)", n, float64(n)/(1<<20))
}

func validName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00")
}

func linkTarget(r *git.Repository, h plumbing.Hash, p string) (string, error) {
	n, err := objectSize(r, h)
	if err != nil {
		return "", corrupt(fmt.Errorf("read link %s (%s) in local clone: %w", p, h, err))
	}
	if n == 0 || n > maxLinkTarget {
		return "", fmt.Errorf("%w: link %s has a target of %d bytes", ErrUnsafeTree, p, n)
	}
	b, err := r.BlobObject(h)
	if err != nil {
		return "", corrupt(fmt.Errorf("read link %s (%s) in local clone: %w", p, h, err))
	}
	rd, err := b.Reader()
	if err != nil {
		return "", corrupt(fmt.Errorf("read link %s (%s) in local clone: %w", p, h, err))
	}
	defer rd.Close()
	t, err := io.ReadAll(rd)
	if err != nil {
		return "", corrupt(fmt.Errorf("read link %s (%s) in local clone: %w", p, h, err))
	}
	if bytes.IndexByte(t, 0) >= 0 {
		return "", fmt.Errorf("%w: link %s has a target holding a NUL byte", ErrUnsafeTree, p)
	}
	return string(t), nil
}

// checkout makes checkouts/<commit> hold exactly the commit's tree and
// returns its path. An existing checkout that differs is written again
// beside it and swapped in; repair then says what differed.
func checkout(r *git.Repository, c config, commit *object.Commit) (dir, repair string, err error) {
	entries, err := treeEntries(r, c, commit)
	if err != nil {
		return "", "", fmt.Errorf("check out commit %s of %s: %w", commit.Hash, c, err)
	}
	if err := os.MkdirAll(c.checkoutsDir(), 0o700); err != nil {
		return "", "", fmt.Errorf("create %s: %w", c.checkoutsDir(), err)
	}
	final := filepath.Join(c.checkoutsDir(), commit.Hash.String())
	_, err = os.Lstat(final)
	switch {
	case err == nil:
		diffs, err := verify(final, entries)
		if err != nil {
			return "", "", fmt.Errorf("verify checkout %s: %w", final, err)
		}
		if len(diffs) == 0 {
			return final, "", nil
		}
		repair = fmt.Sprintf("checkout %s differed from commit %s (%s): written again", final, commit.Hash, summarize(diffs))
	case !errors.Is(err, fs.ErrNotExist):
		return "", "", fmt.Errorf("check out commit %s: %w", commit.Hash, err)
	}

	tmp, err := os.MkdirTemp(c.checkoutsDir(), ".tmp-")
	if err != nil {
		return "", "", fmt.Errorf("check out commit %s: %w", commit.Hash, err)
	}
	if err := write(r, tmp, entries); err != nil {
		os.RemoveAll(tmp)
		return "", "", fmt.Errorf("check out commit %s of %s into %s: %w", commit.Hash, c, tmp, err)
	}
	if repair != "" {
		old := tmp + ".old"
		if err := os.Rename(final, old); err != nil {
			os.RemoveAll(tmp)
			return "", "", fmt.Errorf("replace checkout %s: %w", final, err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return "", "", fmt.Errorf("replace checkout %s: %w", final, err)
	}
	return final, repair, nil
}

// write writes entries below dir through an os.Root, so that nothing is
// written outside dir whatever the tree holds; links come last, so that no
// file is written through one.
func write(r *git.Repository, dir string, entries []entry) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, e := range entries {
		switch e.mode {
		case filemode.Dir:
			if err := root.Mkdir(e.path, 0o755); err != nil {
				return err
			}
			if err := root.Chmod(e.path, 0o755); err != nil {
				return err
			}
		case filemode.Regular, filemode.Executable:
			if err := writeBlob(r, root, e); err != nil {
				return err
			}
		}
	}
	for _, e := range entries {
		if e.mode == filemode.Symlink {
			if err := root.Symlink(e.target, e.path); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeBlob(r *git.Repository, root *os.Root, e entry) error {
	b, err := r.BlobObject(e.hash)
	if err != nil {
		return corrupt(fmt.Errorf("read blob %s (%s) in local clone: %w", e.hash, e.path, err))
	}
	rd, err := b.Reader()
	if err != nil {
		return corrupt(fmt.Errorf("read blob %s (%s) in local clone: %w", e.hash, e.path, err))
	}
	defer rd.Close()
	f, err := root.OpenFile(e.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, e.perm())
	if err != nil {
		return err
	}
	src := &readErr{r: rd}
	_, err = io.Copy(f, src)
	if src.err != nil {
		f.Close()
		return corrupt(fmt.Errorf("read blob %s (%s) in local clone: %w", e.hash, e.path, src.err))
	}
	if err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(e.perm()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readErr remembers a read error, to tell it from a write error after
// io.Copy.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// verify lists how the checkout at dir differs from entries: paths added,
// missing, changed in kind, mode, contents or link target.
func verify(dir string, entries []entry) ([]string, error) {
	want := make(map[string]entry, len(entries))
	for _, e := range entries {
		want[e.path] = e
	}
	seen := make(map[string]bool, len(entries))
	var diffs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		e, ok := want[rel]
		if !ok {
			diffs = append(diffs, rel+" added")
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		seen[rel] = true
		switch e.mode {
		case filemode.Dir:
			if !d.IsDir() {
				diffs = append(diffs, rel+" is no longer a directory")
			}
			return nil
		case filemode.Symlink:
			if d.Type()&fs.ModeSymlink == 0 {
				diffs = append(diffs, rel+" is no longer a link")
			} else if t, err := os.Readlink(p); err != nil || t != e.target {
				diffs = append(diffs, rel+" points elsewhere")
			}
		default:
			if !d.Type().IsRegular() {
				diffs = append(diffs, rel+" is no longer a file")
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Mode().Perm() != e.perm() {
				diffs = append(diffs, fmt.Sprintf("%s has mode %04o", rel, fi.Mode().Perm()))
				return nil
			}
			same, err := sameBlob(p, fi.Size(), e.hash)
			if err != nil {
				return err
			}
			if !same {
				diffs = append(diffs, rel+" modified")
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !seen[e.path] {
			diffs = append(diffs, e.path+" missing")
		}
	}
	return diffs, nil
}

// sameBlob reports whether the file at p hashes, as a git blob, to h.
func sameBlob(p string, size int64, h plumbing.Hash) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	hs := plumbing.NewHasher(plumbing.BlobObject, size)
	n, err := io.Copy(hs, f)
	if err != nil {
		return false, err
	}
	return n == size && hs.Sum() == h, nil
}

func summarize(diffs []string) string {
	const show = 3
	if len(diffs) <= show {
		return strings.Join(diffs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(diffs[:show], ", "), len(diffs)-show)
}

// prune removes every checkout, and every leftover of an interrupted one,
// whose name is not in keep. What cannot be removed is returned as notes.
func prune(c config, keep map[string]bool) []string {
	ents, err := os.ReadDir(c.checkoutsDir())
	if err != nil {
		return []string{fmt.Sprintf("old checkouts in %s were not removed: %v", c.checkoutsDir(), err)}
	}
	var notes []string
	for _, d := range ents {
		if keep[d.Name()] {
			continue
		}
		p := filepath.Join(c.checkoutsDir(), d.Name())
		if err := os.RemoveAll(p); err != nil {
			notes = append(notes, fmt.Sprintf("old checkout %s was not removed (it will be tried again): %v", p, err))
		}
	}
	return notes
}
