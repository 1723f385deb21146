package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// CheckFailedError is a pre-switch check that did not pass.
type CheckFailedError struct {
	Check  string // its name
	Detail string // what was sent and what came back
}

func (e *CheckFailedError) Error() string {
	return fmt.Sprintf("check %q failed: %s", e.Check, e.Detail)
}

// Checker sends a pre-switch check to a color's address.
type Checker interface {
	Check(ctx context.Context, base string, c spec.Check) error
}

// checkTimeout bounds one request of a pre-switch check.
const checkTimeout = 5 * time.Second

// Check sends c.Count requests to base+c.Path, c.Interval apart, and
// returns a *CheckFailedError at the first answer that does not match.
func (p *HTTPProber) Check(ctx context.Context, base string, c spec.Check) error {
	client := &http.Client{Timeout: checkTimeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	url := base + c.Path
	for i := 0; i < c.Count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(c.Interval.Duration):
			}
		}
		if err := checkOnce(ctx, client, url, c); err != nil {
			var cf *CheckFailedError
			if errors.As(err, &cf) {
				cf.Detail = fmt.Sprintf("request %d of %d: %s", i+1, c.Count, cf.Detail)
			}
			return err
		}
	}
	return nil
}

func checkOnce(ctx context.Context, client *http.Client, url string, c spec.Check) error {
	req, err := http.NewRequestWithContext(ctx, c.Method, url, nil)
	if err != nil {
		return &CheckFailedError{c.Name, fmt.Sprintf("%s %s: %v", c.Method, url, err)}
	}
	for k, v := range c.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return &CheckFailedError{c.Name, fmt.Sprintf("%s %s: %v", c.Method, url, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != c.ExpectStatus {
		return &CheckFailedError{c.Name, fmt.Sprintf("%s %s answered %s, want %d; body %q", c.Method, url, resp.Status, c.ExpectStatus, clip(string(body)))}
	}
	if c.BodyContains != "" && !strings.Contains(string(body), c.BodyContains) {
		return &CheckFailedError{c.Name, fmt.Sprintf("%s %s answered %s without %q in its body %q", c.Method, url, resp.Status, c.BodyContains, clip(string(body)))}
	}
	return nil
}

// clip shortens a body for a message.
func clip(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// runChecks runs every pre-switch check of r, at the address its probes
// passed at.
func (d *Deps) runChecks(ctx context.Context, r *planner.ChecksRun) error {
	if d.Checker == nil {
		return errors.New("run pre-switch checks: no checker configured")
	}
	for _, ck := range r.Checks {
		if err := d.Checker.Check(ctx, r.Base, ck); err != nil {
			return err
		}
	}
	return nil
}
