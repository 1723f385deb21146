package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// result is how the delivery of one event to one receiver ended.
type result int

const (
	delivered result = iota
	failed           // given up after an error
	abandoned        // cut or never tried: Close gave up
)

// maxAnswer bounds what is read of a receiver's answer.
const maxAnswer = 64 << 10

// deliveryError is one failed request: retry says whether another
// attempt may succeed, after at least wait when the receiver said so.
type deliveryError struct {
	err   error
	retry bool
	wait  time.Duration
}

func (e *deliveryError) Error() string { return e.err.Error() }
func (e *deliveryError) Unwrap() error { return e.err }

// deliver sends p to r, trying again after errors worth it, until it is
// answered 2xx, given up, or Close gives up.
func (n *Notifier) deliver(r receiver, p *pending) result {
	log := n.log.WithValues("service", p.service, "event", p.typ, "seq", p.seq, "receiver", r.name)
	wait := n.cfg.Backoff
	for attempt := 1; ; attempt++ {
		if n.ctx.Err() != nil {
			return abandoned
		}
		err := n.send(r, p)
		if err == nil {
			log.V(1).Info("Webhook event delivered", "attempt", attempt)
			return delivered
		}
		if n.ctx.Err() != nil {
			return abandoned
		}
		var de *deliveryError
		if !errors.As(err, &de) || !de.retry || attempt >= n.cfg.MaxAttempts {
			log.Error(err, "Webhook event given up", "attempts", attempt)
			return failed
		}
		delay := min(max(wait, de.wait), n.cfg.MaxBackoff)
		log.Error(err, "Webhook delivery failed; retrying", "attempt", attempt, "retryIn", delay.String())
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-n.ctx.Done():
			t.Stop()
			return abandoned
		}
		wait = min(2*wait, n.cfg.MaxBackoff)
	}
}

// send makes one request of p to r, bounded by the Timeout.
func (n *Notifier) send(r receiver, p *pending) error {
	what := fmt.Sprintf("post %s event %d of %s to webhook %s", p.typ, p.seq, p.service, r.name)
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(p.body))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bluegreen-controller")
	req.Header.Set("X-Bluegreen-Event", p.typ)
	req.Header.Set("X-Bluegreen-Delivery", p.id)
	if p.signature != "" {
		req.Header.Set(SignatureHeader, p.signature)
	}
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the whole URL
		}
		if errors.Is(err, context.DeadlineExceeded) && n.ctx.Err() == nil {
			return &deliveryError{err: fmt.Errorf("%s: no answer within %s", what, n.cfg.Timeout), retry: true}
		}
		return &deliveryError{err: fmt.Errorf("%s: %w", what, err), retry: true}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	err = fmt.Errorf("%s: answered %s%s", what, resp.Status, excerpt(answer))
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		err = fmt.Errorf("%s: answered %s, a redirect to %q, which is not followed: give the receiver's own URL", what, resp.Status, resp.Header.Get("Location"))
	}
	code := resp.StatusCode
	retry := code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
	return &deliveryError{err: err, retry: retry, wait: retryAfter(resp.Header.Get("Retry-After"))}
}

// excerpt is the start of a receiver's answer, quoted, for an error.
func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return ": " + strconv.Quote(s)
}

// retryAfter reads a Retry-After header given in seconds (0 otherwise).
func retryAfter(h string) time.Duration {
	secs, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}
