package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBuildDemoImageAndRun(t *testing.T) {
	RequireDocker(t)
	ctxDir := DemoContext(t)
	for _, f := range []string{"Dockerfile", "demoapp"} {
		if _, err := os.Stat(filepath.Join(ctxDir, f)); err != nil {
			t.Fatalf("demo context: %v", err)
		}
	}
	if again := DemoContext(t); again != ctxDir {
		t.Fatalf("DemoContext built twice: %s, %s", ctxDir, again)
	}

	unique := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	tag1 := "testenv-demo:v1-" + unique
	tag2 := "testenv-demo:v2-" + unique
	id1 := BuildDemoImage(t, tag1, "v1", "")
	id2 := BuildDemoImage(t, tag2, "v2", "")
	if !strings.HasPrefix(id1, "sha256:") || id1 == id2 {
		t.Fatalf("image IDs %q and %q", id1, id2)
	}

	const label = "bluegreen-testenv.test"
	RemoveContainersByLabel(t, label, unique)
	t.Cleanup(func() { RemoveContainersByLabel(t, label, unique) })
	port := FreePort(t)
	if _, err := docker(time.Minute, "run", "-d", "--label", label+"="+unique,
		"-e", "COLOR=blue", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), tag2); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	var got string
	WaitFor(t, 30*time.Second, "demo container answering on "+url, func() bool {
		got, _ = get(url)
		return got == "200 blue v2"
	})

	RemoveContainersByLabel(t, label, unique)
	if ids, err := docker(time.Minute, "ps", "-aq", "--filter", "label="+label+"="+unique); err != nil || ids != "" {
		t.Fatalf("containers left after RemoveContainersByLabel: %q, %v", ids, err)
	}
}
