package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/internal/httpserve"
	"github.com/bluegreen-host/controller/pkg/metrics"
	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// serveMetrics makes loop report to Prometheus metrics and serves them,
// with /healthz and /readyz, on --metrics-listen until ctx ends or stop is
// called. /readyz fails when no pass ended well within three resyncs.
func serveMetrics(ctx context.Context, o options, loop *reconcile.Loop, log logr.Logger) (m *metrics.Metrics, stop func(), err error) {
	m = metrics.New(metrics.Options{})
	addListener(loop, m)
	load := loop.Load
	loop.Load = func() ([]spec.Service, error) {
		svcs, err := load()
		if err == nil {
			names := make([]string, len(svcs))
			for i, s := range svcs {
				names[i] = s.Name
			}
			m.Keep(names) // series of services gone from the desired state go too
		}
		return svcs, err
	}
	ln, err := net.Listen("tcp", o.metricsListen)
	if err != nil {
		return nil, nil, fmt.Errorf("serve metrics on %s (--metrics-listen): %w", o.metricsListen, err)
	}
	srv := metricsServer(m.Handler(3 * o.resync))
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "Metrics listener stopped", "address", o.metricsListen)
		}
	}()
	log.Info("Serving metrics", "address", ln.Addr().String(), "paths", "/metrics /healthz /readyz")
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return m, func() { close(stopped) }, nil
}

// metricsDeadlines are the metrics server's (httpserve).
var metricsDeadlines = httpserve.Default

// metricsServer serves h with every deadline set.
func metricsServer(h http.Handler) *http.Server { return metricsDeadlines.Server(h) }

// addListener adds o to the listeners of loop.
func addListener(loop *reconcile.Loop, o reconcile.Listener) {
	if loop.Listener == nil {
		loop.Listener = o
		return
	}
	loop.Listener = reconcile.Listeners{loop.Listener, o}
}
