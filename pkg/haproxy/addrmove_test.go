package haproxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// TestMovingAServedServerLosesNoRequest moves the server that takes all of
// a backend's traffic between two addresses that differ in address and
// port, as the controller does when it points a served color from its
// published port to its container's own address, 2,000 times under a load
// of new connections, through the defaults of examples/haproxy.cfg. No
// request may fail.
//
// HAProxy 2.6 writes the address, then the port: a connection made in
// between goes to the new address at the old port and is refused, and a
// request keeps its address for its retries. Without "option redispatch 1"
// such a request fails with a 503 after its retries; with it, each retry
// takes the server's address afresh. The retries are logged: how many
// requests met a half-moved server.
func TestMovingAServedServerLosesNoRequest(t *testing.T) {
	t.Parallel()
	a := serveOn(t, "127.0.0.1:0", "a")
	b := serveOn(t, "127.0.0.2:0", "b")
	dir := t.TempDir()
	front := freeAddr(t)
	demo, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "examples", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("/tmp/bluegreen-demo", dir, "127.0.0.1:18080", front,
		"127.0.0.1:18081", a.String(), "127.0.0.1:18082", a.String()).Replace(string(demo))
	if err := os.WriteFile(filepath.Join(dir, "hosts.map"), []byte("web web_blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.StartHAProxy(t, dir, cfg, filepath.Join(dir, "admin.sock"))
	c := newTestClient(t, "unix://"+filepath.Join(dir, "admin.sock"))
	ctx := context.Background()

	var sent, failed atomic.Int64
	var (
		mu    sync.Mutex
		first string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				resp, err := client.Get("http://" + front + "/")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						continue
					}
					err = fmt.Errorf("status %s", resp.Status)
				}
				failed.Add(1)
				mu.Lock()
				if first == "" {
					first = err.Error()
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < 2000; i++ {
		to := a
		if i%2 == 0 {
			to = b
		}
		if err := c.SetServerAddr(ctx, "web_blue", "app", to); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("move %d to %s: %v", i, to, err)
		}
	}
	close(stop)
	wg.Wait()
	row, err := c.ServerStat(ctx, "web_blue", "app")
	if err != nil {
		t.Fatalf("ServerStat: %v", err)
	}
	t.Logf("2000 moves: %d requests, %d failed; HAProxy retried %d connections", sent.Load(), failed.Load(), row.Count("wretr"))
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed while the served server moved (first: %s)", failed.Load(), sent.Load(), first)
	}
}

// serveOn serves HTTP on addr, answering name, until the test ends.
func serveOn(t *testing.T, addr, name string) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, name) }))
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return netip.MustParseAddrPort(l.Addr().String())
}
