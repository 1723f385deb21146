package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// config is the app's environment, parsed.
type config struct {
	addr      string        // listen address, host:port
	color     string        // COLOR
	version   string        // APP_VERSION
	mode      string        // APP_MODE as given
	exit      bool          // APP_MODE=exit
	unhealthy bool          // APP_MODE=unhealthy
	slowstart time.Duration // APP_MODE=slowstart=<duration>
}

// parseConfig reads the settings from getenv. LISTEN_ADDR is a host
// ("127.0.0.1") joined with PORT, or a full host:port that wins over PORT.
func parseConfig(getenv func(string) string) (config, error) {
	c := config{
		color:   orDefault(getenv("COLOR"), "none"),
		version: orDefault(getenv("APP_VERSION"), "dev"),
		mode:    getenv("APP_MODE"),
	}

	port := orDefault(getenv("PORT"), "8080")
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return c, fmt.Errorf("PORT=%q: want a port number from 1 to 65535", port)
	}
	host := orDefault(getenv("LISTEN_ADDR"), "0.0.0.0")
	if _, _, err := net.SplitHostPort(host); err == nil {
		c.addr = host
	} else {
		c.addr = net.JoinHostPort(host, port)
	}

	switch mode, arg, _ := strings.Cut(c.mode, "="); mode {
	case "", "normal":
	case "exit":
		c.exit = true
	case "unhealthy":
		c.unhealthy = true
	case "slowstart":
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 {
			return c, fmt.Errorf("APP_MODE=%q: want slowstart=<duration>, e.g. slowstart=2s", c.mode)
		}
		c.slowstart = d
	default:
		return c, fmt.Errorf("APP_MODE=%q: want one of exit, unhealthy, slowstart=<duration>, or empty", c.mode)
	}
	return c, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
