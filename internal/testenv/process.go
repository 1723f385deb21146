package testenv

import (
	"bytes"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// StopProcess ends a process this program started: SIGTERM to its PID,
// SIGKILL after grace. done is closed when its Wait returned; StopProcess
// returns once it is.
func StopProcess(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// SyncBuffer is a bytes.Buffer that one goroutine may write (a child's
// output, a command's stdout) while another reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
