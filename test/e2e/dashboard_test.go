package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// screenshotsEnv names a directory for the browser test's screenshots
// (docs/images makes the README's); without it they go to a temporary
// directory.
const screenshotsEnv = "BLUEGREEN_SCREENSHOTS"

// browser is a headless Chromium tab, driven through chromedp.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // where screenshots go
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := testenv.RequireBinary(t, "chromium", "apt-get install -y chromium (scripts/deps.sh installs it)")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.DisableGPU, chromedp.WindowSize(1100, 900),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, dir: os.Getenv(screenshotsEnv)}
	if b.dir == "" {
		b.dir = t.TempDir()
	}
	// Start the browser now, on ctx itself: a browser started under a
	// context with a deadline ends with that context.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return b
}

// do runs actions, failing the test with what after timeout.
func (b *browser) do(timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v\npage text:\n%s", what, err, b.text())
	}
}

// text is the page's text, for failure messages.
func (b *browser) text() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return s
}

// status is the HTTP status of the document the tab shows.
func (b *browser) status() int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`performance.getEntriesByType("navigation")[0].responseStatus`))
	if err != nil {
		b.t.Fatalf("browser: the document's HTTP status: %v", err)
	}
	return n
}

// until waits until cond, a JavaScript expression of c, the element
// sel, holds.
func (b *browser) until(sel, cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`(() => { const c = document.querySelector(`+"`"+sel+"`"+`); return c && (`+cond+`); })()`,
		chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(0))
}

// screenshot saves the element sel as a PNG named name in b.dir.
func (b *browser) screenshot(sel, name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: screenshot of %s: %v", sel, err)
	}
	path := filepath.Join(b.dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d bytes)", path, len(png))
}

