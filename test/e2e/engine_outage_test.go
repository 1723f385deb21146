package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// The engine's outages as the controller sees them (issue 24, acceptance
// point 3): the private engine is restarted several times under load with
// the controller running, and each restart is measured from the engine's
// own first answer (a /_ping on a new connection, asked every 2ms) to the
// controller's first pass (its first decision logged on an observation
// that succeeded), while status.json is read every 10ms.

const (
	// outageRestarts is how many times the engine is restarted.
	outageRestarts = 6
	// outageFirstPassBound bounds engine's first answer -> the
	// controller's first pass.
	outageFirstPassBound = 200 * time.Millisecond
	// outageStatusSlack is how long after dockerd exited status may still
	// say what it said before: the stream's end nudges a pass at once.
	outageStatusSlack = 100 * time.Millisecond
)

// statusSample is one read of status.json.
type statusSample struct {
	at            time.Time
	phase         planner.Phase
	reason        planner.Reason
	blue, blueHAP string
}

func (s statusSample) String() string {
	return fmt.Sprintf("%s %s (%s) blue %s/%s", s.at.Format("15:04:05.000"), s.phase, s.reason, s.blue, s.blueHAP)
}

// statusSampler reads status.json every 10ms until stopped.
type statusSampler struct {
	mu      sync.Mutex
	samples []statusSample
	stop    context.CancelFunc
	done    chan struct{}
}

func (e *restartEnv) sampleStatus() *statusSampler {
	ctx, cancel := context.WithCancel(context.Background())
	p := &statusSampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			s := e.serviceStatus()
			smp := statusSample{at: time.Now(), phase: s.Phase, reason: readyReason(s)}
			if c := s.Colors[spec.Blue]; c != nil {
				smp.blue, smp.blueHAP = c.Container, c.HAProxy
			}
			p.mu.Lock()
			p.samples = append(p.samples, smp)
			p.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	e.t.Cleanup(func() { p.finish() })
	return p
}

// finish stops the sampler and returns its samples.
func (p *statusSampler) finish() []statusSample {
	p.stop()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.samples)
}

// firstAnswer asks the engine's /_ping on a new connection every 2ms from
// now on, and sends the time of its first answer.
func (e *restartEnv) firstAnswer(ctx context.Context) <-chan time.Time {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", e.eng.Socket)
		}}}
	out := make(chan time.Time, 1)
	go func() {
		for ctx.Err() == nil {
			if resp, err := c.Get("http://docker/_ping"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					out <- time.Now()
					return
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return out
}

// steadyLoad sends requests to the frontend from workers in the engine's
// namespace until stopped, and counts their outcomes.
type steadyLoad struct {
	ok, failed atomic.Int64
	stop       context.CancelFunc
	wg         sync.WaitGroup
}

func (e *restartEnv) startLoad(workers int) *steadyLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &steadyLoad{stop: cancel}
	c := e.eng.HTTPClient(time.Second)
	url := fmt.Sprintf("http://127.0.0.1:%d/", e.front)
	for range workers {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := c.Get(url)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err == nil && resp.StatusCode == http.StatusOK {
					l.ok.Add(1)
					continue
				}
				l.failed.Add(1)
				time.Sleep(10 * time.Millisecond) // no spin while nothing answers
			}
		})
	}
	e.t.Cleanup(l.finish)
	return l
}

func (l *steadyLoad) finish() {
	l.stop()
	l.wg.Wait()
}

// logLine is one line of the controller's log (slog text), with its time.
type logLine struct {
	at   time.Time
	text string
}

// logLines parses the controller's log lines that carry a time.
func logLines(out string) []logLine {
	var lines []logLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f, _, _ := strings.Cut(sc.Text(), " ")
		v, ok := strings.CutPrefix(f, "time=")
		if !ok {
			continue
		}
		if at, err := time.Parse(time.RFC3339Nano, v); err == nil {
			lines = append(lines, logLine{at: at, text: sc.Text()})
		}
	}
	return lines
}

