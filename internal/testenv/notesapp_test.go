package testenv

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNotesImageInDocker runs the notes app image as the controller would
// run it: a fresh named volume on /data, --user 10001:10001, the secret in
// an env file, command serve after a migrate in the same volume, the stop
// signal SIGQUIT. A note stored by v1 is read back by v2 on the same volume
// after v1 was stopped; /data/last-signal tells how each was stopped.
func TestNotesImageInDocker(t *testing.T) {
	RequireDocker(t)
	unique := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	const label = "bluegreen-testenv.test"
	tag1, tag2 := "testenv-notes:v1-"+unique, "testenv-notes:v2-"+unique
	BuildNotesImage(t, tag1, "v1")
	BuildNotesImage(t, tag2, "v2")

	if ep, err := docker(30*time.Second, "image", "inspect", "--format", "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.User}}", tag1); err != nil ||
		ep != `["/notes"] null ""` {
		t.Errorf("image entrypoint, cmd, user = %s, %v; want [\"/notes\"], no cmd, no user", ep, err)
	}

	// Containers go first, then the volume they used (cleanups run last first).
	vol := "testenv-notes-" + unique
	t.Cleanup(func() {
		if _, err := docker(time.Minute, "volume", "rm", "-f", vol); err != nil {
			t.Errorf("testenv: removing volume %s: %v", vol, err)
		}
	})
	t.Cleanup(func() { RemoveContainersByLabel(t, label, unique) })
	if _, err := docker(time.Minute, "volume", "create", "--label", label+"="+unique, vol); err != nil {
		t.Fatal(err)
	}

	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	key := hex.EncodeToString(secret)
	envFile := filepath.Join(t.TempDir(), "notes.env")
	if err := os.WriteFile(envFile, []byte("# the notes app's secret\nSECRET_KEY="+key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(key))
	wantFingerprint := hex.EncodeToString(sum[:])[:8]

	// As the desired file's volumes, user and envFile ask.
	asDesired := []string{"-v", vol + ":/data", "--user", "10001:10001", "--env-file", envFile}
	// once runs a container to its end and returns its exit status and logs.
	once := func(name string, args ...string) (string, string) {
		t.Helper()
		runArgs := append(append([]string{"run", "--name", name, "--label", label + "=" + unique}, asDesired...), args...)
		_, _ = docker(time.Minute, runArgs...) // a non-zero exit is the point of some runs
		return rudeState(t, name), rudeLogs(t, name)
	}

	if st, logs := once("testenv-notes-nocmd-"+unique, tag1); st != "exited 2 false" || !strings.Contains(logs, "usage: notes <command>") {
		t.Errorf("no command: %s, logs:\n%s\nwant exit 2 and the usage", st, logs)
	}
	if st, logs := once("testenv-notes-early-"+unique, tag1, "serve"); st != "exited 1 false" ||
		!strings.Contains(logs, "refusing to start: open database /data/notes.db: no database: run `notes migrate` first") {
		t.Errorf("serve before migrate: %s, logs:\n%s\nwant exit 1 and the reason", st, logs)
	}
	if st, logs := once("testenv-notes-migrate-"+unique, tag1, "migrate"); st != "exited 0 false" ||
		!strings.Contains(logs, "migrate: /data/notes.db migrated from schema 0 to 2") {
		t.Fatalf("migrate as 10001 in a fresh volume: %s, logs:\n%s", st, logs)
	}

	// v1, blue, stopped as the desired file's stopSignal: SIGQUIT asks it.
	blue := "testenv-notes-blue-" + unique
	bluePort := FreePort(t)
	rudeRun(t, blue, unique, append(asDesired, "-e", "COLOR=blue", "--stop-signal", "SIGQUIT",
		"-p", fmt.Sprintf("127.0.0.1:%d:8080", bluePort), tag1, "serve")...)
	base := fmt.Sprintf("http://127.0.0.1:%d", bluePort)
	WaitFor(t, 30*time.Second, "notes v1 healthy on "+base, func() bool {
		got, _ := rudeGet(base + "/healthz")
		return got == "200 ok"
	})
	who := notesWhoami(t, base)
	host, err := docker(30*time.Second, "inspect", "-f", "{{.Config.Hostname}}", blue)
	if err != nil {
		t.Fatal(err)
	}
	if who.Host != host || who.Color != "blue" || who.Version != "v1" || who.UID != 10001 || who.GID != 10001 ||
		who.SecretFingerprint != wantFingerprint || who.Schema != 2 || who.LastSignal != "" {
		t.Errorf("GET /whoami = %+v; want host %s, blue v1, uid:gid 10001:10001, schema 2, fingerprint %s, no last signal",
			who, host, wantFingerprint)
	}

	resp, err := http.Post(base+"/notes", "text/plain", strings.NewReader("remember the milk"))
	if err != nil {
		t.Fatal(err)
	}
	var stored notesNote
	err = json.NewDecoder(resp.Body).Decode(&stored)
	resp.Body.Close()
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("1"))
	if err != nil || resp.StatusCode != 201 || stored.ID != 1 || stored.Sig != hex.EncodeToString(m.Sum(nil)) {
		t.Fatalf("POST /notes = %d %+v, %v; want 201, note 1 signed with the secret", resp.StatusCode, stored, err)
	}

	if _, err := docker(time.Minute, "stop", "-t", "10", blue); err != nil {
		t.Fatal(err)
	}
	blueLogs := rudeLogs(t, blue)
	if st := rudeState(t, blue); st != "exited 0 false" || !strings.Contains(blueLogs, "received SIGQUIT: draining") {
		t.Errorf("docker stop with stop signal SIGQUIT: %s, logs:\n%s\nwant exit 0 after draining", st, blueLogs)
	}
	if rec := notesLastSignal(t, blue); !strings.HasPrefix(rec, "SIGQUIT host="+host+" color=blue version=v1 at=") {
		t.Errorf("/data/last-signal after v1 stopped = %q, want SIGQUIT from %s", rec, host)
	}

	// v2, green, on the same volume: reads v1's note, and stops on SIGTERM.
	green := "testenv-notes-green-" + unique
	greenPort := FreePort(t)
	rudeRun(t, green, unique, append(asDesired, "-e", "COLOR=green",
		"-p", fmt.Sprintf("127.0.0.1:%d:8080", greenPort), tag2, "serve")...)
	base = fmt.Sprintf("http://127.0.0.1:%d", greenPort)
	WaitFor(t, 30*time.Second, "notes v2 healthy on "+base, func() bool {
		got, _ := rudeGet(base + "/healthz")
		return got == "200 ok"
	})
	got, err := rudeGet(base + "/notes/1")
	var read notesNote
	if err == nil {
		err = json.Unmarshal([]byte(strings.TrimPrefix(got, "200 ")), &read)
	}
	if err != nil || read != stored || read.Color != "blue" || read.Version != "v1" || read.Host != host {
		t.Errorf("GET /notes/1 from v2 = %q, %v; want %+v, stored by blue v1", got, err, stored)
	}
	if who := notesWhoami(t, base); who.Version != "v2" || who.Color != "green" || who.Host == host ||
		who.SecretFingerprint != wantFingerprint || !strings.HasPrefix(who.LastSignal, "SIGQUIT host="+host) {
		t.Errorf("GET /whoami from v2 = %+v; want green v2 on another host, the same fingerprint, v1's SIGQUIT", who)
	}
	if _, err := docker(time.Minute, "stop", "-t", "10", green); err != nil {
		t.Fatal(err)
	}
	if st := rudeState(t, green); st != "exited 143 false" {
		t.Errorf("docker stop with the default SIGTERM: %s, want exit 143", st)
	}
	if rec := notesLastSignal(t, green); !strings.HasPrefix(rec, "SIGTERM host=") {
		t.Errorf("/data/last-signal after v2 stopped = %q, want SIGTERM", rec)
	}
	for _, name := range []string{blue, green} {
		if logs := rudeLogs(t, name); strings.Contains(logs, key) {
			t.Errorf("%s logged the secret key:\n%s", name, logs)
		}
	}
}

