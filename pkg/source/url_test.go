package source

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestCredentialsInTheURLAreRefusedAndNeverShown: a token in the URL
// (https://TOKEN@host) used to be accepted, shown in errors and kept in
// status; user:pass@ was refused but shown in the refusal when the URL
// did not parse. Every URL holding credentials is now refused, and the
// refusal shows none of them and says where they go instead.
func TestCredentialsInTheURLAreRefusedAndNeverShown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "git")
	tests := []struct{ url, shown, says string }{
		{"https://S3CRET@example.com/r.git", "https://xxxxx@example.com/r.git", "--git-token-file"},
		{"https://me:S3CRET@example.com/r.git", "https://xxxxx@example.com/r.git", "--git-token-file"},
		{"https://me:S3C/RET@example.com/r.git", "https://xxxxx@example.com/r.git", "--git-token-file"},
		{"https://S3C/RET@example.com/r.git", "https://xxxxx@example.com/r.git", "--git-token-file"},
		{"https://me:S3CRET@example.com:bad/r.git", "https://xxxxx@example.com:bad/r.git", "--git-token-file"},
		{"https://example.com/r.git?private_token=S3CRET", "https://example.com/r.git?xxxxx", "query string"},
		{"http://S3CRET@example.com/r.git", "http://xxxxx@example.com/r.git", "--git-token-file"},
		{"ssh://git:S3CRET@example.com/r.git", "ssh://xxxxx@example.com/r.git", "--git-ssh-key-file"},
		{"git:S3CRET@example.com:ops/r.git", "xxxxx@example.com:ops/r.git", "--git-ssh-key-file"},
		{"file://me:S3CRET@/srv/r.git", "file://xxxxx@/srv/r.git", "credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.shown, func(t *testing.T) {
			if got := Redact(tt.url); got != tt.shown {
				t.Errorf("Redact(%s) = %s, want %s", tt.url, got, tt.shown)
			}
			g := Git{URL: tt.url, Dir: dir, InsecureTransport: true}
			_, err := g.Sync(context.Background())
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.shown) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("Sync: err = %v, want ErrConfig showing %s and saying %q", err, tt.shown, tt.says)
			}
			if strings.Contains(err.Error(), "S3C") || strings.Contains(err.Error(), "RET") {
				t.Fatalf("the error shows the credentials: %v", err)
			}
		})
	}
}

// TestURLsWithoutCredentialsAreShownAsGiven: the user of an ssh URL is a
// name, not a secret; an "@" in a file path is a name.
func TestURLsWithoutCredentialsAreShownAsGiven(t *testing.T) {
	for _, u := range []string{
		"ssh://git@example.com:2222/ops/r.git",
		"git@example.com:ops/r.git",
		"https://example.com/ops/r.git",
		"file:///srv/git/r@2.git",
		"/srv/git/r.git",
	} {
		if got := Redact(u); got != u {
			t.Errorf("Redact(%s) = %s, want it unchanged", u, got)
		}
		g := Git{URL: u, Dir: t.TempDir()}
		if _, err := g.config(); err != nil {
			t.Errorf("config of %s: %v", u, err)
		}
	}
}

// TestUnauthenticatedTransportsNeedToBeTrusted: http:// and git:// were
// accepted, so anyone on the network path could supply the desired
// state. They are refused, naming the flag that accepts them; https, ssh,
// file URLs and local paths are not.
func TestUnauthenticatedTransportsNeedToBeTrusted(t *testing.T) {
	rm := newRemote(t)
	c1 := rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
	rm.push(false)

	for _, u := range []string{"http://127.0.0.1:1/r.git", "git://127.0.0.1:1/r.git"} {
		g := Git{URL: u, Dir: filepath.Join(t.TempDir(), "git")}
		_, err := g.Sync(context.Background())
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--git-insecure-transport") || !strings.Contains(err.Error(), u) {
			t.Fatalf("Sync of %s: err = %v, want ErrConfig naming --git-insecure-transport", u, err)
		}
		g.InsecureTransport = true
		if _, err := g.Sync(context.Background()); err == nil || errors.Is(err, ErrConfig) {
			t.Fatalf("Sync of %s with InsecureTransport: err = %v, want a fetch error (nothing listens)", u, err)
		}
	}
	for _, u := range []string{rm.url, rm.bare} {
		g := Git{URL: u, Path: "desired.yaml", Dir: filepath.Join(t.TempDir(), "git")}
		if snap := mustSync(t, &g); snap.Commit != c1 {
			t.Fatalf("Sync of %s = %+v, want commit %s", u, snap, c1)
		}
	}
}
