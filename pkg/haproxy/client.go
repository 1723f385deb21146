// Package haproxy talks to HAProxy's runtime API (the "stats socket") and
// edits the map files HAProxy loads at start.
//
// A Client opens one connection per command and reads the answer to EOF: a
// connection kept across a reload would stay attached to the old worker, and
// some HAProxy 2.6 answers lack the closing blank line. Every command is
// prefixed with "set severity-output number;" so that failures come back as
// "[3]: text" and become a *CommandError, which errors.Is maps to the
// sentinel errors of this package.
//
// Runtime map edits are lost when HAProxy reloads; WriteMapFile updates the
// file on disk atomically so that both agree.
package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/bluegreen-host/controller/pkg/haproxy/names"
)

// DefaultTimeout is the per-command deadline used when New is given 0.
const DefaultTimeout = 2 * time.Second

// maxAnswer bounds the size of one answer: a show stat of a few thousand
// servers or a show map of tens of thousands of keys fits; anything larger
// is refused before it is parsed (a 60 MB answer took 2.3 GB to parse).
const maxAnswer = 8 << 20

// MaxCommand bounds the length of one command line. HAProxy reads a line
// into a buffer of tune.bufsize (16 KiB by default, 8 KiB in some older
// setups) and drops a longer one, closing the connection without a word;
// names are capped well below this (names.MaxNameLen).
const MaxCommand = 4096

// severityPrefix comes before every command; HAProxy answers it with an
// empty line, so a complete answer has at least that line and the
// command's own (even an empty one, as for "set map").
const severityPrefix = "set severity-output number; "

// Client talks to one HAProxy runtime API socket, one connection per command.
type Client struct {
	addr    string // as given, e.g. "unix:///run/haproxy.sock"
	network string // "unix" or "tcp"
	address string // path or host:port
	timeout time.Duration
}

// New validates addr, "unix:///abs/path" or "tcp://host:port" (see
// names.ParseRuntimeAddr), and returns a client for it. timeout is the deadline of one
// command (dial, write, read to EOF); 0 means DefaultTimeout.
func New(addr string, timeout time.Duration) (*Client, error) {
	c := &Client{addr: addr, timeout: timeout}
	if timeout < 0 {
		return nil, fmt.Errorf("use HAProxy runtime API address %q: timeout %s is negative", addr, timeout)
	}
	if timeout == 0 {
		c.timeout = DefaultTimeout
	}
	var err error
	if c.network, c.address, err = names.ParseRuntimeAddr(addr); err != nil {
		return nil, err
	}
	return c, nil
}

// Addr returns the address given to New.
func (c *Client) Addr() string { return c.addr }

// Exec sends one command, prefixed with "set severity-output number;", on a
// new connection and reads the answer to EOF. It returns the answer without
// its trailing blank line. An answer line like "[3]: entry not found."
// (severity 0-3, or an unknown command) becomes a *CommandError. When nothing
// answers at the address the error wraps ErrUnreachable; when the answer does
// not complete within the timeout it wraps os.ErrDeadlineExceeded.
func (c *Client) Exec(ctx context.Context, cmd string) (string, error) {
	return c.exec(ctx, cmd, nil)
}

// exec is Exec; with into, the answer is read into *into, grown as
// needed and kept for the next read: the string returned lives in it,
// valid until the next read into the same buffer.
func (c *Client) exec(ctx context.Context, cmd string, into *[]byte) (string, error) {
	if strings.TrimSpace(cmd) == "" {
		return "", fmt.Errorf("run a command on %s: the command is empty", c.addr)
	}
	if strings.ContainsAny(cmd, "\r\n") {
		return "", fmt.Errorf("run %q on %s: the command contains a line break; HAProxy would run only its first line", cmd, c.addr)
	}
	if n := len(severityPrefix) + len(cmd) + 1; n > MaxCommand {
		return "", fmt.Errorf("run %q on %s: the command is %d bytes, more than %d: HAProxy would drop it unanswered", clip(cmd), c.addr, n, MaxCommand)
	}
	raw, err := c.roundTrip(ctx, cmd, into)
	if err != nil {
		return "", err
	}
	if len(raw) < 2 {
		// Not even the empty answer of each of the two commands: HAProxy
		// dropped the line (longer than its buffer) or was cut off.
		return "", fmt.Errorf("run %q on %s: %w: HAProxy closed the connection without answering, so the command was not run (a line longer than its buffer, tune.bufsize, is dropped so)", clip(cmd), c.addr, ErrNoAnswer)
	}
	answer := strings.TrimPrefix(raw, "\n") // the empty answer to "set severity-output"
	answer = strings.TrimRight(answer, "\n")
	if sev, text, failed := failure(answer); failed {
		return "", &CommandError{Addr: c.addr, Command: cmd, Severity: sev, Answer: strings.Clone(text)} // not in a kept buffer
	}
	return answer, nil
}

