package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJob: `job append=... exit=N` appends one line naming the job, the
// release and the version, and exits N; a bad argument exits 2.
func TestJob(t *testing.T) {
	file := filepath.Join(t.TempDir(), "jobs.log")
	env := map[string]string{"BLUEGREEN_JOB": "migrate", "BLUEGREEN_GENERATION": "0123456789ab", "APP_VERSION": "v2"}
	getenv := func(k string) string { return env[k] }
	if code := runJob([]string{"append=" + file}, getenv); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	if code := runJob([]string{"append=" + file, "exit=3"}, getenv); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
	if code := runJob([]string{"what=1"}, getenv); code != 2 {
		t.Fatalf("bad argument: exit %d, want 2", code)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "job migrate 0123456789ab v2 ") {
		t.Fatalf("lines %q", lines)
	}
}

// TestFirstServed: the first GET / is recorded in FIRST_SERVED_FILE,
// once; health checks are not.
func TestFirstServed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "served.log")
	cfg, err := parseConfig(func(k string) string {
		return map[string]string{"COLOR": "green", "APP_VERSION": "v2", "FIRST_SERVED_FILE": file}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	h := newApp(cfg, func(string) {}).routes()
	if code, _, _ := do(h, http.MethodGet, "/healthz"); code != 200 {
		t.Fatalf("health %d", code)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("a health check was recorded as served (%v)", err)
	}
	do(h, http.MethodGet, "/")
	do(h, http.MethodGet, "/")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "served green v2 ") {
		t.Fatalf("lines %q", lines)
	}
}
