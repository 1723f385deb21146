package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
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

// TestVerbsRefuseAnUnsafeGitURL: a token in --git-url used to be shown by
// validate and kept in status, and http:// or git:// let anyone on the
// network path supply the desired state. Both are refused, in words that
// say what to do, and the token is shown nowhere.
func TestVerbsRefuseAnUnsafeGitURL(t *testing.T) {
	t.Run("credentials", func(t *testing.T) {
		code, _, errOut := runCmd("validate", "--git-url", "https://S3CRET@127.0.0.1:1/r.git")
		if code != exitUsage || !strings.Contains(errOut, "https://xxxxx@127.0.0.1:1/r.git") || !strings.Contains(errOut, "--git-token-file") || strings.Contains(errOut, "S3CRET") {
			t.Fatalf("validate of a URL holding a token: exit %d\n%s", code, errOut)
		}
		var st *state.SourceStatus
		g := newGitSource(options{gitURL: "https://me:S3CRET@127.0.0.1:1/r.git", stateDir: t.TempDir()}, logr.Discard())
		g.status = func(s *state.SourceStatus) { st = s }
		g.sync(context.Background())
		_, err := g.load()
		if st == nil || strings.Contains(fmt.Sprintf("%+v %v", *st, err), "S3CRET") || st.URL != "https://xxxxx@127.0.0.1:1/r.git" {
			t.Fatalf("status = %+v, err = %v: want the URL shown without its credentials", st, err)
		}
	})
	t.Run("http", func(t *testing.T) {
		code, _, errOut := runCmd("validate", "--git-url", "http://127.0.0.1:1/r.git")
		if code != exitUsage || !strings.Contains(errOut, "--git-insecure-transport") {
			t.Fatalf("validate of an http URL: exit %d\n%s", code, errOut)
		}
		t.Setenv("BLUEGREEN_GIT_INSECURE_TRANSPORT", "true")
		code, _, errOut = runCmd("validate", "--git-url", "http://127.0.0.1:1/r.git")
		if code != exitUsage || strings.Contains(errOut, "--git-insecure-transport") || !strings.Contains(errOut, "connection refused") {
			t.Fatalf("validate of an http URL, the network trusted: exit %d\n%s", code, errOut)
		}
	})
}

// TestValidateTimesOutAServerThatNeverAnswers: validate waited for a
// server that accepts and never answers (run waited forever); each fetch
// now ends at --git-timeout.
func TestValidateTimesOutAServerThatNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	url := "git://" + ln.Addr().String() + "/r.git"
	type result struct {
		code   int
		errOut string
	}
	got := make(chan result, 1)
	go func() {
		code, _, errOut := runCmd("validate", "--git-url", url, "--git-insecure-transport", "--git-timeout", "1s")
		got <- result{code, errOut}
	}()
	select {
	case r := <-got:
		if want := "fetch branch main of " + url + ": timed out after 1s"; r.code != exitUsage || !strings.Contains(r.errOut, want) {
			t.Fatalf("validate against a silent server: exit %d\n%s\nwant %q", r.code, r.errOut, want)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("validate still blocked 60s after its 1s --git-timeout")
	}
}
