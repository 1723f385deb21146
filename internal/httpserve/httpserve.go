// Package httpserve is the one rule for the controller's own HTTP servers
// (metrics and health, the dashboard): every deadline set, so that a
// client that stops sending or reading, or a connection left idle, is
// dropped and no client holds the controller's connections forever.
package httpserve

import (
	"net/http"
	"time"
)

// Deadlines of one server.
type Deadlines struct {
	// Read bounds reading a request, its header included; Write writing
	// its answer; Idle how long a kept-alive connection waits for the next.
	Read, Write, Idle time.Duration
}

// Default is what the controller's servers use.
var Default = Deadlines{Read: 10 * time.Second, Write: 30 * time.Second, Idle: 2 * time.Minute}

// Server serves h with every deadline of d set.
func (d Deadlines) Server(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: d.Read, ReadTimeout: d.Read, WriteTimeout: d.Write, IdleTimeout: d.Idle}
}
