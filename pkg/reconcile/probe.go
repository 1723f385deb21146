package reconcile

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// HTTPProber probes with a fresh connection each time, as a health check does.
type HTTPProber struct {
	Timeout time.Duration
	client  *http.Client
}

// NewHTTPProber returns a prober whose probes time out after timeout.
func NewHTTPProber(timeout time.Duration) *HTTPProber {
	return &HTTPProber{Timeout: timeout, client: &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Probe passes on a 2xx or 3xx answer.
func (p *HTTPProber) Probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("probe %s: answered %s", url, resp.Status)
	}
	return nil
}
