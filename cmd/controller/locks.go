package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"

	"github.com/bluegreen-host/controller/internal/flock"
	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// haproxyLocks holds one lock per HAProxy runtime API address the desired
// state names, in a directory shared by every controller on the host: two
// controllers with different state directories must not drive one HAProxy
// at once, each undoing the other's switches.
type haproxyLocks struct {
	dir  string
	mu   sync.Mutex
	held map[string]*flock.Lock // by runtime address
}

func newHAProxyLocks(dir string) *haproxyLocks {
	return &haproxyLocks{dir: dir, held: map[string]*flock.Lock{}}
}

// claim takes the lock of every runtime address of svcs not held yet. It
// returns the first refusal, wrapping flock.ErrHeld when another
// controller holds one; the locks it took are kept either way.
func (h *haproxyLocks) claim(svcs []spec.Service) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var addrs []string
	for _, s := range svcs {
		if _, ok := h.held[s.HAProxy.Runtime]; !ok {
			addrs = append(addrs, s.HAProxy.Runtime)
		}
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		if _, ok := h.held[addr]; ok {
			continue
		}
		if err := safefile.PrivateDir(h.dir); err != nil {
			return fmt.Errorf("lock directory: %w", err)
		}
		sum := sha256.Sum256([]byte(addr))
		path := filepath.Join(h.dir, "haproxy-"+hex.EncodeToString(sum[:8])+".lock")
		l, err := flock.Acquire(path)
		if errors.Is(err, flock.ErrHeld) {
			return fmt.Errorf("another controller drives the HAProxy at %s: %w; two controllers on one HAProxy would undo each other's switches: stop the other one (its state directory may differ from this one's)", addr, err)
		}
		if err != nil {
			return fmt.Errorf("lock the HAProxy at %s: %w", addr, err)
		}
		h.held[addr] = l
	}
	return nil
}

// release lets every lock go.
func (h *haproxyLocks) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for addr, l := range h.held {
		_ = l.Release()
		delete(h.held, addr)
	}
}
