package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	// Its in-process file:// transport, so that pushing needs no git binary.
	_ "github.com/bluegreen-host/controller/pkg/source"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// gitRepo is the service's config repository: its desired.yaml beside
// the app's build context in app/.
type gitRepo struct {
	*testenv.GitRemote
	e *env
}

func newGitRepo(t *testing.T, e *env) *gitRepo {
	t.Helper()
	return &gitRepo{GitRemote: testenv.NewGitRemote(t, e.dir), e: e}
}

// commit commits desired (its build context moved to app/) and the build
// context, pushes main (force: rewriting it), and returns the commit and
// the generation the desired state has.
func (r *gitRepo) commit(msg, desired string, force bool) (commit, generation string) {
	t := r.e.t
	t.Helper()
	src := r.e.buildContext()
	files := map[string][]byte{"desired.yaml": []byte(strings.Replace(desired, "context: "+src, "context: app", 1))}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range entries {
		b, err := os.ReadFile(filepath.Join(src, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Join("app", f.Name())] = b
	}
	commit = r.Commit(msg, files, force)
	if svcs, err := spec.Load(filepath.Join(r.Work, "desired.yaml")); err == nil {
		generation = svcs[0].Generation()
	}
	return commit, generation
}

// TestGitDrivenRelease: the controller follows a config repository (a
// local bare repository over file://): a commit that changes activeColor
// and image releases under load with no failed request, and status and
// history name the commit; a commit whose desired state is refused
// changes nothing (the last good commit stays in force, status names the
// refused one and why); a force-push is followed.
func TestGitDrivenRelease(t *testing.T) {
	e := newEnv(t)
	r := newGitRepo(t, e)
	c1, g1 := r.commit("blue v1", e.spec(spec.Blue, "v1"), false)
	ctl := e.start("--git-url", r.URL, "--git-path", "desired.yaml", "--git-poll", "200ms")
	waitSource := func(what string, ok func(*reconcile.Status, *reconcile.ServiceStatus) bool) (*reconcile.Status, *reconcile.ServiceStatus) {
		t.Helper()
		var st reconcile.Status
		var svc *reconcile.ServiceStatus
		testenv.WaitFor(t, 2*time.Minute, what, func() bool {
			st = e.status()
			svc = st.Services[e.svc]
			return st.Source != nil && svc != nil && ok(&st, svc)
		})
		return &st, svc
	}
	converged := func(commit, gen string) func(*reconcile.Status, *reconcile.ServiceStatus) bool {
		return func(st *reconcile.Status, s *reconcile.ServiceStatus) bool {
			return st.Source.Commit == commit && s.ObservedGeneration == gen && s.Phase == planner.Converged
		}
	}
	waitSource("blue v1 from the first commit", converged(c1, g1))
	e.assertFrontend("blue v1")

	l := e.startLoad(20, 5)
	waitSent(t, l, 1000)
	c2, g2 := r.commit("release green v2", e.spec(spec.Green, "v2"), false)
	waitSource("green v2 from the second commit", converged(c2, g2))
	e.assertFrontend("green v2")
	rs, err := reconcile.ReadHistory(filepath.Join(e.stateDir, "history.jsonl"), e.svc)
	if err != nil || len(rs) == 0 {
		t.Fatalf("history: %v, %v", rs, err)
	}
	if last := rs[len(rs)-1]; last.Commit != c2 || last.Outcome != planner.OutcomeSucceeded || last.To != spec.Green {
		t.Errorf("the last release in the history is %+v, want green's, Succeeded, with commit %s", last, c2)
	}

	// A commit the controller refuses: nothing changes.
	bad := strings.Replace(e.spec(spec.Green, "v2"), "activeColor: green", "activeColor: purple", 1)
	c3, _ := r.commit("a typo", bad, false)
	st, svc := waitSource("the bad commit refused", func(st *reconcile.Status, _ *reconcile.ServiceStatus) bool {
		return st.Source.RefusedCommit == c3
	})
	t.Logf("refused: %s", st.Source.RefusedReason)
	if !strings.Contains(st.Source.RefusedReason, "spec.activeColor") || st.Source.Commit != c2 ||
		svc.ObservedGeneration != g2 || svc.Phase != planner.Converged {
		t.Errorf("after the refused commit: source %+v, service %s %s; want commit %s in force and converged on it", st.Source, svc.Phase, svc.ObservedGeneration, c2)
	}
	e.assertFrontend("green v2")

	// The bad commit is rewritten away: a force-push on top of the good one.
	r.ResetTo(c2)
	c4, g4 := r.commit("fix: retry", e.spec(spec.Green, "v2", `  retry: "1"`), true)
	waitSource("the force-pushed commit", converged(c4, g4))
	if st := e.status(); st.Source.RefusedCommit != "" {
		t.Errorf("a refused commit is still reported after a good one: %+v", st.Source)
	}
	e.assertFrontend("green v2")
	waitSent(t, l, l.sent()+1000)
	e.stopLoadNoFailures(l)
	ctl.stop()
}
