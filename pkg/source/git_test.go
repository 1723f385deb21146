package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustSync(t *testing.T, g *Git) Snapshot {
	t.Helper()
	snap, err := g.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return snap
}

func checkouts(t *testing.T, g *Git) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(g.Dir, "checkouts"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestSyncFollowsTheBranch(t *testing.T) {
	rm := newRemote(t)
	c1 := rm.commit("blue\n\nbody", map[string][]byte{"desired.yaml": []byte(blueYAML)})
	rm.push(false)
	g := rm.source()

	snap := mustSync(t, g)
	want := filepath.Join(g.Dir, "checkouts", c1, "desired.yaml")
	if snap.Path != want || snap.Commit != c1 || snap.Subject != "blue" || !snap.Time.Equal(rm.clock) || snap.ForcePushed || len(snap.Notes) != 0 {
		t.Fatalf("first Sync = %+v, want path %s, commit %s, subject blue, time %s", snap, want, c1, rm.clock)
	}
	if got := read(t, snap.Path); got != blueYAML {
		t.Fatalf("desired.yaml = %q", got)
	}
	if fi, err := os.Stat(g.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("Dir mode: %v %v, want 0700", fi.Mode(), err)
	}

	t.Run("no change: the same commit", func(t *testing.T) {
		again := mustSync(t, g)
		if again.Commit != c1 || again.Path != snap.Path || again.ForcePushed || len(again.Notes) != 0 {
			t.Fatalf("Sync without a change = %+v, want %+v", again, snap)
		}
	})

	t.Run("a new commit is returned", func(t *testing.T) {
		c2 := rm.commit("green", map[string][]byte{"desired.yaml": []byte(greenYAML)})
		rm.push(false)
		next := mustSync(t, g)
		if next.Commit != c2 || next.Subject != "green" || next.ForcePushed {
			t.Fatalf("Sync after a push = %+v, want commit %s", next, c2)
		}
		if got := read(t, next.Path); got != greenYAML {
			t.Fatalf("desired.yaml = %q", got)
		}
		if got := checkouts(t, g); len(got) != 1 || got[0] != c2 {
			t.Fatalf("checkouts = %v, want only %s (nothing kept)", got, c2)
		}
	})
}

func TestSyncFollowsAForcePush(t *testing.T) {
	rm := newRemote(t)
	c1 := rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
	rm.commit("green", map[string][]byte{"desired.yaml": []byte(greenYAML)})
	rm.push(false)
	g := rm.source()
	mustSync(t, g)

	rm.resetTo(c1)
	c3 := rm.commit("green, rewritten", map[string][]byte{"desired.yaml": []byte("activeColor: green # rewritten\n")})
	rm.push(true)

	snap := mustSync(t, g)
	if snap.Commit != c3 || !snap.ForcePushed {
		t.Fatalf("Sync after a force-push = %+v, want commit %s, ForcePushed", snap, c3)
	}
	if got := read(t, snap.Path); !strings.Contains(got, "rewritten") {
		t.Fatalf("desired.yaml = %q", got)
	}
	if again := mustSync(t, g); again.Commit != c3 || again.ForcePushed {
		t.Fatalf("the Sync after = %+v, want commit %s, ForcePushed unset", again, c3)
	}
}

func TestSyncNeverGoesBack(t *testing.T) {
	rm := newRemote(t)
	c1 := rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
	c2 := rm.commit("green", map[string][]byte{"desired.yaml": []byte(greenYAML)})
	rm.push(false)
	g := rm.source()
	mustSync(t, g)

	rm.setRef("refs/heads/main", c1) // a stale mirror
	for _, who := range []string{"the same Git", "a Git after a restart"} {
		t.Run(who, func(t *testing.T) {
			snap, err := g.Sync(context.Background())
			if !errors.Is(err, ErrRefMovedBack) {
				t.Fatalf("Sync after the ref moved back: err = %v, want ErrRefMovedBack", err)
			}
			if snap.Commit != c2 || snap.Path == "" || read(t, snap.Path) != greenYAML {
				t.Fatalf("Sync after the ref moved back = %+v, want the snapshot of %s", snap, c2)
			}
			for _, s := range []string{c1, c2, "branch main", rm.url} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
		})
		g = &Git{URL: g.URL, Path: g.Path, Dir: g.Dir}
	}

	t.Run("a commit after is followed", func(t *testing.T) {
		rm.setRef("refs/heads/main", c2)
		c3 := rm.commit("green v2", map[string][]byte{"desired.yaml": []byte("activeColor: green # v2\n")})
		rm.push(false)
		if snap := mustSync(t, g); snap.Commit != c3 || snap.ForcePushed {
			t.Fatalf("Sync = %+v, want commit %s", snap, c3)
		}
	})

	t.Run("another ref starts afresh", func(t *testing.T) {
		rm.tag("v1", c1, false)
		tagged := &Git{URL: g.URL, Ref: "tags/v1", Path: g.Path, Dir: g.Dir}
		if snap := mustSync(t, tagged); snap.Commit != c1 {
			t.Fatalf("Sync of tag v1 = %+v, want commit %s", snap, c1)
		}
	})
}

func TestSyncFollowsATag(t *testing.T) {
	for _, annotated := range []bool{false, true} {
		name := "lightweight"
		if annotated {
			name = "annotated"
		}
		t.Run(name, func(t *testing.T) {
			rm := newRemote(t)
			c1 := rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
			c2 := rm.commit("green", map[string][]byte{"desired.yaml": []byte(greenYAML)})
			rm.push(false)
			rm.tag("v1", c1, annotated)
			g := rm.source()
			g.Ref = "tags/v1"

			if snap := mustSync(t, g); snap.Commit != c1 || read(t, snap.Path) != blueYAML {
				t.Fatalf("Sync of tag v1 = %+v, want commit %s", snap, c1)
			}
			rm.tag("v1", c2, annotated)
			if snap := mustSync(t, g); snap.Commit != c2 || read(t, snap.Path) != greenYAML || snap.ForcePushed {
				t.Fatalf("Sync of the moved tag v1 = %+v, want commit %s", snap, c2)
			}
		})
	}
}

func TestSyncRefusesABadPath(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		setup func(rm *remote, outside string) // the last commit is the one Sync must refuse
		want  error
	}{
		{"missing", "desired.yaml", func(rm *remote, _ string) {
			rm.commit("moved", map[string][]byte{"desired.yaml": nil, "deploy/desired.yaml": []byte(blueYAML)})
		}, ErrPathNotFound},
		{"below a file", "desired.yaml/x", func(rm *remote, _ string) {}, ErrPathNotFound},
		{"link to nothing", "desired.yaml", func(rm *remote, _ string) {
			rm.symlink("dangling", "desired.yaml", "nothing.yaml")
		}, ErrPathNotFound},
		{"absolute link out", "desired.yaml", func(rm *remote, outside string) {
			rm.symlink("out", "desired.yaml", filepath.Join(outside, "desired.yaml"))
		}, ErrPathOutside},
		{"relative link out", "desired.yaml", func(rm *remote, _ string) {
			// checkouts/<commit>/desired.yaml -> the directory holding Dir
			rm.symlink("out", "desired.yaml", "../../../outside/desired.yaml")
		}, ErrPathOutside},
		{"directory link out", "conf/desired.yaml", func(rm *remote, outside string) {
			rm.symlink("out", "conf", outside)
		}, ErrPathOutside},
		{"desired directory is a link out", "conf", func(rm *remote, outside string) {
			rm.symlink("out", "conf", outside)
		}, ErrPathOutside},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rm := newRemote(t)
			rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
			g := rm.source()
			g.Path = tt.path
			outside := filepath.Join(filepath.Dir(g.Dir), "outside")
			if err := os.MkdirAll(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "desired.yaml"), []byte("stolen\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tt.setup(rm, outside)
			rm.push(false)
			head, err := rm.author.Head()
			if err != nil {
				t.Fatal(err)
			}
			commit := head.Hash().String()

			snap, err := g.Sync(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Sync: err = %v, want %v", err, tt.want)
			}
			if snap.Commit != commit || snap.Path != "" {
				t.Fatalf("Sync = %+v, want commit %s and no path", snap, commit)
			}
			for _, s := range []string{commit, tt.path, rm.url} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			if _, err2 := g.Sync(context.Background()); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("second Sync: err = %v, want the same error again", err2)
			}
		})
	}
}

