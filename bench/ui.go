package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"sort"
	"sync/atomic"
	"time"
)

// uiCost is what the dashboard costs the controller: the same idle window
// and the same passes, measured with no page open and with one open (its
// event stream connected), and the bytes of a page's first load.
type uiCost struct {
	FirstLoad     int64 // bytes on the wire: the page (gzip, as browsers ask) and its script and style
	FirstLoadHTML int64 // the page's HTML, uncompressed
	IdleOpenCPU   time.Duration
	// IdleOpenPasses counts the passes in that window (the idle window
	// without a page counts its own: the HAProxy watch nudges passes, so
	// two windows of one length need not hold as many).
	IdleOpenPasses int
	// CPU of Passes nudged passes, page closed and open.
	PassesClosedCPU, PassesOpenCPU time.Duration
	Passes                         int
	EventBytes                     int64 // what the open page was pushed during its windows
	// Pairs of idle windows, no page and a page open, interleaved
	// (-ui-pairs; empty when not asked for).
	Pairs      []uiPair
	PairWindow time.Duration
}

// page is one open dashboard: its event stream, read until closed.
type page struct {
	read atomic.Int64
	stop func()
}

var versionAttr = regexp.MustCompile(`data-version="(\d+)"`)

// openPage loads the dashboard at base as a browser does (the page with
// gzip, its script and style) and connects its event stream.
func openPage(t interface{ Fatalf(string, ...any) }, base string) (*page, int64, int64) {
	get := func(path string) ([]byte, int64) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatalf("dashboard: GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		wire, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("dashboard: GET %s: %s", path, resp.Status)
		}
		body := wire
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(wire))
			if err != nil {
				t.Fatalf("dashboard: GET %s: %v", path, err)
			}
			body, _ = io.ReadAll(zr)
		}
		return body, int64(len(wire))
	}
	html, n := get("/")
	_, js := get("/static/app.js")
	_, css := get("/static/style.css")
	v := "0"
	if m := versionAttr.FindSubmatch(html); m != nil {
		v = string(m[1])
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/events?v="+v, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("dashboard: GET /events: %v", err)
	}
	p := &page{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadBytes('\n')
			p.read.Add(int64(len(line)))
			if err != nil {
				return
			}
		}
	}()
	p.stop = func() { resp.Body.Close(); <-done }
	return p, n + js + css, int64(len(html))
}

func (u uiCost) String() string {
	return fmt.Sprintf("first load %d bytes (HTML %d), passes CPU %s closed / %s open", u.FirstLoad, u.FirstLoadHTML, u.PassesClosedCPU, u.PassesOpenCPU)
}

// uiPair is the controller's CPU over two idle windows of one length taken
// back to back, one with no page open and one with a page open.
type uiPair struct{ Closed, Open time.Duration }

// change is the open window's CPU against the closed one's, as a fraction
// (0.05: 5 % more); NaN when the closed window used none.
func (p uiPair) change() float64 {
	if p.Closed <= 0 {
		return math.NaN()
	}
	return float64(p.Open)/float64(p.Closed) - 1
}

// uiPairsSummary is the pairs' total change (all open windows against all
// closed ones, which the rounding of each window disturbs least) and the
// median and p90 of the change per pair.
func uiPairsSummary(pairs []uiPair) (total, median, p90 float64) {
	var closed, open time.Duration
	var changes []float64
	for _, p := range pairs {
		closed += p.Closed
		open += p.Open
		if c := p.change(); !math.IsNaN(c) {
			changes = append(changes, c)
		}
	}
	if closed <= 0 || len(changes) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	sort.Float64s(changes)
	rank := max(1, int(math.Ceil(0.9*float64(len(changes)))))
	return float64(open)/float64(closed) - 1, medianF(changes), changes[rank-1]
}

// measureUIPairs takes n pairs of idle windows, with no page open and with
// one open, the order swapped every pair so that a drift of the machine
// falls on both sides alike. A page is opened before its window starts and
// closed after it ends: its first load is not counted.
func measureUIPairs(t interface{ Fatalf(string, ...any) }, ctl *controller, base string, n int, window time.Duration) []uiPair {
	idle := func(open bool) time.Duration {
		var pg *page
		if open {
			pg, _, _ = openPage(t, base)
			time.Sleep(200 * time.Millisecond) // the first push after connecting
		}
		r0, err := procRunTime(ctl.pid())
		if err != nil {
			t.Fatalf("dashboard: the controller's run time: %v", err)
		}
		time.Sleep(window)
		r1, err := procRunTime(ctl.pid())
		if err != nil {
			t.Fatalf("dashboard: the controller's run time: %v", err)
		}
		cpu := r1 - r0
		if pg != nil {
			pg.stop()
		}
		return cpu
	}
	pairs := make([]uiPair, n)
	for k := range pairs {
		if k%2 == 0 {
			pairs[k].Closed = idle(false)
			pairs[k].Open = idle(true)
		} else {
			pairs[k].Open = idle(true)
			pairs[k].Closed = idle(false)
		}
	}
	return pairs
}
