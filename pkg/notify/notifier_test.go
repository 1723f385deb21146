package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// request is one request a receiver got.
type request struct {
	header http.Header
	body   []byte
	event  Event
}

// receiver records what it is sent and answers with answer (200 when nil).
type recorder struct {
	t      *testing.T
	mu     sync.Mutex
	got    []request
	answer func(n int, w http.ResponseWriter, r *http.Request)
	srv    *httptest.Server
}

func newRecorder(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *recorder {
	rec := &recorder{t: t, answer: answer}
	rec.srv = httptest.NewServer(http.HandlerFunc(rec.serve))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rec.t.Errorf("receiver: read body: %v", err)
		return
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		rec.t.Errorf("receiver: decode %s: %v", body, err)
	}
	rec.mu.Lock()
	rec.got = append(rec.got, request{header: r.Header.Clone(), body: body, event: e})
	n := len(rec.got)
	rec.mu.Unlock()
	if rec.answer != nil {
		rec.answer(n, w, r)
	}
}

func (rec *recorder) requests() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.got...)
}

// of lists the events received for service, in the order they came.
func (rec *recorder) of(service string) []Event {
	var out []Event
	for _, r := range rec.requests() {
		if r.event.Service == service {
			out = append(out, r.event)
		}
	}
	return out
}

func writeSecret(t *testing.T, mode os.FileMode, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func newNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n
}

func testLogger(t *testing.T) logr.Logger {
	return funcr.New(func(prefix, args string) { t.Log(prefix, args) }, funcr.Options{})
}