func TestSyncRefusesATreeThatCannotBeWrittenSafely(t *testing.T) {
	file := func(name string) object.TreeEntry { return object.TreeEntry{Name: name, Mode: filemode.Regular} }
	tests := []struct {
		name    string
		entries []object.TreeEntry
	}{
		{"dot dot", []object.TreeEntry{file(".."), file("desired.yaml")}},
		{"a slash", []object.TreeEntry{file("desired.yaml"), file("x/../../../escape")}},
		{"twice the same name", []object.TreeEntry{file("desired.yaml"), file("desired.yaml")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rm := newRemote(t)
			c1 := rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
			rm.push(false)
			g := rm.source()
			mustSync(t, g)
			bad := rm.rawCommit(c1, tt.entries)

			snap, err := g.Sync(context.Background())
			if !errors.Is(err, ErrUnsafeTree) || !strings.Contains(err.Error(), bad) {
				t.Fatalf("Sync: err = %v, want ErrUnsafeTree naming %s", err, bad)
			}
			if snap.Commit != bad || snap.Path != "" {
				t.Fatalf("Sync = %+v, want commit %s and no path", snap, bad)
			}
			if got := checkouts(t, g); len(got) != 1 || got[0] != c1 {
				t.Fatalf("checkouts = %v, want only %s: nothing of the refused tree is written", got, c1)
			}
		})
	}
}

