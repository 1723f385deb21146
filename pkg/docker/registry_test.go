package docker

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// writeDockerConfig writes config.json (cfg marshalled) into a new temp
// directory and returns the directory, for DOCKER_CONFIG.
func writeDockerConfig(t *testing.T, cfg any) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeHelper writes a credential helper docker-credential-NAME into a new
// directory put first on PATH: it answers `get` for server with user and
// secret, the way docker-credential-pass and the others do, and says
// "credentials not found" for any other server.
func writeHelper(t *testing.T, name, server, user, secret string) {
	t.Helper()
	dir := t.TempDir()
	script := `#!/bin/sh
[ "$1" = get ] || exit 1
read -r server
if [ "$server" = "` + server + `" ]; then
  printf '{"ServerURL":"%s","Username":"` + user + `","Secret":"` + secret + `"}\n' "$server"
  exit 0
fi
echo "credentials not found in native keychain"
exit 1
`
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// removeImageAfter removes the tag ref when the test ends, if it is there.
func removeImageAfter(t *testing.T, ref string) {
	t.Helper()
	t.Cleanup(func() {
		_, err := testEnv.raw.ImageRemove(context.Background(), ref, image.RemoveOptions{})
		if err != nil && !isNotFound(err) {
			t.Errorf("cleanup: remove image %s: %v", ref, err)
		}
	})
}

// TestPullPrivateRegistry pulls from a real registry on 127.0.0.1 that asks
// for a password, with the credentials `docker login` stored (in the file,
// or from a credential helper), and checks what a pull without them, or
// with a wrong password, says.
func TestPullPrivateRegistry(t *testing.T) {
	ctx := context.Background()
	reg := testenv.StartRegistry(t)
	loggedIn := t.TempDir()
	reg.Login(loggedIn)
	ref := reg.Push(loggedIn, testEnv.image, "bgtest/demo:"+testEnv.runID)
	if _, found, err := testEnv.d.ImageID(ctx, ref); err != nil || found {
		t.Fatalf("ImageID(%s) after the push = found %v, %v; want it gone from this host", ref, found, err)
	}

	// pull pulls ref with DOCKER_CONFIG=dir; on success it checks the
	// image is the one pushed and removes it.
	pull := func(t *testing.T, dir string) error {
		t.Helper()
		t.Setenv("DOCKER_CONFIG", dir)
		removeImageAfter(t, ref)
		err := testEnv.d.Pull(ctx, ref)
		if err != nil {
			t.Logf("Pull error: %v", err)
			if strings.Contains(err.Error(), reg.Password) {
				t.Errorf("Pull error contains the registry password: %v", err)
			}
			return err
		}
		id, found, err := testEnv.d.ImageID(ctx, ref)
		if err != nil || !found || id != testEnv.imageID {
			t.Errorf("ImageID(%s) after Pull = %q, %v, %v; want %s, the image pushed", ref, id, found, err, testEnv.imageID)
		}
		return nil
	}
	mustFail := func(t *testing.T, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("Pull(%s) succeeded, want an error", ref)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Pull error %q does not contain %q", err, w)
			}
		}
	}
	prefix := "pull image " + ref + " from registry " + reg.Addr + ": "

	t.Run("docker login", func(t *testing.T) {
		if b, err := os.ReadFile(filepath.Join(loggedIn, "config.json")); err != nil || !strings.Contains(string(b), reg.Addr) {
			t.Fatalf("docker login left no auths for %s in its config.json: %v\n%s", reg.Addr, err, b)
		}
		if err := pull(t, loggedIn); err != nil {
			t.Fatalf("Pull(%s) with the credentials of docker login: %v", ref, err)
		}
	})

	t.Run("credHelpers", func(t *testing.T) {
		writeHelper(t, "bgtest", reg.Addr, reg.User, reg.Password)
		dir := writeDockerConfig(t, map[string]any{"credHelpers": map[string]string{reg.Addr: "bgtest"}})
		if err := pull(t, dir); err != nil {
			t.Fatalf("Pull(%s) with credentials from helper docker-credential-bgtest: %v", ref, err)
		}
	})

	t.Run("credsStore", func(t *testing.T) {
		writeHelper(t, "bgtest", reg.Addr, reg.User, reg.Password)
		dir := writeDockerConfig(t, map[string]any{"credsStore": "bgtest"})
		if err := pull(t, dir); err != nil {
			t.Fatalf("Pull(%s) with credentials from helper docker-credential-bgtest: %v", ref, err)
		}
	})

	t.Run("no credentials", func(t *testing.T) {
		// Credentials for another registry only.
		dir := writeDockerConfig(t, map[string]any{"auths": map[string]any{"127.0.0.1:1": map[string]string{"auth": "dTpw"}}})
		err := pull(t, dir)
		mustFail(t, err, prefix+"no credentials found for "+reg.Addr+" in "+filepath.Join(dir, "config.json"),
			"docker login "+reg.Addr, "no basic auth credentials")
	})

	t.Run("no config file", func(t *testing.T) {
		dir := t.TempDir()
		err := pull(t, dir)
		mustFail(t, err, prefix+"no credentials found for "+reg.Addr+" in "+filepath.Join(dir, "config.json"))
	})

	t.Run("wrong password", func(t *testing.T) {
		wrong := "wrong-" + reg.Password
		auth := map[string]string{"username": reg.User, "password": wrong}
		dir := writeDockerConfig(t, map[string]any{"auths": map[string]any{reg.Addr: auth}})
		err := pull(t, dir)
		mustFail(t, err, prefix+"with the credentials of user "+reg.User+" for "+reg.Addr+" from "+filepath.Join(dir, "config.json")+": ")
		if err != nil && strings.Contains(err.Error(), wrong) {
			t.Errorf("Pull error contains the password it used: %v", err)
		}
	})

	t.Run("image not in the registry", func(t *testing.T) {
		t.Setenv("DOCKER_CONFIG", loggedIn)
		missing := reg.Addr + "/bgtest/none:" + testEnv.runID
		err := testEnv.d.Pull(ctx, missing)
		if err == nil {
			removeImageAfter(t, missing)
			t.Fatalf("Pull(%s) succeeded, want an error", missing)
		}
		t.Logf("Pull error: %v", err)
		want := "pull image " + missing + " from registry " + reg.Addr + ": with the credentials of user " + reg.User + " for " + reg.Addr + " from " + filepath.Join(loggedIn, "config.json") + ": "
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Pull error = %q, want it to start with %q", err, want)
		}
		if strings.Contains(err.Error(), reg.Password) {
			t.Errorf("Pull error contains the registry password: %v", err)
		}
	})
}

// TestRedactCreds: whatever the engine answers, the credentials sent with
// the pull do not reach the error's message.
func TestRedactCreds(t *testing.T) {
	c, err := lookupCreds("127.0.0.1:5000/app:v1", writeDockerConfig(t, map[string]any{
		"auths": map[string]any{"127.0.0.1:5000": map[string]string{"username": "u", "password": "s3cret-pw"}},
	}))
	if err != nil || !c.found {
		t.Fatalf("lookupCreds = %+v, %v; want credentials found", c, err)
	}
	engine := errors.New("registry said: bad password s3cret-pw; header " + c.encoded)
	got := c.redact(engine)
	if strings.Contains(got.Error(), "s3cret-pw") || strings.Contains(got.Error(), c.encoded) {
		t.Errorf("redact = %q, still holds a credential", got)
	}
	if !errors.Is(got, engine) {
		t.Errorf("redact(%v) does not wrap the engine's error", engine)
	}
	if plain := errors.New("manifest unknown"); c.redact(plain) != plain {
		t.Errorf("redact changed an error that holds no credential")
	}
}
