package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testSecret = "a-test-secret-of-32-bytes-length"

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// runCmd runs the subcommand args with the environment m and returns the
// exit status, stdout and stderr.
func runCmd(t *testing.T, m map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, env(m), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{nil, 2, "", "notes: no command given\n\nusage: notes <command>"},
		{[]string{"serve", "extra"}, 2, "", `notes serve: unexpected arguments ["extra"]`},
		{[]string{"bogus"}, 2, "", `notes: unknown command "bogus"`},
		{[]string{"help"}, 0, "usage: notes <command>", ""},
		{[]string{"version"}, 0, "notes v7 (schema 2)\n", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCmd(t, map[string]string{"APP_VERSION": "v7"}, tt.args...)
			if code != tt.wantCode || !strings.HasPrefix(stdout, tt.wantStdout) || !strings.HasPrefix(stderr, tt.wantStderr) ||
				(tt.wantStdout == "") != (stdout == "") || (tt.wantStderr == "") != (stderr == "") {
				t.Errorf("notes %q = %d, stdout %q, stderr %q; want %d, stdout %q..., stderr %q...",
					tt.args, code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestBadPort(t *testing.T) {
	code, _, stderr := runCmd(t, map[string]string{"PORT": "http"}, "migrate")
	if code != 2 || !strings.Contains(stderr, `bad configuration: PORT="http": want a port number from 1 to 65535`) {
		t.Errorf("notes migrate with PORT=http = %d, %q; want 2 and the reason", code, stderr)
	}
}

// TestServeRefusals: serve exits 1 with a clear message, before listening,
// when SECRET_KEY is missing or short, when there is no database and when
// the database's schema is older than the binary's.
func TestServeRefusals(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		migrate int // -1: no database
		want    string
	}{
		{"no secret", "", schemaVersion, "refusing to start: SECRET_KEY is not set"},
		{"short secret", "short", schemaVersion, "refusing to start: SECRET_KEY is 5 bytes long: want at least 16"},
		{"no database", testSecret, -1, "refusing to start: open database DIR/notes.db: no database: run `notes migrate` first"},
		{"schema 0", testSecret, 0, "refusing to start: database schema too old: DIR/notes.db has schema 0, this binary needs 2: run `notes migrate` first"},
		{"schema 1", testSecret, 1, "refusing to start: database schema too old: DIR/notes.db has schema 1, this binary needs 2: run `notes migrate` first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.migrate >= 0 {
				if _, _, err := (&store{path: filepath.Join(dir, "notes.db")}).migrate(tt.migrate); err != nil {
					t.Fatal(err)
				}
			}
			// PORT 1: were serve to get as far as listening, it would fail there.
			code, stdout, stderr := runCmd(t, map[string]string{"DATA_DIR": dir, "SECRET_KEY": tt.secret, "PORT": "1"}, "serve")
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if code != 1 || stdout != "" || !strings.Contains(stderr, want) {
				t.Errorf("notes serve = %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, want)
			}
			if tt.secret != "" && strings.Contains(stderr, tt.secret) {
				t.Errorf("the log holds the secret: %q", stderr)
			}
		})
	}
}

// TestMigrateCommand: migrate creates the database at the current schema,
// and run again it changes nothing.
func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	m := map[string]string{"DATA_DIR": dir}
	code, _, stderr := runCmd(t, m, "migrate")
	want := "migrate: " + dir + "/notes.db migrated from schema 0 to 2"
	if code != 0 || !strings.Contains(stderr, want) {
		t.Fatalf("notes migrate = %d, %q; want 0 and %q", code, stderr, want)
	}
	code, _, stderr = runCmd(t, m, "migrate")
	want = "migrate: " + dir + "/notes.db is at schema 2: nothing to do"
	if code != 0 || !strings.Contains(stderr, want) {
		t.Fatalf("notes migrate again = %d, %q; want 0 and %q", code, stderr, want)
	}
	if fi, err := os.Stat(filepath.Join(dir, "notes.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database file: %v, %v; want mode 0600", fi, err)
	}
}

func TestMigrateCommandFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	code, _, stderr := runCmd(t, map[string]string{"DATA_DIR": dir}, "migrate")
	if code != 1 || !strings.Contains(stderr, "migrate: open database "+dir+"/notes.db: ") {
		t.Errorf("notes migrate into a missing directory = %d, %q; want 1 and the path", code, stderr)
	}
}