func TestSyncLoadsAPathThatStaysInside(t *testing.T) {
	tests := []struct {
		name, path, want string // want: the file to read below Path ("" when Path is the file)
	}{
		{"link to a file inside", "desired.yaml", ""},
		{"a directory", "deploy", "desired.yaml"},
		{"a directory, spelled with a slash", "deploy/", "desired.yaml"},
		{"the root", "", "envs/prod.yaml"},
		{"a link to a directory inside", "current", "desired.yaml"},
	}
	rm := newRemote(t)
	rm.commit("files", map[string][]byte{"envs/prod.yaml": []byte(blueYAML), "deploy/desired.yaml": []byte(blueYAML)})
	rm.symlink("link", "desired.yaml", "envs/prod.yaml")
	rm.symlink("dir link", "current", "deploy")
	rm.push(false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := rm.source()
			g.Path = tt.path
			snap := mustSync(t, g)
			root := filepath.Join(g.Dir, "checkouts", snap.Commit)
			if want := filepath.Join(root, tt.path); snap.Path != want {
				t.Fatalf("Path = %s, want %s", snap.Path, want)
			}
			if got := read(t, filepath.Join(snap.Path, tt.want)); got != blueYAML {
				t.Fatalf("read %s = %q", tt.want, got)
			}
		})
	}
}

func TestSyncUndoesTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string) // dir: the checkout
		note   bool                           // a note says so
	}{
		{"file modified", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "desired.yaml"), []byte(greenYAML), 0o644)
		}, true},
		{"file added", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "deploy", "extra.yaml"), []byte(greenYAML), 0o644)
		}, true},
		{"directory added", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "new", "deeper"), 0o755)
		}, true},
		{"file removed", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "run.sh"))
		}, true},
		{"directory removed", func(t *testing.T, dir string) {
			os.RemoveAll(filepath.Join(dir, "deploy"))
		}, true},
		{"mode changed", func(t *testing.T, dir string) {
			os.Chmod(filepath.Join(dir, "run.sh"), 0o644)
		}, true},
		{"file replaced by a link", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "desired.yaml"))
			os.Symlink("/etc/passwd", filepath.Join(dir, "desired.yaml"))
		}, true},
		{"link retargeted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "link"))
			os.Symlink("/etc/passwd", filepath.Join(dir, "link"))
		}, true},
		{"file truncated by a crash", func(t *testing.T, dir string) {
			os.Truncate(filepath.Join(dir, "desired.yaml"), 0)
		}, true},
		{"a checkout left half written", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(filepath.Dir(dir), ".tmp-123", "deploy"), 0o755)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rm := newRemote(t)
			rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML), "deploy/a.yaml": []byte(blueYAML)})
			if err := os.WriteFile(filepath.Join(rm.work, "run.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			rm.commitAll("run.sh")
			rm.symlink("link", "link", "desired.yaml")
			rm.push(false)
			g := rm.source()
			snap := mustSync(t, g)
			dir := filepath.Dir(snap.Path)

			tt.tamper(t, dir)
			again := mustSync(t, g)
			if again.Commit != snap.Commit || again.Path != snap.Path {
				t.Fatalf("Sync after tampering = %+v, want %+v", again, snap)
			}
			if got := len(again.Notes) == 1 && strings.Contains(again.Notes[0], "written again"); got != tt.note {
				t.Errorf("notes = %q, want a note saying the checkout was written again: %v", again.Notes, tt.note)
			}
			if read(t, again.Path) != blueYAML {
				t.Errorf("desired.yaml not restored")
			}
			entries := commitEntries(t, g, snap.Commit)
			if diffs, err := verify(dir, entries); err != nil || len(diffs) != 0 {
				t.Errorf("checkout still differs from the commit: %v %v", diffs, err)
			}
			if got := checkouts(t, g); len(got) != 1 || got[0] != snap.Commit {
				t.Errorf("checkouts = %v, want only %s", got, snap.Commit)
			}
			if last := mustSync(t, g); len(last.Notes) != 0 {
				t.Errorf("the Sync after the repair has notes: %q", last.Notes)
			}
		})
	}
}

func TestSyncClonesADamagedCloneAgain(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, repo string)
		note   bool // false: the fetch brings the missing objects back
	}{
		{"config garbled", func(t *testing.T, repo string) {
			os.WriteFile(filepath.Join(repo, "config"), []byte("[core\x00garbage"), 0o644)
		}, true},
		{"objects removed", func(t *testing.T, repo string) {
			os.RemoveAll(filepath.Join(repo, "objects"))
			os.MkdirAll(filepath.Join(repo, "objects"), 0o755)
		}, false},
		{"every file garbled", func(t *testing.T, repo string) {
			filepath.WalkDir(repo, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					os.WriteFile(p, []byte("garbage"), 0o644)
				}
				return nil
			})
		}, true},
		{"not a repository", func(t *testing.T, repo string) {
			os.RemoveAll(repo)
			os.MkdirAll(repo, 0o755)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rm := newRemote(t)
			rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
			rm.push(false)
			g := rm.source()
			mustSync(t, g)
			c2 := rm.commit("green", map[string][]byte{"desired.yaml": []byte(greenYAML)})
			rm.push(false)

			tt.damage(t, filepath.Join(g.Dir, "repo.git"))
			snap := mustSync(t, g)
			if snap.Commit != c2 || read(t, snap.Path) != greenYAML {
				t.Fatalf("Sync after damage = %+v, want commit %s", snap, c2)
			}
			cloned := len(snap.Notes) > 0 && strings.Contains(snap.Notes[0], "to clone "+rm.url+" again")
			if cloned != tt.note {
				t.Fatalf("notes = %q, want a note saying the clone was made again: %v", snap.Notes, tt.note)
			}
			if again := mustSync(t, g); again.Commit != c2 || len(again.Notes) != 0 {
				t.Fatalf("the Sync after = %+v", again)
			}
		})
	}
}

