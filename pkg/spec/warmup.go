package spec

import "strings"

// Warmup is what is sent to the new color before the switch: Requests
// GETs of Path to each replica, Concurrency at a time. Their answers are
// counted, not judged (checks judge).
type Warmup struct {
	// Path is requested at each replica's address, e.g. "/".
	Path string `json:"path"`
	// Requests per replica (default 100).
	Requests int `json:"requests,omitempty"`
	// Concurrency is how many are in flight at once per replica (default 4).
	Concurrency int `json:"concurrency,omitempty"`
}

// Bounds of spec.warmup.
const (
	DefaultWarmupRequests    = 100
	DefaultWarmupConcurrency = 4
	MaxWarmupRequests        = 10000
	MaxWarmupConcurrency     = 64
)

// applyDefaults gives w its defaults.
func (w *Warmup) applyDefaults() {
	if w.Requests == 0 {
		w.Requests = DefaultWarmupRequests
	}
	if w.Concurrency == 0 {
		w.Concurrency = DefaultWarmupConcurrency
	}
}

// validateWarmup checks spec.warmup.
func (s *Service) validateWarmup(bad func(path, format string, args ...any)) {
	w := s.Warmup
	if w == nil {
		return
	}
	if !strings.HasPrefix(w.Path, "/") || strings.ContainsAny(w.Path, " \t\r\n") {
		bad("spec.warmup.path", "%q must start with '/' and hold no whitespace", w.Path)
	}
	if w.Requests < 1 || w.Requests > MaxWarmupRequests {
		bad("spec.warmup.requests", "%d is out of range: want 1 to %d", w.Requests, MaxWarmupRequests)
	}
	if w.Concurrency < 1 || w.Concurrency > MaxWarmupConcurrency {
		bad("spec.warmup.concurrency", "%d is out of range: want 1 to %d", w.Concurrency, MaxWarmupConcurrency)
	}
}
