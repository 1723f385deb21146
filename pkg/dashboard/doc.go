// Package dashboard serves a live page of the controller's services: one
// card per service with its phase, conditions, colors and containers, the
// gate the current release waits at, a chart of requests and 5xx per
// second per color with the switches and rollbacks marked, the release's
// timeline and the release history.
//
// # Wiring
//
// A *Dashboard is a reconcile.Listener: it keeps the backend counters each
// decision carries (ServiceView.Traffic) for the chart, and marks which
// services changed. Its Run goroutine renders the cards of the services
// that changed from the status in memory (Options.Status, the loop's
// StatusSnapshot) and pushes them to every open page as server-sent
// events; the page swaps the card in place. Nothing is polled: a page hears
// of what the loop did, at the loop's own pace.
//
//	d := dashboard.New(dashboard.Options{Status: loop.StatusSnapshot, ...})
//	loop.Listener = reconcile.Listeners{m, d}
//	go d.Run(ctx)
//	srv := dashboard.NewServer(d.Handler())
//
// # Actions
//
// With tokens (Options.Tokens, from ReadTokens) the page can promote a
// release waiting for promotion, as controller promote does (the same
// approval, recorded in the history with the token's name). A browser
// signs in with a token once (a session cookie, HttpOnly, SameSite=Strict);
// a script sends Authorization: Bearer TOKEN. Every request that changes
// something must come from the page's own origin (Sec-Fetch-Site and
// Origin, net/http's CrossOriginProtection) and, from a browser session,
// carry the session's CSRF token. Without tokens the page is read-only and
// says so.
//
// Everything the page shows is escaped by html/template; text that comes
// from containers, images or the desired file is also stripped of what a
// terminal would act on (termtext). The page's script, style and fonts are
// embedded: nothing is loaded from elsewhere.
package dashboard
