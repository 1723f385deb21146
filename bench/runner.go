package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// runner is the benchmark's testenv.TB: it logs to stderr, collects cleanups
// and, on a fatal error, runs them (last registered first) and exits 1. The
// cleanups stop what the benchmark started: the controller and HAProxy by
// PID, containers by the labels of the services it named, images by the tags
// it built, the temp directory.
type runner struct {
	start time.Time

	mu       sync.Mutex
	cleanups []func()
	cleaning bool
	cleaned  chan struct{}
	errs     int
}

// fatalPanic unwinds a cleanup that called Fatalf while cleaning up.
type fatalPanic struct{}

func newRunner() *runner {
	return &runner{start: time.Now(), cleaned: make(chan struct{})}
}

func (r *runner) Helper() {}

func (r *runner) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%7.2fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

func (r *runner) Errorf(format string, args ...any) {
	r.Logf("ERROR: "+format, args...)
	r.mu.Lock()
	r.errs++
	r.mu.Unlock()
}

// Fatalf logs, cleans up and exits 1. Called from a cleanup, it abandons
// that cleanup only.
func (r *runner) Fatalf(format string, args ...any) {
	r.Logf("FATAL: "+format, args...)
	r.mu.Lock()
	cleaning := r.cleaning
	r.mu.Unlock()
	if cleaning {
		panic(fatalPanic{})
	}
	r.cleanup()
	os.Exit(1)
}

func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// cleanup runs every registered cleanup once, last first. A second caller
// waits for the first to finish.
func (r *runner) cleanup() {
	r.mu.Lock()
	if r.cleaning {
		r.mu.Unlock()
		<-r.cleaned
		return
	}
	r.cleaning = true
	fns := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	runLIFO(r, fns)
	close(r.cleaned)
}

func runLIFO(r *runner, fns []func()) {
	for i := len(fns) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if p := recover(); p != nil {
					if _, ok := p.(fatalPanic); !ok {
						r.Logf("cleanup panicked: %v", p)
					}
				}
			}()
			fns[i]()
		}()
	}
}

// scope is a TB whose cleanups run when the scope closes (or, if the run
// dies first, with the runner's): each scenario tears down its own HAProxy,
// controller and containers before the next one starts.
type scope struct {
	*runner
	mu   sync.Mutex
	fns  []func()
	done bool
}

func (r *runner) scope() *scope {
	s := &scope{runner: r}
	r.Cleanup(s.close)
	return s
}

func (s *scope) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fns = append(s.fns, f)
}

func (s *scope) close() {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done = true
	fns := s.fns
	s.fns = nil
	s.mu.Unlock()
	runLIFO(s.runner, fns)
}
