package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
)

// minSecretLen is the shortest SECRET_KEY serve accepts.
const minSecretLen = 16

// errNoSecret is returned when SECRET_KEY is unset or empty.
var errNoSecret = errors.New("SECRET_KEY is not set: give the app its secret key (e.g. an env file holding SECRET_KEY=...)")

// config is the app's environment, parsed.
type config struct {
	addr    string // listen address, host:port (PORT)
	color   string // COLOR, set by the controller
	version string // APP_VERSION, from the image's VERSION build arg
	dataDir string // DATA_DIR, where the database and last-signal live
	secret  []byte // SECRET_KEY; never logged, never served
}

// dbPath is the database file in the data directory.
func (c config) dbPath() string { return filepath.Join(c.dataDir, "notes.db") }

// lastSignalPath is the file that records the last stop signal received.
func (c config) lastSignalPath() string { return filepath.Join(c.dataDir, "last-signal") }

// parseConfig reads the settings every subcommand shares from getenv.
func parseConfig(getenv func(string) string) (config, error) {
	c := config{
		color:   orDefault(getenv("COLOR"), "none"),
		version: orDefault(getenv("APP_VERSION"), "dev"),
		dataDir: orDefault(getenv("DATA_DIR"), "/data"),
	}
	port := orDefault(getenv("PORT"), "8080")
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return c, fmt.Errorf("PORT=%q: want a port number from 1 to 65535", port)
	}
	c.addr = net.JoinHostPort(orDefault(getenv("LISTEN_ADDR"), "0.0.0.0"), port)
	return c, nil
}

// withSecret adds SECRET_KEY to c: serve needs it, migrate and version do
// not. The error never holds the key itself.
func withSecret(c config, getenv func(string) string) (config, error) {
	s := getenv("SECRET_KEY")
	if s == "" {
		return c, errNoSecret
	}
	if len(s) < minSecretLen {
		return c, fmt.Errorf("SECRET_KEY is %d bytes long: want at least %d", len(s), minSecretLen)
	}
	c.secret = []byte(s)
	return c, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
