// Package notify posts the controller's release events to webhooks.
//
// # Wiring
//
// A *Notifier is a reconcile.Listener. The caller builds it from its
// flags, gives it to the loop beside any other observer, and closes it
// once the loop has stopped, to deliver what is still queued:
//
//	n, err := notify.New(notify.Config{URLs: urls, SecretFile: secretFile, Log: log})
//	if err != nil { ... } // a bad URL, or a secret file that is missing or open to others
//	loop.Listener = reconcile.Listeners{metrics, n}
//	... loop.Run(ctx, ...) ...
//	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	if err := n.Close(ctx); err != nil { log.Error(err, "Webhook events lost at exit") }
//
// Stats gives the counts of events delivered, given up and dropped, for a
// metric or a log line.
//
// # Events
//
// Each event is one JSON object, POSTed to every URL:
//
//	{
//	  "id": "5f0c9d7e3b1a4c2e8d6f7a9b0c1d2e3f",   // the same for every receiver and every retry: deduplicate on it
//	  "type": "ReleaseRolledBack",
//	  "service": "web",
//	  "seq": 4,                                     // per service, from 1 when the controller starts
//	  "generation": "0123456789ab",                 // the spec digest of the release
//	  "from": "blue", "to": "green",
//	  "fromImage": "demo:v1", "toImage": "demo:v2",
//	  "outcome": "RolledBack",
//	  "reason": "213 of 213 requests were 5xx or got no response (100.0 %) ...",
//	  "time": "2026-05-01T12:00:41Z",
//	  "start": "...", "switchedAt": "...", "end": "...",   // ended releases
//	  "text": "web: release of demo:v2 to green rolled back: ..."
//	}
//
// Types: ReleaseStarted (from is the color serving then, "" for none; its
// image is not known yet, so fromImage is absent), ReleaseSucceeded,
// ReleaseFailed, ReleaseRolledBack and ReleaseSuperseded (from the release
// as the history records it, outcome set), and CrashLoop (color: the
// served color, restarts: the engine's restart count, reason: what the
// controller saw; from, to and outcome absent). A crash loop is reported
// when it starts: the first CrashLoop decision of a service, or the first
// after CrashLoopQuiet without one, not at every pass. ServedColorDown
// (color: the served color, reason: what HAProxy's check and the
// controller's probe saw) is reported when an outage starts, once until
// the service's state changes; ServedColorRestarted (color, reason: why)
// when the served color is restarted for failing its health; CanaryStep
// (from, to, step from 1, steps, weight: the new version's percent of new
// users) when a canary's step begins. Text is one line
// for people; a chat's incoming webhook that shows a "text" field shows
// it (Slack's and Mattermost's do; not tested against them here).
//
// # Headers and signature
//
//	Content-Type: application/json
//	User-Agent: bluegreen-controller
//	X-Bluegreen-Event: <type>
//	X-Bluegreen-Delivery: <id>
//	X-Bluegreen-Signature-256: sha256=<hex>   (only with a secret)
//
// The signature is the lowercase hex HMAC-SHA256 of the raw request body
// keyed with the secret (the secret file's content, surrounding white
// space trimmed). To verify, compute it over the body exactly as received,
// before any JSON decoding, and compare in constant time (Verify does):
//
//	printf '%s' "$body" | openssl dgst -sha256 -hmac "$(cat secret)"
//
// The secret file must be a regular file that neither its group nor others
// may read or write (chmod 600): New refuses it otherwise.
//
// # Delivery
//
// Listener methods never block: each event is put on a FIFO queue per
// receiver and service, and a goroutine per non-empty queue sends its
// events one at a time, so one receiver or service never waits for
// another, and the events of one service reach each receiver in order
// (one in flight at a time; a retry is sent before anything after it).
//
// Each request has Timeout. A request that fails to connect, times out,
// or gets 408, 429 or 5xx is tried again, up to MaxAttempts in all, after
// Backoff doubling up to MaxBackoff (or the receiver's Retry-After, up to
// MaxBackoff); any other answer outside 2xx is not retried. An event given
// up is logged and counted (Stats.Failed) and the next one is sent.
//
// A queue holds at most QueueSize events, the one in flight included. An
// event for a full queue is dropped, logged and counted (Stats.Dropped):
// the receiver sees a gap in seq. So a receiver that hangs costs at most
// QueueSize events per service, never the loop's time.
//
// Sequence numbers are given once per event, before it is queued for each
// receiver, so a drop for one receiver is a gap for that receiver only.
//
// Close stops taking events and waits until every queue is empty or ctx
// ends; then requests in flight are cut, what is left is dropped, and the
// error says how many events were not delivered. Events after Close are
// dropped and counted.
package notify
