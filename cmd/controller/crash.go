//go:build crashpoints

package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
)

// crashEnv names a point where the controller kills itself with SIGKILL:
// "before:<Action>" or "after:<Action>", e.g. "after:SwitchMap", or
// "mid:SwitchMap": after HAProxy's runtime map is set and before the map
// file is written. It exists for the crash tests, which prove that a
// controller killed at any step of a release converges when started again,
// and only in a binary built with the tag crashpoints (go build -tags
// crashpoints): the shipped binary has no crash points (crash_off.go).
const crashEnv = "BLUEGREEN_CRASH_AT"

func injectCrash(l *reconcile.Loop, at string) error {
	if at == "" {
		return nil
	}
	when, action, ok := strings.Cut(at, ":")
	kill := func(st planner.Step) {
		fmt.Fprintf(os.Stderr, "controller: %s=%s: killing myself %s %s\n", crashEnv, at, when, st)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	crash := func(st planner.Step) {
		if string(st.Action) == action {
			kill(st)
		}
	}
	switch {
	case ok && when == "before":
		l.BeforeStep = crash
	case ok && when == "after":
		l.AfterStep = func(st planner.Step, err error) {
			if err == nil {
				crash(st)
			}
		}
	case ok && when == "mid" && action == string(planner.SwitchMap):
		var current planner.Step
		l.BeforeStep = func(st planner.Step) { current = st }
		l.Deps.MapFiles = crashingMapFiles{MapFiles: l.Deps.MapFiles, crash: func() {
			if current.Action == planner.SwitchMap {
				kill(current)
			}
		}}
	default:
		return fmt.Errorf("%s=%q: want before:<Action>, after:<Action> or mid:SwitchMap", crashEnv, at)
	}
	return nil
}

// crashingMapFiles calls crash before every map file write.
type crashingMapFiles struct {
	reconcile.MapFiles
	crash func()
}

func (m crashingMapFiles) Write(path, key, value string) error {
	m.crash()
	return m.MapFiles.Write(path, key, value)
}
