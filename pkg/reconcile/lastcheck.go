package reconcile

import (
	"sync"

	"github.com/bluegreen-host/controller/pkg/haproxy"
)

// lastChecks keeps the code and words of HAProxy's last finished check of
// each server. While a check runs, "show stat" gives the previous result's
// status ("* L7STS") but neither its code nor its words (check_code 0,
// last_chk empty), so a status message that quoted `L7STS, HTTP 404 "Not
// Found"` would lose them at every pass that happens to fall on a check.
type lastChecks struct {
	mu sync.Mutex
	m  map[string]finishedCheck
}

// finishedCheck is what a finished check left in its row.
type finishedCheck struct{ status, code, desc string }

// complete fills the rows of runtime's "show stat" whose check is in
// progress with the code and words of the same server's last finished
// check, when that check had the status the row still shows; it remembers
// the rows whose check has finished. A nil l keeps nothing.
func (l *lastChecks) complete(runtime string, rows []haproxy.StatRow) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]finishedCheck{}
	}
	for i := range rows {
		r := &rows[i]
		if r.CheckStatus == "" {
			continue
		}
		key := runtime + "\x00" + r.Proxy + "\x00" + r.Server
		if !r.CheckInProgress {
			l.m[key] = finishedCheck{r.CheckStatus, r.CheckCode, r.LastChk}
			continue
		}
		f, ok := l.m[key]
		if !ok || f.status != r.CheckStatus {
			continue
		}
		if r.CheckCode == "" || r.CheckCode == "0" {
			r.CheckCode = f.code
		}
		if r.LastChk == "" {
			r.LastChk = f.desc
		}
	}
}
