package docker

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
)

func TestImageID(t *testing.T) {
	ctx := context.Background()

	id, found, err := testEnv.d.ImageID(ctx, testEnv.image)
	if err != nil || !found || id != testEnv.imageID {
		t.Errorf("ImageID(%s) = %q, %v, %v; want %q, true, nil", testEnv.image, id, found, err, testEnv.imageID)
	}
	if !strings.HasPrefix(id, "sha256:") {
		t.Errorf("ImageID(%s) = %q, want a sha256: ID", testEnv.image, id)
	}

	missing := "bgtest-none:" + testEnv.runID
	id, found, err = testEnv.d.ImageID(ctx, missing)
	if err != nil || found || id != "" {
		t.Errorf("ImageID(%s) = %q, %v, %v; want \"\", false, nil", missing, id, found, err)
	}
}

// writeFiles writes files (name -> content) into a new temp directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildMustFail builds a context that must fail and returns the error. If
// the build succeeds anyway, the image is removed.
func buildMustFail(t *testing.T, b BuildSpec) error {
	t.Helper()
	id, err := testEnv.d.Build(context.Background(), b)
	if err == nil {
		testEnv.raw.ImageRemove(context.Background(), b.Tag, image.RemoveOptions{PruneChildren: true})
		t.Fatalf("Build(%s) = %s, want an error", b.Tag, id)
	}
	t.Logf("Build error: %v", err)
	return err
}

func TestBuildFailures(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		spec  BuildSpec // ContextDir and Tag filled in
		want  []string  // after "build image <tag> from <dir>: "
	}{
		{
			name:  "copy of a missing file",
			files: map[string]string{"Dockerfile": "FROM scratch\nCOPY nosuch /nosuch\n"},
			spec:  BuildSpec{Dockerfile: "Dockerfile"},
			want:  []string{"step 2/2 COPY nosuch /nosuch: ", "COPY failed", "nosuch"},
		},
		{
			name: "copy of a file excluded by .dockerignore",
			files: map[string]string{
				"Dockerfile":    "FROM scratch\nCOPY secret.txt /secret.txt\n",
				"secret.txt":    "do not send",
				".dockerignore": "# keep secrets out\nsecret.txt\n",
			},
			spec: BuildSpec{Dockerfile: "Dockerfile"},
			want: []string{"step 2/2 COPY secret.txt /secret.txt: ", "secret.txt"},
		},
		{
			name:  "unknown instruction",
			files: map[string]string{"Dockerfile": "FROM scratch\nBOGUS something\n"},
			spec:  BuildSpec{Dockerfile: "Dockerfile"},
			want:  []string{"unknown instruction", "BOGUS"},
		},
		{
			name:  "no Dockerfile given",
			files: map[string]string{"Dockerfile": "FROM scratch\n"},
			want:  []string{"no Dockerfile path given"},
		},
		// pkg/spec refuses a desired state whose Dockerfile is missing or
		// outside the context; should one reach a build anyway, the engine
		// refuses it and the error says which build failed.
		{
			name:  "missing Dockerfile",
			files: map[string]string{"other": "x"},
			spec:  BuildSpec{Dockerfile: "Dockerfile"},
			want:  []string{"Cannot locate specified Dockerfile: Dockerfile"},
		},
		{
			name:  "Dockerfile outside the context",
			files: map[string]string{"Dockerfile": "FROM scratch\n"},
			spec:  BuildSpec{Dockerfile: "../Dockerfile"},
			want:  []string{"outside the build context", "../Dockerfile"},
		},
		{
			name: "bad .dockerignore pattern",
			files: map[string]string{
				"Dockerfile":    "FROM scratch\n",
				".dockerignore": "*.log\n[a-\n",
			},
			spec: BuildSpec{Dockerfile: "Dockerfile"},
			want: []string{`.dockerignore: bad pattern "[a-": syntax error in pattern`},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.spec
			b.ContextDir = writeFiles(t, tt.files)
			b.Tag = "bgtest-bad:" + testEnv.runID + "-" + string(rune('a'+i))
			err := buildMustFail(t, b)
			prefix := "build image " + b.Tag + " from " + b.ContextDir + ": "
			msg := err.Error()
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestBuildMissingContextDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nosuchdir")
	tag := "bgtest-bad:" + testEnv.runID + "-nodir"
	err := buildMustFail(t, BuildSpec{ContextDir: dir, Dockerfile: "Dockerfile", Tag: tag})
	want := "build image " + tag + " from " + dir + ": build context directory " + dir + " does not exist"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestBuildContextWithSocket(t *testing.T) {
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\n"})
	ln, err := net.Listen("unix", filepath.Join(dir, "app.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tag := "bgtest-bad:" + testEnv.runID + "-socket"
	err = buildMustFail(t, BuildSpec{ContextDir: dir, Dockerfile: "Dockerfile", Tag: tag})
	want := "build image " + tag + " from " + dir + ": build context file app.sock is a socket, which cannot be sent; add it to .dockerignore"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestBuildArgs(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM scratch\nARG GREETING\nENV GREETING=$GREETING\nCOPY a.txt /\n",
		"a.txt":      "a",
	})
	tag := "bgtest-args:" + testEnv.runID
	ctx := context.Background()
	id, err := testEnv.d.Build(ctx, BuildSpec{ContextDir: dir, Dockerfile: "Dockerfile", Tag: tag, Args: map[string]string{"GREETING": "hello world"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := testEnv.raw.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true}); err != nil {
			t.Errorf("cleanup: remove image %s: %v", tag, err)
		}
	})
	img, err := testEnv.raw.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != id {
		t.Errorf("Build returned %s, the tag names %s", id, img.ID)
	}
	if !slices.Contains(img.Config.Env, "GREETING=hello world") {
		t.Errorf("image env %q lacks GREETING=hello world", img.Config.Env)
	}
}

func TestPullFails(t *testing.T) {
	dir := t.TempDir() // no config.json: no credentials
	t.Setenv("DOCKER_CONFIG", dir)
	for _, tt := range []struct{ ref, registry string }{
		{"127.0.0.1:1/bgtest/nonexistent:" + testEnv.runID, "127.0.0.1:1"},
		// Only 127.0.0.1: a name to resolve would send a DNS query off the host.
	} {
		err := testEnv.d.Pull(context.Background(), tt.ref)
		if err == nil {
			t.Fatalf("Pull(%s) succeeded, want an error", tt.ref)
		}
		t.Logf("Pull error: %v", err)
		want := "pull image " + tt.ref + " from registry " + tt.registry + ": no credentials found for " + tt.registry +
			" in " + filepath.Join(dir, "config.json") + " (docker login " + tt.registry + " stores them there): "
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Pull(%s) error = %q, want it to start with %q", tt.ref, err, want)
		}
		if errors.Is(err, ErrUnreachable) {
			t.Errorf("Pull(%s) error wraps ErrUnreachable, but the engine answered", tt.ref)
		}
	}
}

func TestPullBadConfig(t *testing.T) {
	dir := writeFiles(t, map[string]string{"config.json": "{not json"})
	t.Setenv("DOCKER_CONFIG", dir)
	ref := "127.0.0.1:1/bgtest/nonexistent:" + testEnv.runID
	err := testEnv.d.Pull(context.Background(), ref)
	want := "pull image " + ref + ": read the Docker client config in " + dir + ": parsing config file (" + filepath.Join(dir, "config.json") + "): "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Pull(%s) with a malformed config.json = %v, want an error starting with %q", ref, err, want)
	}
}
