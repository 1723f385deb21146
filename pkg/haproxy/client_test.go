package haproxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/haproxy/names"
)

func TestNew(t *testing.T) {
	tests := []struct {
		addr    string
		timeout time.Duration
		wantErr string
		want    time.Duration
	}{
		{"unix:///run/haproxy/admin.sock", 0, "", DefaultTimeout},
		{"tcp://127.0.0.1:9999", 500 * time.Millisecond, "", 500 * time.Millisecond},
		{"tcp://[::1]:9999", 0, "", DefaultTimeout},
		{"tcp://localhost:9999", 0, "", DefaultTimeout},
		{"unix://run/haproxy.sock", 0, "absolute", 0},
		{"unix://", 0, "absolute", 0},
		{"/run/haproxy.sock", 0, "want unix:///absolute/path or tcp://host:port", 0},
		{"http://127.0.0.1:9999", 0, "want unix:///absolute/path or tcp://host:port", 0},
		{"tcp://127.0.0.1", 0, "want tcp://host:port", 0},
		{"tcp://:9999", 0, "host is empty", 0},
		{"tcp://127.0.0.1:http", 0, "not a number", 0},
		{"tcp://127.0.0.1:70000", 0, "not a number", 0},
		{"unix:///run/haproxy.sock", -time.Second, "negative", 0},
	}
	for _, tt := range tests {
		c, err := New(tt.addr, tt.timeout)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.addr) {
				t.Errorf("New(%q, %s) = %v, want an error naming the address and mentioning %q", tt.addr, tt.timeout, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%q, %s): %v", tt.addr, tt.timeout, err)
			continue
		}
		if c.Addr() != tt.addr || c.timeout != tt.want {
			t.Errorf("New(%q, %s): Addr %q timeout %s, want %q %s", tt.addr, tt.timeout, c.Addr(), c.timeout, tt.addr, tt.want)
		}
	}
}

func TestExecRefusesBadCommands(t *testing.T) {
	c := newTestClient(t, "unix:///nonexistent/haproxy.sock")
	for _, cmd := range []string{"", "  ", "show info\nshow stat", "show info\r"} {
		_, err := c.Exec(context.Background(), cmd)
		if err == nil || errors.Is(err, ErrUnreachable) {
			t.Errorf("Exec(%q) = %v, want a refusal before dialing", cmd, err)
		}
	}
}

func TestExecUnreachable(t *testing.T) {
	dir := t.TempDir()
	for _, addr := range []string{
		"unix://" + filepath.Join(dir, "absent.sock"),
		"tcp://" + freeAddr(t), // nothing listens there any more
	} {
		c := newTestClient(t, addr)
		_, err := c.Exec(context.Background(), "show info")
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("Exec on %s = %v, want ErrUnreachable", addr, err)
			continue
		}
		for _, part := range []string{addr, "show info", "check that HAProxy is running"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("error %q does not mention %q", err, part)
			}
		}
		// Every client call reports it the same way.
		if _, err := c.ShowStat(context.Background()); !errors.Is(err, ErrUnreachable) {
			t.Errorf("ShowStat on %s = %v, want ErrUnreachable", addr, err)
		}
		if err := c.SetMap(context.Background(), "/etc/haproxy/hosts.map", "web", "web_blue"); !errors.Is(err, ErrUnreachable) {
			t.Errorf("SetMap on %s = %v, want ErrUnreachable", addr, err)
		}
	}
}

func TestExecDeadline(t *testing.T) {
	path := testenv.SilentSocket(t)
	c, err := New("unix://"+path, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec(context.Background(), "show stat")
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("Exec on a silent socket = %v, want a deadline error", err)
	}
	for _, part := range []string{"unix://" + path, "show stat", "no complete answer within 200ms"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %q", err, part)
		}
	}

	// A caller's context ends the command too, and is reported as such.
	c, err = New("unix://"+path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := c.Exec(ctx, "show stat"); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), path) {
		t.Errorf("Exec with a cancelled context = %v, want context.Canceled naming the address", err)
	}
}

// fakeSocket answers every connection with a fixed reply and closes it,
// recording the command it received.
func fakeSocket(t *testing.T, reply string) (addr string, got chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "hx")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "fake.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); os.RemoveAll(dir) })
	got = make(chan string, 10)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(conn).ReadString('\n')
			got <- line
			conn.Write([]byte(reply))
			conn.Close()
		}
	}()
	return "unix://" + path, got
}

