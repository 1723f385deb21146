package dashboard

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/internal/httpserve"
	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// fixture is a dashboard over a status the test changes, with its state
// directory's approvals and history.
type fixture struct {
	mu        sync.Mutex
	st        state.Status
	dir       string
	approvals *state.Approvals
	rollbacks *state.Rollbacks
	retries   *state.Retries
	history   *state.History
	d         *Dashboard
	srv       *httptest.Server
}

const aliceSecret = "0123456789abcdef0123456789abcdef"

func newFixture(t *testing.T, tokens []Token) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), st: state.Status{Desired: "/etc/bluegreen/desired.yaml", Services: map[string]*state.ServiceStatus{}}}
	f.approvals = state.NewApprovals(filepath.Join(f.dir, "approvals.json"))
	f.history = state.NewHistory(filepath.Join(f.dir, "history.jsonl"))
	f.rollbacks = state.NewRollbacks(filepath.Join(f.dir, "rollbacks.json"))
	f.retries = state.NewRetries(filepath.Join(f.dir, "retries.json"))
	f.d = New(Options{Status: f.status, Approvals: f.approvals, Rollbacks: f.rollbacks, Retries: f.retries, Record: f.history, Tokens: tokens, Log: logr.Discard(),
		Now: func() time.Time { return t0.Add(time.Minute) }})
	f.srv = httptest.NewServer(f.d.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) status() state.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.st
	b.Services = map[string]*state.ServiceStatus{}
	for k, v := range f.st.Services {
		c := *v
		b.Services[k] = &c
	}
	return b
}

func (f *fixture) set(name string, s *state.ServiceStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Services[name] = s
}

// waiting is a service whose green v2 waits for promotion while blue serves.
func waiting() *state.ServiceStatus {
	return &state.ServiceStatus{Phase: planner.Progressing, ObservedGeneration: "0123456789ab", ActiveColor: spec.Green, Image: "web:v2",
		ServedColor: spec.Blue,
		Colors: map[spec.Color]*state.ColorStatus{
			spec.Blue:  {Container: "running", ImageID: "sha256:1111", HAProxy: "UP", Addr: "127.0.0.1:8081"},
			spec.Green: {Container: "running", ImageID: "sha256:2222", HAProxy: "UP", Addr: "127.0.0.1:8082"},
		},
		Conditions: []state.Condition{{Type: state.ConditionReady, Status: "False", Reason: planner.ReasonWaitingForPromotion,
			Message: "green runs web:v2 and is ready; traffic stays on blue until the release is promoted", LastTransitionTime: t0}}}
}

// client is a browser of the dashboard's origin: it keeps cookies and
// says, as browsers do, that its requests come from the page itself.
func (f *fixture) client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: sameOrigin{f.srv.URL}}
}

type sameOrigin struct{ origin string }

func (s sameOrigin) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if r.Method == http.MethodPost && r.Header.Get("Sec-Fetch-Site") == "" {
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set("Origin", s.origin)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", u, resp.Status, b)
	}
	return string(b)
}

// signIn signs c in with secret and returns the session's CSRF token, as
// the page carries it.
func (f *fixture) signIn(t *testing.T, c *http.Client, secret string) string {
	t.Helper()
	if code, body := post(t, c, f.srv.URL+"/login", url.Values{"token": {secret}}); code != http.StatusSeeOther {
		t.Fatalf("sign in: %d\n%s", code, body)
	}
	page := get(t, c, f.srv.URL+"/")
	_, rest, ok := strings.Cut(page, `<meta name="csrf" content="`)
	if !ok {
		t.Fatalf("the signed-in page has no CSRF token:\n%s", page)
	}
	csrf, _, _ := strings.Cut(rest, `"`)
	return csrf
}

