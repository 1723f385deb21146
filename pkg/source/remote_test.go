package source

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// remote is a bare repository reached at a file:// URL, and the author's
// repository that pushes to it: everything made with go-git.
type remote struct {
	t      *testing.T
	bare   string
	url    string
	work   string
	author *git.Repository
	clock  time.Time
}

func newRemote(t *testing.T) *remote {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "origin.git")
	if _, err := git.PlainInit(bare, true); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	author, err := git.PlainInitWithOptions(work, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
	})
	if err != nil {
		t.Fatal(err)
	}
	url := "file://" + bare
	if _, err := author.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{url}}); err != nil {
		t.Fatal(err)
	}
	return &remote{t: t, bare: bare, url: url, work: work, author: author,
		clock: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// commit writes files (a nil content removes the file), commits them all
// on the author's current branch and returns the commit.
func (rm *remote) commit(msg string, files map[string][]byte) string {
	rm.t.Helper()
	wt, err := rm.author.Worktree()
	if err != nil {
		rm.t.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(rm.work, name)
		if data == nil {
			if _, err := wt.Remove(name); err != nil {
				rm.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			rm.t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			rm.t.Fatal(err)
		}
	}
	return rm.commitAll(msg)
}

// symlink commits name as a link to target. The link goes into the index
// directly: go-git's worktree rewrites an absolute target it reads. The
// worktree gets the link too when target is relative.
func (rm *remote) symlink(msg, name, target string) string {
	rm.t.Helper()
	if !filepath.IsAbs(target) {
		p := filepath.Join(rm.work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			rm.t.Fatal(err)
		}
		os.Remove(p)
		if err := os.Symlink(target, p); err != nil {
			rm.t.Fatal(err)
		}
	}
	st := rm.author.Storer
	obj := st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		rm.t.Fatal(err)
	}
	w.Write([]byte(target))
	w.Close()
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		rm.t.Fatal(err)
	}
	idx, err := st.Index()
	if err != nil {
		rm.t.Fatal(err)
	}
	e, err := idx.Entry(name)
	if err != nil {
		e = idx.Add(name)
	}
	e.Hash, e.Mode, e.Size = h, filemode.Symlink, uint32(len(target))
	if err := st.SetIndex(idx); err != nil {
		rm.t.Fatal(err)
	}
	return rm.commitIndex(msg)
}

func (rm *remote) commitAll(msg string) string {
	rm.t.Helper()
	wt, err := rm.author.Worktree()
	if err != nil {
		rm.t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		rm.t.Fatal(err)
	}
	return rm.commitIndex(msg)
}

func (rm *remote) commitIndex(msg string) string {
	rm.t.Helper()
	wt, err := rm.author.Worktree()
	if err != nil {
		rm.t.Fatal(err)
	}
	rm.clock = rm.clock.Add(time.Minute)
	sig := &object.Signature{Name: "Author", Email: "author@example.com", When: rm.clock}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true})
	if err != nil {
		rm.t.Fatal(err)
	}
	return h.String()
}

// push pushes the author's main to the bare repository; force allows a
// push that rewrites history.
func (rm *remote) push(force bool) {
	rm.t.Helper()
	spec := "refs/heads/main:refs/heads/main"
	if force {
		spec = "+" + spec
	}
	err := rm.author.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []gitconfig.RefSpec{gitconfig.RefSpec(spec)}})
	if err != nil && err != git.NoErrAlreadyUpToDate {
		rm.t.Fatal(err)
	}
}

// resetTo moves the author's main and worktree back to commit, to build a
// history that does not descend from what was pushed.
func (rm *remote) resetTo(commit string) {
	rm.t.Helper()
	wt, err := rm.author.Worktree()
	if err != nil {
		rm.t.Fatal(err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: plumbing.NewHash(commit), Mode: git.HardReset}); err != nil {
		rm.t.Fatal(err)
	}
}

// tag creates a tag on commit in the author's repository (annotated when
// annotated is set) and pushes it, forced.
func (rm *remote) tag(name, commit string, annotated bool) {
	rm.t.Helper()
	var opts *git.CreateTagOptions
	if annotated {
		opts = &git.CreateTagOptions{Message: "release " + name,
			Tagger: &object.Signature{Name: "Author", Email: "author@example.com", When: rm.clock}}
	}
	_ = rm.author.DeleteTag(name)
	if _, err := rm.author.CreateTag(name, plumbing.NewHash(commit), opts); err != nil {
		rm.t.Fatal(err)
	}
	spec := gitconfig.RefSpec("+refs/tags/" + name + ":refs/tags/" + name)
	err := rm.author.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []gitconfig.RefSpec{spec}})
	if err != nil && err != git.NoErrAlreadyUpToDate {
		rm.t.Fatal(err)
	}
}

// setRef points ref of the bare repository at commit directly, as a
// stale mirror or a racing fetch would show it.
func (rm *remote) setRef(ref, commit string) {
	rm.t.Helper()
	r, err := git.PlainOpen(rm.bare)
	if err != nil {
		rm.t.Fatal(err)
	}
	if err := r.Storer.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(ref), plumbing.NewHash(commit))); err != nil {
		rm.t.Fatal(err)
	}
}

const (
	blueYAML  = "activeColor: blue\n"
	greenYAML = "activeColor: green\n"
)

// source is a Git following rm's main at desired.yaml, in a fresh Dir.
func (rm *remote) source() *Git {
	return &Git{URL: rm.url, Path: "desired.yaml", Dir: filepath.Join(rm.t.TempDir(), "git")}
}

func plumbingHash(s string) plumbing.Hash { return plumbing.NewHash(s) }

// rawCommit writes, in the bare repository, a commit of a tree holding
// entries as given (names unchecked, as a hostile server could send) on
// top of parent, and points main at it.
func (rm *remote) rawCommit(parent string, entries []object.TreeEntry) string {
	rm.t.Helper()
	r, err := git.PlainOpen(rm.bare)
	if err != nil {
		rm.t.Fatal(err)
	}
	store := func(o interface {
		Encode(plumbing.EncodedObject) error
	}) plumbing.Hash {
		obj := r.Storer.NewEncodedObject()
		if err := o.Encode(obj); err != nil {
			rm.t.Fatal(err)
		}
		h, err := r.Storer.SetEncodedObject(obj)
		if err != nil {
			rm.t.Fatal(err)
		}
		return h
	}
	blob := r.Storer.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, _ := blob.Writer()
	w.Write([]byte(blueYAML))
	w.Close()
	bh, err := r.Storer.SetEncodedObject(blob)
	if err != nil {
		rm.t.Fatal(err)
	}
	for i := range entries {
		if entries[i].Hash.IsZero() {
			entries[i].Hash = bh
		}
	}
	th := store(&object.Tree{Entries: entries})
	rm.clock = rm.clock.Add(time.Minute)
	sig := object.Signature{Name: "Mallory", Email: "m@example.com", When: rm.clock}
	ch := store(&object.Commit{Author: sig, Committer: sig, Message: "hostile\n", TreeHash: th,
		ParentHashes: []plumbing.Hash{plumbing.NewHash(parent)}})
	rm.setRef("refs/heads/main", ch.String())
	return ch.String()
}
