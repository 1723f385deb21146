// Command notes is the realistic example app for the blue/green controller:
// a small notes API with its data in a bbolt file on a volume, a secret key
// from the environment, subcommands, a schema that `migrate` upgrades and
// `serve` checks, and a graceful stop on SIGQUIT only.
//
// Usage: notes serve | migrate | version (no command: usage, exit 2).
//
// Environment: PORT (default 8080), LISTEN_ADDR (default 0.0.0.0), COLOR,
// APP_VERSION (the image's VERSION build arg), DATA_DIR (default /data) and,
// for serve, SECRET_KEY (required, at least 16 bytes; never printed).
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: notes <command>

commands:
  serve     serve the notes API on $PORT; needs SECRET_KEY and a database
            migrated to this binary's schema
  migrate   create the database in $DATA_DIR or upgrade its schema, then exit
  version   print the version and the schema this binary needs

environment: PORT (8080), LISTEN_ADDR (0.0.0.0), COLOR, APP_VERSION,
DATA_DIR (/data), SECRET_KEY (serve only)
`

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run runs the subcommand in args and returns the exit status: 0 done, 1
// refused or failed, 2 bad usage; serve's are in serve.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	logger := log.New(stderr, "notes: ", log.LstdFlags|log.Lmicroseconds)
	if len(args) == 0 {
		fmt.Fprint(stderr, "notes: no command given\n\n"+usage)
		return 2
	}
	if len(args) > 1 {
		fmt.Fprintf(stderr, "notes %s: unexpected arguments %q\n\n%s", args[0], args[1:], usage)
		return 2
	}
	cfg, err := parseConfig(getenv)
	if err != nil {
		logger.Printf("bad configuration: %v", err)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(cfg, getenv, logger)
	case "migrate":
		return runMigrate(cfg, logger)
	case "version":
		fmt.Fprintf(stdout, "notes %s (schema %d)\n", cfg.version, schemaVersion)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "notes: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// runMigrate brings the database up to schemaVersion.
func runMigrate(cfg config, logger *log.Logger) int {
	st := &store{path: cfg.dbPath()}
	from, to, err := st.migrate(schemaVersion)
	if err != nil {
		logger.Printf("migrate: %v", err)
		return 1
	}
	switch {
	case from == to && from > schemaVersion:
		logger.Printf("migrate: %s has schema %d, newer than this binary's %d: nothing to do", st.path, from, schemaVersion)
	case from == to:
		logger.Printf("migrate: %s is at schema %d: nothing to do", st.path, to)
	default:
		logger.Printf("migrate: %s migrated from schema %d to %d", st.path, from, to)
	}
	return 0
}

// runServe checks what serve needs (the secret, the schema), listens on
// cfg.addr and serves until a signal.
func runServe(cfg config, getenv func(string) string, logger *log.Logger) int {
	cfg, err := withSecret(cfg, getenv)
	if err != nil {
		logger.Printf("refusing to start: %v", err)
		return 1
	}
	st := &store{path: cfg.dbPath()}
	schema, err := st.checkSchema()
	switch {
	case errors.Is(err, errNoDatabase), errors.Is(err, errSchemaTooOld):
		logger.Printf("refusing to start: %v: run `notes migrate` first", err)
		return 1
	case err != nil:
		logger.Printf("refusing to start: %v", err)
		return 1
	}
	// Before the listener: a signal from here on is handled, not fatal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		logger.Printf("listen: %v", err)
		return 1
	}
	logger.Printf("database %s at schema %d; secret key fingerprint %s", st.path, schema, fingerprint(cfg.secret))
	return serve(cfg, st, ln, sigs, logger)
}