func TestSyncKeepsTheCheckoutsNamed(t *testing.T) {
	rm := newRemote(t)
	c1 := rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
	rm.push(false)
	g := rm.source()
	first := mustSync(t, g)
	g.Keep(c1) // the desired state of c1 is in force
	rm.commit("green", map[string][]byte{"desired.yaml": []byte(greenYAML)})
	rm.push(false)
	mustSync(t, g) // refused by the caller, say: not kept
	c3 := rm.commit("green again", map[string][]byte{"desired.yaml": []byte("activeColor: green # 3\n")})
	rm.push(false)
	mustSync(t, g)

	got := checkouts(t, g)
	if len(got) != 2 || !contains(got, c1) || !contains(got, c3) {
		t.Fatalf("checkouts = %v, want %s (kept) and %s (newest)", got, c1, c3)
	}
	if read(t, first.Path) != blueYAML {
		t.Fatalf("the kept checkout changed")
	}
	g.Keep()
	mustSync(t, g)
	if got := checkouts(t, g); len(got) != 1 || got[0] != c3 {
		t.Fatalf("checkouts after Keep() = %v, want only %s", got, c3)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSyncReportsTheRemoteInWords(t *testing.T) {
	rm := newRemote(t)
	rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
	rm.push(false)
	empty := newRemote(t)
	tests := []struct {
		name string
		g    *Git
		want string
	}{
		{"no such branch", &Git{URL: rm.url, Ref: "nope"}, "fetch branch nope of " + rm.url + ": the repository has no branch nope"},
		{"no such tag", &Git{URL: rm.url, Ref: "tags/v9"}, "fetch tag v9 of " + rm.url + ": the repository has no tag v9"},
		{"empty repository", &Git{URL: empty.url}, "fetch branch main of " + empty.url + ": the repository is empty"},
		{"no repository", &Git{URL: "file:///nonexistent/repo.git"}, "fetch branch main of file:///nonexistent/repo.git: no repository at this URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.g.Dir = filepath.Join(t.TempDir(), "git")
			snap, err := tt.g.Sync(context.Background())
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Sync: err = %v\nwant %s", err, tt.want)
			}
			if snap.Commit != "" {
				t.Fatalf("Sync = %+v, want no commit", snap)
			}
		})
	}
}

func TestSyncRefusesABadConfiguration(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "git")
	tests := []struct {
		name string
		g    Git
		want string
	}{
		{"no URL", Git{Dir: dir}, "URL is empty"},
		{"no Dir", Git{URL: "file:///x"}, "Dir is empty"},
		{"password in URL", Git{URL: "https://me:hunter2@example.com/r.git", Dir: dir}, "holds credentials"},
		{"unknown scheme", Git{URL: "ftp://example.com/r.git", Dir: dir}, `scheme "ftp" is not supported`},
		{"token over http", Git{URL: "http://example.com/r.git", InsecureTransport: true, TokenFile: "/t", Dir: dir}, "only used with an https URL"},
		{"ssh key with https", Git{URL: "https://example.com/r.git", SSHKeyFile: "/k", Dir: dir}, "only used with an ssh URL"},
		{"absolute path", Git{URL: "file:///x", Path: "/etc/desired.yaml", Dir: dir}, "must be relative"},
		{"path up", Git{URL: "file:///x", Path: "deploy/../../desired.yaml", Dir: dir}, "leaves the repository"},
		{"bad ref", Git{URL: "file:///x", Ref: "main..x", Dir: dir}, "not a valid branch or tag name"},
		{"other refs", Git{URL: "file:///x", Ref: "refs/pull/1/head", Dir: dir}, "only a branch or a tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.g.Sync(context.Background())
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sync: err = %v, want ErrConfig saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestSyncRefusesADirOthersMayWrite(t *testing.T) {
	rm := newRemote(t)
	rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
	rm.push(false)
	g := rm.source()
	if err := os.MkdirAll(g.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(g.Dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("Sync: err = %v, want a refusal of the mode of %s", err, g.Dir)
	}
}

// commitEntries lists the tree of commit from the local clone of g.
func commitEntries(t *testing.T, g *Git, commit string) []entry {
	t.Helper()
	c, err := g.config()
	if err != nil {
		t.Fatal(err)
	}
	r, err := openRepo(c)
	if err != nil {
		t.Fatal(err)
	}
	co, err := r.CommitObject(plumbingHash(commit))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := treeEntries(r, c, co)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}