// closeNow closes n, waiting up to 10 s for every event to go.
func closeNow(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func service(t *testing.T, name string, active spec.Color, image string) *spec.Service {
	t.Helper()
	return &spec.Service{Name: name, ServiceSpec: spec.ServiceSpec{ActiveColor: active, Image: image}}
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func ended(service string, from, to spec.Color, fromImage, toImage, outcome, reason string, end time.Time) state.Release {
	sw := t0.Add(5 * time.Second)
	return state.Release{Service: service, Generation: "0123456789ab", From: from, To: to, FromImage: fromImage, ToImage: toImage,
		Start: t0, SwitchedAt: &sw, End: end, Outcome: outcome, Reason: reason}
}

// TestEventsArriveInOrderSigned: every event of a service reaches the
// receiver in the order it happened, numbered from 1, with its payload,
// and signed with the secret.
func TestEventsArriveInOrderSigned(t *testing.T) {
	rec := newRecorder(t, nil)
	secret := "s3cret-for-the-test"
	n := newNotifier(t, Config{URLs: []string{rec.srv.URL + "/hook"}, SecretFile: writeSecret(t, 0o600, secret+"\n")})

	web := service(t, "web", spec.Green, "demo:v2")
	n.ReleaseStarted(web, spec.Blue, t0)
	n.ReleaseStarted(service(t, "api", spec.Blue, "api:v1"), "", t0)
	n.Stepped("web", planner.Step{Action: planner.SwitchMap}, time.Millisecond, nil) // nothing
	n.ReleaseEnded(ended("web", spec.Blue, spec.Green, "demo:v1", "demo:v2", planner.OutcomeRolledBack, "213 of 213 requests were 5xx", t0.Add(time.Minute)))
	n.ReleaseEnded(ended("api", "", spec.Blue, "", "api:v1", planner.OutcomeSucceeded, "blue serves api:v1", t0.Add(time.Minute)))
	n.ReleaseEnded(ended("web", spec.Blue, spec.Green, "demo:v1", "demo:v3", planner.OutcomeFailed, "ReadyTimeout: green not ready", t0.Add(2*time.Minute)))
	n.ReleaseEnded(ended("web", spec.Blue, spec.Green, "demo:v1", "demo:v4", planner.OutcomeSuperseded, "the spec changed", t0.Add(3*time.Minute)))
	v := reconcile.ServiceView{Service: "web", Generation: "0123456789ab", Served: spec.Blue, ServedRestarts: 4}
	n.Decided(v, planner.Decision{Phase: planner.Degraded, Reason: "CrashLoop", Message: "blue serves but its container exited 2"}, t0.Add(4*time.Minute))
	closeNow(t, n)

	type want struct {
		typ, from, to, fromImage, toImage, outcome, reason string
	}
	for svc, wants := range map[string][]want{
		"web": {
			{ReleaseStarted, "blue", "green", "", "demo:v2", "", ""},
			{ReleaseRolledBack, "blue", "green", "demo:v1", "demo:v2", "RolledBack", "213 of 213 requests were 5xx"},
			{ReleaseFailed, "blue", "green", "demo:v1", "demo:v3", "Failed", "ReadyTimeout: green not ready"},
			{ReleaseSuperseded, "blue", "green", "demo:v1", "demo:v4", "Superseded", "the spec changed"},
			{CrashLoop, "", "", "", "", "", "blue serves but its container exited 2"},
		},
		"api": {
			{ReleaseStarted, "", "blue", "", "api:v1", "", ""},
			{ReleaseSucceeded, "", "blue", "", "api:v1", "Succeeded", "blue serves api:v1"},
		},
	} {
		got := rec.of(svc)
		if len(got) != len(wants) {
			t.Fatalf("%s: %d events, want %d: %+v", svc, len(got), len(wants), got)
		}
		for i, w := range wants {
			e := got[i]
			g := want{e.Type, string(e.From), string(e.To), e.FromImage, e.ToImage, e.Outcome, e.Reason}
			if g != w {
				t.Errorf("%s event %d: %+v, want %+v", svc, i+1, g, w)
			}
			if e.Seq != uint64(i+1) {
				t.Errorf("%s event %d: seq %d", svc, i+1, e.Seq)
			}
			if e.ID == "" || e.Text == "" || e.Time.IsZero() {
				t.Errorf("%s event %d: id %q, text %q, time %v: want all set", svc, i+1, e.ID, e.Text, e.Time)
			}
		}
	}
	web1 := rec.of("web")
	if web1[0].Generation != web.Generation() || web1[1].Generation != "0123456789ab" {
		t.Errorf("generations %q, %q", web1[0].Generation, web1[1].Generation)
	}
	if !web1[1].Time.Equal(t0.Add(time.Minute)) || web1[1].Start == nil || !web1[1].SwitchedAt.Equal(t0.Add(5*time.Second)) {
		t.Errorf("rolled back event times: %+v", web1[1])
	}
	if c := web1[4]; c.Color != spec.Blue || c.Restarts != 4 || c.Generation != "0123456789ab" {
		t.Errorf("crash loop event: %+v", c)
	}
	if want := "web: release of demo:v2 to green was rolled back: 213 of 213 requests were 5xx; blue serves demo:v1 again"; web1[1].Text != want {
		t.Errorf("text %q, want %q", web1[1].Text, want)
	}

	for _, r := range rec.requests() {
		sig := r.header.Get("X-Bluegreen-Signature-256")
		if !Verify([]byte(secret), r.body, sig) {
			t.Errorf("%s event %d: signature %q does not verify", r.event.Service, r.event.Seq, sig)
		}
		if Verify([]byte("another secret"), r.body, sig) {
			t.Errorf("%s event %d: verifies under another secret", r.event.Service, r.event.Seq)
		}
		if r.header.Get("X-Bluegreen-Event") != r.event.Type || r.header.Get("X-Bluegreen-Delivery") != r.event.ID ||
			r.header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v for %s event %d", r.header, r.event.Service, r.event.Seq)
		}
	}
	if s := n.Stats(); s != (Stats{Delivered: 7}) {
		t.Errorf("stats %+v, want 7 delivered", s)
	}
}

// TestSignatureIsHMACOfBody pins the signature format: sha256= and the
// hex HMAC-SHA256 of the body (RFC 4231 test case 2).
func TestSignatureIsHMACOfBody(t *testing.T) {
	got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	want := "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	for _, bad := range []string{"", "5bdcc146", "sha256=zz", "sha1=" + want[7:]} {
		if Verify([]byte("Jefe"), []byte("what do ya want for nothing?"), bad) {
			t.Errorf("Verify accepts %q", bad)
		}
	}
}

