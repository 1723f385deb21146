package testenv

import (
	"bufio"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSocketProxy(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.sock")
	ln, err := net.Listen("unix", target)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Write([]byte("answer to " + line))
				c.Close()
			}()
		}
	}()
	p := StartSocketProxy(t, filepath.Join(dir, "proxy.sock"), target)
	ask := func(timeout time.Duration) (string, error) {
		c, err := net.DialTimeout("unix", p.Path, timeout)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
			return "", err
		}
		return bufio.NewReader(c).ReadString('\n')
	}
	if got, err := ask(5 * time.Second); err != nil || got != "answer to GET / HTTP/1.1\r\n" {
		t.Fatalf("through the proxy: %q %v", got, err)
	}
	if p.Accepted() != 1 || p.Requests() != 1 {
		t.Fatalf("counts: %d connections, %d requests", p.Accepted(), p.Requests())
	}
	p.Down()
	if _, err := os.Stat(p.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file still there after Down: %v", err)
	}
	if _, err := ask(time.Second); err == nil {
		t.Fatalf("proxy answered while down")
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	p.SetDelay(time.Second)
	if _, err := ask(100 * time.Millisecond); err == nil {
		t.Fatalf("slow proxy answered within the deadline")
	}
	p.SetDelay(0)
	if _, err := ask(5 * time.Second); err != nil {
		t.Fatalf("after Up: %v", err)
	}
	// Bypassed: the path reaches the target itself, and nothing is counted.
	accepted := p.Accepted() + 1
	held, err := net.Dial("unix", p.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// The dial returns once the kernel queued the connection; wait for the
	// proxy to accept it, so that it is counted before Bypass.
	for deadline := time.Now().Add(5 * time.Second); p.Accepted() < accepted; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy did not accept a connection in 5 s")
		}
	}
	if err := p.Bypass(); err != nil {
		t.Fatal(err)
	}
	held.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a connection made through the proxy stayed open after Bypass")
	}
	if got, err := ask(5 * time.Second); err != nil || got != "answer to GET / HTTP/1.1\r\n" {
		t.Fatalf("bypassed: %q %v", got, err)
	}
	if p.Accepted() != accepted {
		t.Fatalf("the proxy accepted %d connections after Bypass", p.Accepted()-accepted)
	}
}
