package main

import (
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// pushDesired commits desired as desired.yaml to a new config repository
// and returns its URL.
func pushDesired(t *testing.T, desired string) string {
	t.Helper()
	r := testenv.NewGitRemote(t, t.TempDir())
	r.Commit("desired", map[string][]byte{"desired.yaml": []byte(desired)}, false)
	return r.URL
}

// gitDesired is service shop, green serving shop:v2.
var gitDesired = func() string {
	d := spectest.Web()
	d.Name, d.Active, d.Image = "shop", "green", "shop:v2"
	return d.YAML()
}()

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