// TestNoSecretNoSignature: without a secret file, no signature header.
func TestNoSecretNoSignature(t *testing.T) {
	rec := newRecorder(t, nil)
	n := newNotifier(t, Config{URLs: []string{rec.srv.URL}})
	n.ReleaseStarted(service(t, "web", spec.Green, "demo:v2"), spec.Blue, t0)
	closeNow(t, n)
	r := rec.requests()
	if len(r) != 1 || r[0].header.Get(SignatureHeader) != "" {
		t.Fatalf("requests %+v: want one, unsigned", r)
	}
}

// TestEveryReceiverGetsEveryEvent: two URLs, each gets the whole sequence.
func TestEveryReceiverGetsEveryEvent(t *testing.T) {
	a, b := newRecorder(t, nil), newRecorder(t, nil)
	n := newNotifier(t, Config{URLs: []string{a.srv.URL, b.srv.URL}})
	for i := range 5 {
		n.ReleaseStarted(service(t, "web", spec.Green, "demo:v"+string(rune('1'+i))), spec.Blue, t0)
	}
	closeNow(t, n)
	for name, rec := range map[string]*recorder{"first": a, "second": b} {
		got := rec.of("web")
		if len(got) != 5 {
			t.Fatalf("%s receiver: %d events, want 5", name, len(got))
		}
		for i, e := range got {
			if e.Seq != uint64(i+1) {
				t.Errorf("%s receiver: event %d has seq %d", name, i+1, e.Seq)
			}
		}
	}
}

// TestCrashLoopReportedWhenItStarts: a crash loop is reported at its
// first decision, not at every pass, nor when it comes back soon after a
// pause; once quiet long enough, a new one is reported.
func TestCrashLoopReportedWhenItStarts(t *testing.T) {
	rec := newRecorder(t, nil)
	n := newNotifier(t, Config{URLs: []string{rec.srv.URL}, CrashLoopQuiet: 10 * time.Minute})
	v := reconcile.ServiceView{Service: "web", Generation: "0123456789ab", Served: spec.Blue, ServedRestarts: 1}
	crash := planner.Decision{Phase: planner.Degraded, Reason: "CrashLoop", Message: "blue keeps dying"}
	fine := planner.Decision{Phase: planner.Converged, Reason: "Converged"}
	at := t0
	for range 5 { // every pass of a crash loop
		n.Decided(v, crash, at)
		at = at.Add(time.Second)
	}
	n.Decided(v, fine, at)
	at = at.Add(time.Minute)
	n.Decided(v, crash, at) // back within the quiet time: the same episode
	at = at.Add(11 * time.Minute)
	n.Decided(v, fine, at)
	v.ServedRestarts = 9
	n.Decided(v, crash, at.Add(time.Second)) // quiet for 11 minutes: a new one
	closeNow(t, n)
	got := rec.of("web")
	if len(got) != 2 || got[0].Type != CrashLoop || got[1].Type != CrashLoop || got[1].Restarts != 9 {
		t.Fatalf("events %+v: want two crash loops, the second with 9 restarts", got)
	}
}

// TestServedColorDownReportedWhenItStarts: an outage is reported once
// when it starts, not at every pass, and again after the service was well;
// a restart for failing health is reported with its cause.
func TestServedColorDownReportedWhenItStarts(t *testing.T) {
	rec := newRecorder(t, nil)
	n := newNotifier(t, Config{URLs: []string{rec.srv.URL}})
	v := reconcile.ServiceView{Service: "web", Generation: "0123456789ab", Served: spec.Blue}
	down := planner.Decision{Phase: planner.Degraded, Reason: planner.ReasonServedColorDown, Message: "blue serves but HAProxy says web_blue/app is DOWN"}
	fine := planner.Decision{Phase: planner.Converged, Reason: "Converged"}
	at := t0
	for range 5 {
		n.Decided(v, down, at)
		at = at.Add(time.Second)
	}
	n.Stepped("web", planner.Step{Action: planner.RestartContainer, Service: "web", Color: spec.Blue, Target: "bg-web-blue", Cause: "blue has failed its health for 1m0s"}, time.Second, nil)
	n.Stepped("web", planner.Step{Action: planner.RestartContainer, Service: "web", Color: spec.Blue, Target: "bg-web-blue", Cause: "failed step"}, time.Second, errors.New("engine down"))
	n.Decided(v, fine, at)
	n.Decided(v, down, at.Add(time.Second))
	closeNow(t, n)
	got := rec.of("web")
	if len(got) != 3 || got[0].Type != ServedColorDown || got[1].Type != ServedColorRestarted || got[2].Type != ServedColorDown {
		t.Fatalf("events %+v: want ServedColorDown, ServedColorRestarted, ServedColorDown", got)
	}
	if got[0].Color != spec.Blue || !strings.Contains(got[0].Reason, "DOWN") || !strings.Contains(got[1].Reason, "failed its health") {
		t.Errorf("events %+v do not say which color and why", got)
	}
}

