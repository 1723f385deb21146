package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// These are integration tests against the local Docker engine. TestMain
// builds the demo app into an image with a unique tag; every container a
// test makes carries a unique name and is force-removed by ID afterwards.

// testEnv is shared by all tests in the package.
var testEnv struct {
	d       *Driver
	raw     *client.Client // for setting up and cleaning up behind the driver's back
	runID   string         // unique per run, in every name and tag
	image   string         // tag of the demo app image, VERSION=v1
	imageID string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "FAIL: pkg/docker integration tests: "+format+"\n", args...)
		return 1
	}

	d, err := New(ctx)
	if err == nil {
		_, err = d.cli.Ping(ctx)
	}
	if err != nil {
		flag.Parse()
		if testing.Short() {
			fmt.Fprintf(os.Stderr, "SKIP: pkg/docker integration tests in -short mode: the local Docker engine does not answer: %v\n", err)
			return 0
		}
		return fail("these tests need the local Docker engine (go test -short skips them): %v", err)
	}
	defer d.Close()
	raw, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fail("raw Docker client: %v", err)
	}
	defer raw.Close()

	runID := randomID()
	testEnv.d, testEnv.raw, testEnv.runID = d, raw, runID
	testEnv.image = "bgtest-demo:" + runID

	dir, err := os.MkdirTemp("", "bgtest-demo-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(dir)
	if err := prepareDemoContext(dir); err != nil {
		return fail("prepare the demo app build context: %v", err)
	}
	id, err := d.Build(ctx, BuildSpec{ContextDir: dir, Dockerfile: "Dockerfile", Tag: testEnv.image, Args: map[string]string{"VERSION": "v1"}})
	if err != nil {
		return fail("%v", err)
	}
	testEnv.imageID = id
	// Remove by tag, not by ID: a cached build may share its ID with images
	// this run did not make, and those must stay.
	defer func() {
		if _, err := raw.ImageRemove(ctx, testEnv.image, image.RemoveOptions{PruneChildren: true}); err != nil {
			fmt.Fprintf(os.Stderr, "cleanup: remove image %s: %v\n", testEnv.image, err)
		}
	}()
	return m.Run()
}

// prepareDemoContext builds the static demo binary into dir and copies the
// demo app's Dockerfile and .dockerignore next to it.
func prepareDemoContext(dir string) error {
	src := filepath.Join("..", "..", "examples", "demoapp")
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "demoapp"), filepath.ToSlash(src))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build the demo app: %v\n%s", err, out)
	}
	for _, name := range []string{"Dockerfile", ".dockerignore"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func randomID() string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// name returns a container name unique to this run.
func name(suffix string) string {
	return "bgtest-" + testEnv.runID + "-" + suffix
}

// managedLabels returns the labels the controller would set.
func managedLabels(service, color string) map[string]string {
	return map[string]string{
		LabelManaged:  "true",
		LabelService:  service,
		LabelColor:    color,
		LabelImage:    testEnv.image,
		LabelSpecHash: "test-" + testEnv.runID,
	}
}

// removeAfter force-removes the container id when the test ends.
func removeAfter(t *testing.T, id string) {
	t.Helper()
	t.Cleanup(func() {
		err := testEnv.raw.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true})
		if err != nil && !isNotFound(err) {
			t.Errorf("cleanup: remove container %s: %v", id, err)
		}
	})
}

// create creates a container through the driver and removes it afterwards.
func create(t *testing.T, s CreateSpec) string {
	t.Helper()
	id, err := testEnv.d.Create(context.Background(), s)
	if err != nil {
		t.Fatalf("Create(%s): %v", s.Name, err)
	}
	removeAfter(t, id)
	return id
}

// freePort returns a loopback port reserved for this test (see testenv).
func freePort(t *testing.T) int { return testenv.FreePort(t) }

// httpGet does one GET and returns the status and body.
func httpGet(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitHTTP polls url until it answers 200 and returns the body. The deadline
// only bounds a broken test; nothing asserts on how long it took.
func waitHTTP(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lastErr error
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		status, body, err := httpGet(rctx, url)
		rcancel()
		if err == nil && status == http.StatusOK {
			return body
		}
		if err == nil {
			err = errors.New("status " + strconv.Itoa(status))
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s never answered 200: %v", url, lastErr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitLogs polls the container's logs until they contain want.
func waitLogs(t *testing.T, name, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		logs, err := testEnv.d.Logs(ctx, name, 0)
		if err == nil && strings.Contains(logs, want) {
			return logs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("logs of %s never contained %q: err=%v, logs:\n%s", name, want, err, logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitExited blocks until the container is no longer running.
func waitExited(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	okc, errc := testEnv.raw.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case <-okc:
	case err := <-errc:
		t.Fatalf("wait for container %s to exit: %v", id, err)
	}
}
