package testenv

import (
	"os/exec"
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
