// Package flock makes sure only one controller acts on a host at a time.
package flock

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/bluegreen-host/controller/internal/safefile"
)

// ErrHeld is returned when another process holds the lock.
var ErrHeld = errors.New("another controller holds the lock")

// Lock is an exclusive advisory lock on a file. The kernel releases it when
// the holder exits, however it exits, so a killed controller never leaves a
// lock that blocks the next one.
type Lock struct {
	f *os.File
}

// Acquire takes the lock at path without waiting, and writes this process's
// PID into the file so that a refused caller can say who holds it.
func Acquire(path string) (*Lock, error) {
	// Never through a symbolic link: the holder's PID is written into the
	// file, and a link planted there would have its target truncated.
	f, err := safefile.Open(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	// A lock file another user made would let that user hold the lock
	// and keep every controller out.
	if err := safefile.CheckOwned(f, path); err != nil {
		f.Close()
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := readPID(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w (pid %s)", path, ErrHeld, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error {
	defer l.f.Close()
	return syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
}

func readPID(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid := strings.TrimSpace(string(b[:n])); pid != "" {
		return pid
	}
	return "unknown"
}
