package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testApp serves an app over st with testSecret; logs go to logs.
func testApp(t *testing.T, st *store, logs *bytes.Buffer) *httptest.Server {
	t.Helper()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	a := &app{store: st, color: "green", version: "v2", host: "replica-1", secret: []byte(testSecret),
		log: log.New(logs, "", 0), now: func() time.Time { return now }, lastSignal: "SIGQUIT host=replica-0"}
	srv := httptest.NewServer(a.routes())
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request and returns the status, the headers and the body.
func do(t *testing.T, srv *httptest.Server, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// wantSig is the signature of a note id, computed here independently.
func wantSig(id string) string {
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

// TestNotesRoundTrip stores notes over HTTP and reads them back, signed
// with the secret key, which no answer ever holds.
func TestNotesRoundTrip(t *testing.T) {
	var logs bytes.Buffer
	srv := testApp(t, newStore(t, schemaVersion), &logs)
	var bodies []string

	status, h, body := do(t, srv, "POST", "/notes", "buy milk")
	bodies = append(bodies, body)
	var n note
	if err := json.Unmarshal([]byte(body), &n); err != nil || status != 201 {
		t.Fatalf("POST /notes = %d %q, %v", status, body, err)
	}
	if n.ID != 1 || n.Text != "buy milk" || n.Color != "green" || n.Version != "v2" || n.Host != "replica-1" ||
		n.Sig != wantSig("1") || h.Get("Location") != "/notes/1" {
		t.Errorf("POST /notes = %+v, Location %q; want note 1, signed, from green v2 replica-1", n, h.Get("Location"))
	}
	do(t, srv, "POST", "/notes", "call mum")

	status, _, body = do(t, srv, "GET", "/notes/1", "")
	bodies = append(bodies, body)
	var got note
	if err := json.Unmarshal([]byte(body), &got); err != nil || status != 200 || got != n {
		t.Errorf("GET /notes/1 = %d %+v, %v; want %+v", status, got, err, n)
	}
	status, _, body = do(t, srv, "GET", "/notes", "")
	bodies = append(bodies, body)
	var all []note
	if err := json.Unmarshal([]byte(body), &all); err != nil || status != 200 || len(all) != 2 ||
		all[1].Text != "call mum" || all[1].Sig != wantSig("2") {
		t.Errorf("GET /notes = %d %+v, %v; want both notes, signed", status, all, err)
	}

	status, _, body = do(t, srv, "GET", "/whoami", "")
	bodies = append(bodies, body)
	var who whoami
	sum := sha256.Sum256([]byte(testSecret))
	if err := json.Unmarshal([]byte(body), &who); err != nil || status != 200 {
		t.Fatalf("GET /whoami = %d %q, %v", status, body, err)
	}
	want := whoami{Host: "replica-1", Color: "green", Version: "v2", Schema: 2, UID: os.Getuid(), GID: os.Getgid(),
		SecretFingerprint: hex.EncodeToString(sum[:])[:8], LastSignal: "SIGQUIT host=replica-0"}
	if who != want {
		t.Errorf("GET /whoami = %+v, want %+v", who, want)
	}

	status, h, body = do(t, srv, "GET", "/", "")
	bodies = append(bodies, body)
	if status != 200 || body != "notes color=green version=v2 host=replica-1\n" ||
		h.Get("X-Color") != "green" || h.Get("X-Version") != "v2" || h.Get("X-Host") != "replica-1" {
		t.Errorf("GET / = %d %q %v", status, body, h)
	}
	for _, b := range append(bodies, logs.String()) {
		if strings.Contains(b, testSecret) {
			t.Errorf("the secret key was revealed: %q", b)
		}
	}
}

func TestBadRequests(t *testing.T) {
	var logs bytes.Buffer
	srv := testApp(t, newStore(t, schemaVersion), &logs)
	tests := []struct {
		method, path, body string
		wantStatus         int
		wantBody           string
	}{
		{"POST", "/notes", "  \n", 400, "empty note: send its text as the request body\n"},
		{"POST", "/notes", strings.Repeat("x", maxNoteBytes+1), 413, "note longer than 65536 bytes\n"},
		{"GET", "/notes/0", "", 400, "note id must be a whole number from 1\n"},
		{"GET", "/notes/abc", "", 400, "note id must be a whole number from 1\n"},
		{"GET", "/notes/7", "", 404, "no note 7\n"},
		{"GET", "/notes?limit=0", "", 400, "limit must be a whole number from 1 to 1000\n"},
		{"GET", "/notes?limit=1", "", 200, "[]\n"},
		{"DELETE", "/notes/1", "", 405, "Method Not Allowed\n"},
		{"GET", "/nope", "", 404, "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			status, _, body := do(t, srv, tt.method, tt.path, tt.body)
			if status != tt.wantStatus || body != tt.wantBody {
				t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

// TestHealthz: 200 with the database current, 503 (and a log line) when
// it is gone; the requests that need it answer 503 too.
func TestHealthz(t *testing.T) {
	var logs bytes.Buffer
	st := newStore(t, schemaVersion)
	srv := testApp(t, st, &logs)
	if status, _, body := do(t, srv, "GET", "/healthz", ""); status != 200 || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", status, body)
	}
	if err := os.Rename(st.path, filepath.Join(filepath.Dir(st.path), "moved.db")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/notes", "/notes/1"} {
		if status, _, body := do(t, srv, "GET", path, ""); status != 503 || body != "database unavailable\n" {
			t.Errorf("GET %s without the database = %d %q, want 503", path, status, body)
		}
	}
	if status, _, _ := do(t, srv, "POST", "/notes", "x"); status != 503 {
		t.Errorf("POST /notes without the database = %d, want 503", status)
	}
	if !strings.Contains(logs.String(), "health check: open database "+st.path+": no database") {
		t.Errorf("logs lack the health check's reason:\n%s", logs.String())
	}
}