// TestActionsFromThePage: a signed-in token holder's click on promote,
// roll back or retry writes the request for the generation the page showed
// where the loop reads it, and nothing else; the history says who asked,
// and the card shows it.
func TestActionsFromThePage(t *testing.T) {
	for _, tc := range []struct {
		action, file string
		status       func() *state.ServiceStatus
		form         string // the action's button text on the page
		absent       string // what the page must not offer then
		outcome      string
		card         string // what the card's history shows after it
		requests     func(f *fixture) (map[string]string, error)
	}{
		{"promote", "approvals.json", waiting, "signed in as <b>alice</b>", `/rollback"`, state.ActionPromoted, "promoted by alice (dashboard)",
			func(f *fixture) (map[string]string, error) { return f.approvals.All() }},
		{"rollback", "rollbacks.json", verifying, "roll back to blue", `/retry"`, state.ActionRollbackRequested, "",
			func(f *fixture) (map[string]string, error) { return f.rollbacks.All() }},
		{"retry", "retries.json", rolledBack, "retry green (web:v2)", `/rollback"`, state.ActionRetryRequested, "retry requested by alice (dashboard)",
			func(f *fixture) (map[string]string, error) { return f.retries.All() }},
	} {
		t.Run(tc.action, func(t *testing.T) {
			f := newFixture(t, []Token{{Name: "alice", Secret: aliceSecret}})
			f.set("web", tc.status())
			c := f.client(t)
			csrf := f.signIn(t, c, aliceSecret)
			if page := get(t, c, f.srv.URL+"/"); !strings.Contains(page, `action="/services/web/`+tc.action+`"`) || !strings.Contains(page, tc.form) || strings.Contains(page, tc.absent) {
				t.Fatalf("the page has no %s form for web (%q), or offers %s:\n%s", tc.action, tc.form, tc.absent, page)
			}
			code, body := post(t, c, f.srv.URL+"/services/web/"+tc.action, url.Values{"csrf": {csrf}, "generation": {"0123456789ab"}})
			if code != http.StatusSeeOther {
				t.Fatalf("%s: %d\n%s", tc.action, code, body)
			}
			asked, err := tc.requests(f)
			if err != nil || asked["web"] != "0123456789ab" {
				t.Fatalf("%s requests = %v (%v), want web: 0123456789ab", tc.action, asked, err)
			}
			rs, err := state.ReadHistory(filepath.Join(f.dir, "history.jsonl"), "web")
			if err != nil || len(rs) != 1 || rs[0].Outcome != tc.outcome || rs[0].By != "alice" || rs[0].Generation != "0123456789ab" {
				t.Fatalf("history = %+v (%v), want one %s by alice", rs, err, tc.outcome)
			}
			if page := get(t, c, f.srv.URL+"/"); tc.card != "" && !strings.Contains(page, tc.card) {
				t.Errorf("the card's history does not show %q:\n%s", tc.card, page)
			}
			for _, other := range []string{"approvals.json", "rollbacks.json", "retries.json"} {
				if _, err := os.Stat(filepath.Join(f.dir, other)); other != tc.file && !os.IsNotExist(err) {
					t.Errorf("a %s wrote %s (%v)", tc.action, other, err)
				}
			}
		})
	}
}

func TestPromoteWithBearerToken(t *testing.T) {
	f := newFixture(t, []Token{{Name: "deploy-bot", Secret: aliceSecret}})
	f.set("web", waiting())
	code, body := post(t, http.DefaultClient, f.srv.URL+"/services/web/promote", nil, "Authorization", "Bearer "+aliceSecret)
	if code != http.StatusOK || !strings.Contains(body, "promoted by deploy-bot") {
		t.Fatalf("promote with a bearer token: %d %s", code, body)
	}
	if a, _ := f.approvals.All(); a["web"] != "0123456789ab" {
		t.Fatalf("approvals = %v", a)
	}
}

// refusedCase is a request that must not act: its status and why.
type refusedCase struct {
	name   string
	tokens []Token
	status func(*state.ServiceStatus)
	do     func(t *testing.T, f *fixture) (int, string)
	code   int
	why    string
}

var aliceOnly = []Token{{Name: "alice", Secret: aliceSecret}}

