package dashboard

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen-host/controller/internal/safefile"
)

// Token is one secret that may act on releases, and the name the log and
// the history give whoever used it.
type Token struct {
	Name   string
	Secret string
}

// minTokenLen is the shortest secret accepted: 128 bits as hex.
const minTokenLen = 32

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ErrTokenFile marks a token file refused: its mode, owner or contents.
var ErrTokenFile = errors.New("token file refused")

// ReadTokens reads a token file: one NAME:SECRET a line (blank lines and
// lines starting with # are skipped), the secret at least 32 characters.
// The file must be a regular file (not a symbolic link) that only its
// owner may read (mode 0600 or 0400), owned by root or the controller's
// user.
func ReadTokens(path string) ([]Token, error) {
	f, err := safefile.Open(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("read token file %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read token file %s: %w", path, err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("read token file %s: %w: its mode %04o lets its group or others at it: chmod 600 %s", path, ErrTokenFile, m, path)
	}
	if err := safefile.CheckTrusted(fi, "it", path, "and whoever may change it could act on the releases"); err != nil {
		return nil, fmt.Errorf("read token file %s: %w: %w", path, ErrTokenFile, err)
	}
	var out []Token
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, secret, ok := strings.Cut(line, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("read token file %s line %d: %w: want NAME:SECRET", path, n, ErrTokenFile)
		case !tokenName.MatchString(name):
			return nil, fmt.Errorf("read token file %s line %d: %w: name %q: want letters, digits, '.', '_', '@' or '-', at most 64", path, n, ErrTokenFile, name)
		case len(secret) < minTokenLen:
			return nil, fmt.Errorf("read token file %s line %d: %w: the secret of %s has %d characters, want at least %d (openssl rand -hex 16)", path, n, ErrTokenFile, name, len(secret), minTokenLen)
		case seen[name]:
			return nil, fmt.Errorf("read token file %s line %d: %w: name %s given twice", path, n, ErrTokenFile, name)
		}
		seen[name] = true
		out = append(out, Token{Name: name, Secret: secret})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read token file %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read token file %s: %w: it holds no NAME:SECRET line", path, ErrTokenFile)
	}
	return out, nil
}

// match returns the name of the token whose secret is secret. Every
// secret is compared, in constant time, whichever matches.
func match(tokens []Token, secret string) (string, bool) {
	name, found := "", false
	for _, t := range tokens {
		if subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) == 1 {
			name, found = t.Name, true
		}
	}
	return name, found
}

// Sessions: a browser signed in with a token holds a random session id in
// a cookie; the server keeps which token's name it stands for.
const (
	sessionCookie = "bluegreen_session"
	sessionTTL    = 12 * time.Hour
)

type session struct {
	name    string
	expires time.Time
}

type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[string]session{}}
}

// open starts a session for the token name and returns its id.
func (s *sessions) open(name string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.m {
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	s.m[id] = session{name: name, expires: now.Add(sessionTTL)}
	return id
}

// of returns the token name of r's session cookie, if it is one.
func (s *sessions) of(r *http.Request) (id, name string, ok bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, found := s.m[c.Value]
	if !found || s.now().After(v.expires) {
		return "", "", false
	}
	return c.Value, v.name, true
}

func (s *sessions) close(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// csrf is the CSRF token of a session: an HMAC of its id under a key of
// this process, sent in the page's forms and checked on every action.
func (d *Dashboard) csrf(sessionID string) string {
	m := hmac.New(sha256.New, d.csrfKey)
	m.Write([]byte(sessionID))
	return hex.EncodeToString(m.Sum(nil))
}

// errRefused is an action refused: its HTTP status and the page's words.
type errRefused struct {
	code int
	why  string
}

func (e *errRefused) Error() string { return e.why }

// who says who sends r, an action: the name of the token of its session
// (whose CSRF token the form must carry) or of its Authorization: Bearer
// header. Same-origin is checked before (CrossOriginProtection).
func (d *Dashboard) who(r *http.Request) (string, error) {
	if len(d.opt.Tokens) == 0 {
		return "", &errRefused{http.StatusForbidden, "the dashboard is read-only: the controller was started without --ui-token-file"}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		secret, ok := strings.CutPrefix(h, "Bearer ")
		name, found := match(d.opt.Tokens, secret)
		if !ok || !found {
			return "", &errRefused{http.StatusUnauthorized, "the Authorization header carries no token this controller knows"}
		}
		return name, nil
	}
	id, name, ok := d.sessions.of(r)
	if !ok {
		return "", &errRefused{http.StatusUnauthorized, "sign in with a token first: this request carries none"}
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(d.csrf(id))) != 1 {
		return "", &errRefused{http.StatusForbidden, "the form's CSRF token does not match the session: reload the page and try again"}
	}
	return name, nil
}
