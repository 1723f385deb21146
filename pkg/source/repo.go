package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

const (
	remoteName = "origin"
	// fetchedRef is where the followed branch or tag lands in the local
	// clone, whatever its name on the remote.
	fetchedRef = plumbing.ReferenceName("refs/bluegreen/fetched")
)

// openRepo opens the local bare clone, creating it when it is missing. A
// clone that cannot be opened is reported as corrupt.
func openRepo(c config) (*git.Repository, error) {
	dir := c.repoDir()
	var r *git.Repository
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if r, err = git.PlainInit(dir, true); err != nil {
			return nil, fmt.Errorf("create local clone %s: %w", dir, err)
		}
	} else if r, err = git.PlainOpen(dir); err != nil {
		return nil, corrupt(fmt.Errorf("open local clone %s: %w", dir, err))
	}
	rem, err := r.Remote(remoteName)
	switch {
	case err == nil && len(rem.Config().URLs) == 1 && rem.Config().URLs[0] == c.url:
		return r, nil
	case err == nil:
		if err := r.DeleteRemote(remoteName); err != nil {
			return nil, corrupt(fmt.Errorf("update remote of local clone %s: %w", dir, err))
		}
	case !errors.Is(err, git.ErrRemoteNotFound):
		return nil, corrupt(fmt.Errorf("read remote of local clone %s: %w", dir, err))
	}
	if _, err := r.CreateRemote(&gitconfig.RemoteConfig{Name: remoteName, URLs: []string{c.url}}); err != nil {
		return nil, corrupt(fmt.Errorf("set remote of local clone %s: %w", dir, err))
	}
	return r, nil
}

// fetch brings the followed ref into fetchedRef, forced: where it goes is
// decided afterwards, from the commits.
func (g *Git) fetch(ctx context.Context, r *git.Repository, c config, cr credentials) error {
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, ErrTimeout)
	defer cancel()
	opts := &git.FetchOptions{
		RemoteName: remoteName,
		RemoteURL:  c.url,
		RefSpecs:   []gitconfig.RefSpec{gitconfig.RefSpec("+" + c.ref.String() + ":" + fetchedRef.String())},
		Auth:       cr.auth,
		CABundle:   cr.ca,
		Tags:       git.NoTags,
	}
	if c.endpoint.Protocol == "ssh" {
		var done func()
		opts.ProxyOptions, done = ctxDialOptions(ctx)
		defer done()
	}
	err := r.FetchContext(ctx, opts)
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(context.Cause(ctx), ErrTimeout):
		return fmt.Errorf("fetch %s: %w after %s: the server did not send the ref and its objects in time (raise --git-timeout for a large repository on a slow link)", c, ErrTimeout, c.timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("fetch %s: %w", c, ctx.Err())
	case errors.Is(err, git.NoMatchingRefSpecError{}):
		return fmt.Errorf("fetch %s: the repository has no %s", c, c.refDesc())
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("fetch %s: the repository is empty", c)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		hint := ""
		if p := c.endpoint.Protocol; p == "https" || p == "http" || p == "ssh" {
			hint = " (or the credentials given may not read it)"
		}
		return fmt.Errorf("fetch %s: no repository at this URL%s", c, hint)
	}
	if lerr := checkLocal(r); lerr != nil {
		return lerr
	}
	return fmt.Errorf("fetch %s: %w%s", c, err, g.authHint(err))
}

// checkLocal tells a fetch that failed because of the local clone from one
// that failed because of the remote: every local ref must lead to an object.
func checkLocal(r *git.Repository) error {
	refs, err := r.References()
	if err != nil {
		return corrupt(fmt.Errorf("list refs of local clone: %w", err))
	}
	defer refs.Close()
	return refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference {
			return nil
		}
		if _, err := r.Storer.EncodedObject(plumbing.AnyObject, ref.Hash()); err != nil {
			return corrupt(fmt.Errorf("read %s in local clone: %w", ref.Name(), err))
		}
		return nil
	})
}

// maxCommitObject bounds the commit, or annotated tag, that the fetched
// ref points at: its message is read.
const maxCommitObject = 1 << 20

// fetchedCommit is the commit the fetched ref points at, through
// annotated tags.
func fetchedCommit(r *git.Repository, c config) (*object.Commit, error) {
	ref, err := r.Reference(fetchedRef, true)
	if err != nil {
		return nil, corrupt(fmt.Errorf("read fetched %s in local clone: %w", c, err))
	}
	h := ref.Hash()
	for range 16 {
		n, err := objectSize(r, h)
		if err != nil {
			return nil, corrupt(fmt.Errorf("read object %s of %s in local clone: %w", h, c, err))
		}
		if n > maxCommitObject {
			return nil, fmt.Errorf("follow %s: %w: commit or tag %s is %s, more than the limit of %s", c, ErrTooLarge, h, bytesize(n), bytesize(maxCommitObject))
		}
		obj, err := r.Object(plumbing.AnyObject, h)
		if err != nil {
			return nil, corrupt(fmt.Errorf("read object %s of %s in local clone: %w", h, c, err))
		}
		switch o := obj.(type) {
		case *object.Commit:
			return o, nil
		case *object.Tag:
			h = o.Target
		default:
			return nil, fmt.Errorf("follow %s: it points at a %s, not a commit", c, obj.Type())
		}
	}
	return nil, fmt.Errorf("follow %s: more than 16 tags point at one another", c)
}

// relation says how the ref moved from prev (a commit Sync returned) to
// next. A prev the clone does not hold (a clone made again) counts as
// rewritten history: the ref is followed.
type relation int

const (
	unmoved   relation = iota
	forward            // next descends from prev
	rewritten          // next neither descends from prev nor is its ancestor
	back               // next is an ancestor of prev
)

func relate(r *git.Repository, prev plumbing.Hash, next *object.Commit) (relation, *object.Commit, error) {
	if prev == next.Hash {
		return unmoved, next, nil
	}
	p, err := r.CommitObject(prev)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return rewritten, nil, nil
	}
	if err != nil {
		return 0, nil, corrupt(fmt.Errorf("read commit %s in local clone: %w", prev, err))
	}
	isBack, err := next.IsAncestor(p)
	if err != nil {
		return 0, nil, corrupt(fmt.Errorf("walk history from %s in local clone: %w", prev, err))
	}
	if isBack {
		return back, p, nil
	}
	isForward, err := p.IsAncestor(next)
	if err != nil {
		return 0, nil, corrupt(fmt.Errorf("walk history from %s in local clone: %w", next.Hash, err))
	}
	if isForward {
		return forward, p, nil
	}
	return rewritten, p, nil
}
