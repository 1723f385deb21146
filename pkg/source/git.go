package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/bluegreen-host/controller/internal/safefile"
)

// Defaults of the limits of Git.
const (
	DefaultTimeout         = 60 * time.Second
	DefaultMaxFileSize     = 16 << 20
	DefaultMaxCheckoutSize = 128 << 20
)

// Git follows one branch or tag of a git repository and keeps checkouts of
// it under Dir, with go-git and no git binary. Set the fields, then call
// Sync at each poll. Use one Git per Dir, from one goroutine at a time:
// Sync and Keep are not safe for concurrent use.
type Git struct {
	// URL of the repository: https://host/path,
	// ssh://[user@]host[:port]/path, user@host:path or file:///path; with
	// InsecureTransport, http://host/path and git://host/path too. A URL
	// holding credentials (https://token@host, user:password@) or a query
	// string is refused, and shown with them hidden (see Redact): use
	// TokenFile or SSHKeyFile.
	URL string
	// Ref is the branch to follow ("main", the default; also "heads/main"
	// or "refs/heads/main") or the tag ("tags/v1" or "refs/tags/v1").
	Ref string
	// Path of the desired state inside the repository, a file or a
	// directory, slash-separated; "" is the repository root.
	Path string
	// Dir holds the local clone and the checkouts (e.g. <state-dir>/git);
	// created 0700, refused when group or others may write to it.
	Dir string

	// SSHKeyFile is an unencrypted private key (OpenSSH or PEM) for an ssh
	// URL, mode 0600 or 0400. Without it the ssh agent at SSH_AUTH_SOCK is
	// asked. The user is the URL's, "git" when it names none.
	SSHKeyFile string
	// KnownHostsFile lists the ssh server's host keys (OpenSSH known_hosts
	// format, e.g. from ssh-keyscan). Empty: $SSH_KNOWN_HOSTS, then
	// ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts. Host keys are always
	// checked; an unknown or changed key fails the fetch.
	KnownHostsFile string
	// TokenFile holds a token for an https URL, sent as the password of
	// HTTP basic auth, mode 0600 or 0400. GitHub and GitLab accept a
	// personal access token with any user name; a GitHub App installation
	// token wants "x-access-token", Bitbucket "x-token-auth", GitLab's
	// OAuth tokens "oauth2": set TokenUser.
	TokenFile string
	// TokenUser is the user name sent with the token; default "git".
	TokenUser string
	// CAFile holds PEM certificates trusted, besides the system's, for an
	// https URL.
	CAFile string
	// InsecureTransport accepts http:// and git:// URLs, which neither
	// encrypt nor authenticate the server: whoever is on the network path
	// could supply the desired state. Set it only for a network trusted
	// end to end.
	InsecureTransport bool

	// Timeout bounds each fetch, from the connection to the last object;
	// 0 is DefaultTimeout. A server that accepts and never answers fails
	// the Sync with ErrTimeout.
	Timeout time.Duration
	// MaxFileSize bounds each file of a commit, MaxCheckoutSize the sum
	// of its files; 0 is DefaultMaxFileSize, DefaultMaxCheckoutSize. A
	// commit beyond either is refused (ErrTooLarge) before its files are
	// read.
	MaxFileSize, MaxCheckoutSize int64

	keep []string // set by Keep
}

// Snapshot is the desired state at one commit, as Sync returns it.
type Snapshot struct {
	// Path is the absolute path of the desired file or directory in the
	// commit's checkout. The files below it do not change while the
	// checkout exists (see Keep).
	Path string
	// Commit is the full hash of the commit.
	Commit string
	// Time is the committer time.
	Time time.Time
	// Subject is the first line of the commit message.
	Subject string
	// ForcePushed is set on the one Sync that moved to a commit that does
	// not descend from the previous one: the history was rewritten.
	ForcePushed bool
	// Notes are things the operator should hear about, in words: a
	// checkout or a local clone that was damaged and has been repaired, an
	// old checkout that could not be removed. The caller logs them.
	Notes []string
}

