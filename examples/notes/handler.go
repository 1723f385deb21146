package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	maxNoteBytes = 64 << 10 // the largest note POST /notes accepts
	defaultLimit = 100      // GET /notes without ?limit
	maxLimit     = 1000     // the largest ?limit
)

// app serves the HTTP API.
type app struct {
	store   *store
	color   string
	version string
	host    string // the container's hostname: which replica answered
	secret  []byte
	log     *log.Logger
	now     func() time.Time
	// lastSignal is the stop signal record found in the data directory
	// at start: how the previous container on this volume was stopped.
	lastSignal string
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.index)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /whoami", a.whoami)
	mux.HandleFunc("POST /notes", a.addNote)
	mux.HandleFunc("GET /notes", a.listNotes)
	mux.HandleFunc("GET /notes/{id}", a.getNote)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Color", a.color)
		w.Header().Set("X-Version", a.version)
		w.Header().Set("X-Host", a.host)
		mux.ServeHTTP(w, r)
	})
}

// sign is the note's signature: hex(HMAC-SHA256(SECRET_KEY, decimal id)).
func (a *app) sign(id uint64) string {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte(strconv.FormatUint(id, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// fingerprint names the secret without revealing it: the first 8 hex
// digits of its SHA-256, as `printf %s "$SECRET_KEY" | sha256sum | cut -c1-8`.
func fingerprint(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])[:8]
}

func (a *app) index(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "notes color=%s version=%s host=%s\n", a.color, a.version, a.host)
}

// healthz answers 200 when the database opens and its schema is current.
func (a *app) healthz(w http.ResponseWriter, _ *http.Request) {
	if _, err := a.store.checkSchema(); err != nil {
		a.log.Printf("health check: %v", err)
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// whoami is the replica's identity; the secret appears only as its fingerprint.
type whoami struct {
	Host              string `json:"host"`
	Color             string `json:"color"`
	Version           string `json:"version"`
	Schema            int    `json:"schema"`
	UID               int    `json:"uid"`
	GID               int    `json:"gid"`
	SecretFingerprint string `json:"secretFingerprint"`
	LastSignal        string `json:"lastSignal"` // as found at start in DATA_DIR/last-signal
}

func (a *app) whoami(w http.ResponseWriter, _ *http.Request) {
	schema, err := a.store.checkSchema()
	if err != nil {
		a.log.Printf("whoami: %v", err)
	}
	writeJSON(w, http.StatusOK, whoami{
		Host: a.host, Color: a.color, Version: a.version, Schema: schema,
		UID: os.Getuid(), GID: os.Getgid(), SecretFingerprint: fingerprint(a.secret), LastSignal: a.lastSignal,
	})
}

func (a *app) addNote(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNoteBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, fmt.Sprintf("note longer than %d bytes", maxNoteBytes), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	case strings.TrimSpace(string(b)) == "":
		http.Error(w, "empty note: send its text as the request body", http.StatusBadRequest)
		return
	}
	n, err := a.store.add(note{Text: string(b), Created: a.now().UTC(), Color: a.color, Version: a.version, Host: a.host})
	if err != nil {
		a.serverError(w, err)
		return
	}
	n.Sig = a.sign(n.ID)
	w.Header().Set("Location", fmt.Sprintf("/notes/%d", n.ID))
	writeJSON(w, http.StatusCreated, n)
}

func (a *app) getNote(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		http.Error(w, "note id must be a whole number from 1", http.StatusBadRequest)
		return
	}
	n, err := a.store.get(id)
	if errors.Is(err, errNotFound) {
		http.Error(w, fmt.Sprintf("no note %d", id), http.StatusNotFound)
		return
	}
	if err != nil {
		a.serverError(w, err)
		return
	}
	n.Sig = a.sign(n.ID)
	writeJSON(w, http.StatusOK, n)
}

func (a *app) listNotes(w http.ResponseWriter, r *http.Request) {
	limit := defaultLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			http.Error(w, fmt.Sprintf("limit must be a whole number from 1 to %d", maxLimit), http.StatusBadRequest)
			return
		}
		limit = n
	}
	notes, err := a.store.list(limit)
	if err != nil {
		a.serverError(w, err)
		return
	}
	for i := range notes {
		notes[i].Sig = a.sign(notes[i].ID)
	}
	writeJSON(w, http.StatusOK, notes)
}

// serverError logs err and answers 503 (the database is busy, absent or
// not migrated: another replica may do better) without the detail.
func (a *app) serverError(w http.ResponseWriter, err error) {
	a.log.Printf("request failed: %v", err)
	http.Error(w, "database unavailable", http.StatusServiceUnavailable)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