// guardCases are the requests for action that the guard refuses, whatever
// the action: a read-only dashboard, no session, a forged CSRF token,
// another origin.
func guardCases(action string) []refusedCase {
	path := "/services/web/" + action
	return []refusedCase{
		{name: action + ": read-only dashboard", do: func(t *testing.T, f *fixture) (int, string) {
			return post(t, f.client(t), f.srv.URL+path, url.Values{"csrf": {"x"}})
		}, code: http.StatusForbidden, why: "read-only"},
		{name: action + ": no session", tokens: aliceOnly, do: func(t *testing.T, f *fixture) (int, string) {
			return post(t, f.client(t), f.srv.URL+path, url.Values{"csrf": {"x"}})
		}, code: http.StatusUnauthorized, why: "sign in with a token first"},
		{name: action + ": session without the CSRF token", tokens: aliceOnly, do: func(t *testing.T, f *fixture) (int, string) {
			c := f.client(t)
			f.signIn(t, c, aliceSecret)
			return post(t, c, f.srv.URL+path, url.Values{"csrf": {"forged"}})
		}, code: http.StatusForbidden, why: "CSRF token does not match"},
		{name: action + ": another origin, with the session cookie", tokens: aliceOnly, do: func(t *testing.T, f *fixture) (int, string) {
			c := f.client(t)
			csrf := f.signIn(t, c, aliceSecret)
			return post(t, c, f.srv.URL+path, url.Values{"csrf": {csrf}}, "Sec-Fetch-Site", "same-site", "Origin", "http://127.0.0.1:1")
		}, code: http.StatusForbidden, why: "cross-origin request refused"},
		{name: action + ": another site, with the session cookie", tokens: aliceOnly, do: func(t *testing.T, f *fixture) (int, string) {
			c := f.client(t)
			csrf := f.signIn(t, c, aliceSecret)
			return post(t, c, f.srv.URL+path, url.Values{"csrf": {csrf}}, "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example")
		}, code: http.StatusForbidden, why: "cross-origin request refused"},
	}
}

// checkRefused runs each case on a dashboard whose service web is as base
// makes it (then as the case's status edits it): each gets its status and
// a page that says why, and none of files is written.
func checkRefused(t *testing.T, cases []refusedCase, base func() *state.ServiceStatus, files ...string) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.tokens)
			s := base()
			if c.status != nil {
				c.status(s)
			}
			f.set("web", s)
			code, body := c.do(t, f)
			if code != c.code || !strings.Contains(body, c.why) || !strings.Contains(body, "Nothing was changed") {
				t.Fatalf("got %d, want %d with %q and 'Nothing was changed':\n%s", code, c.code, c.why, body)
			}
			for _, file := range append(files, "history.jsonl") {
				if _, err := os.Stat(filepath.Join(f.dir, file)); !os.IsNotExist(err) {
					t.Errorf("%s written (%v)", file, err)
				}
			}
		})
	}
}

// TestActionsRefused: each request that must not act gets its status and
// a page that says why, and nothing is approved, asked or recorded.
func TestActionsRefused(t *testing.T) {
	bearer := "Bearer " + aliceSecret
	checkRefused(t, append(guardCases("promote"),
		refusedCase{name: "wrong token at sign-in", tokens: aliceOnly, do: func(t *testing.T, f *fixture) (int, string) {
			return post(t, f.client(t), f.srv.URL+"/login", url.Values{"token": {strings.Repeat("x", 32)}})
		}, code: http.StatusUnauthorized, why: "not one this controller knows"},
		refusedCase{name: "another origin, an old browser (Origin only)", tokens: aliceOnly, do: func(t *testing.T, f *fixture) (int, string) {
			return post(t, http.DefaultClient, f.srv.URL+"/services/web/promote", nil, "Origin", "http://evil.example", "Authorization", bearer)
		}, code: http.StatusForbidden, why: "cross-origin request refused"},
		refusedCase{name: "unknown bearer token", tokens: aliceOnly, do: func(t *testing.T, f *fixture) (int, string) {
			return post(t, http.DefaultClient, f.srv.URL+"/services/web/promote", nil, "Authorization", "Bearer "+strings.Repeat("0", 32))
		}, code: http.StatusUnauthorized, why: "no token this controller knows"},
		refusedCase{name: "nothing waits for promotion", tokens: aliceOnly, status: func(s *state.ServiceStatus) {
			s.Conditions[0].Reason = planner.ReasonVerifying
		}, do: func(t *testing.T, f *fixture) (int, string) {
			return post(t, http.DefaultClient, f.srv.URL+"/services/web/promote", nil, "Authorization", bearer)
		}, code: http.StatusConflict, why: "no release of it waits for promotion"},
		refusedCase{name: "the release changed since the page was drawn", tokens: aliceOnly, do: func(t *testing.T, f *fixture) (int, string) {
			return post(t, http.DefaultClient, f.srv.URL+"/services/web/promote", url.Values{"generation": {"ffffffffffff"}}, "Authorization", bearer)
		}, code: http.StatusConflict, why: "changed since the page was drawn"},
		refusedCase{name: "unknown service", tokens: aliceOnly, do: func(t *testing.T, f *fixture) (int, string) {
			return post(t, http.DefaultClient, f.srv.URL+"/services/api/promote", nil, "Authorization", bearer)
		}, code: http.StatusNotFound, why: "no such service"},
	), waiting, "approvals.json")
	checkRefused(t, guardCases("rollback"), verifying, "rollbacks.json")
}

