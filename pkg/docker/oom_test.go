package docker

import (
	"context"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// TestOOMKilled: a container that allocates past its memory limit is
// killed by the kernel; Inspect says OOMKilled (or, when the engine's flag
// missed it, the engine's oom event or the kernel log does), and a
// container that exits by itself has no oom event and no kill in the
// kernel log.
func TestOOMKilled(t *testing.T) {
	ctx := context.Background()
	img := "bgtest-rude:oom-" + testEnv.runID
	testenv.BuildRudeImage(t, img, "v1", "alloc=64")
	n := name("oom")
	id := create(t, CreateSpec{
		Name: n, Image: img, Labels: managedLabels("oom-"+testEnv.runID, "green"),
		ContainerPort: 8080, HostPort: freePort(t), Memory: 16 << 20,
	})
	before := time.Now()
	if err := testEnv.d.Start(ctx, n); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitExited(t, id)
	c, _, err := testEnv.d.Inspect(ctx, n)
	if err != nil || c.ExitCode != 137 {
		t.Fatalf("Inspect = %+v, %v; want exit code 137", c, err)
	}
	oom, err := testEnv.d.OOMKilledBetween(ctx, c.ID, before.Add(-time.Second), time.Now())
	if err != nil || !oom {
		t.Fatalf("OOMKilledBetween = %v, %v; want an oom event (Inspect's OOMKilled: %v)", oom, err, c.OOMKilled)
	}
	// The kernel log on its own. (The engine's event is not asked on its
	// own: it misses a kill in the container's first milliseconds, which
	// is why the kernel log is read.)
	if oom, err := kernelOOMKilled(kmsgPath, c.ID, before.Add(-time.Second), time.Now()); err != nil || !oom {
		t.Errorf("the kernel log: %v, %v; want the OOM kill of %s", oom, err, c.ID)
	}

	// A container that exits by itself: no oom event.
	n2 := name("exit-no-oom")
	id2 := create(t, CreateSpec{
		Name: n2, Image: testEnv.image, Labels: managedLabels("oom2-"+testEnv.runID, "green"),
		Env: []string{"APP_MODE=exit"}, ContainerPort: 8080, HostPort: freePort(t), Memory: 64 << 20,
	})
	before = time.Now()
	if err := testEnv.d.Start(ctx, n2); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitExited(t, id2)
	c2, _, _ := testEnv.d.Inspect(ctx, n2)
	if oom, err := testEnv.d.OOMKilledBetween(ctx, c2.ID, before.Add(-time.Second), time.Now()); err != nil || oom || c2.OOMKilled {
		t.Fatalf("a plain exit: OOMKilledBetween = %v, %v, OOMKilled %v; want false", oom, err, c2.OOMKilled)
	}
	if oom, err := kernelOOMKilled(kmsgPath, c2.ID, before.Add(-time.Second), time.Now()); err != nil || oom {
		t.Fatalf("a plain exit: the kernel log says %v, %v; want no OOM kill", oom, err)
	}
}