// TestCanaryStepReportedWhenItBegins: each canary step is reported once,
// when it begins, with its step, weight and colors; passes in the same
// step and after the canary post nothing.
func TestCanaryStepReportedWhenItBegins(t *testing.T) {
	rec := newRecorder(t, nil)
	n := newNotifier(t, Config{URLs: []string{rec.srv.URL}})
	progressing := planner.Decision{Phase: planner.Progressing, Reason: planner.ReasonCanary}
	at := t0
	for _, step := range []int{0, 1, 1, 1, 2, 2, 0, 0} {
		v := reconcile.ServiceView{Service: "web", Generation: "0123456789ab", Served: spec.Blue}
		if step > 0 {
			v.Canary = &planner.Split{From: spec.Blue, To: spec.Green, Step: step, Steps: 2, Weight: 25 * step}
		}
		n.Decided(v, progressing, at)
		at = at.Add(time.Second)
	}
	closeNow(t, n)
	got := rec.of("web")
	if len(got) != 2 || got[0].Type != CanaryStep || got[1].Type != CanaryStep {
		t.Fatalf("events %+v: want two CanaryStep", got)
	}
	if e := got[1]; e.Step != 2 || e.Steps != 2 || e.Weight != 50 || e.From != spec.Blue || e.To != spec.Green ||
		e.Text != "web: canary step 2 of 2: green gets 50 % of new users, blue the rest" {
		t.Errorf("the second step's event: %+v", e)
	}
}

// TestRetryKeepsOrder: a receiver that answers 500 then 200 gets the
// event again before any later one.
func TestRetryKeepsOrder(t *testing.T) {
	rec := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			http.Error(w, "try again later", http.StatusInternalServerError)
		}
	})
	n := newNotifier(t, Config{URLs: []string{rec.srv.URL}, Backoff: 10 * time.Millisecond, Log: testLogger(t)})
	web := service(t, "web", spec.Green, "demo:v2")
	n.ReleaseStarted(web, spec.Blue, t0)
	n.ReleaseEnded(ended("web", spec.Blue, spec.Green, "demo:v1", "demo:v2", planner.OutcomeSucceeded, "", t0.Add(time.Minute)))
	n.ReleaseStarted(web, spec.Green, t0.Add(2*time.Minute))
	closeNow(t, n)
	var seqs []uint64
	for _, e := range rec.of("web") {
		seqs = append(seqs, e.Seq)
	}
	if want := []uint64{1, 1, 2, 3}; !equal(seqs, want) {
		t.Fatalf("receiver got seqs %v, want %v", seqs, want)
	}
	if r := rec.requests(); r[0].event.ID != r[1].event.ID {
		t.Errorf("the retry has id %s, the first try %s: want the same", r[1].event.ID, r[0].event.ID)
	}
	if s := n.Stats(); s != (Stats{Delivered: 3}) {
		t.Errorf("stats %+v, want 3 delivered", s)
	}
}