func TestReadOnlyPageSaysSo(t *testing.T) {
	f := newFixture(t, nil)
	f.set("web", waiting())
	page := get(t, http.DefaultClient, f.srv.URL+"/")
	if !strings.Contains(page, "read-only: the controller was started without --ui-token-file") || strings.Contains(page, `action="/login"`) {
		t.Fatalf("the read-only page does not say so, or offers to sign in:\n%s", page)
	}
}

// TestPageEscapesWhatComesFromOutside: log lines, images, messages and
// errors come from containers and the desired file: none can add markup
// or script to the page, or a control character a terminal acts on.
func TestPageEscapesWhatComesFromOutside(t *testing.T) {
	f := newFixture(t, []Token{{Name: "alice", Secret: aliceSecret}})
	s := waiting()
	evil := "<script>alert(1)</script>\x1b[2J\x1b[H\u202e<img src=x onerror=alert(2)>\"'"
	s.Logs = "started\n" + evil
	s.LastError = "start container: " + evil
	s.Image = "web:v2" + evil
	s.Colors[spec.Green].LastExit = evil
	s.Conditions[0].Message = evil
	s.Verification = &planner.Verification{Generation: "0123456789ab", From: spec.Blue, To: spec.Green, ToImage: evil,
		SwitchedAt: t0, Outcome: planner.OutcomeRolledBack, Reason: evil}
	f.set("web", s)
	f.st.SpecError = evil
	f.d.ReleaseEnded(state.Release{Service: "web", To: spec.Green, ToImage: evil, Start: t0, End: t0.Add(time.Second),
		Outcome: planner.OutcomeRolledBack, Reason: evil})
	page := get(t, http.DefaultClient, f.srv.URL+"/")
	for _, bad := range []string{"<script>alert", "<img src=x", "\x1b", "\u202e", "onerror=alert(2)>"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q raw", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", `\x1b[2J`, `\u202e`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not show %q, escaped", want)
		}
	}
	if n := strings.Count(page, "<script"); n != 1 {
		t.Errorf("the page has %d script elements, want only its own", n)
	}
	resp, err := http.Get(f.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}

