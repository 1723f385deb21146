package main

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readSignal is a listener whose connections close read once the server has
// read from one: a request is then in flight, and Shutdown waits for it.
type readSignal struct {
	net.Listener
	once sync.Once
	read chan struct{}
}

func (l *readSignal) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &readConn{Conn: c, l: l}, nil
}

type readConn struct {
	net.Conn
	l *readSignal
}

func (c *readConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.l.once.Do(func() { close(c.l.read) })
	}
	return n, err
}

// started is a serve running in the background with a request in flight:
// a POST /notes whose body the test has not finished sending.
type started struct {
	cfg  config
	sigs chan os.Signal
	exit chan int
	logs *syncBuffer
	body *io.PipeWriter
	resp chan error // the POST's outcome: nil for 201
}

func startServe(t *testing.T, dataDir string) *started {
	t.Helper()
	dir := t.TempDir()
	st := &store{path: filepath.Join(dir, "notes.db")}
	if _, _, err := st.migrate(schemaVersion); err != nil {
		t.Fatal(err)
	}
	if dataDir == "" {
		dataDir = dir
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &readSignal{Listener: ln, read: make(chan struct{})}
	s := &started{
		cfg:  config{color: "blue", version: "v1", dataDir: dataDir, secret: []byte(testSecret)},
		sigs: make(chan os.Signal, 1), exit: make(chan int, 1), logs: &syncBuffer{}, resp: make(chan error, 1),
	}
	go func() { s.exit <- serve(s.cfg, st, l, s.sigs, log.New(s.logs, "", 0)) }()

	pr, pw := io.Pipe()
	s.body = pw
	t.Cleanup(func() { pw.Close() })
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/notes", "text/plain", pr)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				err = &statusError{resp.StatusCode}
			}
		}
		s.resp <- err
	}()
	if _, err := pw.Write([]byte("half a ")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.read:
	case <-time.After(10 * time.Second):
		t.Fatal("the server read nothing of the request in 10s")
	}
	return s
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitExit(t *testing.T, s *started) int {
	t.Helper()
	select {
	case code := <-s.exit:
		return code
	case <-time.After(drainBound + 10*time.Second):
		t.Fatalf("serve did not return; logs:\n%s", s.logs.String())
		return 0
	}
}

// TestSIGQUITDrains: on SIGQUIT serve records the signal in the data
// directory, lets the request in flight finish and exits 0.
func TestSIGQUITDrains(t *testing.T) {
	s := startServe(t, "")
	s.sigs <- syscall.SIGQUIT
	path := s.cfg.lastSignalPath()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s 10s after SIGQUIT; logs:\n%s", path, s.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Recorded, so draining: the request in flight holds the exit.
	select {
	case code := <-s.exit:
		t.Fatalf("serve returned %d with a request in flight", code)
	default:
	}
	if _, err := s.body.Write([]byte("note")); err != nil {
		t.Fatal(err)
	}
	s.body.Close()
	if err := <-s.resp; err != nil {
		t.Errorf("the request in flight at SIGQUIT: %v, want 201", err)
	}
	if code := waitExit(t, s); code != 0 {
		t.Errorf("serve after SIGQUIT = %d, want 0", code)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(b), "SIGQUIT host=") || !strings.Contains(string(b), " color=blue version=v1 at=") {
		t.Errorf("%s = %q, %v; want SIGQUIT host=... color=blue version=v1 at=...", path, b, err)
	}
	logs := s.logs.String()
	for _, want := range []string{"received SIGQUIT: draining", "drained: exit status 0"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, testSecret) {
		t.Errorf("the logs hold the secret:\n%s", logs)
	}
}

// TestSIGTERMExits143: on SIGTERM (and SIGINT) serve records the signal and
// exits at once with 128 + its number, cutting the request in flight, as
// most apps do; a signal it cannot record is logged and changes nothing else.
func TestSIGTERMExits143(t *testing.T) {
	tests := []struct {
		sig      syscall.Signal
		name     string
		dataDir  string
		wantCode int
	}{
		{syscall.SIGTERM, "SIGTERM", "", 143},
		{syscall.SIGINT, "SIGINT", "", 130},
		{syscall.SIGTERM, "SIGTERM", "/nonexistent/notes-data", 143},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.dataDir, func(t *testing.T) {
			s := startServe(t, tt.dataDir)
			s.sigs <- tt.sig
			if code := waitExit(t, s); code != tt.wantCode {
				t.Errorf("serve after %s = %d, want %d", tt.name, code, tt.wantCode)
			}
			// The client's writer still waits for the rest of the body.
			s.body.CloseWithError(io.ErrUnexpectedEOF)
			var answered *statusError
			if err := <-s.resp; err == nil || errors.As(err, &answered) {
				t.Errorf("the request in flight at %s: %v; want the connection cut, no answer", tt.name, err)
			}
			logs := s.logs.String()
			if !strings.Contains(logs, "received "+tt.name+": stopping without draining") {
				t.Errorf("logs lack the signal:\n%s", logs)
			}
			b, err := os.ReadFile(s.cfg.lastSignalPath())
			if tt.dataDir != "" {
				if err == nil || !strings.Contains(logs, "received "+tt.name+"; recording it: record signal in "+tt.dataDir+"/last-signal") {
					t.Errorf("unwritable data directory: file %q, %v; logs:\n%s", b, err, logs)
				}
				return
			}
			if err != nil || !strings.HasPrefix(string(b), tt.name+" host=") {
				t.Errorf("last-signal = %q, %v; want %s host=...", b, err, tt.name)
			}
		})
	}
}

func TestServeListenerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	var logs bytes.Buffer
	st := &store{path: filepath.Join(t.TempDir(), "notes.db")}
	if code := serve(config{secret: []byte(testSecret)}, st, ln, make(chan os.Signal), log.New(&logs, "", 0)); code != 1 ||
		!strings.Contains(logs.String(), "serve: ") {
		t.Errorf("serve on a closed listener = %d, logs %q; want 1", code, logs.String())
	}
}

// TestPreviousSignal: serve reads the record the previous container left,
// logs it and shows it at /whoami (see TestNotesRoundTrip).
func TestPreviousSignal(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	logger := log.New(&logs, "", 0)
	path := filepath.Join(dir, "last-signal")
	if got := previousSignal(path, logger); got != "" || logs.Len() != 0 {
		t.Errorf("no record: %q, logs %q; want none", got, logs.String())
	}
	if err := recordSignal(path, "SIGQUIT host=a color=blue version=v1 at=2025-01-01T00:00:00Z\n"); err != nil {
		t.Fatal(err)
	}
	want := "SIGQUIT host=a color=blue version=v1 at=2025-01-01T00:00:00Z"
	if got := previousSignal(path, logger); got != want || logs.String() != "previous stop: "+want+"\n" {
		t.Errorf("record: %q, logs %q; want %q", got, logs.String(), want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("recordSignal left %d files, want last-signal alone", len(entries))
	}
	logs.Reset()
	if got := previousSignal(dir, logger); got != "" || !strings.Contains(logs.String(), "read the previous stop signal: ") {
		t.Errorf("unreadable record: %q, logs %q", got, logs.String())
	}
}
