package docker

import (
	"context"
	"testing"
)

// TestJobContainerPublishesNothing: a container created with NoPublish
// (a release job) has no port binding, so that it can run beside the
// color whose host port it would otherwise take, and keeps its labels,
// command and restart policy "no".
func TestJobContainerPublishesNothing(t *testing.T) {
	ctx := context.Background()
	d := testEnv.d
	labels := managedLabels("job-"+testEnv.runID, "green")
	labels[LabelJob], labels[LabelGeneration] = "migrate", "0123456789ab"
	n := name("job")
	create(t, CreateSpec{Name: n, Image: testEnv.image, Labels: labels, NoPublish: true, Cmd: []string{"migrate", "--to", "2"}})
	ct, err := d.cli.ContainerInspect(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct.HostConfig.PortBindings) != 0 {
		t.Errorf("a job container publishes %v", ct.HostConfig.PortBindings)
	}
	if got := ct.Config.Cmd; len(got) != 3 || got[0] != "migrate" {
		t.Errorf("command %v, want [migrate --to 2]", got)
	}
	if p := ct.HostConfig.RestartPolicy.Name; p != "no" {
		t.Errorf("restart policy %q, want no", p)
	}
	if ct.Config.Labels[LabelJob] != "migrate" || ct.Config.Labels[LabelGeneration] != "0123456789ab" {
		t.Errorf("labels %v lack the job's", ct.Config.Labels)
	}
}
