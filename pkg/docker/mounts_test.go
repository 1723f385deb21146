package docker

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/mount"
)

// TestMountsAndUser: a container is created with the named volume (made
// by the engine, with the service's labels), the read-only bind mount and
// the user its spec names; a bind mount of a host path that does not exist
// is refused rather than made.
func TestMountsAndUser(t *testing.T) {
	ctx := context.Background()
	d := testEnv.d
	vol := "bgtest-vol-" + testEnv.runID
	t.Cleanup(func() { _ = d.cli.VolumeRemove(context.Background(), vol, true) })
	host := t.TempDir()
	n := name("mounts")
	create(t, CreateSpec{
		Name: n, Image: testEnv.image, Labels: managedLabels("mounts-"+testEnv.runID, "blue"),
		ContainerPort: 8080, HostPort: freePort(t), User: "1000:1000",
		Mounts: []Mount{{Source: vol, Target: "/data", Service: "mounts"}, {Source: host, Target: "/etc/web", Bind: true, ReadOnly: true}},
	})
	ct, err := d.cli.ContainerInspect(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if ct.Config.User != "1000:1000" {
		t.Errorf("user %q, want 1000:1000", ct.Config.User)
	}
	got := map[string]mount.Mount{}
	for _, m := range ct.HostConfig.Mounts {
		got[m.Target] = m
	}
	if m := got["/data"]; m.Type != mount.TypeVolume || m.Source != vol || m.ReadOnly {
		t.Errorf("/data: %+v, want the volume %s, read-write", m, vol)
	}
	if m := got["/etc/web"]; m.Type != mount.TypeBind || m.Source != host || !m.ReadOnly {
		t.Errorf("/etc/web: %+v, want %s bound read-only", m, host)
	}
	v, err := d.cli.VolumeInspect(ctx, vol)
	if err != nil {
		t.Fatalf("the engine did not make volume %s: %v", vol, err)
	}
	if v.Labels[LabelManaged] != "true" || v.Labels[LabelService] != "mounts" {
		t.Errorf("volume %s labels %v, want the controller's, service mounts", vol, v.Labels)
	}

	_, err = d.Create(ctx, CreateSpec{
		Name: name("nobind"), Image: testEnv.image, Labels: managedLabels("mounts-"+testEnv.runID, "green"),
		ContainerPort: 8080, HostPort: freePort(t), Mounts: []Mount{{Source: host + "/missing", Target: "/x", Bind: true}},
	})
	if err == nil {
		t.Errorf("a bind mount of a missing host path was taken")
	}
}
