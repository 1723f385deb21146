package testenv

import (
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// GitRemote is a config repository for tests: a working copy whose commits
// are pushed to a bare repository, which a controller follows at URL.
// Everything goes through go-git, with no git binary (a program that
// imports pkg/source serves file:// URLs in process).
type GitRemote struct {
	t    TB
	Work string // the working copy
	URL  string // file:// URL of the bare repository
	repo *git.Repository
}

// NewGitRemote makes an empty working copy and bare repository below dir.
func NewGitRemote(t TB, dir string) *GitRemote {
	t.Helper()
	bare, work := filepath.Join(dir, "origin.git"), filepath.Join(dir, "work")
	if _, err := git.PlainInit(bare, true); err != nil {
		t.Fatalf("testenv: git init %s: %v", bare, err)
	}
	repo, err := git.PlainInit(work, false)
	if err != nil {
		t.Fatalf("testenv: git init %s: %v", work, err)
	}
	r := &GitRemote{t: t, Work: work, URL: "file://" + bare, repo: repo}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.URL}}); err != nil {
		t.Fatalf("testenv: git remote add origin: %v", err)
	}
	return r
}

// Commit writes files (paths relative to the working copy), commits
// everything and pushes the branch main (force: rewriting it); it returns
// the commit's hash.
func (r *GitRemote) Commit(msg string, files map[string][]byte, force bool) string {
	r.t.Helper()
	for name, b := range files {
		p := filepath.Join(r.Work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatalf("testenv: git: %v", err)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			r.t.Fatalf("testenv: git: %v", err)
		}
	}
	wt, err := r.repo.Worktree()
	if err != nil {
		r.t.Fatalf("testenv: git: %v", err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		r.t.Fatalf("testenv: git add: %v", err)
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "ops", Email: "ops@example.com", When: time.Now()}})
	if err != nil {
		r.t.Fatalf("testenv: git commit: %v", err)
	}
	head, err := r.repo.Head()
	if err != nil {
		r.t.Fatalf("testenv: git: %v", err)
	}
	refspec := config.RefSpec(head.Name().String() + ":refs/heads/main")
	if force {
		refspec = "+" + refspec
	}
	if err := r.repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{refspec}}); err != nil && err != git.NoErrAlreadyUpToDate {
		r.t.Fatalf("testenv: git push: %v", err)
	}
	return h.String()
}

// ResetTo moves the working copy's branch back to commit, as before a
// force-push.
func (r *GitRemote) ResetTo(commit string) {
	r.t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		r.t.Fatalf("testenv: git: %v", err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: plumbing.NewHash(commit), Mode: git.HardReset}); err != nil {
		r.t.Fatalf("testenv: git reset --hard %s: %v", commit, err)
	}
}