func TestServerHasDeadlines(t *testing.T) {
	srv := NewServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("server deadlines: read header %s, read %s, write %s, idle %s: want all set",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
}

// TestEventsPushTheCardThatChanged: an open page's stream, kept past the
// server's read and write timeouts, is sent the card of the service whose
// served color changed at the end of the pass, and nothing before.
func TestEventsPushTheCardThatChanged(t *testing.T) {
	defer func(d httpserve.Deadlines) { deadlines = d }(deadlines)
	deadlines.Read, deadlines.Write = 100*time.Millisecond, 100*time.Millisecond
	f := newFixture(t, nil)
	f.srv.Close()
	f.srv = httptest.NewUnstartedServer(f.d.Handler())
	f.srv.Config = NewServer(f.d.Handler())
	f.srv.Start()
	s := waiting()
	f.set("web", s)
	resp := f.openStream(t)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev strings.Builder
		for sc.Scan() {
			if sc.Text() == "" {
				events <- ev.String()
				ev.Reset()
				continue
			}
			ev.WriteString(sc.Text() + "\n")
		}
		close(events)
	}()
	// The page is current: the stream starts with its version only.
	if ev := <-events; strings.Contains(ev, "event: card") {
		t.Fatalf("a current page was sent the cards again: %s", ev)
	}
	time.Sleep(3 * deadlines.Write) // the stream outlives the server's write timeout
	// Green takes the traffic.
	s2 := waiting()
	s2.ServedColor = spec.Green
	s2.Conditions[0].Reason = planner.ReasonVerifying
	f.set("web", s2)
	f.d.Decided(reconcile.ServiceView{Service: "web", Served: spec.Green}, planner.Decision{}, t0.Add(time.Minute))
	f.d.PassEnded(true, t0.Add(time.Minute))
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if strings.Contains(ev, "event: card") && strings.Contains(ev, `data-served="green"`) {
				return
			}
		case <-deadline:
			t.Fatal("no card with green serving was pushed")
		}
	}
}

// TestChartRates: 100 responses a second on blue, then 50 on green with
// 10 5xx, seen at a pass every 10 s: the buckets show the rates, whatever
// the passes' spacing.
func TestChartRates(t *testing.T) {
	var tr traffic
	var blue, green planner.Counters
	for i := 0; i <= 30; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		served := spec.Blue
		if i > 15 {
			served = spec.Green
		}
		tr.add(at, served, map[spec.Color]planner.Counters{spec.Blue: blue, spec.Green: green})
		if i >= 15 {
			green.Responses += 500
			green.Status5xx += 100
		} else {
			blue.Responses += 1000
		}
	}
	end := t0.Add(300 * time.Second)
	ss := tr.rates(end)
	for _, s := range ss {
		first, last := s.rates[5], s.rates[chartBuckets-5]
		var wantFirst, wantLast float64
		switch {
		case s.color == spec.Blue && !s.errors:
			wantFirst = 100
		case s.color == spec.Green && !s.errors:
			wantLast = 50
		case s.color == spec.Green:
			wantLast = 10
		}
		if first != wantFirst || last != wantLast {
			t.Errorf("%s errors=%v: rate early %.1f late %.1f, want %.1f and %.1f", s.color, s.errors, first, last, wantFirst, wantLast)
		}
	}
	ch := tr.chart(end)
	if len(ch.Marks) != 1 || ch.Marks[0].Label != "→ green" {
		t.Fatalf("marks %+v, want one switch to green", ch.Marks)
	}
}

