package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/source"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// gitSource feeds the loop the desired state of a git repository: a
// poller fetches it every --git-poll (and nudges the loop when the ref
// moved), and load gives the services of the newest commit whose desired
// state is accepted. A commit whose desired state is refused leaves the
// last good one in force; status says which commit and why. Commits are
// never applied out of order (pkg/source refuses to go back).
type gitSource struct {
	git *source.Git
	url string // git.URL as shown in logs, status and errors: credentials hidden
	log logr.Logger
	// loadFile reads a desired state in the checkout, the host policy
	// applied: a commit the policy refuses is refused as an invalid one.
	loadFile func(path string) ([]spec.Service, error)

	mu       sync.Mutex
	latest   source.Snapshot // newest commit fetched ("" Commit: none yet)
	unusable error           // why latest cannot be loaded (its path is missing or unsafe)
	fetchErr error
	good     *source.Snapshot // newest commit whose desired state was accepted
	status   func(*state.SourceStatus)
	onCommit func(commit string)
}

func newGitSource(o options, log logr.Logger) *gitSource {
	return &gitSource{
		git: &source.Git{URL: o.gitURL, Ref: o.gitRef, Path: o.gitPath, Dir: filepath.Join(o.stateDir, "git"),
			SSHKeyFile: o.gitSSHKey, KnownHostsFile: o.gitKnownHosts, TokenFile: o.gitTokenFile, TokenUser: o.gitTokenUser,
			InsecureTransport: o.gitInsecure, Timeout: o.gitTimeout},
		url:      source.Redact(o.gitURL),
		log:      log.WithName("git"),
		loadFile: o.loadFile,
	}
}

// sync fetches once; it reports whether the commit changed.
func (g *gitSource) sync(ctx context.Context) bool {
	snap, err := g.git.Sync(ctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range snap.Notes {
		g.log.Info("Repository repaired", "note", n)
	}
	switch {
	case err != nil && errors.Is(err, source.ErrRefMovedBack):
		g.log.Error(err, "Not following the ref back", "url", g.url, "ref", g.git.Ref)
		g.fetchErr = err
	case err != nil && snap.Commit != "":
		// This commit cannot be loaded (its path is missing or unsafe):
		// refused like a desired state that does not validate.
		g.fetchErr = nil
		moved := snap.Commit != g.latest.Commit
		g.latest, g.unusable = snap, err
		return moved
	case err != nil:
		if g.fetchErr == nil || g.fetchErr.Error() != err.Error() {
			g.log.Error(err, "Cannot fetch the desired state; the last good commit stays in force", "url", g.url, "ref", g.git.Ref)
		}
		g.fetchErr = err
	default:
		g.fetchErr = nil
		moved := snap.Commit != g.latest.Commit
		g.latest, g.unusable = snap, nil
		if moved {
			g.log.Info("Fetched", "commit", snap.Commit, "subject", snap.Subject, "forcePushed", snap.ForcePushed)
		}
		return moved
	}
	return false
}

// poll syncs every interval until ctx ends, and nudges when the ref moved.
func (g *gitSource) poll(ctx context.Context, every time.Duration, nudge chan<- struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if g.sync(ctx) {
			select {
			case nudge <- struct{}{}:
			default:
			}
		}
	}
}

// load is the loop's Load: the services of the newest accepted commit.
func (g *gitSource) load() ([]spec.Service, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := &state.SourceStatus{URL: g.url, Ref: g.git.Ref}
	if g.fetchErr != nil {
		st.FetchError = g.fetchErr.Error()
	}
	defer func() { g.report(st) }()
	latest := g.latest
	if latest.Commit == "" {
		return nil, fmt.Errorf("no commit of %s (%s) fetched yet: %v", g.url, g.git.Ref, g.fetchErr)
	}
	svcs, err := []spec.Service(nil), g.unusable
	if err == nil {
		svcs, err = g.loadFile(latest.Path)
	}
	if err == nil {
		if g.good == nil || g.good.Commit != latest.Commit {
			g.log.Info("Desired state accepted", "commit", latest.Commit, "subject", latest.Subject)
		}
		g.good = &latest
		g.git.Keep(latest.Commit)
		st.Commit, st.Subject, st.Time = latest.Commit, latest.Subject, latest.Time
		return svcs, nil
	}
	// Refused: the last good commit stays in force.
	st.RefusedCommit, st.RefusedReason = latest.Commit, err.Error()
	if g.good == nil {
		return nil, fmt.Errorf("commit %s of %s: %w", short(latest.Commit), g.url, err)
	}
	st.Commit, st.Subject, st.Time = g.good.Commit, g.good.Subject, g.good.Time
	g.git.Keep(g.good.Commit, latest.Commit)
	good, gerr := g.loadFile(g.good.Path)
	if gerr != nil {
		return nil, fmt.Errorf("commit %s of %s: %w (and the last good commit %s no longer loads: %v)", short(latest.Commit), g.url, err, short(g.good.Commit), gerr)
	}
	return good, nil
}

// report hands the source's status to the loop and the metrics.
func (g *gitSource) report(st *state.SourceStatus) {
	if g.status != nil {
		g.status(st)
	}
	if g.onCommit != nil {
		g.onCommit(st.Commit)
	}
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
