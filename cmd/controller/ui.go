package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/dashboard"
	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
)

// serveUI serves the dashboard on --ui-listen until ctx ends or stop is
// called: a page of the loop's services, pushed to as the loop acts, and,
// with --ui-token-file, the actions its tokens may take.
func serveUI(ctx context.Context, o options, loop *reconcile.Loop, log logr.Logger) (stop func(), err error) {
	if err := checkUIListen(o.uiListen, o.uiTokenFile); err != nil {
		return nil, err
	}
	var tokens []dashboard.Token
	if o.uiTokenFile != "" {
		if tokens, err = dashboard.ReadTokens(o.uiTokenFile); err != nil {
			return nil, fmt.Errorf("dashboard (--ui-token-file): %w", err)
		}
	}
	log = log.WithName("dashboard")
	hist, err := state.ReadHistory(historyPath(o), "")
	if err != nil {
		log.Error(err, "Cannot read the release history; the dashboard shows the releases that end from now on")
	}
	d := dashboard.New(dashboard.Options{Status: loop.StatusSnapshot, History: hist, Approvals: loop.Approvals,
		Rollbacks: loop.Rollbacks, Retries: loop.Retries, Record: loop.History, Tokens: tokens, Log: log})
	addListener(loop, d)
	ln, err := net.Listen("tcp", o.uiListen)
	if err != nil {
		return nil, fmt.Errorf("serve the dashboard on %s (--ui-listen): %w", o.uiListen, err)
	}
	srv := dashboard.NewServer(d.Handler())
	ctx, cancel := context.WithCancel(ctx)
	go d.Run(ctx)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "Dashboard listener stopped", "address", o.uiListen)
		}
	}()
	names := make([]string, len(tokens))
	for i, t := range tokens {
		names[i] = t.Name
	}
	log.Info("Serving the dashboard", "address", "http://"+ln.Addr().String()+"/", "readOnly", len(tokens) == 0, "tokens", strings.Join(names, ","))
	go func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}()
	return cancel, nil
}

// checkUIListen refuses to serve the dashboard beyond this host without
// tokens: on an address that is not loopback, anyone who reaches it would
// see every service, so it takes a token file (whose holders alone may
// act; the page itself stays readable).
func checkUIListen(addr, tokenFile string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--ui-listen %q: want HOST:PORT, e.g. 127.0.0.1:9465: %w", addr, err)
	}
	if tokenFile != "" {
		return nil
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return nil
	}
	shown := host
	if shown == "" {
		shown = "every address of the host"
	}
	return fmt.Errorf("--ui-listen %s: %s is not a loopback address: give --ui-token-file too, or listen on 127.0.0.1", addr, shown)
}
