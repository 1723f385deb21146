package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"regexp"
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
