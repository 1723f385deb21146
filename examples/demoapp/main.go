// Command demoapp is the example service for the blue/green controller: it
// answers "<color> <version>" and can be told to misbehave through APP_MODE.
//
// Environment: PORT (default 8080), LISTEN_ADDR (default 0.0.0.0), COLOR
// (default none), APP_VERSION (default dev), APP_MODE (exit, unhealthy,
// slowstart=<duration>; default normal).
package main

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownBound is how long in-flight requests get to finish after SIGTERM.
const shutdownBound = 30 * time.Second

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("demoapp: ")
	log.SetOutput(os.Stderr)

	cfg, err := parseConfig(os.Getenv)
	if err != nil {
		log.Printf("bad configuration: %v", err)
		os.Exit(2)
	}
	if cfg.exit {
		log.Printf("APP_MODE=exit: exiting with status 1 on purpose")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		log.Printf("%v", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled, then shuts down gracefully.
func run(ctx context.Context, cfg config) error {
	if cfg.slowstart > 0 {
		log.Printf("APP_MODE=%s: waiting %s before listening", cfg.mode, cfg.slowstart)
		select {
		case <-time.After(cfg.slowstart):
		case <-ctx.Done():
			log.Printf("stopped before listening")
			return nil
		}
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	a := &app{color: cfg.color, version: cfg.version, unhealthy: cfg.unhealthy}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("listening on %s color=%s version=%s mode=%q", cfg.addr, cfg.color, cfg.version, cfg.mode)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Printf("signal received, shutting down (waiting up to %s for in-flight requests)", shutdownBound)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownBound)
	defer cancel()
	err = srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Printf("stopped: in-flight requests still running after %s were cut off", shutdownBound)
		return nil
	}
	if err != nil {
		return err
	}
	log.Printf("stopped")
	return nil
}
