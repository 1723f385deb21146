package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestNotesAppReleaseAndRollback: the realistic example app (examples/notes:
// a bbolt file on a named volume, its secret key from an env file on the
// host, started with an explicit command as a non-root user, stopped with
// SIGQUIT), two replicas per color, is released v1 -> v2 and rolled back to
// v1 under load with no failed request; both replicas of the serving color
// answer requests in between. A note written before each release is read back after
// it, through the frontend (the volume is the same for both colors). The
// secret reached the app (its fingerprint in /whoami), and no trace of it
// is in status.json, history.jsonl, the controller's log, a /metrics scrape
// or a webhook body. The stopped color got SIGQUIT (recorded on the volume).
func TestNotesAppReleaseAndRollback(t *testing.T) {
	e := newEnvReplicas(t, 2)
	e.appCtx = testenv.NotesContext(t)
	e.stopTimeout = "25s" // above the app's own drain bound (20 s)
	secret := randomSecret(t)
	envFile := filepath.Join(e.dir, "notes.env")
	if err := os.WriteFile(envFile, []byte("# the notes app's key\nSECRET_KEY="+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	volume := e.repo + "-data"
	t.Cleanup(func() { _ = exec.Command("docker", "volume", "rm", "-f", volume).Run() })
	extra := []string{
		"  envFile: [" + envFile + "]",
		"  volumes: [\"" + volume + ":/data\"]",
		"  user: \"10001:10001\"",
		"  command: [serve]",
		"  stopSignal: SIGQUIT",
	}
	// No release job runs migrations yet: migrate the volume by hand, as
	// examples/notes/README.md says, with the image v1 will run.
	testenv.BuildNotesImage(t, e.repo+":v1", "v1")
	if out, err := exec.Command("docker", "run", "--rm", "--user", "10001:10001", "-v", volume+":/data", e.repo+":v1", "migrate").CombinedOutput(); err != nil {
		t.Fatalf("notes migrate: %v\n%s", err, out)
	}

	rec, secretFile := newReceiver(t, e.dir)
	metrics := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	e.save(spec.Blue, "v1", extra...)
	ctl := e.start("--webhook", rec.url, "--webhook-secret-file", secretFile, "--metrics-listen", metrics)
	e.waitConverged(2 * time.Minute)
	if got := e.whoami(t)["secretFingerprint"]; got != fingerprint(secret) {
		t.Fatalf("the app's secret fingerprint is %v, want %s: the env file did not reach it", got, fingerprint(secret))
	}
	l := e.startLoad(10, 2)
	waitSent(t, l, 500)

	var notes []string
	for _, step := range []struct {
		color   spec.Color
		version string
	}{{spec.Green, "v2"}, {spec.Blue, "v1"}} {
		notes = append(notes, e.postNote(t, fmt.Sprintf("before %s %s", step.color, step.version)))
		e.save(step.color, step.version, extra...)
		testenv.WaitFor(t, 3*time.Minute, string(step.color)+" "+step.version+" serves", func() bool {
			body, err := e.get("/")
			return err == nil && strings.Contains(body, "color="+string(step.color)+" version="+step.version)
		})
		e.waitConverged(2 * time.Minute)
		e.bothReplicasAnswer(t, step.color)
		for i, id := range notes {
			if body := e.getNote(t, id); !strings.Contains(body, fmt.Sprintf("before %s", []string{"green v2", "blue v1"}[i])) {
				t.Errorf("after %s %s, note %s reads %q", step.color, step.version, id, body)
			}
		}
		if got := e.lastSignal(t, step.color.Other()); !strings.HasPrefix(got, "SIGQUIT ") {
			t.Errorf("after %s %s the stopped %s recorded the stop signal %q, want SIGQUIT", step.color, step.version, step.color.Other(), got)
		}
	}
	e.stopLoadNoFailures(l)

	_, scrape := ctl.get(t, metrics, "/metrics")
	ctl.stop()
	rec.mu.Lock()
	bodies := strings.Join(rec.bodies, "\n")
	rec.mu.Unlock()
	if !strings.Contains(bodies, "ReleaseSucceeded") {
		t.Errorf("no ReleaseSucceeded webhook arrived: %s", bodies)
	}
	for name, text := range map[string]string{
		"status.json":        readFile(t, filepath.Join(e.stateDir, "status.json")),
		"history.jsonl":      readFile(t, filepath.Join(e.stateDir, "history.jsonl")),
		"the controller log": ctl.output(),
		"/metrics":           scrape,
		"the webhook bodies": bodies,
	} {
		if strings.Contains(text, secret) {
			t.Errorf("%s holds the secret from the env file", name)
		}
	}
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// fingerprint is how the notes app shows its secret key: the first 8 hex
// digits of its SHA-256.
func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])[:8]
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// whoami is the notes app's /whoami, through the frontend.
func (e *env) whoami(t *testing.T) map[string]any {
	t.Helper()
	body, err := e.get("/whoami")
	if err != nil {
		t.Fatalf("GET /whoami: %v", err)
	}
	var who map[string]any
	if err := json.Unmarshal([]byte(body), &who); err != nil {
		t.Fatalf("GET /whoami: %v: %s", err, body)
	}
	return who
}

// postNote stores text through the frontend and returns the note's id.
func (e *env) postNote(t *testing.T, text string) string {
	t.Helper()
	resp, err := e.client.Post(fmt.Sprintf("http://127.0.0.1:%d/notes", e.front), "text/plain", strings.NewReader(text))
	if err != nil {
		t.Fatalf("POST /notes: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var note struct {
		ID any `json:"id"`
	}
	if resp.StatusCode/100 != 2 || json.Unmarshal(body, &note) != nil || note.ID == nil {
		t.Fatalf("POST /notes: %s: %s", resp.Status, body)
	}
	return fmt.Sprint(note.ID)
}

func (e *env) getNote(t *testing.T, id string) string {
	t.Helper()
	body, err := e.get("/notes/" + id)
	if err != nil {
		t.Fatalf("GET /notes/%s: %v", id, err)
	}
	return body
}

// lastSignal is the stop signal the notes app recorded on the volume, read
// through color c's (stopped) container.
func (e *env) lastSignal(t *testing.T, c spec.Color) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "last-signal")
	name := "bg-" + e.svc + "-" + string(c)
	if out, err := exec.Command("docker", "cp", name+":/data/last-signal", dst).CombinedOutput(); err != nil {
		t.Fatalf("docker cp %s:/data/last-signal: %v\n%s", name, err, out)
	}
	return readFile(t, dst)
}

// bothReplicasAnswer asks /whoami through the frontend until each of color
// c's two replicas (their containers' hostnames) has answered, and fails
// after 40 requests without.
func (e *env) bothReplicasAnswer(t *testing.T, c spec.Color) {
	t.Helper()
	want := map[string]string{}
	for _, name := range []string{"bg-" + e.svc + "-" + string(c), "bg-" + e.svc + "-" + string(c) + "-2"} {
		out, err := exec.Command("docker", "inspect", "--format", "{{.Config.Hostname}}", name).Output()
		if err != nil {
			t.Fatalf("docker inspect %s: %v", name, err)
		}
		want[strings.TrimSpace(string(out))] = name
	}
	seen := map[string]bool{}
	for i := 0; i < 40 && len(seen) < len(want); i++ {
		if host, _ := e.whoami(t)["host"].(string); want[host] != "" {
			seen[host] = true
		}
	}
	if len(seen) < len(want) {
		t.Errorf("%s: of its replicas %v only %v answered 40 requests", c, want, seen)
	}
}
