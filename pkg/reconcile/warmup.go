package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
)

// Warmer sends a color's warm-up requests (spec.warmup).
type Warmer interface {
	WarmUp(ctx context.Context, base, path string, requests, concurrency int) error
}

// warmupTimeout bounds one warm-up request: a cold start may be slow.
const warmupTimeout = 30 * time.Second

// WarmUp sends requests GETs of base+path, concurrency at a time, reading
// each answer whole, whatever its status (checks judge, a warm-up only
// warms). It fails when no request got an answer: the replica does not
// answer at the address its probes passed at.
func (p *HTTPProber) WarmUp(ctx context.Context, base, path string, requests, concurrency int) error {
	client := &http.Client{Timeout: warmupTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	url := base + path
	var (
		next, answered atomic.Int64
		lastErr        atomic.Value
		wg             sync.WaitGroup
	)
	for range min(concurrency, requests) {
		wg.Go(func() {
			for next.Add(1) <= int64(requests) && ctx.Err() == nil {
				if err := warmOnce(ctx, client, url); err != nil {
					lastErr.Store(err)
					continue
				}
				answered.Add(1)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("warm up %s: %w", url, err)
	}
	if answered.Load() == 0 {
		err, _ := lastErr.Load().(error)
		return fmt.Errorf("warm up %s: none of %d requests got an answer: %w", url, requests, err)
	}
	return nil
}

func warmOnce(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 8<<20))
	return err
}

// warmUp warms up each replica of r at once.
func (d *Deps) warmUp(ctx context.Context, r *planner.WarmupRun) error {
	if d.Warmer == nil {
		return errors.New("warm up: no warmer configured")
	}
	errs := make([]error, len(r.Targets))
	var wg sync.WaitGroup
	for i, t := range r.Targets {
		wg.Go(func() { errs[i] = d.Warmer.WarmUp(ctx, t.Base, r.Path, r.Requests, r.Concurrency) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
