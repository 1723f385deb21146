package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/httpserve"
)

// TestMetricsServerDropsIdleAndSilentClients: a connection left idle after
// a request, and one that never sends its request, are closed by the
// metrics server, not held forever.
func TestMetricsServerDropsIdleAndSilentClients(t *testing.T) {
	defer func(d httpserve.Deadlines) { metricsDeadlines = d }(metricsDeadlines)
	metricsDeadlines = httpserve.Deadlines{Read: 200 * time.Millisecond, Write: time.Second, Idle: 200 * time.Millisecond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := metricsServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }))
	go srv.Serve(ln)
	defer srv.Close()

	closedWithin := func(c net.Conn, limit time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(limit))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF
	}
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	if !closedWithin(idle, 3*time.Second) {
		t.Error("an idle keep-alive connection was not closed")
	}
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	io.WriteString(silent, "GET /metrics HTTP/1.1\r\n") // and never the rest
	if !closedWithin(silent, 3*time.Second) {
		t.Error("a connection that never finished its request was not closed")
	}
}
