package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
)

// TestBuildContextSameAsDockerCLI builds one tricky context twice, with
// Driver.Build and with `docker build`, from a Dockerfile that copies the
// whole context into the image, and requires both images to hold the same
// files, and the files expected.
//
// The CLI runs its classic builder (DOCKER_BUILDKIT=0), the builder the
// controller uses: that path sends the context as a tar stream made on the
// client, which is what the controller must reproduce. The engine applies
// .dockerignore once more on its side, but only to the Dockerfile and
// .dockerignore themselves, so what else reaches the image is what the
// client sent.
func TestBuildContextSameAsDockerCLI(t *testing.T) {
	ctx := context.Background()
	dir := writeFiles(t, map[string]string{
		".dockerignore": strings.Join([]string{
			"# what neither the controller nor docker build may send",
			"",
			"docker",
			".dockerignore",
			"**/*.log",
			"!important.log",
			"cache",
			"!cache/keep",
			"vendor",
			"!**/LICENSE",
			"secret",
			"!secret/public",
			"secret/public/*.key",
		}, "\n"),
		// The run ID keeps the build cache of another run out of play.
		"app/main.go":               "package main // " + testEnv.runID,
		"app/sub/deep/file.txt":     "deep",
		"app/sub/debug.log":         "x",
		"top.log":                   "x",
		"important.log":             "kept again after **/*.log",
		"cache/junk":                "x",
		"cache/keep":                "kept",
		"cache/inner/x":             "x",
		"docker/Dockerfile":         "FROM scratch\nCOPY . /ctx/\n",
		"docker/notes.txt":          "x",
		"vendor/LICENSE":            "not sent: vendor is not entered for **/LICENSE",
		"vendor/lib.go":             "x",
		"LICENSE":                   "top-level license",
		"secret/private.key":        "x",
		"secret/public/readme.txt":  "public",
		"secret/public/id.key":      "x",
		"app/sub/deep/.hidden/file": "hidden",
	})
	if err := os.Symlink("app/main.go", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	ctrlTag := "bgtest-ctx:" + testEnv.runID + "-controller"
	cliTag := "bgtest-ctx:" + testEnv.runID + "-cli"
	for _, tag := range []string{ctrlTag, cliTag} {
		t.Cleanup(func() {
			_, err := testEnv.raw.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true})
			if err != nil && !isNotFound(err) {
				t.Errorf("cleanup: remove image %s: %v", tag, err)
			}
		})
	}

	ctrlID, err := testEnv.d.Build(ctx, BuildSpec{ContextDir: dir, Dockerfile: "docker/Dockerfile", Tag: ctrlTag})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker", "-H", testEnv.d.Host(), "build", "--no-cache", "-q",
		"-t", cliTag, "-f", filepath.Join(dir, "docker", "Dockerfile"), dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.Bytes())
	}
	cliID := strings.TrimSpace(string(out))
	if ctrlID == cliID {
		t.Fatalf("both builds gave image %s: the comparison would prove nothing", ctrlID)
	}

	ctrlFiles := imageFiles(t, ctrlID, "ctx/")
	cliFiles := imageFiles(t, cliID, "ctx/")
	t.Logf("the controller's image %s holds\n  %s", ctrlID, strings.Join(ctrlFiles, "\n  "))
	if !slices.Equal(ctrlFiles, cliFiles) {
		t.Errorf("the controller's image holds\n  %s\ndocker build's holds\n  %s",
			strings.Join(ctrlFiles, "\n  "), strings.Join(cliFiles, "\n  "))
	}

	want := []string{
		"LICENSE",
		"app/",
		"app/main.go",
		"app/sub/",
		"app/sub/deep/",
		"app/sub/deep/.hidden/",
		"app/sub/deep/.hidden/file",
		"app/sub/deep/file.txt",
		"cache/",
		"cache/keep",
		// The engine removes the excluded Dockerfile it was sent but
		// keeps the directory that holding it made.
		"docker/",
		"empty/",
		"important.log",
		"link -> app/main.go",
		"secret/",
		"secret/public/",
		"secret/public/readme.txt",
	}
	var got []string
	for _, f := range ctrlFiles {
		got = append(got, strings.SplitN(f, "\t", 2)[0])
	}
	if !slices.Equal(got, want) {
		t.Errorf("the controller's image holds\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// imageFiles lists the files below prefix in the image's file system, one
// line each: the name ("/" after a directory, "-> target" after a link),
// then a tab and the type, mode, owner, size and content hash.
func imageFiles(t *testing.T, imageID, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	// A container is needed to export the file system; it never runs.
	c, err := testEnv.raw.ContainerCreate(ctx, &container.Config{Image: imageID, Cmd: []string{"/none"}}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("create a container of %s: %v", imageID, err)
	}
	removeAfter(t, c.ID)
	rc, err := testEnv.raw.ContainerExport(ctx, c.ID)
	if err != nil {
		t.Fatalf("export the container of %s: %v", imageID, err)
	}
	defer rc.Close()

	var files []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read the export of %s: %v", imageID, err)
		}
		name, ok := strings.CutPrefix(h.Name, prefix)
		if !ok || name == "" {
			continue
		}
		sum := sha256.New()
		if _, err := io.Copy(sum, tr); err != nil {
			t.Fatalf("read %s in the export of %s: %v", h.Name, imageID, err)
		}
		if h.Typeflag == tar.TypeSymlink {
			name += " -> " + h.Linkname
		}
		files = append(files, fmt.Sprintf("%s\ttype %c mode %o owner %d:%d size %d sha256 %x",
			name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, sum.Sum(nil)))
	}
	slices.Sort(files)
	return files
}