// TestFirstLoadSize: a page of 50 services, each with five minutes of
// traffic, five releases in its history and a verification, stays small.
func TestFirstLoadSize(t *testing.T) {
	f := newFixture(t, nil)
	for i := range 50 {
		name := fmt.Sprintf("service-%02d", i)
		s := waiting()
		s.Logs = strings.Repeat("a log line of a container that failed, as status keeps it\n", 20)
		s.Verification = &planner.Verification{Generation: "0123456789ab", From: spec.Blue, To: spec.Green, ToImage: "registry.example/web:v2",
			SwitchedAt: t0, Outcome: planner.OutcomeRolledBack, Reason: "1000 responses, 200 of them 5xx (20.0%, above 5.0%) after the switch"}
		f.set(name, s)
		var c planner.Counters
		for k := range 300 {
			c.Responses += 100
			f.d.Decided(reconcile.ServiceView{Service: name, Served: spec.Blue, Traffic: map[spec.Color]planner.Counters{spec.Blue: c}},
				planner.Decision{}, t0.Add(time.Duration(k)*time.Second))
		}
		for k := range historyShown {
			f.d.ReleaseEnded(state.Release{Service: name, From: spec.Blue, To: spec.Green, FromImage: "registry.example/web:v1", ToImage: "registry.example/web:v2",
				Start: t0.Add(time.Duration(k) * time.Minute), End: t0.Add(time.Duration(k)*time.Minute + 20*time.Second),
				Outcome: planner.OutcomeRolledBack, Reason: "1000 responses, 200 of them 5xx (20.0%, above 5.0%) after the switch"})
		}
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/", nil)
	req.Header.Set("Accept-Encoding", "gzip") // as every browser sends it
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	wire, _ := io.ReadAll(resp.Body)
	zr, err := gzip.NewReader(strings.NewReader(string(wire)))
	if err != nil {
		t.Fatalf("the page is not gzipped: %v", err)
	}
	plain, _ := io.ReadAll(zr)
	if n := strings.Count(string(plain), `class="card `); n != 50 {
		t.Fatalf("the page has %d cards, want 50", n)
	}
	var assets int
	for _, a := range []string{"/static/app.js", "/static/style.css"} {
		assets += len(get(t, http.DefaultClient, f.srv.URL+a))
	}
	total := len(wire) + assets
	t.Logf("first load with 50 services: page %d bytes gzipped (%d bytes of HTML), script and style %d bytes: %d bytes", len(wire), len(plain), assets, total)
	if total >= 200_000 {
		t.Fatalf("first load %d bytes, want under 200 KB", total)
	}
}

// TestGoneServiceLeavesThePage: a service removed from the desired state
// (and so from the status) is taken off the open pages at the next push.
func TestGoneServiceLeavesThePage(t *testing.T) {
	f := newFixture(t, nil)
	f.set("web", waiting())
	f.set("api", waiting())
	f.d.Decided(reconcile.ServiceView{Service: "api", Served: spec.Blue}, planner.Decision{}, t0)
	resp := f.openStream(t)
	f.mu.Lock()
	delete(f.st.Services, "api")
	f.mu.Unlock()
	f.d.Decided(reconcile.ServiceView{Service: "web", Served: spec.Blue}, planner.Decision{}, t0.Add(time.Minute))
	f.d.PassEnded(true, t0.Add(time.Minute))
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	done := make(chan bool, 1)
	go func() {
		prev := ""
		for sc.Scan() {
			if prev == "event: gone" && sc.Text() == "data: svc-api" {
				done <- true
				return
			}
			prev = sc.Text()
		}
		done <- false
	}()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("the stream ended without taking api's card off")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("api's card was not taken off the page")
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if _, ok := f.d.traffic["api"]; ok {
		t.Error("the dashboard still keeps api's traffic")
	}
}

// TestReplicasEachHaveARow: with spec.replicas, each replica of a color is
// a row of its own, with its container, HAProxy state and restarts.
func TestReplicasEachHaveARow(t *testing.T) {
	f := newFixture(t, nil)
	s := waiting()
	s.Colors[spec.Blue].Replicas = []*state.ColorStatus{{Container: "restarting", HAProxy: "DOWN", Addr: "127.0.0.1:8091", Restarts: 7,
		LastExit: "exited with code 2"}}
	f.set("web", s)
	page := get(t, http.DefaultClient, f.srv.URL+"/")
	for _, want := range []string{"<td>blue #2</td><td>restarting</td>", "DOWN <small>127.0.0.1:8091</small>", "<td>7</td><td>exited with code 2</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// verifying is a service whose green v2 serves and is verified, blue warm.
func verifying() *state.ServiceStatus {
	s := waiting()
	s.ServedColor = spec.Green
	s.Conditions[0].Reason, s.Conditions[0].Message = planner.ReasonVerifying, "green serves web:v2; verifying on real traffic, 20s left"
	s.Verification = &planner.Verification{Generation: "0123456789ab", From: spec.Blue, To: spec.Green, ToImage: "web:v2", SwitchedAt: t0}
	return s
}

func TestRollbackRefusedWhenNothingIsVerified(t *testing.T) {
	f := newFixture(t, []Token{{Name: "alice", Secret: aliceSecret}})
	f.set("web", waiting())
	if page := get(t, http.DefaultClient, f.srv.URL+"/"); strings.Contains(page, `/rollback"`) {
		t.Fatalf("the page offers a rollback while nothing is verified")
	}
	code, body := post(t, http.DefaultClient, f.srv.URL+"/services/web/rollback", nil, "Authorization", "Bearer "+aliceSecret)
	if code != http.StatusConflict || !strings.Contains(body, "no release of it is being verified") {
		t.Fatalf("rollback while waiting for promotion: %d\n%s", code, body)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "rollbacks.json")); !os.IsNotExist(err) {
		t.Errorf("rollbacks.json written (%v)", err)
	}
}

// TestTimeline: a release's moments in the order they happened: saved,
// ready, warmed up, switched, verified, ended.
func TestTimeline(t *testing.T) {
	f := newFixture(t, nil)
	s := verifying()
	s.Release = &state.Release{Service: "web", Generation: "0123456789ab", To: spec.Green, Start: t0}
	s.Warmup = &planner.WarmupRecord{Generation: "0123456789ab", Color: spec.Green, Requests: 40, At: t0.Add(3 * time.Second)}
	f.set("web", s)
	f.d.Stepped("web", planner.Step{Action: planner.SetServerReady, Color: spec.Green}, 0, nil) // at Now: t0 + 1 min
	f.d.Stepped("web", planner.Step{Action: planner.SwitchMap, Color: spec.Green}, 0, nil)
	f.d.mu.Lock()
	tr := f.d.traffic["web"]
	tr.marks[0].at, tr.marks[1].at = t0.Add(2*time.Second), t0.Add(4*time.Second)
	f.d.mu.Unlock()
	page := get(t, http.DefaultClient, f.srv.URL+"/")
	_, tl, _ := strings.Cut(page, `<ol class="timeline">`)
	tl, _, _ = strings.Cut(tl, "</ol>")
	var got []string
	for _, li := range strings.Split(tl, "<li")[1:] {
		_, rest, _ := strings.Cut(li, ">")
		what, _, _ := strings.Cut(rest, " <time>")
		got = append(got, what)
	}
	want := []string{"saved", "green ready", "green warmed up (40 requests)", "switched to green"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("timeline %q, want %q", got, want)
	}
}

// openStream loads the page, runs the dashboard until the test ends and
// opens the page's event stream from the version the page was drawn at.
func (f *fixture) openStream(t *testing.T) *http.Response {
	t.Helper()
	page := get(t, http.DefaultClient, f.srv.URL+"/")
	_, rest, _ := strings.Cut(page, `data-version="`)
	version, _, _ := strings.Cut(rest, `"`)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go f.d.Run(ctx)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/events?v="+version, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestCanaryFromThePage: a canary waiting at a step without a pause is
// promoted past that step (the approval names the step, the history the
// release); one in a step's pause may be rolled back.
func TestCanaryFromThePage(t *testing.T) {
	atStep := func(reason planner.Reason) *state.ServiceStatus {
		s := waiting()
		s.Conditions[0].Reason, s.Conditions[0].Message = reason, "canary step 2 of 3: green (web:v2) gets 50 % of new users, blue the rest"
		s.Verification = &planner.Verification{Generation: "0123456789ab", From: spec.Blue, To: spec.Green, ToImage: "web:v2", SwitchedAt: t0,
			Canary: true, Step: 1, StepSince: t0}
		return s
	}
	f := newFixture(t, []Token{{Name: "alice", Secret: aliceSecret}})
	f.set("web", atStep(planner.ReasonWaitingForPromotion))
	code, body := post(t, http.DefaultClient, f.srv.URL+"/services/web/promote", nil, "Authorization", "Bearer "+aliceSecret)
	if code != http.StatusOK {
		t.Fatalf("promote a canary step: %d %s", code, body)
	}
	if a, _ := f.approvals.All(); a["web"] != planner.CanaryApproval("0123456789ab", 1) {
		t.Fatalf("approvals = %v, want the second step's", a)
	}
	f.set("web", atStep(planner.ReasonCanary))
	if page := get(t, http.DefaultClient, f.srv.URL+"/"); !strings.Contains(page, "roll back to blue") {
		t.Fatalf("a canary in a step's pause offers no rollback:\n%s", page)
	}
	code, body = post(t, http.DefaultClient, f.srv.URL+"/services/web/rollback", nil, "Authorization", "Bearer "+aliceSecret)
	if a, _ := f.rollbacks.All(); code != http.StatusOK || a["web"] != "0123456789ab" {
		t.Fatalf("roll back a canary: %d %s; requests %v", code, body, a)
	}
}
