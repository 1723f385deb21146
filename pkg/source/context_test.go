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
	return srv.URL + "/r.git", "ssh://git@" + ln.Addr().String() + "/r.git"
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
		{"http server that never answers", Git{URL: httpURL}, func() (context.Context, context.CancelFunc) {
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