func (c *Client) roundTrip(ctx context.Context, cmd string, into *[]byte) (string, error) {
	shown := clip(cmd) // in messages
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var d net.Dialer
	conn, err := d.DialContext(dctx, c.network, c.address)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("run %q on %s: %w", shown, c.addr, ctx.Err())
		}
		return "", fmt.Errorf("run %q on %s: %w: %v: check that HAProxy is running and that its \"stats socket\" line declares this address", cmd, c.addr, ErrUnreachable, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return "", fmt.Errorf("run %q on %s: set deadline: %w", shown, c.addr, err)
	}
	// A cancelled context interrupts a blocked read or write.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	ioErr := func(what string, err error) error {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("run %q on %s: %w", shown, c.addr, ctx.Err())
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("run %q on %s: no complete answer within %s (%w): check that HAProxy is not overloaded and that this address is its stats socket", shown, c.addr, c.timeout, err)
		default:
			return fmt.Errorf("run %q on %s: %s: %w", shown, c.addr, what, err)
		}
	}
	if _, err := io.WriteString(conn, severityPrefix+cmd+"\n"); err != nil {
		return "", ioErr("send the command", err)
	}
	if into != nil {
		n, err := readInto(into, io.LimitReader(conn, maxAnswer+1))
		if err != nil {
			return "", ioErr("read the answer", err)
		}
		if n > maxAnswer {
			return "", c.tooLarge(shown)
		}
		return unsafe.String(unsafe.SliceData(*into), n), nil
	}
	// Read into the string itself: the answer of a show stat of hundreds
	// of servers is not copied again, nor grown from nothing.
	var data strings.Builder
	key := c.address + "\x00" + cmd
	if n, ok := largeAnswers.Load(key); ok {
		data.Grow(n.(int) + n.(int)/8)
	}
	if _, err := io.Copy(&data, io.LimitReader(conn, maxAnswer+1)); err != nil {
		return "", ioErr("read the answer", err)
	}
	if data.Len() >= largeAnswer {
		largeAnswers.Store(key, data.Len())
	}
	if data.Len() > maxAnswer {
		return "", c.tooLarge(shown)
	}
	return data.String(), nil
}

// tooLarge is the error of an answer over maxAnswer to command shown.
func (c *Client) tooLarge(shown string) error {
	return fmt.Errorf("run %q on %s: the answer is larger than %d MiB, refused unread: check that this address is the HAProxy the desired state names", shown, c.addr, maxAnswer>>20)
}

// readInto reads r to its end into *buf, from its start, growing it as
// needed, and returns the length read.
func readInto(buf *[]byte, r io.Reader) (int, error) {
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			*buf = b
			return len(b), nil
		}
		if err != nil {
			*buf = b
			return 0, err
		}
	}
}

// largeAnswers holds the size of the last answer of each command whose
// answer was at least largeAnswer bytes (a show stat of every server, a
// show map of hundreds of keys: few, polled), by address and command.
var largeAnswers sync.Map

const largeAnswer = 32 << 10

// failure finds the first line "[N]: text" that reports a failure: severity
// 0-3, or an unknown command (reported at severity 6 by HAProxy 2.6). It
// returns the text from there on, without the "[N]: " prefix.
func failure(answer string) (severity int, text string, failed bool) {
	rest := answer
	for rest != "" {
		line, next, _ := strings.Cut(rest, "\n")
		if sev, msg, ok := severityLine(line); ok && (sev <= 3 || strings.HasPrefix(msg, "Unknown command")) {
			if next != "" {
				msg += "\n" + next
			}
			return sev, strings.TrimSpace(msg), true
		}
		rest = next
	}
	return 0, "", false
}

// severityLine parses "[N]: text".
func severityLine(line string) (int, string, bool) {
	if len(line) < 4 || line[0] != '[' || line[2] != ']' || line[3] != ':' || line[1] < '0' || line[1] > '7' {
		return 0, "", false
	}
	return int(line[1] - '0'), strings.TrimSpace(line[4:]), true
}
