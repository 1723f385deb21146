// Package state holds the stores of the controller's state directory, each
// written atomically: the status (status.json), the release history
// (history.jsonl), the record of the containers the controller stopped
// (stopped.json) and the requests operators made at the host: promotions
// (approvals.json), rollbacks (rollbacks.json) and retries (retries.json).
// The loop (pkg/reconcile) reads and writes them; the verbs read them.
package state
