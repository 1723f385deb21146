package source

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// DefaultRef is the branch followed when Git.Ref is empty.
const DefaultRef = "main"

// config is a validated Git: what Sync works with.
type config struct {
	url      string
	endpoint *transport.Endpoint
	ref      plumbing.ReferenceName // refs/heads/<branch> or refs/tags/<tag>
	path     string                 // slash-separated, relative, "." for the root
	dir      string                 // absolute

	timeout                      time.Duration // of one fetch
	maxFileSize, maxCheckoutSize int64         // bytes
}

// String names the source in errors: "branch main of https://host/repo.git".
func (c config) String() string {
	return c.refDesc() + " of " + c.url
}

func (c config) refDesc() string {
	if c.ref.IsTag() {
		return "tag " + c.ref.Short()
	}
	return "branch " + c.ref.Short()
}

func (c config) repoDir() string      { return filepath.Join(c.dir, "repo.git") }
func (c config) checkoutsDir() string { return filepath.Join(c.dir, "checkouts") }
func (c config) stateFile() string    { return filepath.Join(c.dir, "synced.json") }

func (g *Git) config() (config, error) {
	var c config
	if g.URL == "" {
		return c, fmt.Errorf("%w: URL is empty", ErrConfig)
	}
	ep, err := g.endpoint()
	if err != nil {
		return c, err
	}
	c.url, c.endpoint = g.URL, ep
	c.timeout = orDefault(g.Timeout, DefaultTimeout)
	c.maxFileSize = orDefault(g.MaxFileSize, DefaultMaxFileSize)
	c.maxCheckoutSize = orDefault(g.MaxCheckoutSize, DefaultMaxCheckoutSize)
	if c.timeout < 0 || c.maxFileSize < 0 || c.maxCheckoutSize < 0 {
		return c, fmt.Errorf("%w: a timeout or size limit is negative", ErrConfig)
	}

	if g.TokenFile != "" && ep.Protocol != "https" {
		return c, fmt.Errorf("%w: a token file is only used with an https URL, not %s", ErrConfig, c.url)
	}
	if g.CAFile != "" && ep.Protocol != "https" {
		return c, fmt.Errorf("%w: a CA file is only used with an https URL, not %s", ErrConfig, c.url)
	}
	if (g.SSHKeyFile != "" || g.KnownHostsFile != "") && ep.Protocol != "ssh" {
		return c, fmt.Errorf("%w: an SSH key or known_hosts file is only used with an ssh URL, not %s", ErrConfig, c.url)
	}

	if c.ref, err = refName(g.Ref); err != nil {
		return c, err
	}
	if c.path, err = desiredPath(g.Path); err != nil {
		return c, err
	}

	if g.Dir == "" {
		return c, fmt.Errorf("%w: Dir is empty", ErrConfig)
	}
	if c.dir, err = filepath.Abs(g.Dir); err != nil {
		return c, fmt.Errorf("%w: Dir %s: %v", ErrConfig, g.Dir, err)
	}
	return c, nil
}

func orDefault[T time.Duration | int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// refName turns "main", "heads/main", "refs/heads/main" into a branch and
// "tags/v1", "refs/tags/v1" into a tag.
func refName(ref string) (plumbing.ReferenceName, error) {
	var n plumbing.ReferenceName
	switch {
	case ref == "":
		n = plumbing.NewBranchReferenceName(DefaultRef)
	case strings.HasPrefix(ref, "refs/heads/"), strings.HasPrefix(ref, "refs/tags/"):
		n = plumbing.ReferenceName(ref)
	case strings.HasPrefix(ref, "refs/"):
		return "", fmt.Errorf("%w: ref %q: only a branch or a tag (tags/<name>) can be followed", ErrConfig, ref)
	case strings.HasPrefix(ref, "heads/"):
		n = plumbing.NewBranchReferenceName(strings.TrimPrefix(ref, "heads/"))
	case strings.HasPrefix(ref, "tags/"):
		n = plumbing.NewTagReferenceName(strings.TrimPrefix(ref, "tags/"))
	default:
		n = plumbing.NewBranchReferenceName(ref)
	}
	if n.Short() == "" || n.Validate() != nil {
		return "", fmt.Errorf("%w: ref %q is not a valid branch or tag name", ErrConfig, ref)
	}
	return n, nil
}

// desiredPath cleans Path and refuses one that leaves the repository by
// its spelling; links are checked in each checkout.
func desiredPath(p string) (string, error) {
	if p == "" {
		return ".", nil
	}
	s := filepath.ToSlash(p)
	if path.IsAbs(s) {
		return "", fmt.Errorf("%w: path %q must be relative to the repository root", ErrConfig, p)
	}
	s = path.Clean(s)
	if s == ".." || strings.HasPrefix(s, "../") {
		return "", fmt.Errorf("%w: path %q leaves the repository", ErrConfig, p)
	}
	return s, nil
}
