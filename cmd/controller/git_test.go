package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// pushDesired commits desired as desired.yaml to a new repository and
// pushes it to a bare one, whose file:// URL it returns.
func pushDesired(t *testing.T, desired string) string {
	t.Helper()
	dir := t.TempDir()
	bare, work := filepath.Join(dir, "origin.git"), filepath.Join(dir, "work")
	if _, err := git.PlainInit(bare, true); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInit(work, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{"file://" + bare}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "desired.yaml"), []byte(desired), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if _, err := wt.Add("desired.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit("desired", &git.CommitOptions{Author: &object.Signature{Name: "ops", Email: "ops@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	head, _ := repo.Head()
	if err := repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{config.RefSpec(head.Name().String() + ":refs/heads/main")}}); err != nil {
		t.Fatal(err)
	}
	return "file://" + bare
}

const gitDesired = `apiVersion: bluegreen.dev/v1
kind: Service
metadata: {name: shop}
spec:
  activeColor: green
  image: shop:v2
  colors: {blue: {hostPort: 18081}, green: {hostPort: 18082}}
  haproxy: {runtime: "unix:///run/haproxy/admin.sock", mapFile: /etc/haproxy/hosts.map}
`

// TestVerbsReadTheGitSource: validate and export read the desired state
// of --git-url as run does; a commit whose desired state is refused is
// refused by them too, naming the commit.
func TestVerbsReadTheGitSource(t *testing.T) {
	url := pushDesired(t, gitDesired)
	code, out, errOut := runCmd("validate", "--git-url", url)
	if code != exitOK || !strings.Contains(out, "shop: green runs shop:v2") {
		t.Fatalf("validate --git-url: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCmd("export", "--git-url", url, "--git-path", "desired.yaml")
	if code != exitOK || !strings.Contains(out, "kind: Rollout") || !strings.Contains(out, "image: shop:v2") {
		t.Fatalf("export --git-url: exit %d\n%s\n%s", code, out, errOut)
	}
	bad := pushDesired(t, strings.Replace(gitDesired, "activeColor: green", "activeColor: purple", 1))
	code, _, errOut = runCmd("validate", "--git-url", bad)
	if code != exitUsage || !strings.Contains(errOut, "spec.activeColor") || !strings.Contains(errOut, "commit ") {
		t.Fatalf("validate of a refused commit: exit %d\n%s", code, errOut)
	}
}
