package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"

	// Its in-process file:// transport, so that pushing needs no git binary.
	_ "github.com/bluegreen-host/controller/pkg/source"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// gitRepo is a config repository: its desired.yaml beside each service's
// build context, in a directory named after the context.
type gitRepo struct {
	*testenv.GitRemote
	envs []*env // the services whose build contexts it holds; envs[0] owns the repository
}

func newGitRepo(t *testing.T, envs ...*env) *gitRepo {
	t.Helper()
	return &gitRepo{GitRemote: testenv.NewGitRemote(t, envs[0].dir), envs: envs}
}

// commit commits desired (each build context moved into the repository)
// and the build contexts, pushes main (force: rewriting it), and returns
// the commit and the generation the desired state gives its first service.
func (r *gitRepo) commit(msg, desired string, force bool) (commit, generation string) {
	t := r.envs[0].t
	t.Helper()
	files := map[string][]byte{}
	for _, e := range r.envs {
		src := e.buildContext()
		dir := filepath.Base(src)
		desired = strings.ReplaceAll(desired, "context: "+src+"\n", "context: "+dir+"\n")
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range entries {
			b, err := os.ReadFile(filepath.Join(src, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[filepath.Join(dir, f.Name())] = b
		}
	}
	files["desired.yaml"] = []byte(desired)
	commit = r.Commit(msg, files, force)
	if svcs, err := specfile.Load(filepath.Join(r.Work, "desired.yaml")); err == nil {
		generation = svcs[0].Generation()
	}
	return commit, generation
}

// generations are the generations of the services in the desired state
// last committed.
func (r *gitRepo) generations() map[string]string {
	t := r.envs[0].t
	t.Helper()
	svcs, err := specfile.Load(filepath.Join(r.Work, "desired.yaml"))
	if err != nil {
		t.Fatalf("load the committed desired state: %v", err)
	}
	gens := map[string]string{}
	for _, s := range svcs {
		gens[s.Name] = s.Generation()
	}
	return gens
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
	waitSource := func(what string, ok func(*state.Status, *state.ServiceStatus) bool) (*state.Status, *state.ServiceStatus) {
		t.Helper()
		var st state.Status
		var svc *state.ServiceStatus
		testenv.WaitFor(t, 2*time.Minute, what, func() bool {
			st = e.status()
			svc = st.Services[e.svc]
			return st.Source != nil && svc != nil && ok(&st, svc)
		})
		return &st, svc
	}
	converged := func(commit, gen string) func(*state.Status, *state.ServiceStatus) bool {
		return func(st *state.Status, s *state.ServiceStatus) bool {
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
	rs, err := state.ReadHistory(filepath.Join(e.stateDir, "history.jsonl"), e.svc)
	if err != nil || len(rs) == 0 {
		t.Fatalf("history: %v, %v", rs, err)
	}
	if last := rs[len(rs)-1]; last.Commit != c2 || last.Outcome != planner.OutcomeSucceeded || last.To != spec.Green {
		t.Errorf("the last release in the history is %+v, want green's, Succeeded, with commit %s", last, c2)
	}

	// A commit the controller refuses: nothing changes.
	bad := strings.Replace(e.spec(spec.Green, "v2"), "activeColor: green", "activeColor: purple", 1)
	c3, _ := r.commit("a typo", bad, false)
	st, svc := waitSource("the bad commit refused", func(st *state.Status, _ *state.ServiceStatus) bool {
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

// TestGitTwoServices: one config repository holds two services, the polite
// demo app (web) and the rude app (api), whose v2 answers 500 behind a
// healthy /healthz. One commit releases both: web's release succeeds with
// no failed request, api's is rolled back, and the history names the
// commit for each. A commit that reverts api to blue v1 brings it back to
// Converged, and web stays as it is.
func TestGitTwoServices(t *testing.T) {
	p := newPair(t)
	r := newGitRepo(t, p.web, p.api)
	// wait waits until the commit is in force and svc reports phase and
	// reason for the generation that commit gives it.
	wait := func(commit, svc string, phase planner.Phase, reason planner.Reason) {
		t.Helper()
		gen := r.generations()[svc]
		testenv.WaitFor(t, 2*time.Minute, svc+" "+string(phase)+" ("+string(reason)+") at "+commit, func() bool {
			st := p.web.status()
			s := st.Services[svc]
			return st.Source != nil && st.Source.Commit == commit && s != nil &&
				s.ObservedGeneration == gen && s.Phase == phase && readyReason(s) == reason
		})
	}
	c1, _ := r.commit("web and api: blue v1", p.text(spec.Blue, "v1", spec.Blue, "v1"), false)
	ctl := p.web.start("--git-url", r.URL, "--git-path", "desired.yaml", "--git-poll", "200ms")
	wait(c1, p.web.svc, planner.Converged, "Converged")
	wait(c1, p.api.svc, planner.Converged, "Converged")

	webLoad, apiLoad := p.startLoads()
	c2, _ := r.commit("release web and api v2", p.text(spec.Green, "v2", spec.Green, "v2"), false)
	wait(c2, p.api.svc, planner.Failed, "RolledBack")
	wait(c2, p.web.svc, planner.Converged, "Converged")
	p.web.assertFrontend("green v2")
	p.api.assertFrontend("blue v1")
	for svc, want := range map[string]string{p.web.svc: planner.OutcomeSucceeded, p.api.svc: planner.OutcomeRolledBack} {
		rs, err := state.ReadHistory(filepath.Join(p.web.stateDir, "history.jsonl"), svc)
		if err != nil || len(rs) == 0 {
			t.Fatalf("history of %s: %v, %v", svc, rs, err)
		}
		if last := rs[len(rs)-1]; last.Commit != c2 || last.Outcome != want || last.To != spec.Green {
			t.Errorf("%s's last release in the history is %+v, want to green, %s, with commit %s", svc, last, want, c2)
		}
	}

	// The operator reverts api in git: it converges on v1 again, and web
	// (unchanged) stays as it is.
	c3, _ := r.commit("revert api to blue v1", p.text(spec.Green, "v2", spec.Blue, "v1"), false)
	wait(c3, p.api.svc, planner.Converged, "Converged")
	wait(c3, p.web.svc, planner.Converged, "Converged")
	p.api.assertFrontend("blue v1")
	waitSent(t, webLoad, webLoad.sent()+500)
	apiLoad.stop()
	p.web.stopLoadNoFailures(webLoad)
	ctl.stop()
}
