package source

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

func writeFile(t *testing.T, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func sshKey(t *testing.T) []byte {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestCredentialFilesOthersMayReadAreRefused(t *testing.T) {
	const token = "s3cr3t-token"
	tests := []struct {
		name string
		mode os.FileMode
		g    func(file string) Git
		ok   bool
	}{
		{"token 0644", 0o644, func(f string) Git { return Git{URL: "https://127.0.0.1:1/r.git", TokenFile: f} }, false},
		{"token 0640", 0o640, func(f string) Git { return Git{URL: "https://127.0.0.1:1/r.git", TokenFile: f} }, false},
		{"token 0604", 0o604, func(f string) Git { return Git{URL: "https://127.0.0.1:1/r.git", TokenFile: f} }, false},
		{"token 0600", 0o600, func(f string) Git { return Git{URL: "https://127.0.0.1:1/r.git", TokenFile: f} }, true},
		{"token 0400", 0o400, func(f string) Git { return Git{URL: "https://127.0.0.1:1/r.git", TokenFile: f} }, true},
		{"ssh key 0644", 0o644, func(f string) Git { return Git{URL: "ssh://git@127.0.0.1:1/r.git", SSHKeyFile: f} }, false},
		{"ssh key 0600", 0o600, func(f string) Git { return Git{URL: "ssh://git@127.0.0.1:1/r.git", SSHKeyFile: f} }, true},
	}
	knownHosts := writeFile(t, "known_hosts", nil, 0o644)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(token + "\n")
			if strings.HasPrefix(tt.name, "ssh") {
				data = sshKey(t)
			}
			file := writeFile(t, "credential", data, tt.mode)
			g := tt.g(file)
			g.Dir = filepath.Join(t.TempDir(), "git")
			if g.SSHKeyFile != "" {
				g.KnownHostsFile = knownHosts
			}
			c, err := g.config()
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.credentials(c)
			if tt.ok {
				if err != nil {
					t.Fatalf("credentials: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrCredentialFileMode) || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("credentials: err = %v, want ErrCredentialFileMode naming %s and the fix", err, file)
			}
			// Sync refuses it before any fetch.
			if _, err := g.Sync(context.Background()); !errors.Is(err, ErrCredentialFileMode) {
				t.Fatalf("Sync: err = %v, want ErrCredentialFileMode", err)
			}
			if _, err := os.Stat(g.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Sync created %s before refusing the credentials", g.Dir)
			}
		})
	}
}

func TestCredentialFilesInWords(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		g    Git
		want string
	}{
		{"token file missing", Git{URL: "https://h/r.git", TokenFile: filepath.Join(dir, "nope")}, "read token file " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"token file empty", Git{URL: "https://h/r.git", TokenFile: writeFile(t, "empty", []byte(" \n"), 0o600)}, "it is empty"},
		{"token file of two lines", Git{URL: "https://h/r.git", TokenFile: writeFile(t, "two", []byte("a\nb\n"), 0o600)}, "more than one line"},
		{"token file is a directory", Git{URL: "https://h/r.git", TokenFile: dir}, "not a regular file"},
		{"ssh key not a key", Git{URL: "git@h:r.git", SSHKeyFile: writeFile(t, "key", []byte("hello"), 0o600), KnownHostsFile: writeFile(t, "kh", nil, 0o644)}, "read SSH key"},
		{"known_hosts others may write", Git{URL: "git@h:r.git", SSHKeyFile: writeFile(t, "key2", sshKey(t), 0o600), KnownHostsFile: writeFile(t, "kh2", nil, 0o666)}, "lets group or others write to it"},
		{"known_hosts missing", Git{URL: "git@h:r.git", SSHKeyFile: writeFile(t, "key3", sshKey(t), 0o600), KnownHostsFile: filepath.Join(dir, "nope")}, "read known_hosts file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.g.Dir = filepath.Join(t.TempDir(), "git")
			_, err := tt.g.Sync(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sync: err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestSSHUserAndHostKeys(t *testing.T) {
	g := Git{URL: "ssh://deploy@127.0.0.1:2222/r.git", SSHKeyFile: writeFile(t, "key", sshKey(t), 0o600),
		KnownHostsFile: writeFile(t, "known_hosts", nil, 0o644), Dir: t.TempDir()}
	c, err := g.config()
	if err != nil {
		t.Fatal(err)
	}
	cr, err := g.credentials(c)
	if err != nil {
		t.Fatal(err)
	}
	pk, ok := cr.auth.(*gitssh.PublicKeys)
	if !ok || pk.User != "deploy" || pk.HostKeyCallback == nil {
		t.Fatalf("auth = %#v, want public keys for user deploy with a host key check", cr.auth)
	}
}

// authServer is an https git server that refuses every request and
// records the Authorization header it got.
type authServer struct {
	*httptest.Server
	ca  string // the CA file trusting it
	mu  sync.Mutex
	got []string
}

func newAuthServer(t *testing.T) *authServer {
	s := &authServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.got = append(s.got, r.Header.Get("Authorization"))
		s.mu.Unlock()
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	t.Cleanup(s.Close)
	s.ca = writeFile(t, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o644)
	return s
}

func (s *authServer) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		return ""
	}
	return s.got[len(s.got)-1]
}

func TestTokenIsReadAtEachSyncAndNeverShown(t *testing.T) {
	srv := newAuthServer(t)
	tokenFile := writeFile(t, "token", []byte("first-token\n"), 0o600)
	g := &Git{URL: srv.URL + "/r.git", TokenFile: tokenFile, CAFile: srv.ca, Dir: filepath.Join(t.TempDir(), "git")}

	for _, tc := range []struct{ user, token string }{{"", "first-token"}, {"x-access-token", "rotated-token"}} {
		g.TokenUser = tc.user
		if err := os.WriteFile(tokenFile, []byte(tc.token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := g.Sync(context.Background())
		if err == nil || !strings.Contains(err.Error(), "authentication required") || !strings.Contains(err.Error(), "check the token in "+tokenFile) {
			t.Fatalf("Sync against a server refusing the token: err = %v", err)
		}
		if strings.Contains(err.Error(), tc.token) {
			t.Fatalf("the error shows the token: %v", err)
		}
		user := tc.user
		if user == "" {
			user = DefaultTokenUser
		}
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+tc.token))
		if got := srv.last(); got != want {
			t.Fatalf("Authorization = %q, want %q", got, want)
		}
	}
}

func TestUntrustedServerIsRefused(t *testing.T) {
	srv := newAuthServer(t)
	g := &Git{URL: srv.URL + "/r.git", Dir: filepath.Join(t.TempDir(), "git")}
	_, err := g.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Sync against a server with an unknown CA: err = %v, want a certificate error", err)
	}
	if srv.last() != "" {
		t.Fatalf("the request reached the server")
	}
}
