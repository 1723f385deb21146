package source

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// masked stands in for what Redact hides.
const masked = "xxxxx"

// Redact returns u with whatever may be a credential in it hidden: all
// that stands between "://" and the last "@" (a user, a password, a token,
// one holding a slash) and a query string; in an scp-like URL
// (user:pass@host:path), a user holding a colon. The user of an ssh URL
// (ssh://git@host/..., git@host:path) is a name, not a secret, and is
// kept. A URL that Sync accepts is returned as it is: Redact is for a URL
// that may not have been checked, in errors, logs and status.
func Redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		if at := strings.LastIndex(u, "@"); at >= 0 && strings.Contains(u[:at], ":") {
			return masked + u[at:]
		}
		return u
	}
	if q := strings.IndexAny(rest, "?#"); q >= 0 && !isFile(scheme) {
		rest = rest[:q] + "?" + masked
	}
	if at := userinfoEnd(scheme, rest); at >= 0 && !sshUser(scheme, rest[:at]) {
		rest = masked + rest[at:]
	}
	return scheme + "://" + rest
}

func isFile(scheme string) bool { return strings.EqualFold(scheme, "file") }

// userinfoEnd is the index of the "@" that ends the userinfo of rest,
// what follows "://" in a URL of scheme, or -1. In a network URL it is the
// last "@", so that a password holding a slash is found too; a file URL
// has no credentials, and an "@" in its path is a name.
func userinfoEnd(scheme, rest string) int {
	if isFile(scheme) {
		authority, _, _ := strings.Cut(rest, "/")
		return strings.LastIndex(authority, "@")
	}
	return strings.LastIndex(rest, "@")
}

// sshUser says whether userinfo, what stands before the "@" of a URL of
// scheme, is the user name of an ssh URL and nothing more.
func sshUser(scheme, userinfo string) bool {
	return strings.EqualFold(scheme, "ssh") && userinfo != "" && !strings.ContainsAny(userinfo, ":/?#")
}

// endpoint parses and checks the URL of g: no credentials in it, and a
// transport that authenticates the server unless g.InsecureTransport.
func (g *Git) endpoint() (*transport.Endpoint, error) {
	shown := Redact(g.URL)
	scheme, rest, hasScheme := strings.Cut(g.URL, "://")
	switch {
	case hasScheme && !isFile(scheme) && strings.ContainsAny(rest, "?#"):
		return nil, fmt.Errorf("%w: URL %s holds a query string, which may carry a token: remove it, and put a token in --git-token-file", ErrConfig, shown)
	case hasScheme && userinfoEnd(scheme, rest) >= 0 && !sshUser(scheme, rest[:userinfoEnd(scheme, rest)]):
		return nil, fmt.Errorf("%w: URL %s holds credentials (what stands before the @), which would be shown in logs and status: remove them, and put a token in --git-token-file (its user name in --git-token-user) or use an ssh URL with --git-ssh-key-file", ErrConfig, shown)
	case !hasScheme && shown != g.URL:
		return nil, fmt.Errorf("%w: URL %s holds a password (user:password@), which would be shown in logs and status: remove it, and use --git-ssh-key-file, or an https URL with --git-token-file", ErrConfig, shown)
	}
	ep, err := transport.NewEndpoint(g.URL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL as given
		}
		return nil, fmt.Errorf("%w: URL %s: %v", ErrConfig, shown, err)
	}
	if ep.Password != "" || ep.User != "" && ep.Protocol != "ssh" {
		// Not reached by the checks above; kept so that no form of URL
		// they miss carries a credential any further.
		return nil, fmt.Errorf("%w: URL %s holds credentials: remove them, and put a token in --git-token-file or use --git-ssh-key-file", ErrConfig, shown)
	}
	switch ep.Protocol {
	case "https", "ssh", "file":
	case "http", "git":
		if !g.InsecureTransport {
			return nil, fmt.Errorf("%w: URL %s: %s:// neither encrypts nor authenticates the server, so anyone on the network path could supply the desired state; use https:// or ssh://, or set --git-insecure-transport if the network to the server is trusted", ErrConfig, shown, ep.Protocol)
		}
	default:
		return nil, fmt.Errorf("%w: URL %s: scheme %q is not supported (https, ssh, file; http and git with --git-insecure-transport)", ErrConfig, shown, ep.Protocol)
	}
	return ep, nil
}