// notesNote is a note as the notes app serves it.
type notesNote struct {
	ID      uint64 `json:"id"`
	Text    string `json:"text"`
	Created string `json:"created"`
	Color   string `json:"color"`
	Version string `json:"version"`
	Host    string `json:"host"`
	Sig     string `json:"sig"`
}

// notesWhoamiBody is the notes app's GET /whoami.
type notesWhoamiBody struct {
	Host              string `json:"host"`
	Color             string `json:"color"`
	Version           string `json:"version"`
	Schema            int    `json:"schema"`
	UID               int    `json:"uid"`
	GID               int    `json:"gid"`
	SecretFingerprint string `json:"secretFingerprint"`
	LastSignal        string `json:"lastSignal"`
}

func notesWhoami(t *testing.T, base string) notesWhoamiBody {
	t.Helper()
	var w notesWhoamiBody
	got, err := rudeGet(base + "/whoami")
	if err == nil {
		err = json.Unmarshal([]byte(strings.TrimPrefix(got, "200 ")), &w)
	}
	if err != nil {
		t.Fatalf("GET %s/whoami = %q: %v", base, got, err)
	}
	return w
}

// notesLastSignal reads /data/last-signal through container name's volume
// (the image has no shell: docker cp, which works on a stopped container).
func notesLastSignal(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := docker(time.Minute, "cp", name+":/data/last-signal", dir); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "last-signal"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
