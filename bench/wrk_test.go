package main

import (
	"errors"
	"testing"
	"time"
)

// Reports of wrk 4.1.0 (Debian's package) against the demo app.
const (
	wrkOK = `Running 2s test @ http://127.0.0.1:29111/
  2 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.62ms    3.67ms  47.36ms   88.90%
    Req/Sec    14.74k     3.33k   22.22k    70.00%
  Latency Distribution
     50%    3.00ms
     75%    4.92ms
     90%    7.60ms
     99%   15.65ms
  59235 requests in 2.03s, 8.81MB read
Requests/sec:  29110.74
Transfer/sec:      4.33MB
`
	wrkErrors = `Running 1s test @ http://127.0.0.1:29111/nope
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   225.96us  668.83us  11.47ms   96.39%
    Req/Sec    14.87k     2.37k   17.85k    80.00%
  Latency Distribution
     50%   97.00us
     75%  158.00us
     90%  302.00us
     99%    1.30s
  14760 requests in 1.00s, 2.48MB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 14760
Requests/sec:  14750.16
Transfer/sec:      2.48MB
`
)

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want wrkResult
	}{
		{"ok", wrkOK, wrkResult{Requests: 59235, RPS: 29110.74, P50: 3 * time.Millisecond, P99: 15650 * time.Microsecond}},
		{"errors", wrkErrors, wrkResult{Requests: 14760, RPS: 14750.16, P50: 97 * time.Microsecond, P99: 1300 * time.Millisecond, Non2xx: 14760, SocketErr: 15}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWrk(tc.out)
			if err != nil {
				t.Fatalf("parseWrk: %v", err)
			}
			if got != tc.want {
				t.Errorf("parseWrk:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseWrkWithoutLatency(t *testing.T) {
	out := `Running 1s test @ http://127.0.0.1:1/
  59235 requests in 2.03s, 8.81MB read
Requests/sec:  29110.74
`
	if _, err := parseWrk(out); !errors.Is(err, errWrkOutput) {
		t.Errorf("parseWrk without --latency: err %v, want %v", err, errWrkOutput)
	}
}
