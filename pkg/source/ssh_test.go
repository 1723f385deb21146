package source

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshServer serves git-upload-pack over ssh on loopback, with go-git's
// in-process server behind it, to one user and one key.
type sshServer struct {
	addr      string
	knownHost string // its known_hosts line
}

func newSSHServer(t *testing.T, user string, authorized ssh.PublicKey) *sshServer {
	t.Helper()
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if meta.User() == user && bytes.Equal(key.Marshal(), authorized.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("not authorized")
	}}
	cfg.AddHostKey(signer)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				serveSSH(conn, cfg)
			}()
		}
	}()
	addr := ln.Addr().String()
	return &sshServer{addr: addr, knownHost: knownhosts.Line([]string{knownhosts.Normalize(addr)}, signer.PublicKey()) + "\n"}
}

func serveSSH(conn net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, reqs, err := nc.Accept()
		if err != nil {
			return
		}
		for req := range reqs {
			if req.Type != "exec" {
				req.Reply(false, nil)
				continue
			}
			var exec struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &exec); err != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			status := uint32(0)
			if err := uploadPack(ch, exec.Command); err != nil {
				ch.Stderr().Write([]byte(err.Error() + "\n"))
				status = 1
			}
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			ch.Close()
		}
	}
}

// uploadPack answers "git-upload-pack '<path>'" as git's would.
func uploadPack(ch ssh.Channel, command string) error {
	path, ok := strings.CutPrefix(command, "git-upload-pack ")
	if !ok {
		return errors.New("only git-upload-pack is served")
	}
	ep, err := transport.NewEndpoint(strings.Trim(path, "'"))
	if err != nil {
		return err
	}
	s, err := server.DefaultServer.NewUploadPackSession(ep, nil)
	if err != nil {
		return err
	}
	ar, err := s.AdvertisedReferences()
	if err != nil {
		return err
	}
	if err := ar.Encode(ch); err != nil {
		return err
	}
	req := packp.NewUploadPackRequest()
	if err := req.Decode(ch); err != nil {
		return err
	}
	resp, err := s.UploadPack(context.Background(), req)
	if err != nil {
		return err
	}
	return resp.Encode(ch)
}

// newKey returns a private key file (PKCS#8 PEM, mode 0600) and its
// public key.
func newKey(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	data := sshKey(t)
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "id", data, 0o600), signer.PublicKey()
}

func TestSyncOverSSH(t *testing.T) {
	rm := newRemote(t)
	c1 := rm.commit("blue", map[string][]byte{"desired.yaml": []byte(blueYAML)})
	rm.push(false)
	keyFile, pub := newKey(t)
	srv := newSSHServer(t, "deploy", pub)
	other := newSSHServer(t, "deploy", pub) // same key, another host key

	source := func(key, knownHosts string) *Git {
		return &Git{URL: "ssh://deploy@" + srv.addr + rm.bare, Path: "desired.yaml", Dir: filepath.Join(t.TempDir(), "git"),
			SSHKeyFile: key, KnownHostsFile: writeFile(t, "known_hosts", []byte(knownHosts), 0o644)}
	}

	t.Run("known host, authorized key", func(t *testing.T) {
		g := source(keyFile, srv.knownHost)
		if snap := mustSync(t, g); snap.Commit != c1 || read(t, snap.Path) != blueYAML {
			t.Fatalf("Sync over ssh = %+v, want commit %s", snap, c1)
		}
		// The key file is read at each Sync: a rotated key that the server
		// does not accept fails the next one.
		rotated, _ := newKey(t)
		g.SSHKeyFile = rotated
		_, err := g.Sync(context.Background())
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") || !strings.Contains(err.Error(), "check that the key in "+rotated) {
			t.Fatalf("Sync with a key the server refuses: err = %v", err)
		}
	})

	tests := []struct {
		name, knownHosts, want string
	}{
		{"unknown host", "", "knownhosts: key is unknown"},
		{"host key changed", strings.Replace(other.knownHost, knownhosts.Normalize(other.addr), knownhosts.Normalize(srv.addr), 1), "knownhosts: key mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := source(keyFile, tt.knownHosts)
			snap, err := g.Sync(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), g.URL) || snap.Commit != "" {
				t.Fatalf("Sync: err = %v, want %q naming %s", err, tt.want, g.URL)
			}
		})
	}
}