func TestExecAnswers(t *testing.T) {
	tests := []struct {
		name, reply string
		want        string
		wantErr     error
		severity    int
	}{
		{"answer with closing blank line", "\n# name\nweb_blue\n\n", "# name\nweb_blue", nil, 0},
		// Some 2.6.12 answers lack the blank line: the answer is read to EOF.
		{"answer without closing blank line", "\nServer deleted.\n", "Server deleted.", nil, 0},
		{"empty answer", "\n\n", "", nil, 0},
		// HAProxy drops a line longer than its buffer and closes the
		// connection, with no answer or only the prefix's empty one:
		// the command was not run.
		{"no answer at all", "", "", ErrNoAnswer, 0},
		{"only the prefix's answer", "\n", "", ErrNoAnswer, 0},
		{"failure", "\n[3]: entry not found.\n\n", "", ErrEntryNotFound, 3},
		{"failure without blank line", "\n[3]: No such server.\n", "", ErrUnknownServer, 3},
		{"alert", "\n[1]: something broke\n\n", "", nil, 1},
		{"notice is no failure", "\n[5]: note\n\n", "[5]: note", nil, 0},
		{"unknown command at severity 6", "\n[6]: Unknown command, but maybe one of the following ones is a better match:\n  help\n\n", "", ErrUnknownCommand, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, sent := fakeSocket(t, tt.reply)
			c := newTestClient(t, addr)
			answer, err := c.Exec(context.Background(), "show backend")
			if cmd := <-sent; cmd != "set severity-output number; show backend\n" {
				t.Errorf("sent %q", cmd)
			}
			if tt.wantErr == ErrNoAnswer {
				if !errors.Is(err, ErrNoAnswer) {
					t.Errorf("Exec = %q, %v; want ErrNoAnswer", answer, err)
				}
				return
			}
			if tt.severity == 0 {
				if err != nil || answer != tt.want {
					t.Errorf("Exec = %q, %v; want %q, nil", answer, err, tt.want)
				}
				return
			}
			var ce *CommandError
			if !errors.As(err, &ce) || ce.Severity != tt.severity || ce.Addr != addr || ce.Command != "show backend" {
				t.Fatalf("Exec = %q, %v; want a *CommandError with severity %d", answer, err, tt.severity)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Exec = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestExecAgainstHAProxy(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{})
	ctx := context.Background()
	for _, c := range []*Client{h.admin(t), h.tcp(t)} {
		answer, err := c.Exec(ctx, "show backend")
		if err != nil || answer != "# name\nweb_blue\nweb_green" {
			t.Errorf("Exec(show backend) on %s = %q, %v", c.Addr(), answer, err)
		}
		_, err = c.Exec(ctx, "show nonsense")
		var ce *CommandError
		if !errors.Is(err, ErrUnknownCommand) || !errors.As(err, &ce) || ce.Severity != 6 {
			t.Errorf("Exec(show nonsense) on %s = %v, want ErrUnknownCommand at severity 6", c.Addr(), err)
		}
		_, err = c.Exec(ctx, "set server web_blue/s1 state bogus")
		if !errors.As(err, &ce) || ce.Answer != "'set server <srv> state' expects 'ready', 'drain' and 'maint'." {
			t.Errorf("Exec(set server ... state bogus) on %s = %v", c.Addr(), err)
		}
		if _, err := c.Exec(ctx, "del map "+h.MapPath+" absent"); !errors.Is(err, ErrEntryNotFound) {
			t.Errorf("Exec(del map ... absent) on %s = %v, want ErrEntryNotFound", c.Addr(), err)
		}
		if _, err := c.Exec(ctx, "show stat nope -1 -1"); !errors.Is(err, ErrUnknownBackend) {
			t.Errorf("Exec(show stat nope) on %s = %v, want ErrUnknownBackend", c.Addr(), err)
		}
	}
}

// TestOverlongCommandIsNeverSuccess: HAProxy drops a command line longer
// than its buffer and closes the connection without a word. Against a real
// HAProxy whose buffer is small (tune.bufsize 2048), over unix and TCP, a
// 3000-byte command is reported as not run, never as a success, and the
// runtime map does not have its key; a name longer than names.MaxNameLen and a
// command longer than MaxCommand are refused before anything is sent.
func TestOverlongCommandIsNeverSuccess(t *testing.T) {
	t.Parallel()
	h := startHAProxy(t, haproxyOptions{Global: []string{"tune.bufsize 2048"}, Map: "web web_blue\n"})
	ctx := context.Background()
	for _, c := range []*Client{h.admin(t), h.tcp(t)} {
		long := strings.Repeat("k", 3000)
		// HAProxy closes without an answer (ErrNoAnswer), or resets the
		// connection while the line is still arriving.
		_, err := c.Exec(ctx, "add map "+h.MapPath+" "+long+" web_green")
		if err == nil || !errors.Is(err, ErrNoAnswer) && !strings.Contains(err.Error(), "read the answer") {
			t.Errorf("a 3000-byte command on %s = %v, want it reported as not run", c.Addr(), err)
		}
		if _, found, err := c.GetMap(ctx, h.MapPath, long[:names.MaxNameLen]); err != nil || found {
			t.Errorf("after the dropped command on %s: found %v, %v", c.Addr(), found, err)
		}
		if err := c.SetMap(ctx, h.MapPath, strings.Repeat("k", 20000), "web_green"); !errors.Is(err, ErrInvalidName) {
			t.Errorf("SetMap with a 20,000-byte key on %s = %v, want ErrInvalidName", c.Addr(), err)
		}
		if _, err := c.Exec(ctx, "show map "+strings.Repeat("/x", MaxCommand)); err == nil || !strings.Contains(err.Error(), "HAProxy would drop it") {
			t.Errorf("a command longer than MaxCommand on %s = %v, want it refused", c.Addr(), err)
		}
		entries, err := c.ShowMap(ctx, h.MapPath)
		if err != nil || len(entries) != 1 || entries[0].Key != "web" || entries[0].Value != "web_blue" {
			t.Errorf("runtime map on %s = %+v, %v; want only web -> web_blue", c.Addr(), entries, err)
		}
	}
}

// TestOversizedAnswerRefused: an answer larger than maxAnswer (here a
// show stat of short rows, as a stranger bound to the TCP port could send)
// is refused before it is parsed.
func TestOversizedAnswerRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("\n# pxname,svname,status,\n")
	for b.Len() <= maxAnswer {
		b.WriteString("x,y,UP,\n")
	}
	addr, _ := fakeSocket(t, b.String())
	rows, err := newTestClient(t, addr).ShowStat(context.Background())
	if err == nil || !strings.Contains(err.Error(), "larger than 8 MiB") {
		t.Fatalf("ShowStat of a %d-byte answer = %d rows, %v; want it refused", b.Len(), len(rows), err)
	}
}
