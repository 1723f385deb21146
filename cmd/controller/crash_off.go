//go:build !crashpoints

package main

import "github.com/bluegreen-host/controller/pkg/reconcile"

// crashEnv is read only by a binary built with the tag crashpoints, for
// the crash tests (crash.go); this one ignores it.
const crashEnv = "BLUEGREEN_CRASH_AT"

// injectCrash does nothing: the shipped binary has no crash points.
func injectCrash(*reconcile.Loop, string) error { return nil }