// TestDashboardInBrowser opens the dashboard in headless Chromium during
// releases under load: the served color changes from blue to green on the
// open page, without a reload, within 2 s of the map's switch; a version
// that answers 500 is rolled back and the page says so with the reason and
// its figures; a release with promotion Manual is promoted from the page
// by a signed-in token holder, after the same click without a token and a
// form posted from another origin were refused and changed nothing; a
// release being verified is rolled back from the page, and tried again
// from the page.
func TestDashboardInBrowser(t *testing.T) {
	b := newBrowser(t)
	e := rudeEnv(t)
	e.modes = map[string]string{"v3": "fail500"}
	e.verify = "{window: 4s, maxErrorRate: 0.05, minRequests: 20}"
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	tokenFile := filepath.Join(e.dir, "ui-tokens")
	if err := os.WriteFile(tokenFile, []byte("alice:"+hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ui := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	card := "#svc-" + e.svc
	e.save(spec.Blue, "v1")
	ctl := e.start("--ui-listen", strings.TrimPrefix(ui, "http://"), "--ui-token-file", tokenFile)
	e.waitConverged(2 * time.Minute)
	l := e.startLoad(10, 2)
	waitSent(t, l, 500)

	b.do(time.Minute, "open the dashboard", chromedp.Navigate(ui+"/"),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-served="blue"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	b.eval(`window.notReloaded = "yes"`)
	// The chart shows the load once a pass has read the counters since it
	// began (at the latest one resync later).
	b.do(time.Minute, "see blue's traffic on the chart", b.until(card, `!/^blue 0 req/.test(c.querySelector("figcaption").innerText)`))
	b.screenshot(card, "dashboard-blue.png")

	// Release green v2: the open page follows the switch.
	sw := e.watchSwitch(e.svc+"_green", false)
	e.save(spec.Green, "v2")
	b.do(2*time.Minute, "see green serve", chromedp.WaitVisible(chromedp.CSS(card+`[data-served="green"]`), chromedp.RetryInterval(10*time.Millisecond)))
	seen := time.Now()
	var switched time.Time
	select {
	case switched = <-sw.at:
	case <-time.After(5 * time.Second):
		t.Fatal("the page shows green serving, but the runtime map was never seen to switch to green")
	}
	t.Logf("the page showed green serving %s after the map switched", seen.Sub(switched).Round(time.Millisecond))
	if lag := seen.Sub(switched); lag > 2*time.Second {
		t.Errorf("the page showed green serving %s after the switch, want within 2 s", lag)
	}
	if got := b.eval(`window.notReloaded || "reloaded"`); got != "yes" {
		t.Fatalf("the page was reloaded (%q): it must follow the release in place", got)
	}
	b.do(30*time.Second, "see the verification with green's traffic on the chart",
		b.until(card, `c.dataset.reason === "Verifying" && !/green 0 req/.test(c.querySelector("figcaption").innerText)`))
	b.screenshot(card, "dashboard-mid-release.png")
	e.waitConverged(2 * time.Minute)

	// Release blue v3, which answers 500: rolled back, and the page says why.
	e.save(spec.Blue, "v3")
	b.do(2*time.Minute, "see the rollback", chromedp.WaitVisible(chromedp.CSS(card+`[data-reason="RolledBack"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+` .history tr.o-RolledBack`)))
	text := b.eval(`document.querySelector(` + "`" + card + "`" + `).innerText`)
	for _, want := range []string{"RolledBack", "5xx", "after the switch", "rollback → green"} {
		if !strings.Contains(text, want) {
			t.Errorf("the rolled back card does not say %q:\n%s", want, text)
		}
	}
	b.screenshot(card, "dashboard-rolled-back.png")
	if got := b.eval(`window.notReloaded || "reloaded"`); got != "yes" {
		t.Fatalf("the page was reloaded (%q)", got)
	}

	// Release blue v4 with promotion Manual: it waits for the promotion.
	e.save(spec.Blue, "v4", "  promotion: {mode: Manual}")
	gen := e.generation()
	b.do(2*time.Minute, "see the release wait for promotion", chromedp.WaitVisible(chromedp.CSS(card+`[data-reason="WaitingForPromotion"] button.promote`)))
	unchanged := func(after string) {
		t.Helper()
		if a, _ := state.NewApprovals(filepath.Join(e.stateDir, "approvals.json")).All(); a[e.svc] != "" {
			t.Fatalf("%s: the release was approved: %v", after, a)
		}
		if v, _ := e.maps(); v != e.svc+"_green" {
			t.Fatalf("%s: the map moved to %s", after, v)
		}
		for _, r := range e.history() {
			if r.Outcome == state.ActionPromoted {
				t.Fatalf("%s: the history records a promotion: %+v", after, r)
			}
		}
	}
	// Not signed in: the click is refused.
	b.do(30*time.Second, "click promote without a token", chromedp.Click(chromedp.CSS(card+" button.promote")), chromedp.WaitVisible(chromedp.CSS("#why")))
	if code, why := b.status(), b.eval(`document.getElementById("why").innerText`); code != http.StatusUnauthorized || !strings.Contains(why, "sign in with a token first") {
		t.Fatalf("promote without a token: HTTP %d %q, want 401 and why", code, why)
	}
	unchanged("promote without a token")
	// Signed in, a form posted from another origin (with the session's
	// cookie, which a same-site page gets sent) is refused.
	b.do(time.Minute, "sign in", chromedp.Navigate(ui+"/"), chromedp.SendKeys(chromedp.CSS(`input[name=token]`), hex.EncodeToString(secret)),
		chromedp.Submit(chromedp.CSS(`input[name=token]`)), chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)))
	if !strings.Contains(b.text(), "signed in as alice") {
		t.Fatalf("after signing in the page does not say who:\n%s", b.text())
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form id="f" method="post" action="%s/services/%s/promote"><input name="csrf" value="guessed"><input name="generation" value="%s"></form>`+
			`<script>document.getElementById("f").submit()</script>`, ui, e.svc, gen)
	}))
	defer other.Close()
	b.do(30*time.Second, "post from another origin", chromedp.Navigate(other.URL), chromedp.WaitVisible(chromedp.CSS("#why")))
	if code, why := b.status(), b.eval(`document.getElementById("why").innerText`); code != http.StatusForbidden || !strings.Contains(why, "cross-origin request refused") {
		t.Fatalf("promote from another origin: HTTP %d %q, want 403 and why", code, why)
	}
	unchanged("promote from another origin")
	// From the page itself, signed in: the release proceeds.
	b.do(time.Minute, "promote from the page", chromedp.Navigate(ui+"/"),
		chromedp.Click(chromedp.CSS(card+" button.promote")),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-served="blue"]`)))
	e.waitConverged(2 * time.Minute)
	if got, err := e.get("/"); err != nil || got != "blue v4" {
		t.Fatalf("after the promotion the frontend answers %q (%v), want blue v4", got, err)
	}
	var promoted *state.Release
	for _, r := range e.history() {
		if r.Outcome == state.ActionPromoted {
			promoted = &r
		}
	}
	if promoted == nil || promoted.By != "alice" || promoted.Generation != gen || !strings.Contains(promoted.Reason, "dashboard") {
		t.Fatalf("the history does not record alice's promotion of %s from the dashboard: %+v", gen, promoted)
	}
	if log := ctl.output(); !strings.Contains(log, "Release promoted from the dashboard") || !strings.Contains(log, "by=alice") {
		t.Errorf("the controller's log does not say alice promoted the release")
	}

	// Release green v5 with a long window: rolled back from the page while
	// it is verified, to blue v4 kept warm.
	e.verify = "{window: 5m, maxErrorRate: 0.05, minRequests: 20}"
	e.save(spec.Green, "v5")
	gen5 := e.generation()
	b.do(2*time.Minute, "see green v5 verified, with the rollback offered", chromedp.WaitVisible(chromedp.CSS(card+`[data-reason="Verifying"] button.rollback`)))
	b.do(time.Minute, "roll back from the page", chromedp.Click(chromedp.CSS(card+" button.rollback")),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-reason="RolledBack"][data-served="blue"]`)))
	if got, err := e.get("/"); err != nil || got != "blue v4" {
		t.Fatalf("after the rollback from the page the frontend answers %q (%v), want blue v4", got, err)
	}
	var asked, rolledBack bool
	for _, r := range e.history() {
		asked = asked || r.Outcome == state.ActionRollbackRequested && r.By == "alice" && r.Generation == gen5
		rolledBack = rolledBack || r.Outcome == planner.OutcomeRolledBack && r.Generation == gen5 && strings.Contains(r.Reason, "an operator asked for the rollback")
	}
	if !asked || !rolledBack {
		t.Fatalf("the history does not record alice's rollback request (%v) and the rollback it made (%v): %+v", asked, rolledBack, e.history())
	}

	// The rolled back release is tried again from the page: a new attempt,
	// under a new generation, switches to green v5 again.
	// (Clicked in one step of the page's own: the card it waited for may
	// be replaced by a push before a click from outside lands.)
	b.do(time.Minute, "see the rolled back release offer a retry", chromedp.WaitVisible(chromedp.CSS(card+`[data-reason="RolledBack"] button.retry`)))
	b.eval(`(() => { document.querySelector(` + "`" + card + ` button.retry` + "`" + `).click(); return "clicked"; })()`)
	b.do(time.Minute, "see the retry of green v5 verified", chromedp.WaitVisible(chromedp.CSS(card+`[data-reason="Verifying"][data-served="green"]`)))
	if got, err := e.get("/"); err != nil || got != "green v5" {
		t.Fatalf("after the retry from the page the frontend answers %q (%v), want green v5", got, err)
	}
	s := e.serviceStatus()
	if s.ObservedGeneration == gen5 || s.Retried == nil || s.Retried.Spec != gen5 || s.Retried.Count != 1 {
		t.Fatalf("after the retry status has generation %s and counts %+v retries; want a new one, one retry of %s", s.ObservedGeneration, s.Retried, gen5)
	}
	var retryAsked bool
	for _, r := range e.history() {
		retryAsked = retryAsked || r.Outcome == state.ActionRetryRequested && r.By == "alice" && r.Generation == gen5
	}
	if log := ctl.output(); !retryAsked || !strings.Contains(log, "Release retry requested from the dashboard") || !strings.Contains(log, "Release retried at an operator's request") {
		t.Fatalf("the history (%v) or the log does not record alice's retry of %s and the new attempt", retryAsked, gen5)
	}
	sent, failed, _, fails := l.stop()
	t.Logf("%d requests, %d failed (blue v3's own 500s while it served)", sent, failed)
	for _, f := range fails {
		if f.Status != 500 || f.Body != "internal error" {
			t.Errorf("a request failed otherwise than by blue v3's 500: %+v", f)
		}
	}
	ctl.stop()
}
