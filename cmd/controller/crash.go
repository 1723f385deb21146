package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/bluegreen-host/controller/pkg/reconcile"
)

// crashEnv names a point where the controller kills itself with SIGKILL:
// "before:<Action>" or "after:<Action>", e.g. "after:SwitchMap". It exists
// for the crash tests, which prove that a controller killed at any step of a
// release converges when started again.
const crashEnv = "BLUEGREEN_CRASH_AT"

func injectCrash(l *reconcile.Loop, at string) error {
	if at == "" {
		return nil
	}
	when, action, ok := strings.Cut(at, ":")
	if !ok || (when != "before" && when != "after") {
		return fmt.Errorf("%s=%q: want before:<Action> or after:<Action>", crashEnv, at)
	}
	crash := func(st reconcile.Step) {
		if string(st.Action) == action {
			fmt.Fprintf(os.Stderr, "controller: %s=%s: killing myself %s %s\n", crashEnv, at, when, st)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	if when == "before" {
		l.BeforeStep = crash
	} else {
		l.AfterStep = func(st reconcile.Step, err error) {
			if err == nil {
				crash(st)
			}
		}
	}
	return nil
}