// outage is what one engine restart measured.
type outage struct {
	restartTiming
	firstAnswer time.Time // the engine's first answer to a new connection
	resubscribe time.Time // the controller logged its new event subscription
	// subscriptions counts the new subscriptions logged after dockerd exited.
	subscriptions int
	firstPass     time.Time // the controller's first decision on a successful observation
	unknownAt     time.Time // status first said Degraded with blue unknown
	stoppingAt    time.Time // status first said EngineStopping (zero: never seen)
	starts        []string  // StartContainer steps logged from the stop to the first answer
	stale         []string  // samples saying blue running or UP while the engine was down
	log           string    // the controller's log from the stop to its first pass and subscription
	around        string    // its log from 100ms before the engine's first answer to its first pass
}

// restartObserved restarts the engine (restartEngine) while status is
// sampled and the engine's first answer is watched, and reads the
// controller's log from logFrom on.
func (e *restartEnv) restartObserved(ctl *controller, want string) outage {
	e.t.Helper()
	logFrom := len(ctl.output())
	samples := e.sampleStatus()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var answered <-chan time.Time
	e.beforeStart = func() { answered = e.firstAnswer(ctx) }
	defer func() { e.beforeStart = nil }()
	o := outage{restartTiming: e.restartEngine(want)}
	o.firstAnswer = <-answered
	// The first pass may come from the new subscription, or before it
	// from HAProxy's view of blue back (the engine starts it first).
	e.waitFor(5*time.Second, "the controller's first pass and new event subscription after the engine answered", func() bool {
		o.readLog(logLines(ctl.output()[logFrom:]))
		return !o.firstPass.IsZero() && !o.resubscribe.IsZero()
	})
	o.readSamples(samples.finish())
	return o
}

// readLog finds the controller's first pass after dockerd exited, its new
// event subscriptions, and the container starts while the engine was away.
func (o *outage) readLog(lines []logLine) {
	o.starts, o.subscriptions, o.firstPass, o.resubscribe = nil, 0, time.Time{}, time.Time{}
	var log []string
	for _, l := range lines {
		if !l.at.Before(o.stopCalled) && (o.firstPass.IsZero() || o.resubscribe.IsZero()) {
			log = append(log, l.text)
		}
		switch {
		case l.at.Before(o.stopCalled):
		case strings.Contains(l.text, "step=StartContainer") && l.at.Before(o.firstAnswer):
			o.starts = append(o.starts, l.text)
		case l.at.Before(o.stopped):
		case strings.Contains(l.text, "Container events followed again"):
			o.subscriptions++
			if o.resubscribe.IsZero() {
				o.resubscribe = l.at
			}
		case o.firstPass.IsZero() && (strings.Contains(l.text, "msg=State") || strings.Contains(l.text, "msg=Step")) &&
			!strings.Contains(l.text, "reason="+string(planner.ReasonDockerUnreachable)):
			o.firstPass = l.at
		}
	}
	o.log = strings.Join(log, "\n")
	var around []string
	for _, l := range lines {
		if !l.at.Before(o.firstAnswer.Add(-100*time.Millisecond)) && !l.at.After(o.firstPass) {
			around = append(around, l.text)
		}
	}
	o.around = strings.Join(around, "\n")
}

// readSamples finds when status said the engine was stopping or away,
// and any sample that said blue runs while it was away.
func (o *outage) readSamples(samples []statusSample) {
	for _, s := range samples {
		if s.at.Before(o.stopCalled) {
			continue
		}
		if o.stoppingAt.IsZero() && s.reason == planner.ReasonEngineStopping {
			o.stoppingAt = s.at
		}
		unknown := s.phase == planner.Degraded && s.blue == state.Unknown && s.blueHAP == state.Unknown
		if o.unknownAt.IsZero() && unknown {
			o.unknownAt = s.at
		}
		if s.at.After(o.stopped.Add(outageStatusSlack)) && s.at.Before(o.firstAnswer) && !unknown {
			o.stale = append(o.stale, s.String())
		}
	}
}

