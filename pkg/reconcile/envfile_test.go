package reconcile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
)

// secret is an env file's value: it reaches the engine, nothing else.
const secret = "s3cr3t-hunter2"

// createRecorder is the fake engine, keeping the spec of the last create.
type createRecorder struct {
	fakeEngine
	got *docker.CreateSpec
}

func (r createRecorder) Create(ctx context.Context, s docker.CreateSpec) (string, error) {
	*r.got = s
	return r.fakeEngine.Create(ctx, s)
}

// writeEnvFile writes an env file with mode 0600 and returns its path.
func writeEnvFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "web.env")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCreateReadsEnvFilesAgain: the create step carries the env files'
// paths and digest only; the executor reads them when it creates the
// container and gives the engine their variables beside the spec's. When
// they changed since the step was planned, nothing is created.
func TestCreateReadsEnvFilesAgain(t *testing.T) {
	p := writeEnvFile(t, "TOKEN="+secret+"\n")
	s := plantest.Service(t, spec.Blue, "demo:v1", "  env: {LOG_LEVEL: debug}", "  envFile: ["+p+"]")
	green := planner.ContainerSpecOf(s, s.Replica(spec.Green, 0), plantest.ImageV2)
	step := planner.Step{Action: planner.CreateContainer, Color: spec.Green, Container: &planner.ContainerRef{Name: "bg-web-green", Create: green}}
	w := newFakeWorld()
	var got docker.CreateSpec
	d := w.deps()
	d.Containers = createRecorder{fakeEngine{w}, &got}
	if err := d.Execute(context.Background(), step); err != nil {
		t.Fatal(err)
	}
	want := []string{"LOG_LEVEL=debug", "COLOR=green", "PORT=8080", "TOKEN=" + secret}
	if !slices.Equal(got.Env, want) {
		t.Errorf("the engine got env %q, want %q", got.Env, want)
	}
	if slices.Contains(green.Env, "TOKEN="+secret) {
		t.Errorf("the step's own env was given the file's value: %q", green.Env)
	}

	if err := os.WriteFile(p, []byte("TOKEN=rotated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w = newFakeWorld()
	err := w.deps().Execute(context.Background(), step)
	if !errors.Is(err, specfile.ErrEnvFileChanged) || !strings.Contains(err.Error(), "create container bg-web-green") {
		t.Errorf("after the file changed: got %v, want ErrEnvFileChanged for bg-web-green", err)
	}
	if calls := w.mutating(); len(calls) != 0 {
		t.Errorf("a create went ahead with changed env files: %v", calls)
	}
}
