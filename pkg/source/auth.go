package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// DefaultTokenUser is the user name sent with a token (HTTP basic auth)
// when Git.TokenUser is empty.
const DefaultTokenUser = "git"

// maxCredentialSize bounds what is read from a credential file.
const maxCredentialSize = 1 << 20

// credentials is what one Sync authenticates with, read from files at
// that Sync.
type credentials struct {
	auth transport.AuthMethod // nil: none (http, git, file), or go-git's default (ssh agent)
	ca   []byte               // extra CA certificates for https
}

func (g *Git) credentials(c config) (credentials, error) {
	var cr credentials
	switch c.endpoint.Protocol {
	case "https":
		if g.CAFile != "" {
			ca, err := readFile(g.CAFile, "CA file", false)
			if err != nil {
				return cr, err
			}
			cr.ca = ca
		}
		if g.TokenFile != "" {
			tok, err := readFile(g.TokenFile, "token file", true)
			if err != nil {
				return cr, err
			}
			tok = bytes.TrimSpace(tok)
			if len(tok) == 0 {
				return cr, fmt.Errorf("read token file %s: it is empty", g.TokenFile)
			}
			if bytes.ContainsAny(tok, "\r\n") {
				return cr, fmt.Errorf("read token file %s: it holds more than one line; put the token alone in it", g.TokenFile)
			}
			user := g.TokenUser
			if user == "" {
				user = DefaultTokenUser
			}
			cr.auth = &githttp.BasicAuth{Username: user, Password: string(tok)}
		}
	case "ssh":
		user := c.endpoint.User
		if user == "" {
			user = "git"
		}
		hostKeys, err := g.hostKeys(c)
		if err != nil {
			return cr, err
		}
		if g.SSHKeyFile == "" {
			// go-git's default: the ssh agent at SSH_AUTH_SOCK.
			a, err := gitssh.NewSSHAgentAuth(user)
			if err != nil {
				return cr, fmt.Errorf("authenticate to %s: no SSH key file is set and the ssh agent cannot be used: %v", c.url, err)
			}
			a.HostKeyCallbackHelper = hostKeys
			cr.auth = a
			return cr, nil
		}
		key, err := readFile(g.SSHKeyFile, "SSH key", true)
		if err != nil {
			return cr, err
		}
		pk, err := gitssh.NewPublicKeys(user, key, "")
		if err != nil {
			return cr, fmt.Errorf("read SSH key %s: %v (a key protected by a passphrase is not supported)", g.SSHKeyFile, err)
		}
		pk.HostKeyCallbackHelper = hostKeys
		cr.auth = pk
	}
	return cr, nil
}

// hostKeys verifies the server against KnownHostsFile, or against
// $SSH_KNOWN_HOSTS, ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts when
// it is empty. Host keys are always checked: an unknown host is refused.
func (g *Git) hostKeys(c config) (gitssh.HostKeyCallbackHelper, error) {
	var h gitssh.HostKeyCallbackHelper
	var files []string
	what := "the default known_hosts files ($SSH_KNOWN_HOSTS, ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts)"
	if g.KnownHostsFile != "" {
		if _, err := readFile(g.KnownHostsFile, "known_hosts file", false); err != nil {
			return h, err
		}
		files, what = []string{g.KnownHostsFile}, "known_hosts file "+g.KnownHostsFile
	}
	db, err := gitssh.NewKnownHostsDb(files...)
	if err != nil {
		return h, fmt.Errorf("read %s: %v", what, err)
	}
	port := "22"
	if c.endpoint.Port != 0 {
		port = fmt.Sprint(c.endpoint.Port)
	}
	h.HostKeyCallback = db.HostKeyCallback()
	h.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(c.endpoint.Host, port))
	return h, nil
}

// readFile reads a credential or trust file. A secret one must be a
// regular file that neither group nor others may read; any one must not be
// writable by group or others. The mode checked is the opened file's, so a
// link to the file is fine. The contents never appear in errors.
func readFile(name, what string, secret bool) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, name, bare(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s %s: not a regular file", what, name)
	}
	mode := fi.Mode().Perm()
	if secret && mode&0o077 != 0 {
		return nil, fmt.Errorf("read %s %s: mode %04o lets group or others read it; chmod 600 it: %w", what, name, mode, ErrCredentialFileMode)
	}
	if mode&0o022 != 0 {
		return nil, fmt.Errorf("read %s %s: mode %04o lets group or others write to it; chmod go-w it", what, name, mode)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, name, err)
	}
	if len(b) > maxCredentialSize {
		return nil, fmt.Errorf("read %s %s: larger than %d bytes", what, name, maxCredentialSize)
	}
	return b, nil
}

// bare drops the operation and path a *fs.PathError repeats.
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// authHint says what to check when the remote refused the credentials.
func (g *Git) authHint(err error) string {
	if !errors.Is(err, transport.ErrAuthenticationRequired) && !errors.Is(err, transport.ErrAuthorizationFailed) &&
		!strings.Contains(err.Error(), "ssh: unable to authenticate") {
		return ""
	}
	switch {
	case g.TokenFile != "":
		return fmt.Sprintf(" (check the token in %s, its scope, and the user name sent with it)", g.TokenFile)
	case g.SSHKeyFile != "":
		return fmt.Sprintf(" (check that the key in %s may read the repository)", g.SSHKeyFile)
	default:
		return " (the repository needs credentials: set a token file or an SSH key)"
	}
}
