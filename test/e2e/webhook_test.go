package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/notify"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestWebhooksDuringARelease: a release under load is reported to a
// webhook receiver, signed, in order (started, then succeeded), while a
// second receiver that never answers holds its first request: the
// release is not held up by it, and no request of the load fails.
func TestWebhooksDuringARelease(t *testing.T) {
	e := newEnv(t)
	secret := filepath.Join(e.dir, "webhook.secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type event struct {
		Type, Service, Generation, Outcome string
		Seq                                int
	}
	var (
		mu     sync.Mutex
		events []event
		bad    []string
	)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev event
		mu.Lock()
		defer mu.Unlock()
		if !notify.Verify([]byte("s3cret"), body, r.Header.Get(notify.SignatureHeader)) {
			bad = append(bad, "bad signature: "+string(body))
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			bad = append(bad, "not JSON: "+string(body))
		}
		events = append(events, ev)
	}))
	t.Cleanup(rec.Close)
	release := make(chan struct{})
	var hung sync.WaitGroup
	hangs := 0
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hangs++
		mu.Unlock()
		hung.Add(1)
		defer hung.Done()
		select { // never answers while the test runs
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })

	e.save(spec.Blue, "v1")
	ctl := e.start("--webhook", rec.URL, "--webhook", hang.URL, "--webhook-secret-file", secret)
	e.waitConverged(2 * time.Minute)

	l := e.startLoad(20, 5)
	waitSent(t, l, 1000)
	switched := e.watchSwitch(e.svc+"_green", false)
	e.save(spec.Green, "v2")
	gen := e.generation()
	select {
	case <-switched.at:
	case <-time.After(2 * time.Minute):
		t.Fatalf("never switched\ncontroller log:\n%s", ctl.output())
	}
	e.waitConverged(2 * time.Minute)
	// The first start is a release too; this one's events are those of
	// the new generation.
	ofRelease := func() []event {
		var out []event
		for _, ev := range events {
			if ev.Generation == gen {
				out = append(out, ev)
			}
		}
		return out
	}
	testenv.WaitFor(t, 30*time.Second, "the release's events at the receiver", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ofRelease()) >= 2
	})
	mu.Lock()
	got := ofRelease()
	gotBad, gotHangs := append([]string(nil), bad...), hangs
	mu.Unlock()
	t.Logf("events: %+v; the hanging receiver got %d requests", got, gotHangs)
	if len(gotBad) > 0 {
		t.Errorf("bad deliveries: %v", gotBad)
	}
	want := []string{"ReleaseStarted", "ReleaseSucceeded"}
	if len(got) != len(want) {
		t.Fatalf("events %+v, want %v", got, want)
	}
	for i, ev := range got {
		if ev.Type != want[i] || ev.Service != e.svc || i > 0 && ev.Seq <= got[i-1].Seq {
			t.Errorf("event %d = %+v, want %s of %s, in sequence", i, ev, want[i], e.svc)
		}
	}
	if gotHangs == 0 {
		t.Errorf("the hanging receiver got no request")
	}
	e.stopLoadNoFailures(l)
	ctl.stop()
}
