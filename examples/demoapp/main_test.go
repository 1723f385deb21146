package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func get(t *testing.T, srv *httptest.Server, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestHandlers(t *testing.T) {
	srv := httptest.NewServer((&app{color: "green", version: "v2"}).routes())
	defer srv.Close()

	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
		wantColor  string
	}{
		{"/", 200, "green v2\n", "green"},
		{"/healthz", 200, "ok\n", ""},
		{"/slow?ms=5", 200, "green v2\n", "green"},
		{"/slow?ms=0", 200, "green v2\n", "green"},
		{"/slow?ms=abc", 400, "query parameter ms must be a whole number of milliseconds >= 0\n", ""},
		{"/slow?ms=-1", 400, "query parameter ms must be a whole number of milliseconds >= 0\n", ""},
		{"/slow", 400, "query parameter ms must be a whole number of milliseconds >= 0\n", ""},
		{"/nope", 404, "404 page not found\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, h, body := get(t, srv, tt.path)
			if status != tt.wantStatus || body != tt.wantBody {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, status, body, tt.wantStatus, tt.wantBody)
			}
			if got := h.Get("X-Color"); got != tt.wantColor {
				t.Errorf("GET %s: X-Color = %q, want %q", tt.path, got, tt.wantColor)
			}
			if tt.wantColor != "" && h.Get("X-Version") != "v2" {
				t.Errorf("GET %s: X-Version = %q, want v2", tt.path, h.Get("X-Version"))
			}
		})
	}
}

func TestUnhealthyMode(t *testing.T) {
	srv := httptest.NewServer((&app{color: "blue", version: "v1", unhealthy: true}).routes())
	defer srv.Close()

	if status, _, body := get(t, srv, "/"); status != 200 || body != "blue v1\n" {
		t.Errorf("GET / = %d %q, want 200 %q", status, body, "blue v1\n")
	}
	if status, _, _ := get(t, srv, "/healthz"); status != 500 {
		t.Errorf("GET /healthz = %d, want 500", status)
	}
}

func TestSlowCancelled(t *testing.T) {
	a := &app{color: "blue", version: "v1"}
	// A client that goes away ends the wait at once, even for a request
	// capped at 60 s; nothing is written.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/slow?ms=999999999", nil)
	rec := httptest.NewRecorder()
	a.routes().ServeHTTP(rec, req)
	if rec.Body.Len() != 0 {
		t.Errorf("cancelled /slow wrote %q, want nothing", rec.Body.String())
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{
			name: "defaults",
			want: config{addr: "0.0.0.0:8080", color: "none", version: "dev"},
		},
		{
			name: "host networking",
			env:  map[string]string{"PORT": "18081", "LISTEN_ADDR": "127.0.0.1", "COLOR": "blue", "APP_VERSION": "v1"},
			want: config{addr: "127.0.0.1:18081", color: "blue", version: "v1"},
		},
		{
			name: "listen addr with port wins",
			env:  map[string]string{"PORT": "1", "LISTEN_ADDR": "127.0.0.1:9000"},
			want: config{addr: "127.0.0.1:9000", color: "none", version: "dev"},
		},
		{
			name: "exit",
			env:  map[string]string{"APP_MODE": "exit"},
			want: config{addr: "0.0.0.0:8080", color: "none", version: "dev", mode: "exit", exit: true},
		},
		{
			name: "unhealthy",
			env:  map[string]string{"APP_MODE": "unhealthy"},
			want: config{addr: "0.0.0.0:8080", color: "none", version: "dev", mode: "unhealthy", unhealthy: true},
		},
		{
			name: "slowstart",
			env:  map[string]string{"APP_MODE": "slowstart=1500ms"},
			want: config{addr: "0.0.0.0:8080", color: "none", version: "dev", mode: "slowstart=1500ms", slowstart: 1500 * time.Millisecond},
		},
		{name: "bad slowstart", env: map[string]string{"APP_MODE": "slowstart=soon"}, wantErr: `APP_MODE="slowstart=soon": want slowstart=<duration>, e.g. slowstart=2s`},
		{name: "unknown mode", env: map[string]string{"APP_MODE": "explode"}, wantErr: `APP_MODE="explode": want one of exit, unhealthy, slowstart=<duration>, or empty`},
		{name: "bad port", env: map[string]string{"PORT": "http"}, wantErr: `PORT="http": want a port number from 1 to 65535`},
		{name: "port out of range", env: map[string]string{"PORT": "70000"}, wantErr: `PORT="70000": want a port number from 1 to 65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parseConfig() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("parseConfig() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
