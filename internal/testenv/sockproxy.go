package testenv

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// SocketProxy stands between a client and a unix socket (the HAProxy runtime
// API, the Docker engine): it can be taken down and brought back, made slow,
// and it counts what passes through it.
type SocketProxy struct {
	Path   string // where clients connect
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	delay time.Duration

	accepted atomic.Int64 // connections accepted
	requests atomic.Int64 // HTTP request lines seen from clients
}

// StartSocketProxy listens on path and forwards every connection to target.
// Cleanup closes it.
func StartSocketProxy(t TB, path, target string) *SocketProxy {
	t.Helper()
	p := &SocketProxy{Path: path, target: target, conns: map[net.Conn]bool{}}
	if err := p.Up(); err != nil {
		t.Fatalf("socket proxy %s -> %s: %v", path, target, err)
	}
	t.Cleanup(p.Down)
	return p
}

// Up starts listening again after Down.
func (p *SocketProxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	_ = os.Remove(p.Path)
	ln, err := net.Listen("unix", p.Path)
	if err != nil {
		return err
	}
	p.ln = ln
	go p.serve(ln)
	return nil
}

// Down closes the listener and every open connection and removes the
// socket file: clients see the socket missing.
func (p *SocketProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
	_ = os.Remove(p.Path)
}

// Bypass takes the proxy out of the way: Path becomes a symbolic link to
// the target, so that clients connecting from now on reach it directly,
// and the connections made through the proxy are closed (a client with
// connections kept alive dials again). Nothing is counted after it.
func (p *SocketProxy) Bypass() error {
	tmp := p.Path + ".bypass"
	_ = os.Remove(tmp)
	if err := os.Symlink(p.target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, p.Path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		if ul, ok := p.ln.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false) // Path is the link now
		}
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
	return nil
}

// SetDelay holds every answer back by d (0: none), like a slow server.
func (p *SocketProxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Accepted counts connections accepted so far (one per HAProxy command).
func (p *SocketProxy) Accepted() int64 { return p.accepted.Load() }

// Requests counts HTTP requests sent by clients so far (Docker API calls).
func (p *SocketProxy) Requests() int64 { return p.requests.Load() }

func (p *SocketProxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		go p.handle(c)
	}
}

func (p *SocketProxy) track(c net.Conn, on bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && p.ln == nil {
		return false
	}
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *SocketProxy) handle(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("unix", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	if !p.track(c, true) || !p.track(up, true) {
		return
	}
	defer p.track(c, false)
	defer p.track(up, false)
	done := make(chan struct{}, 2)
	go func() { // client -> server, counting request lines
		_, _ = io.Copy(up, countingReader{c, &p.requests})
		if uc, ok := up.(*net.UnixConn); ok {
			_ = uc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() { // server -> client, delayed
		buf := make([]byte, 32<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				p.mu.Lock()
				d := p.delay
				p.mu.Unlock()
				if d > 0 {
					time.Sleep(d)
				}
				if _, werr := c.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		if uc, ok := c.(*net.UnixConn); ok {
			_ = uc.CloseWrite()
		}
		done <- struct{}{}
	}()
	<-done
	<-done
}

// countingReader counts lines that start an HTTP/1.x request.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

var methods = [][]byte{[]byte("GET /"), []byte("POST /"), []byte("HEAD /"), []byte("DELETE /"), []byte("PUT /")}

func (cr countingReader) Read(b []byte) (int, error) {
	n, err := cr.r.Read(b)
	for _, line := range bytes.Split(b[:n], []byte("\r\n")) {
		for _, m := range methods {
			if bytes.HasPrefix(line, m) && bytes.Contains(line, []byte(" HTTP/1.")) {
				cr.n.Add(1)
			}
		}
	}
	if errors.Is(err, net.ErrClosed) {
		err = io.EOF
	}
	return n, err
}

// SilentSocket listens on a new unix socket, accepts every connection and
// never answers: a dependency that hangs. It returns the socket's path;
// the listener and its connections are closed when the test ends.
func SilentSocket(t TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "silent")
	if err != nil {
		t.Fatalf("testenv: silent socket: %v", err)
	}
	path := filepath.Join(dir, "silent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("testenv: silent socket: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		os.RemoveAll(dir)
	})
	return path
}
