package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
)

func TestParseConfig(t *testing.T) {
	const help = "known modes: " + knownModes
	const healthPathHelp = "want healthpath=<path>, starting with / and made of letters, digits and -._~, e.g. healthpath=/status/ready"
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
			env:  map[string]string{"PORT": "1", "LISTEN_ADDR": "127.0.0.1:0"},
			want: config{addr: "127.0.0.1:0", color: "none", version: "dev"},
		},
		{
			name: "every mode",
			env:  map[string]string{"APP_MODE": "crashafter=1m30s,crashatstart,alloc=64,leak=5,flap=250ms,fail500,healthpath=/status/ready,coldstart=200x10ms"},
			want: config{addr: "0.0.0.0:8080", color: "none", version: "dev",
				mode: "crashafter=1m30s,crashatstart,alloc=64,leak=5,flap=250ms,fail500,healthpath=/status/ready,coldstart=200x10ms",
				modes: modes{crashAfter: 90 * time.Second, crashAtStart: true, allocMiB: 64, leakMiB: 5,
					flap: 250 * time.Millisecond, fail500: true, healthPath: "/status/ready",
					cold: coldStart{Requests: 200, Cost: 10 * time.Millisecond}}},
		},
		{
			name: "health path like the default",
			env:  map[string]string{"APP_MODE": "healthpath=/healthz"},
			want: config{addr: "0.0.0.0:8080", color: "none", version: "dev", mode: "healthpath=/healthz",
				modes: modes{healthPath: "/healthz"}},
		},
		{
			name: "health path with dots and dashes",
			env:  map[string]string{"APP_MODE": "healthpath=/_status/health-check.v1~"},
			want: config{addr: "0.0.0.0:8080", color: "none", version: "dev", mode: "healthpath=/_status/health-check.v1~",
				modes: modes{healthPath: "/_status/health-check.v1~"}},
		},
		{
			name: "spaces and blank items",
			env:  map[string]string{"APP_MODE": " fail500 ,, alloc=1 ,"},
			want: config{addr: "0.0.0.0:8080", color: "none", version: "dev", mode: " fail500 ,, alloc=1 ,",
				modes: modes{fail500: true, allocMiB: 1}},
		},
		{name: "unknown mode", env: map[string]string{"APP_MODE": "fail500,explode"},
			wantErr: `APP_MODE="fail500,explode": unknown mode "explode"; ` + help},
		{name: "polite demo mode is unknown", env: map[string]string{"APP_MODE": "slowstart=1s"},
			wantErr: `APP_MODE="slowstart=1s": unknown mode "slowstart=1s"; ` + help},
		{name: "name case matters", env: map[string]string{"APP_MODE": "Fail500"},
			wantErr: `APP_MODE="Fail500": unknown mode "Fail500"; ` + help},
		{name: "duration missing", env: map[string]string{"APP_MODE": "crashafter"},
			wantErr: `APP_MODE="crashafter": crashafter="": want crashafter=<duration> greater than 0, e.g. crashafter=2s`},
		{name: "duration without unit", env: map[string]string{"APP_MODE": "crashafter=200"},
			wantErr: `APP_MODE="crashafter=200": crashafter="200": want crashafter=<duration> greater than 0, e.g. crashafter=2s`},
		{name: "zero duration", env: map[string]string{"APP_MODE": "flap=0s"},
			wantErr: `APP_MODE="flap=0s": flap="0s": want flap=<duration> greater than 0, e.g. flap=2s`},
		{name: "negative duration", env: map[string]string{"APP_MODE": "flap=-1s"},
			wantErr: `APP_MODE="flap=-1s": flap="-1s": want flap=<duration> greater than 0, e.g. flap=2s`},
		{name: "MiB not a number", env: map[string]string{"APP_MODE": "alloc=64MiB"},
			wantErr: `APP_MODE="alloc=64MiB": alloc="64MiB": want alloc=<MiB>, a whole number from 1 to 65536`},
		{name: "MiB zero", env: map[string]string{"APP_MODE": "leak=0"},
			wantErr: `APP_MODE="leak=0": leak="0": want leak=<MiB per second>, a whole number from 1 to 65536`},
		{name: "MiB too big", env: map[string]string{"APP_MODE": "alloc=65537"},
			wantErr: `APP_MODE="alloc=65537": alloc="65537": want alloc=<MiB>, a whole number from 1 to 65536`},
		{name: "flag with a value", env: map[string]string{"APP_MODE": "fail500=1"},
			wantErr: `APP_MODE="fail500=1": "fail500=1": mode fail500 takes no value`},
		{name: "flag with an empty value", env: map[string]string{"APP_MODE": "crashatstart="},
			wantErr: `APP_MODE="crashatstart=": "crashatstart=": mode crashatstart takes no value`},
		{name: "health path missing", env: map[string]string{"APP_MODE": "healthpath"},
			wantErr: `APP_MODE="healthpath": healthpath="": ` + healthPathHelp},
		{name: "health path not absolute", env: map[string]string{"APP_MODE": "healthpath=status"},
			wantErr: `APP_MODE="healthpath=status": healthpath="status": ` + healthPathHelp},
		{name: "health path with a trailing slash", env: map[string]string{"APP_MODE": "healthpath=/status/"},
			wantErr: `APP_MODE="healthpath=/status/": healthpath="/status/": ` + healthPathHelp},
		{name: "health path not clean", env: map[string]string{"APP_MODE": "healthpath=/a/../status"},
			wantErr: `APP_MODE="healthpath=/a/../status": healthpath="/a/../status": ` + healthPathHelp},
		{name: "health path a wildcard", env: map[string]string{"APP_MODE": "healthpath=/{x}"},
			wantErr: `APP_MODE="healthpath=/{x}": healthpath="/{x}": ` + healthPathHelp},
		{name: "health path with a query", env: map[string]string{"APP_MODE": "healthpath=/status?full=1"},
			wantErr: `APP_MODE="healthpath=/status?full=1": healthpath="/status?full=1": ` + healthPathHelp},
		{name: "health path the root", env: map[string]string{"APP_MODE": "healthpath=/"},
			wantErr: `APP_MODE="healthpath=/": healthpath="/": want a path other than the app's own /, /crash, /sick, /hang`},
		{name: "health path an endpoint of the app", env: map[string]string{"APP_MODE": "healthpath=/sick"},
			wantErr: `APP_MODE="healthpath=/sick": healthpath="/sick": want a path other than the app's own /, /crash, /sick, /hang`},
		{name: "cold start without a duration", env: map[string]string{"APP_MODE": "coldstart=200"},
			wantErr: `APP_MODE="coldstart=200": coldstart="200": want coldstart=<N>x<duration>, N from 1 to 1000000 requests and a duration from 1ns to 1m, e.g. coldstart=200x10ms`},
		{name: "cold start without a count", env: map[string]string{"APP_MODE": "coldstart=x10ms"},
			wantErr: `APP_MODE="coldstart=x10ms": coldstart="x10ms": want coldstart=<N>x<duration>, N from 1 to 1000000 requests and a duration from 1ns to 1m, e.g. coldstart=200x10ms`},
		{name: "cold start of no requests", env: map[string]string{"APP_MODE": "coldstart=0x10ms"},
			wantErr: `APP_MODE="coldstart=0x10ms": coldstart="0x10ms": want coldstart=<N>x<duration>, N from 1 to 1000000 requests and a duration from 1ns to 1m, e.g. coldstart=200x10ms`},
		{name: "cold start of too many requests", env: map[string]string{"APP_MODE": "coldstart=1000001x1ms"},
			wantErr: `APP_MODE="coldstart=1000001x1ms": coldstart="1000001x1ms": want coldstart=<N>x<duration>, N from 1 to 1000000 requests and a duration from 1ns to 1m, e.g. coldstart=200x10ms`},
		{name: "cold start without a unit", env: map[string]string{"APP_MODE": "coldstart=200x10"},
			wantErr: `APP_MODE="coldstart=200x10": coldstart="200x10": want coldstart=<N>x<duration>, N from 1 to 1000000 requests and a duration from 1ns to 1m, e.g. coldstart=200x10ms`},
		{name: "cold start of no time", env: map[string]string{"APP_MODE": "coldstart=200x0s"},
			wantErr: `APP_MODE="coldstart=200x0s": coldstart="200x0s": want coldstart=<N>x<duration>, N from 1 to 1000000 requests and a duration from 1ns to 1m, e.g. coldstart=200x10ms`},
		{name: "cold start over a minute", env: map[string]string{"APP_MODE": "coldstart=1x61s"},
			wantErr: `APP_MODE="coldstart=1x61s": coldstart="1x61s": want coldstart=<N>x<duration>, N from 1 to 1000000 requests and a duration from 1ns to 1m, e.g. coldstart=200x10ms`},
		{name: "cold start with spaces", env: map[string]string{"APP_MODE": "coldstart=200 x 10ms"},
			wantErr: `APP_MODE="coldstart=200 x 10ms": coldstart="200 x 10ms": want coldstart=<N>x<duration>, N from 1 to 1000000 requests and a duration from 1ns to 1m, e.g. coldstart=200x10ms`},
		{name: "mode twice", env: map[string]string{"APP_MODE": "alloc=1,alloc=2"},
			wantErr: `APP_MODE="alloc=1,alloc=2": mode "alloc" given twice`},
		{name: "bad port", env: map[string]string{"PORT": "http"},
			wantErr: `PORT="http": want a port number from 1 to 65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parseConfig() error = %v\nwant %s", err, tt.wantErr)
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

// do sends method path to h and returns the status, headers and body.
func do(h http.Handler, method, path string) (int, http.Header, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Header(), rec.Body.String()
}

func TestHandlers(t *testing.T) {
	var crashes []string
	a := newApp(config{color: "blue", version: "v1"}, func(r string) { crashes = append(crashes, r) })
	h := a.routes()

	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/", 200, "blue v1\n"},
		{"GET", "/healthz", 200, "ok\n"},
		{"GET", "/nope", 404, "404 page not found\n"},
		{"GET", "/crash", 405, "Method Not Allowed\n"},
		{"GET", "/sick", 405, "Method Not Allowed\n"},
		{"GET", "/hang", 405, "Method Not Allowed\n"},
		{"POST", "/", 405, "Method Not Allowed\n"},
	}
	for _, tt := range tests {
		status, _, body := do(h, tt.method, tt.path)
		if status != tt.wantStatus || body != tt.wantBody {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, status, body, tt.wantStatus, tt.wantBody)
		}
	}
	if _, hdr, _ := do(h, "GET", "/"); hdr.Get("X-Color") != "blue" || hdr.Get("X-Version") != "v1" {
		t.Errorf("GET / headers X-Color=%q X-Version=%q, want blue v1", hdr.Get("X-Color"), hdr.Get("X-Version"))
	}
	if len(crashes) != 0 {
		t.Fatalf("crash called by %v", crashes)
	}
	do(h, "POST", "/crash")
	if len(crashes) != 1 || !strings.HasPrefix(crashes[0], "POST /crash from ") {
		t.Errorf("after POST /crash, crash calls = %q, want one", crashes)
	}
}

func TestFail500(t *testing.T) {
	h := newApp(config{color: "blue", version: "v1", modes: modes{fail500: true}}, nil).routes()
	if status, _, body := do(h, "GET", "/"); status != 500 || body != "internal error\n" {
		t.Errorf("GET / = %d %q, want 500 %q", status, body, "internal error\n")
	}
	if status, _, body := do(h, "GET", "/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", status, body)
	}
}

func TestColdStart(t *testing.T) {
	a := newApp(config{color: "blue", version: "v1", modes: modes{cold: coldStart{Requests: 2, Cost: 7 * time.Millisecond}}}, nil)
	var waits []time.Duration
	a.pause = func(_ context.Context, d time.Duration) { waits = append(waits, d) }
	h := a.routes()
	for i, tt := range []struct {
		path      string
		wantWaits int // pauses so far
	}{
		{"/healthz", 0}, // the health endpoint is never slowed, nor counted
		{"/", 1}, {"/healthz", 1}, {"/", 2},
		{"/", 2}, {"/", 2}, // warm
	} {
		status, _, _ := do(h, "GET", tt.path)
		if status != 200 || len(waits) != tt.wantWaits {
			t.Fatalf("request %d, GET %s: status %d, %d waits so far, want 200 and %d", i+1, tt.path, status, len(waits), tt.wantWaits)
		}
	}
	for _, d := range waits {
		if d != 7*time.Millisecond {
			t.Errorf("a cold request waited %s, want 7ms", d)
		}
	}
}

func TestSleepEndsWithTheClient(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { sleep(ctx, time.Hour); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sleep went on after its context ended")
	}
}

func TestFlap(t *testing.T) {
	a := newApp(config{color: "blue", version: "v1", modes: modes{flap: time.Second}}, nil)
	now := a.start
	a.now = func() time.Time { return now }
	h := a.routes()
	for _, tt := range []struct {
		at   time.Duration
		want int
	}{
		{0, 200}, {999 * time.Millisecond, 200},
		{time.Second, 503}, {1999 * time.Millisecond, 503},
		{2 * time.Second, 200}, {3500 * time.Millisecond, 503}, {10 * time.Second, 200},
	} {
		now = a.start.Add(tt.at)
		if status, _, body := do(h, "GET", "/healthz"); status != tt.want {
			t.Errorf("GET /healthz at start+%s = %d %q, want %d", tt.at, status, body, tt.want)
		}
		// / is unaffected by flap.
		if status, _, _ := do(h, "GET", "/"); status != 200 {
			t.Errorf("GET / at start+%s = %d, want 200", tt.at, status)
		}
	}
}

func TestHealthPath(t *testing.T) {
	h := newApp(config{color: "blue", version: "v1", modes: modes{healthPath: "/status/ready"}}, nil).routes()
	for _, tt := range []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/status/ready", 200, "ok\n"},
		{"GET", "/healthz", 404, "404 page not found\n"},
		{"GET", "/status", 404, "404 page not found\n"},
		{"GET", "/", 200, "blue v1\n"},
		{"POST", "/status/ready", 405, "Method Not Allowed\n"},
	} {
		if status, _, body := do(h, tt.method, tt.path); status != tt.wantStatus || body != tt.wantBody {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, status, body, tt.wantStatus, tt.wantBody)
		}
	}
}

func TestSick(t *testing.T) {
	tests := []struct {
		name       string
		modes      modes
		healthPath string
		wantRoot   string // GET / before and after, "<status> <body>"
	}{
		{"default", modes{}, "/healthz", "200 blue v1\n"},
		{"healthpath", modes{healthPath: "/status/ready"}, "/status/ready", "200 blue v1\n"},
		{"flap", modes{flap: time.Hour}, "/healthz", "200 blue v1\n"},
		{"fail500", modes{fail500: true}, "/healthz", "500 internal error\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newApp(config{color: "blue", version: "v1", modes: tt.modes}, nil).routes()
			check := func(when, method, path, want string) {
				t.Helper()
				status, _, body := do(h, method, path)
				if got := fmt.Sprintf("%d %s", status, body); got != want {
					t.Errorf("%s: %s %s = %q, want %q", when, method, path, got, want)
				}
			}
			check("before", "GET", tt.healthPath, "200 ok\n")
			check("before", "GET", "/", tt.wantRoot)
			for i := range 2 { // a second POST changes nothing
				check("POST", "POST", "/sick", "200 sick from now on\n")
				check(fmt.Sprintf("after POST /sick #%d", i+1), "GET", tt.healthPath, "503 sick\n")
				check(fmt.Sprintf("after POST /sick #%d", i+1), "GET", "/", tt.wantRoot)
			}
		})
	}
}

func TestHang(t *testing.T) {
	var crashes atomic.Int64
	h := newApp(config{color: "blue", version: "v1"}, func(string) { crashes.Add(1) }).routes()
	// Count the requests in the handler, to see that none is left once its
	// client has gone. Should one be left, the end of the test releases it,
	// so that srv.Close does not wait for it forever.
	var inFlight atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(t.Context(), cancel)()
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close) // after t.Context is done
	client := &http.Client{Timeout: 200 * time.Millisecond}
	send := func(method, path, body string) (string, error) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b), err
	}

	if got, err := send("GET", "/", ""); err != nil || got != "200 blue v1\n" {
		t.Fatalf("GET / before POST /hang = %q, %v; want 200 blue v1", got, err)
	}
	if got, err := send("POST", "/hang", ""); err != nil || got != "200 hanging from now on\n" {
		t.Fatalf("POST /hang = %q, %v; want 200 hanging from now on", got, err)
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/healthz", ""},
		{"GET", "/", ""},
		{"GET", "/nope", ""},
		{"POST", "/sick", ""},
		{"POST", "/hang", ""},
		{"POST", "/crash", "a body the handler must read to see the client go"},
	} {
		start := time.Now()
		got, err := send(r.method, r.path, r.body)
		var netErr net.Error
		if !errors.As(err, &netErr) || !netErr.Timeout() {
			t.Errorf("%s %s after POST /hang = %q, %v; want a client timeout", r.method, r.path, got, err)
		}
		t.Logf("%s %s: %v after %s", r.method, r.path, err, time.Since(start).Round(time.Millisecond))
	}
	if n := crashes.Load(); n != 0 {
		t.Errorf("crash called %d times by a hung POST /crash", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for inFlight.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := inFlight.Load(); n != 0 {
		t.Errorf("%d requests still in the handler 2s after their clients gave up", n)
	}
}

func TestAllocTouched(t *testing.T) {
	page := os.Getpagesize()
	b := allocTouched(3*page + 1)
	if len(b) != 3*page+1 {
		t.Fatalf("len = %d, want %d", len(b), 3*page+1)
	}
	for i := range b {
		want := byte(0)
		if i%page == 0 {
			want = 1
		}
		if b[i] != want {
			t.Fatalf("b[%d] = %d, want %d (one write at the start of every page)", i, b[i], want)
		}
	}
	var l leaker
	l.leak(1 << 20)
	l.leak(1 << 20)
	if l.total != 2<<20 || len(l.held) != 2 || len(l.held[1]) != 1<<20 {
		t.Errorf("leaker after 2 x 1 MiB: total %d, %d buffers", l.total, len(l.held))
	}
}

// The process tests run the real binary as a child (not PID 1).

// buildApp compiles this package into a temp dir, once per test binary.
func buildApp(t *testing.T) string {
	t.Helper()
	return testenv.GoBuild(t, "./test/rudeapp")
}

// child is a running rudeapp process.
type child struct {
	cmd    *exec.Cmd
	stderr *testenv.SyncBuffer
	done   chan struct{} // closed when Wait returned
}

// startApp runs bin on 127.0.0.1 with a kernel-chosen port and APP_MODE=mode.
// The environment is only what is given (no GOTRACEBACK from the test's), as
// in the image. The process is killed, by its PID, when the test ends.
func startApp(t *testing.T, bin, mode string) *child {
	t.Helper()
	c := &child{stderr: &testenv.SyncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(bin)
	c.cmd.Env = []string{"LISTEN_ADDR=127.0.0.1:0", "COLOR=blue", "APP_VERSION=v1", "APP_MODE=" + mode}
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

var listeningRE = regexp.MustCompile(`rudeapp: .* listening on (127\.0\.0\.1:\d+)`)

// url waits for the "listening on" log line and returns the app's base URL.
func (c *child) url(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRE.FindStringSubmatch(c.stderr.String()); m != nil {
			return "http://" + m[1]
		}
		select {
		case <-c.done:
			t.Fatalf("rudeapp exited (%v) before listening; stderr:\n%s", c.cmd.ProcessState, c.stderr)
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("rudeapp not listening after 3s; stderr:\n%s", c.stderr)
	return ""
}

// wait waits up to timeout for the process to end and returns its state.
func (c *child) wait(t *testing.T, timeout time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-c.done:
		return c.cmd.ProcessState
	case <-time.After(timeout):
		t.Fatalf("rudeapp still running after %s; stderr:\n%s", timeout, c.stderr)
		return nil
	}
}

// httpDo sends method url and returns "<status> <trimmed body>".
func httpDo(method, url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))), err
}

// wantExit checks that ps is a normal exit with status code.
func wantExit(t *testing.T, c *child, ps *os.ProcessState, code int) {
	t.Helper()
	if !ps.Exited() || ps.ExitCode() != code {
		t.Errorf("process ended with %v (exited=%v, code %d), want exit status %d; stderr:\n%s",
			ps, ps.Exited(), ps.ExitCode(), code, c.stderr)
	}
}

func TestProcess(t *testing.T) {
	bin := buildApp(t)

	t.Run("SIGTERM kills it: no handler", func(t *testing.T) {
		t.Parallel()
		c := startApp(t, bin, "")
		url := c.url(t)
		if got, err := httpDo("GET", url+"/"); err != nil || got != "200 blue v1" {
			t.Fatalf("GET / = %q, %v; want %q", got, err, "200 blue v1")
		}
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("sending SIGTERM: %v", err)
		}
		ps := c.wait(t, 2*time.Second)
		ws, _ := ps.Sys().(syscall.WaitStatus)
		// Not PID 1, so the Go runtime re-raises SIGTERM with the default
		// action: the process dies by the signal, it does not exit.
		if ps.Exited() || ps.ExitCode() != -1 || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("after SIGTERM: %v (exited=%v, code %d, signaled=%v), want killed by SIGTERM; stderr:\n%s",
				ps, ps.Exited(), ps.ExitCode(), ws.Signaled(), c.stderr)
		}
		if strings.Contains(c.stderr.String(), "shutting down") {
			t.Errorf("stderr mentions a shutdown:\n%s", c.stderr)
		}
	})

	t.Run("crashafter=200ms panics with 2", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		c := startApp(t, bin, "crashafter=200ms")
		if got, err := httpDo("GET", c.url(t)+"/healthz"); err != nil || got != "200 ok" {
			t.Fatalf("GET /healthz = %q, %v; want 200 ok", got, err)
		}
		ps := c.wait(t, 3*time.Second)
		took := time.Since(start)
		wantExit(t, c, ps, 2)
		if took < 200*time.Millisecond {
			t.Errorf("exited after %s, before the 200ms", took)
		}
		if s := c.stderr.String(); !strings.Contains(s, "panic: rudeapp: crashafter=200ms elapsed") {
			t.Errorf("stderr has no panic message:\n%s", s)
		}
		t.Logf("exited %d after %s", ps.ExitCode(), took.Round(time.Millisecond))
	})

	t.Run("POST /crash panics with 2", func(t *testing.T) {
		t.Parallel()
		c := startApp(t, bin, "")
		url := c.url(t)
		httpDo("POST", url+"/crash") // the connection dies with the process
		wantExit(t, c, c.wait(t, 2*time.Second), 2)
		if s := c.stderr.String(); !strings.Contains(s, "panic: rudeapp: POST /crash from 127.0.0.1:") {
			t.Errorf("stderr has no panic message:\n%s", s)
		}
	})

	t.Run("crashatstart exits 3 before listening", func(t *testing.T) {
		t.Parallel()
		c := startApp(t, bin, "crashatstart")
		wantExit(t, c, c.wait(t, 2*time.Second), 3)
		s := c.stderr.String()
		if !strings.Contains(s, "rudeapp: ") || !strings.Contains(s, "crashatstart: exiting with status 3") || strings.Contains(s, "listening on") {
			t.Errorf("stderr:\n%s", s)
		}
	})

	t.Run("unknown mode exits 2", func(t *testing.T) {
		t.Parallel()
		c := startApp(t, bin, "fail500,explode")
		wantExit(t, c, c.wait(t, 2*time.Second), 2)
		if s := c.stderr.String(); !strings.Contains(s, `bad configuration: APP_MODE="fail500,explode": unknown mode "explode"`) {
			t.Errorf("stderr:\n%s", s)
		}
	})

	t.Run("healthpath, POST /sick then POST /hang", func(t *testing.T) {
		t.Parallel()
		c := startApp(t, bin, "healthpath=/status/ready")
		url := c.url(t)
		for _, tt := range []struct{ method, path, want string }{
			{"GET", "/status/ready", "200 ok"},
			{"GET", "/healthz", "404 404 page not found"},
			{"POST", "/sick", "200 sick from now on"},
			{"GET", "/status/ready", "503 sick"},
			{"GET", "/", "200 blue v1"},
			{"POST", "/hang", "200 hanging from now on"},
		} {
			if got, err := httpDo(tt.method, url+tt.path); err != nil || got != tt.want {
				t.Fatalf("%s %s = %q, %v; want %q", tt.method, tt.path, got, err, tt.want)
			}
		}
		client := &http.Client{Timeout: 200 * time.Millisecond}
		for _, path := range []string{"/status/ready", "/"} {
			if resp, err := client.Get(url + path); err == nil {
				resp.Body.Close()
				t.Errorf("GET %s after POST /hang = %s, want a client timeout", path, resp.Status)
			} else if netErr := net.Error(nil); !errors.As(err, &netErr) || !netErr.Timeout() {
				t.Errorf("GET %s after POST /hang: %v, want a client timeout", path, err)
			}
		}
		s := c.stderr.String()
		for _, want := range []string{
			"healthpath: the health endpoint is GET /status/ready; GET /healthz answers 404",
			"sick: POST /sick from 127.0.0.1:",
			"hang: POST /hang from 127.0.0.1:",
		} {
			if !strings.Contains(s, want) {
				t.Errorf("stderr lacks %q:\n%s", want, s)
			}
		}
	})

	t.Run("fail500 and alloc serve", func(t *testing.T) {
		t.Parallel()
		c := startApp(t, bin, "fail500,alloc=8")
		url := c.url(t)
		if got, err := httpDo("GET", url+"/"); err != nil || got != "500 internal error" {
			t.Errorf("GET / = %q, %v; want 500 internal error", got, err)
		}
		if got, err := httpDo("GET", url+"/healthz"); err != nil || got != "200 ok" {
			t.Errorf("GET /healthz = %q, %v; want 200 ok", got, err)
		}
		if s := c.stderr.String(); !strings.Contains(s, "alloc: holding 8 MiB") {
			t.Errorf("stderr:\n%s", s)
		}
	})
}
