package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/go-logr/logr"
)

// Defaults of Config.
const (
	DefaultTimeout        = 5 * time.Second
	DefaultMaxAttempts    = 4
	DefaultBackoff        = time.Second
	DefaultMaxBackoff     = 30 * time.Second
	DefaultQueueSize      = 64
	DefaultCrashLoopQuiet = 10 * time.Minute
)

// maxSecret bounds the secret file.
const maxSecret = 64 << 10

// Config configures a Notifier. Zero values take the defaults.
type Config struct {
	// URLs receive every event (http or https); at least one.
	URLs []string
	// SecretFile, when set, holds the secret the body is signed with.
	SecretFile string
	// Timeout bounds one request (DefaultTimeout).
	Timeout time.Duration
	// MaxAttempts bounds the tries of one event to one receiver, the
	// first included (DefaultMaxAttempts; 1: no retry).
	MaxAttempts int
	// Backoff is the wait before the first retry, doubled for each next
	// one up to MaxBackoff (DefaultBackoff, DefaultMaxBackoff).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// QueueSize bounds the events waiting for one receiver from one
	// service, the one in flight included (DefaultQueueSize).
	QueueSize int
	// CrashLoopQuiet is how long a service must go without a CrashLoop
	// decision for the next one to be reported (DefaultCrashLoopQuiet).
	CrashLoopQuiet time.Duration
	// Log hears delivery failures and drops.
	Log logr.Logger
	// Client sends the requests (default: a client of its own with
	// http.DefaultTransport's settings). Timeout applies in any case.
	Client *http.Client

	ownClient bool // Client is the Notifier's own: Close closes its connections
}

// withDefaults returns c with its zero values set to the defaults.
func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	c.MaxBackoff = max(c.MaxBackoff, c.Backoff)
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.CrashLoopQuiet <= 0 {
		c.CrashLoopQuiet = DefaultCrashLoopQuiet
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		c.ownClient = true
	}
	// A receiver's redirect is never followed: it would send the signed
	// body wherever the answer says, loopback included. Copied, so that
	// the caller's client is left as it was.
	client := *c.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Client = &client
	return c
}

// receiver is one URL events are posted to.
type receiver struct {
	url string
	// name shows it in logs and errors without what may be secret in its
	// path, query or user info (a chat's webhook URL carries a token).
	name string
}

// parseReceivers checks the URLs.
func parseReceivers(urls []string) ([]receiver, error) {
	if len(urls) == 0 {
		return nil, errors.New("configure webhooks: no URL given")
	}
	out := make([]receiver, 0, len(urls))
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("configure webhook URL #%d: not a URL", i+1)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("configure webhook URL #%d (%s): want an http or https URL with a host", i+1, redact(u))
		}
		out = append(out, receiver{url: raw, name: fmt.Sprintf("#%d %s", i+1, redact(u))})
	}
	return out, nil
}

// redact is scheme://host, with "/…" when the URL has more.
func redact(u *url.URL) string {
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		s += "/…"
	}
	return s
}

// readSecret reads the secret file at path, which its group and others
// may not read or write.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read webhook secret: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read webhook secret %s: %w", path, err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("read webhook secret %s: not a regular file", path)
	case fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("read webhook secret %s: its mode %04o lets its group or others at it: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecret+1))
	if err != nil {
		return nil, fmt.Errorf("read webhook secret %s: %w", path, err)
	}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > maxSecret:
		return nil, fmt.Errorf("read webhook secret %s: longer than %d bytes", path, maxSecret)
	case len(b) == 0:
		return nil, fmt.Errorf("read webhook secret %s: the file is empty", path)
	}
	return b, nil
}
