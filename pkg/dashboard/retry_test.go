package dashboard

import (
	"net/http"
	"net/url"
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
	bearer := func(form url.Values) func(t *testing.T, f *fixture) (int, string) {
		return func(t *testing.T, f *fixture) (int, string) {
			return post(t, http.DefaultClient, f.srv.URL+"/services/web/retry", form, "Authorization", "Bearer "+aliceSecret)
		}
	}
	checkRefused(t, append(guardCases("retry"),
		refusedCase{name: "nothing failed", tokens: aliceOnly, status: func(s *state.ServiceStatus) { *s = *verifying() }, do: bearer(nil),
			code: http.StatusConflict, why: "no release of it was rolled back or failed its checks or a job (it is Progressing, Verifying)"},
		refusedCase{name: "a container that exited before it was ready", tokens: aliceOnly, status: func(s *state.ServiceStatus) {
			s.Conditions[0].Reason = planner.ReasonContainerExited
		}, do: bearer(nil), code: http.StatusConflict, why: "no release of it was rolled back or failed its checks or a job"},
		refusedCase{name: "the release moved on since the page was drawn", tokens: aliceOnly, do: bearer(url.Values{"generation": {"ffffffffffff"}}),
			code: http.StatusConflict, why: "changed since the page was drawn (generation ffffffffffff, now 0123456789ab)"},
	), rolledBack, "retries.json")
}
