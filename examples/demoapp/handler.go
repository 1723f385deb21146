package main

import (
	"fmt"
	"log"
	"net/http"
	"strconv"
	"time"
)

// maxSlow caps the delay /slow accepts, so a typo cannot park a request forever.
const maxSlow = 60 * time.Second

// app holds what the handlers answer with.
type app struct {
	color     string
	version   string
	unhealthy bool
}

// routes returns the app's HTTP handler.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.root)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /slow", a.slow)
	return mux
}

func (a *app) root(w http.ResponseWriter, _ *http.Request) {
	a.identify(w)
}

// identify writes "<color> <version>\n" with the X-Color and X-Version headers.
func (a *app) identify(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Color", a.color)
	h.Set("X-Version", a.version)
	fmt.Fprintf(w, "%s %s\n", a.color, a.version)
}

func (a *app) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if a.unhealthy {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "unhealthy (APP_MODE=unhealthy)\n")
		return
	}
	fmt.Fprint(w, "ok\n")
}

// slow sleeps ?ms=N milliseconds (capped at maxSlow) and then answers like /.
// A client that goes away ends the wait; a server shutdown does not. It logs
// the request's arrival, so that tests can see a request is in flight.
func (a *app) slow(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms < 0 {
		http.Error(w, "query parameter ms must be a whole number of milliseconds >= 0", http.StatusBadRequest)
		return
	}
	d := min(time.Duration(ms)*time.Millisecond, maxSlow)
	log.Printf("slow request: answering in %s", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		a.identify(w)
	case <-r.Context().Done():
	}
}