// Sync fetches the ref and, when it moved forward or was force-pushed,
// checks the new commit out. It returns the snapshot to load: the same
// Commit at every Sync until the ref moves, so the caller compares it with
// the commit it loaded last (applied or refused) to know whether there is
// anything new.
//
// On error, the Snapshot says what is known:
//   - errors.Is(err, ErrRefMovedBack): the Snapshot is complete; it is the
//     commit Sync returned before, which Sync stays at.
//   - Commit set but Path empty (ErrPathNotFound, ErrPathOutside,
//     ErrUnsafeTree, ErrTooLarge): that commit is what the ref points at, and it cannot
//     be loaded; the caller keeps its spec in force and reports the commit
//     as refused. The next Sync returns the same error until the ref moves.
//   - Commit empty: nothing was learnt (configuration, credentials,
//     network, disk); retry at the next poll.
//
// Notes may be set in every case.
func (g *Git) Sync(ctx context.Context) (Snapshot, error) {
	c, err := g.config()
	if err != nil {
		return Snapshot{}, err
	}
	if err := ctx.Err(); err != nil {
		return Snapshot{}, fmt.Errorf("sync %s: %w", c, err)
	}
	cr, err := g.credentials(c)
	if err != nil {
		return Snapshot{}, err
	}
	if err := safefile.PrivateDir(c.dir); err != nil {
		return Snapshot{}, fmt.Errorf("prepare the git directory: %w", err)
	}
	var notes []string
	snap, err := g.sync(ctx, c, cr, &notes)
	var ce *corruptError
	if errors.As(err, &ce) && ctx.Err() == nil {
		notes = append(notes, fmt.Sprintf("%v: removed the local clone, to clone %s again", ce.err, c.url))
		if rerr := os.RemoveAll(c.repoDir()); rerr != nil {
			err = fmt.Errorf("remove damaged local clone %s: %w", c.repoDir(), rerr)
		} else {
			snap, err = g.sync(ctx, c, cr, &notes)
		}
	}
	snap.Notes = notes
	return snap, err
}

// sync is one attempt of Sync with the local clone as it is.
func (g *Git) sync(ctx context.Context, c config, cr credentials, notes *[]string) (Snapshot, error) {
	r, err := openRepo(c)
	if err != nil {
		return Snapshot{}, err
	}
	if err := g.fetch(ctx, r, c, cr); err != nil {
		return Snapshot{}, err
	}
	next, err := fetchedCommit(r, c)
	if err != nil {
		return Snapshot{}, err
	}

	prev, note, err := readState(c)
	if err != nil {
		return Snapshot{}, err
	}
	if note != "" {
		*notes = append(*notes, note)
	}
	rel := unmoved
	target := next
	if prev.follows(c) {
		var p *object.Commit
		rel, p, err = relate(r, plumbing.NewHash(prev.Commit), next)
		if err != nil {
			return Snapshot{}, err
		}
		switch {
		case rel == back:
			target = p
		case rel == rewritten && p == nil:
			*notes = append(*notes, fmt.Sprintf("the commit synced before, %s, is not in the local clone: whether %s descends from it cannot be told; following the ref", prev.Commit, next.Hash))
		}
	}
	if moved := !prev.follows(c) || rel == forward || rel == rewritten; moved {
		if err := writeState(c, state{URL: c.url, Ref: c.ref.String(), Commit: next.Hash.String()}); err != nil {
			return Snapshot{}, err
		}
	}

	snap := Snapshot{
		Commit:      target.Hash.String(),
		Time:        target.Committer.When,
		Subject:     subject(target.Message),
		ForcePushed: rel == rewritten,
	}
	dir, repair, err := checkout(r, c, target)
	if errors.Is(err, ErrUnsafeTree) || errors.Is(err, ErrTooLarge) {
		return snap, err
	}
	if err != nil {
		return Snapshot{}, err
	}
	if repair != "" {
		*notes = append(*notes, repair)
	}
	*notes = append(*notes, prune(c, g.kept(snap.Commit))...)

	p, err := resolve(dir, c.path)
	if errors.Is(err, ErrPathNotFound) || errors.Is(err, ErrPathOutside) {
		return snap, fmt.Errorf("load desired state from commit %s of %s: %w", snap.Commit, c, err)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("resolve desired path %q in checkout %s: %w", c.path, dir, err)
	}
	snap.Path = p
	if rel == back {
		return snap, fmt.Errorf("follow %s: %w: it points at %s, an ancestor of %s, the newest commit synced; staying at %s (a stale mirror, or a ref reset: to roll back, push a commit that reverts)",
			c, ErrRefMovedBack, next.Hash, target.Hash, target.Hash)
	}
	return snap, nil
}

// Keep names the commits whose checkouts the caller still reads, the one
// whose desired state is in force and any a step in flight was planned
// from. Each Sync removes every checkout but these and the one it returns.
// Keep replaces the set named before; before the first Keep, only the
// newest checkout is kept.
func (g *Git) Keep(commits ...string) {
	g.keep = append([]string(nil), commits...)
}

func (g *Git) kept(current string) map[string]bool {
	k := map[string]bool{current: true}
	for _, c := range g.keep {
		k[c] = true
	}
	return k
}

func subject(msg string) string {
	s, _, _ := strings.Cut(strings.TrimLeft(msg, "\n"), "\n")
	return strings.TrimSpace(s)
}
