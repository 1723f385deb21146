package reconcile

import (
	"testing"

	"github.com/bluegreen-host/controller/pkg/haproxy"
)

// TestLastChecksCompletesACheckInProgress: a row read while HAProxy checks
// the server again keeps the code and words of the check before it, as
// long as that check had the status the row still shows.
func TestLastChecksCompletesACheckInProgress(t *testing.T) {
	finished := haproxy.StatRow{Proxy: "web_blue", Server: "app", CheckStatus: "L7STS", CheckCode: "404", LastChk: "Not Found"}
	running := haproxy.StatRow{Proxy: "web_blue", Server: "app", CheckStatus: "L7STS", CheckInProgress: true, CheckCode: "0"}
	tests := []struct {
		name       string
		before     []haproxy.StatRow // earlier passes, in order
		runtime    string
		row        haproxy.StatRow
		code, desc string
	}{
		{"no earlier check", nil, "rt", running, "0", ""},
		{"same status before", []haproxy.StatRow{finished}, "rt", running, "404", "Not Found"},
		{"another runtime's server", []haproxy.StatRow{finished}, "other", running, "0", ""},
		{"the status changed since", []haproxy.StatRow{finished},
			"rt", haproxy.StatRow{Proxy: "web_blue", Server: "app", CheckStatus: "L7OK", CheckInProgress: true, CheckCode: "0"}, "0", ""},
		{"the latest finished check counts", []haproxy.StatRow{finished,
			{Proxy: "web_blue", Server: "app", CheckStatus: "L7STS", CheckCode: "500", LastChk: "Internal Server Error"}},
			"rt", running, "500", "Internal Server Error"},
		{"a finished row is left alone", []haproxy.StatRow{finished},
			"rt", haproxy.StatRow{Proxy: "web_blue", Server: "app", CheckStatus: "L7STS", CheckCode: "503", LastChk: "Service Unavailable"}, "503", "Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l lastChecks
			for _, r := range tt.before {
				l.complete("rt", []haproxy.StatRow{r})
			}
			rows := []haproxy.StatRow{tt.row}
			l.complete(tt.runtime, rows)
			if rows[0].CheckCode != tt.code || rows[0].LastChk != tt.desc {
				t.Errorf("code %q, words %q; want %q, %q", rows[0].CheckCode, rows[0].LastChk, tt.code, tt.desc)
			}
		})
	}
}
