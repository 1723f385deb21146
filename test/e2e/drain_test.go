package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// slowRequest is one long request through the frontend.
type slowRequest struct {
	start, end time.Time
	body       string
	err        error
	done       chan struct{}
}

func (e *env) slow(ms string) *slowRequest {
	r := &slowRequest{start: time.Now(), done: make(chan struct{})}
	client := &http.Client{Timeout: time.Minute}
	go func() {
		defer close(r.done)
		defer func() { r.end = time.Now() }()
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/slow?ms=%s", e.front, ms))
		if err != nil {
			r.err = err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		r.body, r.err = strings.TrimSpace(string(b)), err
		if resp.StatusCode != http.StatusOK {
			r.err = fmt.Errorf("%s: %s", resp.Status, r.body)
		}
	}()
	return r
}

// waitSessions waits until color c's server has a session in HAProxy.
func (e *env) waitSessions(c spec.Color) {
	e.t.Helper()
	rt := e.runtime()
	testenv.WaitFor(e.t, 10*time.Second, string(c)+" has a session", func() bool {
		r, err := rt.ServerStat(context.Background(), e.svc+"_"+string(c), "app")
		return err == nil && r.Sessions() > 0
	})
}

// finishedAt is when a color's container last stopped.
func (e *env) finishedAt(c spec.Color) time.Time {
	e.t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.FinishedAt}}", "bg-"+e.svc+"-"+string(c)).Output()
	if err != nil {
		e.t.Fatalf("inspect %s: %v", c, err)
	}
	at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(out)))
	if err != nil {
		e.t.Fatalf("parse FinishedAt %q: %v", out, err)
	}
	return at
}

// TestDrainLetsInFlightFinish: a request in flight on blue when traffic
// moves to green completes successfully before blue's container stops.
func TestDrainLetsInFlightFinish(t *testing.T) {
	e := newEnv(t)
	e.save(spec.Blue, "v1")
	if code, out := e.once(); code != 0 {
		t.Fatalf("first start: exit %d\n%s", code, out)
	}
	ctl := e.start()
	req := e.slow("10000") // outlasts building and starting green
	e.waitSessions(spec.Blue)
	e.save(spec.Green, "v2")
	e.waitConverged(2 * time.Minute)
	<-req.done
	if req.err != nil || req.body != "blue v1" {
		t.Fatalf("the request in flight during the release got %q, %v; want \"blue v1\"", req.body, req.err)
	}
	if stopped := e.finishedAt(spec.Blue); stopped.Before(req.end.Add(-50 * time.Millisecond)) {
		t.Fatalf("blue stopped at %s, before its in-flight request ended at %s", stopped.Format(time.StampMilli), req.end.Format(time.StampMilli))
	}
	if !strings.Contains(ctl.output(), "draining blue: 1 sessions left") {
		t.Errorf("the controller never reported waiting for blue's session:\n%s", ctl.output())
	}
	if got, err := e.get("/"); err != nil || got != "green v2" {
		t.Fatalf("after the release the frontend answers %q (%v)", got, err)
	}
}

// TestDrainTimeoutHonoured: with a drain timeout shorter than a request in
// flight, blue is stopped once the timeout passes, and the controller says so.
func TestDrainTimeoutHonoured(t *testing.T) {
	e := newEnv(t)
	e.drainTimeout, e.stopTimeout = "1s", "1s"
	e.save(spec.Blue, "v1")
	if code, out := e.once(); code != 0 {
		t.Fatalf("first start: exit %d\n%s", code, out)
	}
	ctl := e.start()
	req := e.slow("20000")
	e.waitSessions(spec.Blue)
	e.save(spec.Green, "v2")
	e.waitConverged(2 * time.Minute)
	if stopped := e.finishedAt(spec.Blue); !stopped.Before(req.start.Add(20 * time.Second)) {
		t.Fatalf("blue stopped at %s, not before the 20 s request would have ended", stopped.Format(time.StampMilli))
	}
	want := "drain timeout 1s passed with 1 sessions left"
	if !strings.Contains(ctl.output(), want) {
		t.Fatalf("the controller did not report %q:\n%s", want, ctl.output())
	}
	<-req.done
	t.Logf("the request cut by the drain timeout ended with %q, %v (the operator chose a 1s drain and stop timeout)", req.body, req.err)
}
