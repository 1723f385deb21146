package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/docker/docker/client"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestCreateOnDockerWithEnvFileAndLogging, against the local Docker
// engine: a service loaded with an env file and no logging is created by
// the executor with the file's variable in its environment and the
// rotating default logging, as docker inspect shows them.
func TestCreateOnDockerWithEnvFileAndLogging(t *testing.T) {
	testenv.RequireDocker(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "envtest-" + hex.EncodeToString(b)
	tag := "bgtest-" + name + ":v1"
	imageID := testenv.BuildDemoImage(t, tag, "v1", "")
	testenv.RemoveContainersByLabel(t, docker.LabelService, name)
	t.Cleanup(func() { testenv.RemoveContainersByLabel(t, docker.LabelService, name) })

	p := writeEnvFile(t, "# the API token\nTOKEN="+secret+"\n")
	d := spectest.Web("  envFile: [" + p + "]")
	d.Name, d.Image, d.BluePort, d.GreenPort = name, tag, testenv.FreePort(t), testenv.FreePort(t)
	svcs, err := specfile.Parse([]byte(d.YAML()), "desired.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	drv, err := docker.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	cs := planner.ContainerSpecOf(&svcs[0], svcs[0].Replica(spec.Blue, 0), imageID)
	deps := &Deps{Containers: drv}
	if err := deps.Execute(ctx, planner.Step{Action: planner.CreateContainer, Service: name, Color: spec.Blue,
		Container: &planner.ContainerRef{Name: cs.Name, Create: cs}}); err != nil {
		t.Fatal(err)
	}

	raw, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ct, err := raw.ContainerInspect(ctx, cs.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ct.Config.Env, "TOKEN="+secret) || !slices.Contains(ct.Config.Env, "COLOR=blue") {
		t.Errorf("container env %q: want TOKEN from the env file beside COLOR", ct.Config.Env)
	}
	lc := ct.HostConfig.LogConfig
	if lc.Type != "json-file" || lc.Config["max-size"] != "10m" || lc.Config["max-file"] != "3" {
		t.Errorf("log config %+v: want the default, json-file with max-size 10m and max-file 3", lc)
	}
}
