package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestServedReplicaKilled: with two replicas per color, SIGKILL of one
// replica of the serving color under load fails no request (HAProxy sends
// its requests to the other, and sends a dropped one again) and the
// replica is started again; SIGKILL of both fails requests only between
// the kill and the first answer after it, as with one replica.
func TestServedReplicaKilled(t *testing.T) {
	e := newEnvReplicas(t, 2)
	e.save(spec.Blue, "v1")
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	one, two := "bg-"+e.svc+"-blue", "bg-"+e.svc+"-blue-2"
	for _, name := range []string{one, two} {
		testenv.WaitFor(t, 10*time.Second, name+" gets restart policy unless-stopped", func() bool {
			return inspectName(t, name, "{{.HostConfig.RestartPolicy.Name}}") == "unless-stopped"
		})
	}
	l := e.startLoad(10, 2)
	waitSent(t, l, 500)

	started := inspectName(t, two, "{{.State.StartedAt}}")
	if out, err := exec.Command("docker", "kill", "-s", "KILL", two).CombinedOutput(); err != nil {
		t.Fatalf("docker kill %s: %v\n%s", two, err, out)
	}
	testenv.WaitFor(t, 30*time.Second, two+" runs again and HAProxy has it UP", func() bool {
		return inspectName(t, two, "{{.State.Running}} {{.State.StartedAt}}") != "true "+started &&
			inspectName(t, two, "{{.State.Running}}") == "true" && e.replicaStatus(spec.Blue, "app2") == "UP"
	})
	e.waitConverged(30 * time.Second)
	waitSent(t, l, l.sent()+500)
	if n := l.failed(); n != 0 {
		t.Errorf("%d requests failed while one of two replicas was killed and started again, want 0", n)
	}
	t.Logf("one replica killed: %d requests, %d failed", l.sent(), l.failed())

	before := l.failed()
	from := time.Now()
	if out, err := exec.Command("docker", "kill", "-s", "KILL", one, two).CombinedOutput(); err != nil {
		t.Fatalf("docker kill %s %s: %v\n%s", one, two, err, out)
	}
	var to time.Time
	testenv.WaitFor(t, 30*time.Second, "blue answers again after both replicas were killed", func() bool {
		if body, err := e.get("/"); err == nil && body == "blue v1" {
			to = time.Now()
			return true
		}
		return false
	})
	e.waitConverged(30 * time.Second)
	waitSent(t, l, l.sent()+500)
	sent, failed, _, fails := l.stop()
	t.Logf("both replicas killed: blue answered again %s after; %d requests in all, %d failed (%d before)",
		to.Sub(from).Round(time.Millisecond), sent, failed, before)
	for _, f := range fails {
		// A request already in flight when the kill came may fail too.
		if !f.End.After(from) || !f.Start.Before(to) {
			t.Errorf("a request failed outside the outage (%s .. %s): %+v", from.Format("15:04:05.000"), to.Format("15:04:05.000"), f)
		}
	}
	ctl.stop()
}

// inspectName reads one field of container name with a Go template.
func inspectName(t *testing.T, name, format string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", format, name).Output()
	if err != nil {
		t.Fatalf("docker inspect %s of %s: %v", format, name, err)
	}
	return strings.TrimSpace(string(out))
}

// TestReplicasScaleUpAndDown: under load, spec.replicas goes from 2 to 3
// (the third replica starts beside the serving two and takes its share)
// and then to 1 (the second and third are drained, stopped and removed),
// with no failed request; HAProxy's backend has three servers throughout,
// from one server-template line.
func TestReplicasScaleUpAndDown(t *testing.T) {
	e := newEnvReplicas(t, 3)
	e.replicas = 2
	e.save(spec.Blue, "v1")
	ctl := e.start()
	e.waitConverged(2 * time.Minute)
	l := e.startLoad(10, 2)
	waitSent(t, l, 500)
	name := func(n int) string {
		if n == 1 {
			return "bg-" + e.svc + "-blue"
		}
		return fmt.Sprintf("bg-%s-blue-%d", e.svc, n)
	}

	e.replicas = 3
	e.save(spec.Blue, "v1")
	e.waitConverged(2 * time.Minute)
	for n := 1; n <= 3; n++ {
		if got := inspectName(t, name(n), "{{.State.Status}}"); got != "running" {
			t.Errorf("after replicas 3, %s is %s", name(n), got)
		}
		if got := e.replicaStatus(spec.Blue, fmt.Sprintf("app%d", n)); got != "UP" {
			t.Errorf("after replicas 3, HAProxy says app%d is %s", n, got)
		}
	}
	waitSent(t, l, l.sent()+500)

	e.replicas = 1
	e.save(spec.Blue, "v1", "  replicas: 1")
	e.waitConverged(2 * time.Minute)
	testenv.WaitFor(t, 30*time.Second, "replicas 2 and 3 removed", func() bool {
		out, _ := exec.Command("docker", "ps", "-a", "--format", "{{.Names}}", "--filter", "label=io.bluegreen.service="+e.svc).Output()
		return strings.TrimSpace(string(out)) == name(1)
	})
	waitSent(t, l, l.sent()+500)
	e.stopLoadNoFailures(l)
	ctl.stop()
}
