package dashboard

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// rolledBack is a service whose release of green v2 was rolled back to
// blue, at rest.
func rolledBack() *state.ServiceStatus {
	s := verifying()
	s.Phase, s.ServedColor = planner.Failed, spec.Blue
	s.Conditions[0].Reason, s.Conditions[0].Message = planner.ReasonRolledBack, "the release of web:v2 to green was rolled back: 40 of 100 requests were 5xx"
	s.Verification.Outcome, s.Verification.Reason = planner.OutcomeRolledBack, "40 of 100 requests were 5xx"
	return s
}

// TestRetryRefused: a retry from the page is guarded as promote and roll
// back are (a token, the page's own origin, the session's CSRF token),
// and asks only for a release that was rolled back, or failed its checks
// or a job, as the page showed it. Each refusal has its status and says
// why, and nothing is written.
func TestRetryRefused(t *testing.T) {
	tokens := []Token{{Name: "alice", Secret: aliceSecret}}
	bearer := func(form url.Values) func(t *testing.T, f *fixture) (int, string) {
		return func(t *testing.T, f *fixture) (int, string) {
			return post(t, http.DefaultClient, f.srv.URL+"/services/web/retry", form, "Authorization", "Bearer "+aliceSecret)
		}
	}
	cases := []struct {
		name   string
		tokens []Token
		status func(*state.ServiceStatus)
		do     func(t *testing.T, f *fixture) (int, string)
		code   int
		why    string
	}{
		{name: "read-only dashboard", do: func(t *testing.T, f *fixture) (int, string) {
			return post(t, f.client(t), f.srv.URL+"/services/web/retry", url.Values{"csrf": {"x"}})
		}, code: http.StatusForbidden, why: "read-only"},
		{name: "no token", tokens: tokens, do: func(t *testing.T, f *fixture) (int, string) {
			return post(t, f.client(t), f.srv.URL+"/services/web/retry", url.Values{"csrf": {"x"}})
		}, code: http.StatusUnauthorized, why: "sign in with a token first"},
		{name: "session without the CSRF token", tokens: tokens, do: func(t *testing.T, f *fixture) (int, string) {
			c := f.client(t)
			f.signIn(t, c, aliceSecret)
			return post(t, c, f.srv.URL+"/services/web/retry", url.Values{"csrf": {"forged"}})
		}, code: http.StatusForbidden, why: "CSRF token does not match"},
		{name: "another origin, with the session cookie", tokens: tokens, do: func(t *testing.T, f *fixture) (int, string) {
			c := f.client(t)
			csrf := f.signIn(t, c, aliceSecret)
			return post(t, c, f.srv.URL+"/services/web/retry", url.Values{"csrf": {csrf}}, "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example")
		}, code: http.StatusForbidden, why: "cross-origin request refused"},
		{name: "nothing failed", tokens: tokens, status: func(s *state.ServiceStatus) { *s = *verifying() }, do: bearer(nil),
			code: http.StatusConflict, why: "no release of it was rolled back or failed its checks or a job (it is Progressing, Verifying)"},
		{name: "a container that exited before it was ready", tokens: tokens, status: func(s *state.ServiceStatus) {
			s.Conditions[0].Reason = planner.ReasonContainerExited
		}, do: bearer(nil), code: http.StatusConflict, why: "no release of it was rolled back or failed its checks or a job"},
		{name: "the release moved on since the page was drawn", tokens: tokens, do: bearer(url.Values{"generation": {"ffffffffffff"}}),
			code: http.StatusConflict, why: "changed since the page was drawn (generation ffffffffffff, now 0123456789ab)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.tokens)
			s := rolledBack()
			if c.status != nil {
				c.status(s)
			}
			f.set("web", s)
			code, body := c.do(t, f)
			if code != c.code || !strings.Contains(body, c.why) || !strings.Contains(body, "Nothing was changed") {
				t.Fatalf("got %d, want %d with %q and 'Nothing was changed':\n%s", code, c.code, c.why, body)
			}
			for _, file := range []string{"retries.json", "history.jsonl"} {
				if _, err := os.Stat(filepath.Join(f.dir, file)); !os.IsNotExist(err) {
					t.Errorf("%s written (%v)", file, err)
				}
			}
		})
	}
}