func (o outage) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
	stopping := "never seen"
	if !o.stoppingAt.IsZero() {
		stopping = ms(o.stoppingAt.Sub(o.stopCalled)) + " after SIGTERM"
	}
	return fmt.Sprintf("engine first answer -> controller's first pass %s (its new event subscription logged %s after the answer); "+
		"status EngineStopping %s, Degraded with blue unknown %s after SIGTERM; dockerd stop took %s, start to first answer %s; %s",
		ms(o.firstPass.Sub(o.firstAnswer)), ms(o.resubscribe.Sub(o.firstAnswer)), stopping, ms(o.unknownAt.Sub(o.stopCalled)),
		ms(o.stopped.Sub(o.stopCalled)), ms(o.firstAnswer.Sub(o.startCalled)), o.restartTiming)
}

// restartsUnderLoad restarts the engine outageRestarts times under load,
// each time once the controller says Converged on blue again, and checks
// and prints what each restart measured.
func (e *restartEnv) restartsUnderLoad(ctl *controller, gen string) {
	t := e.t
	t.Helper()
	load := e.startLoad(4)
	var firstPasses []time.Duration
	for i := range outageRestarts {
		okBefore, failedBefore := load.ok.Load(), load.failed.Load()
		o := e.restartObserved(ctl, "blue v1")
		e.waitFor(time.Minute, "the controller reports Converged on blue again after the engine restart", func() bool {
			select {
			case <-ctl.done:
				t.Fatalf("the controller exited during the engine restart (%v)", ctl.cmd.ProcessState)
			default:
			}
			return e.converged(gen, spec.Blue) && readyTransitionAfter(e.serviceStatus(), o.stopCalled)
		})
		t.Logf("restart %d: %s; load: %d ok, %d failed", i+1, o, load.ok.Load()-okBefore, load.failed.Load()-failedBefore)
		firstPasses = append(firstPasses, o.firstPass.Sub(o.firstAnswer))
		if i == 0 || t.Failed() {
			t.Logf("restart %d: the controller's log from SIGTERM to its first pass and new subscription:\n%s", i+1, o.log)
		} else {
			t.Logf("restart %d: the controller's log from 100ms before the engine's first answer (%s) to its first pass:\n%s",
				i+1, o.firstAnswer.UTC().Format("15:04:05.000"), o.around)
		}
		if len(o.starts) > 0 {
			t.Errorf("restart %d: the controller started a container while the engine stopped or was away:\n%s", i+1, strings.Join(o.starts, "\n"))
		}
		if len(o.stale) > 0 {
			t.Errorf("restart %d: status did not say Degraded with blue unknown while the engine was away (from %s after dockerd exited to its first answer):\n%s",
				i+1, outageStatusSlack, strings.Join(o.stale, "\n"))
		}
		if o.subscriptions != 1 {
			t.Errorf("restart %d: %d new event subscriptions logged after dockerd exited, want 1", i+1, o.subscriptions)
		}
		if o.unknownAt.IsZero() {
			t.Errorf("restart %d: status never said Degraded with blue unknown", i+1)
		}
		if d := o.firstPass.Sub(o.firstAnswer); d > outageFirstPassBound {
			t.Errorf("restart %d: the controller's first pass came %s after the engine's first answer, want within %s", i+1, d, outageFirstPassBound)
		}
	}
	load.finish()
	sorted := slices.Sorted(slices.Values(firstPasses))
	median := (sorted[(len(sorted)-1)/2] + sorted[len(sorted)/2]) / 2
	var each []string
	for _, d := range firstPasses {
		each = append(each, fmt.Sprint(d.Milliseconds()))
	}
	t.Logf("engine first answer -> controller's first pass over %d restarts (ms): %s; median %d ms, max %d ms; load: %d ok, %d failed in all",
		len(sorted), strings.Join(each, " "), median.Milliseconds(), sorted[len(sorted)-1].Milliseconds(), load.ok.Load(), load.failed.Load())
}