// TestRetriesAreBounded: a receiver that always fails gets MaxAttempts
// tries of each event, which is then given up; the next event goes.
func TestRetriesAreBounded(t *testing.T) {
	rec := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	n := newNotifier(t, Config{URLs: []string{rec.srv.URL}, MaxAttempts: 3, Backoff: time.Millisecond, Log: testLogger(t)})
	n.ReleaseStarted(service(t, "web", spec.Green, "demo:v2"), spec.Blue, t0)
	n.ReleaseStarted(service(t, "web", spec.Blue, "demo:v3"), spec.Green, t0)
	closeNow(t, n)
	var seqs []uint64
	for _, e := range rec.of("web") {
		seqs = append(seqs, e.Seq)
	}
	if want := []uint64{1, 1, 1, 2, 2, 2}; !equal(seqs, want) {
		t.Fatalf("receiver got seqs %v, want %v", seqs, want)
	}
	if s := n.Stats(); s != (Stats{Failed: 2}) {
		t.Errorf("stats %+v, want 2 failed", s)
	}
}

// TestClientErrorIsNotRetried: a 4xx other than 408 and 429 says the
// request itself is refused: it is not tried again.
func TestClientErrorIsNotRetried(t *testing.T) {
	rec := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			http.Error(w, "bad signature", http.StatusUnauthorized)
		}
	})
	n := newNotifier(t, Config{URLs: []string{rec.srv.URL}, Backoff: time.Millisecond, Log: testLogger(t)})
	n.ReleaseStarted(service(t, "web", spec.Green, "demo:v2"), spec.Blue, t0)
	n.ReleaseStarted(service(t, "web", spec.Blue, "demo:v3"), spec.Green, t0)
	closeNow(t, n)
	if got := rec.of("web"); len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("events %+v: want seq 1 once, then 2", got)
	}
	if s := n.Stats(); s != (Stats{Delivered: 1, Failed: 1}) {
		t.Errorf("stats %+v, want 1 delivered and 1 failed", s)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no URL", Config{}, "configure webhooks: no URL given"},
		{"not http", Config{URLs: []string{"ftp://example.com/hook"}}, "configure webhook URL #1 (ftp://example.com/…): want an http or https URL with a host"},
		{"no host", Config{URLs: []string{"http://127.0.0.1:1/", "https:///T0KEN"}}, "configure webhook URL #2 (https:///…): want an http or https URL with a host"},
		{"secret open to others", Config{URLs: []string{"http://127.0.0.1:1/"}, SecretFile: writeSecret(t, 0o644, "x")}, "its mode 0644 lets its group or others at it: chmod 600"},
		{"secret open to the group", Config{URLs: []string{"http://127.0.0.1:1/"}, SecretFile: writeSecret(t, 0o640, "x")}, "its mode 0640 lets its group or others at it"},
		{"secret empty", Config{URLs: []string{"http://127.0.0.1:1/"}, SecretFile: writeSecret(t, 0o600, " \n")}, "the file is empty"},
		{"secret missing", Config{URLs: []string{"http://127.0.0.1:1/"}, SecretFile: "/nonexistent/secret"}, "read webhook secret: open /nonexistent/secret: no such file or directory"},
		{"secret a directory", Config{URLs: []string{"http://127.0.0.1:1/"}, SecretFile: t.TempDir()}, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "T0KEN") {
				t.Fatalf("the error shows the URL's path: %v", err)
			}
		})
	}
}

// TestRedirectIsNotFollowed: a receiver that answers 307 elsewhere does not
// make the controller post the signed body there; the event is not retried
// and the failure names the redirect.
func TestRedirectIsNotFollowed(t *testing.T) {
	elsewhere := newRecorder(t, nil)
	redirecting := newRecorder(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.srv.URL, http.StatusTemporaryRedirect)
	})
	n := newNotifier(t, Config{URLs: []string{redirecting.srv.URL}})
	n.ReleaseStarted(service(t, "web", spec.Green, "demo:v2"), spec.Blue, t0)
	closeNow(t, n)
	if got := len(elsewhere.requests()); got != 0 {
		t.Fatalf("the redirect was followed: the other host got %d requests", got)
	}
	if got := len(redirecting.requests()); got != 1 {
		t.Fatalf("the redirecting receiver got %d requests, want 1 (a redirect is not retried)", got)
	}
	if st := n.Stats(); st.Failed != 1 {
		t.Fatalf("stats %+v: want the event counted as failed", st)
	}
}
