package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// drainBound is how long in-flight requests get to finish after SIGQUIT;
// keep the service's stopTimeout above it.
const drainBound = 20 * time.Second

// signalNames are the signals serve handles, by the names the desired
// file's stopSignal uses.
var signalNames = map[os.Signal]string{
	syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGTERM: "SIGTERM",
	syscall.SIGINT:  "SIGINT",
}

// serve serves on ln until a signal arrives on sigs, records the signal in
// the data directory and returns the exit status: on SIGQUIT it drains
// (in-flight requests finish, up to drainBound) and returns 0; on SIGTERM
// or SIGINT it closes at once and returns 128 + the signal's number (143,
// 130), as most apps do; a failed listener returns 1.
func serve(cfg config, st *store, ln net.Listener, sigs <-chan os.Signal, logger *log.Logger) int {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	a := &app{store: st, color: cfg.color, version: cfg.version, host: host, secret: cfg.secret, log: logger, now: time.Now,
		lastSignal: previousSignal(cfg.lastSignalPath(), logger)}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Printf("listening on %s color=%s version=%s host=%s uid=%d", ln.Addr(), cfg.color, cfg.version, host, os.Getuid())

	var sig os.Signal
	select {
	case err := <-served:
		logger.Printf("serve: %v", err)
		return 1
	case sig = <-sigs:
	}
	name := signalNames[sig]
	if err := recordSignal(cfg.lastSignalPath(), fmt.Sprintf("%s host=%s color=%s version=%s at=%s\n",
		name, host, cfg.color, cfg.version, time.Now().UTC().Format(time.RFC3339))); err != nil {
		logger.Printf("received %s; recording it: %v", name, err)
	}
	if sig != syscall.SIGQUIT {
		code := 128 + int(sig.(syscall.Signal))
		logger.Printf("received %s: stopping without draining, exit status %d", name, code)
		_ = srv.Close()
		return code
	}
	logger.Printf("received SIGQUIT: draining, up to %s for in-flight requests", drainBound)
	ctx, cancel := context.WithTimeout(context.Background(), drainBound)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Printf("drain: %v: requests still in flight were cut off", err)
		return 1
	}
	logger.Printf("drained: exit status 0")
	return 0
}

// previousSignal is the record the previous container left in the data
// directory ("" when none), logged so that the stop signal it got is seen.
func previousSignal(path string, logger *log.Logger) string {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		logger.Printf("read the previous stop signal: %v", err)
		return ""
	}
	rec := strings.TrimSpace(string(b))
	logger.Printf("previous stop: %s", rec)
	return rec
}

// recordSignal writes line to path through a temporary file and a rename,
// so that a reader sees the previous record or this one, never a part.
func recordSignal(path, line string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".last-signal-*")
	if err != nil {
		return fmt.Errorf("record signal in %s: %w", path, err)
	}
	_, err = f.WriteString(line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("record signal in %s: %w", path, err)
	}
	return nil
}
