package source

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hang serves nothing: an HTTP handler that answers only when the client
// gives up, and a TCP listener that accepts and never speaks (ssh).
func hang(t *testing.T) (httpURL, sshURL string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)

	return srv.URL + "/r.git", "ssh://git@" + silent(t) + "/r.git"
}

// silent is the address of a TCP listener on 127.0.0.1 that accepts
// every connection and never sends a byte.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; conn.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestSyncHonorsTheContext(t *testing.T) {
	rm := newRemote(t)
	rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
	rm.push(false)
	httpURL, sshURL := hang(t)

	tests := []struct {
		name string
		g    Git
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"canceled before", Git{URL: rm.url}, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"http server that never answers", Git{URL: httpURL, InsecureTransport: true}, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, context.DeadlineExceeded},
		{"ssh server that never answers", Git{URL: sshURL, SSHKeyFile: writeFile(t, "key", sshKey(t), 0o600), KnownHostsFile: writeFile(t, "kh", nil, 0o644)},
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 300*time.Millisecond)
			}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.g.Dir = filepath.Join(t.TempDir(), "git")
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			snap, err := tt.g.Sync(ctx)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Sync took %s after its context ended", took)
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.g.URL) {
				t.Fatalf("Sync: err = %v, want %v naming %s", err, tt.want, tt.g.URL)
			}
			if snap.Commit != "" {
				t.Fatalf("Sync = %+v, want nothing", snap)
			}
		})
	}
}

// TestSyncTimesOutAServerThatNeverAnswers: a server that accepts the
// connection and says nothing used to hold Sync, under a context without
// a deadline (run's), forever. Each fetch now ends at Git.Timeout, with an
// error saying what timed out.
func TestSyncTimesOutAServerThatNeverAnswers(t *testing.T) {
	addr := silent(t)
	tests := []Git{
		{URL: "https://" + addr + "/r.git"},
		{URL: "http://" + addr + "/r.git", InsecureTransport: true},
		{URL: "git://" + addr + "/r.git", InsecureTransport: true},
		{URL: "ssh://git@" + addr + "/r.git", SSHKeyFile: writeFile(t, "key", sshKey(t), 0o600), KnownHostsFile: writeFile(t, "kh", nil, 0o644)},
	}
	for _, g := range tests {
		t.Run(g.URL[:strings.Index(g.URL, ":")], func(t *testing.T) {
			g.Dir = filepath.Join(t.TempDir(), "git")
			g.Timeout = time.Second
			type result struct {
				snap Snapshot
				err  error
			}
			got := make(chan result, 1)
			go func() {
				snap, err := g.Sync(context.Background())
				got <- result{snap, err}
			}()
			var r result
			select {
			case r = <-got:
			case <-time.After(30 * time.Second):
				t.Fatalf("Sync still blocked 30s after its 1s timeout")
			}
			want := "fetch branch main of " + g.URL + ": timed out after 1s"
			if !errors.Is(r.err, ErrTimeout) || !strings.Contains(r.err.Error(), want) || !strings.Contains(r.err.Error(), "--git-timeout") {
				t.Fatalf("Sync: err = %v, want ErrTimeout saying %q", r.err, want)
			}
			if r.snap.Commit != "" {
				t.Fatalf("Sync = %+v, want nothing", r.snap)
			}
		})
	}
}
