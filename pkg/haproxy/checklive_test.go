package haproxy

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// TestHealthChecksAreWhatHAProxySends runs a real HAProxy on every valid
// case, its servers at a recorder, and requires of each backend read with
// an HTTP check and a checked server that HAProxy's check request has the
// method, URI and Host read, and that the check passes on the recorder's
// 200 exactly when the expect rules read pass 200. A backend read as
// sending no request must fail its check.
func TestHealthChecksAreWhatHAProxySends(t *testing.T) {
	testenv.RequireBinary(t, "haproxy", testenv.HAProxyHint)
	for _, c := range checkCases(t) {
		if c.wantErr != "" || c.notLive != "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := shortDir(t)
			rec := startCheckRecorder(t)
			path := c.render(t, dir, rec.addr, testenv.FreePort(t))
			want, err := ReadHealthChecks(path)
			if err != nil {
				t.Fatal(err)
			}
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			sock := dir + "/s.sock"
			h := testenv.StartHAProxy(t, dir, statsSocketCfg(dir)+liveConfig(string(text)), sock)
			for name, hc := range want {
				var servers []string
				for s, on := range hc.Servers {
					if on {
						servers = append(servers, s)
					}
				}
				if !hc.HTTP || len(servers) == 0 {
					continue
				}
				if hc.Method != "" {
					var got checkRequestSeen
					testenv.WaitFor(t, 10*time.Second, "a check request from backend "+name, func() bool {
						var ok bool
						got, ok = rec.first(name)
						return ok
					})
					if got.method != hc.Method || got.uri != hc.URI || got.host != hc.Host {
						t.Errorf("backend %s: HAProxy sends %s %s Host %q, read %s %s Host %q", name, got.method, got.uri, got.host, hc.Method, hc.URI, hc.Host)
					}
				}
				pass, known := passes200(hc)
				if !known {
					continue
				}
				for _, s := range servers {
					var row StatRow
					testenv.WaitFor(t, 10*time.Second, "the first check of "+name+"/"+s, func() bool {
						rows, err := ParseStat(h.Runtime(t, "show stat"))
						if err != nil {
							t.Fatal(err)
						}
						for _, r := range rows {
							if r.Proxy == name && r.Server == s {
								row = r
							}
						}
						return row.CheckStatus != "" && row.CheckStatus != "INI" && !row.CheckInProgress
					})
					if row.CheckPassed() != pass {
						t.Errorf("server %s/%s: check status %s on a 200, read as passing: %v (expect %q)", name, s, row.CheckStatus, pass, hc.Expect)
					}
				}
			}
		})
	}
}

// passes200 says whether hc passes a response 200 with no body; known is
// false when an expect rule is not on the status.
func passes200(hc HealthCheck) (pass, known bool) {
	if hc.Method == "" {
		return false, true
	}
	if hc.Expect == "" {
		return true, true
	}
	for _, rule := range strings.Split(hc.Expect, "; ") {
		p := statusRule(rule)
		if p == nil {
			return false, false
		}
		if !p(200) {
			return false, true
		}
	}
	return true, true
}

var headerLineRe = regexp.MustCompile(`(?m)^\s*(backend|listen)\s.*$`)

// liveConfig adds to each backend of cfg "http-check send-state", so that
// each check request names its backend, and a short check interval. Neither
// changes what the check sends or expects.
func liveConfig(cfg string) string {
	return headerLineRe.ReplaceAllString(cfg, "$0\n    http-check send-state\n    default-server inter 100ms fastinter 100ms downinter 100ms")
}

type checkRequestSeen struct{ method, uri, host string }

// checkRecorder answers every HTTP request 200 and keeps the first request
// from each backend (named by X-Haproxy-Server-State).
type checkRecorder struct {
	addr string
	mu   sync.Mutex
	seen map[string]checkRequestSeen
}

var serverStateName = regexp.MustCompile(`name=([^/;]+)/`)

func startCheckRecorder(t *testing.T) *checkRecorder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &checkRecorder{addr: ln.Addr().String(), seen: map[string]checkRequestSeen{}}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(conn)
		}
	}()
	return r
}

func (r *checkRecorder) serve(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		return // a check that sends nothing
	}
	f := strings.Fields(line)
	if len(f) != 3 {
		return
	}
	req := checkRequestSeen{method: f[0], uri: f[1]}
	backend := ""
	for {
		h, err := br.ReadString('\n')
		h = strings.TrimRight(h, "\r\n")
		if err != nil || h == "" {
			break
		}
		name, value, _ := strings.Cut(h, ":")
		value = strings.TrimSpace(value)
		switch http.CanonicalHeaderKey(name) {
		case "Host":
			req.host = value
		case "X-Haproxy-Server-State":
			if m := serverStateName.FindStringSubmatch(value); m != nil {
				backend = m[1]
			}
		}
	}
	r.mu.Lock()
	if _, ok := r.seen[backend]; !ok {
		r.seen[backend] = req
	}
	r.mu.Unlock()
	conn.Write([]byte("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"))
}

func (r *checkRecorder) first(backend string) (checkRequestSeen, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	req, ok := r.seen[backend]
	return req, ok
}
