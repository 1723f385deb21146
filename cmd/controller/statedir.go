package main

import (
	"path/filepath"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/internal/safefile"
)

// removeCutWrites removes the temporary files that a write of the state
// files cut short (the controller killed before its rename) left in the
// state directory. Only the files the holder of the state directory's lock
// writes are concerned: it holds it, so no other writer of them is alive.
// approvals.json, rollbacks.json and retries.json are left alone:
// controller promote, rollback and retry write them without the lock.
func removeCutWrites(o options, log logr.Logger) {
	removed, err := safefile.RemoveTemps(o.stateDir, filepath.Base(statusPath(o)), filepath.Base(historyPath(o)), filepath.Base(stopsPath(o)))
	for _, p := range removed {
		log.Info("Removed a temporary file left by a cut write", "path", p)
	}
	if err != nil {
		log.Error(err, "Temporary files left in the state directory")
	}
}
