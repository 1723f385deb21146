package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// runJob is `rudeapp job [append=<file>] [sleep=<duration>] [exit=<code>]`,
// a release job for the tests: it appends one line, "job <BLUEGREEN_JOB>
// <BLUEGREEN_GENERATION> <APP_VERSION> <unix nanoseconds>", to the file,
// then sleeps, then exits with the code (default 0). It returns the exit
// status; a bad argument is 2.
func runJob(args []string, getenv func(string) string) int {
	var (
		file  string
		sleep time.Duration
		code  int
	)
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "append":
			file = v
		case "sleep":
			sleep, err = time.ParseDuration(v)
		case "exit":
			code, err = strconv.Atoi(v)
		default:
			err = fmt.Errorf("unknown argument")
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "rudeapp job: %q: %v (want append=<file>, sleep=<duration>, exit=<code>)\n", a, err)
			return 2
		}
	}
	fmt.Fprintf(os.Stderr, "rudeapp job: %s of release %s starting\n", getenv("BLUEGREEN_JOB"), getenv("BLUEGREEN_GENERATION"))
	if file != "" {
		line := fmt.Sprintf("job %s %s %s %d", getenv("BLUEGREEN_JOB"), getenv("BLUEGREEN_GENERATION"), orDefault(getenv("APP_VERSION"), "dev"), time.Now().UnixNano())
		if err := appendLine(file, line); err != nil {
			fmt.Fprintf(os.Stderr, "rudeapp job: %v\n", err)
			return 1
		}
	}
	time.Sleep(sleep)
	fmt.Fprintf(os.Stderr, "rudeapp job: done, exiting with %d\n", code)
	return code
}

// appendLine appends line and a newline to file, synced to disk.
func appendLine(file, line string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("append to %s: %w", file, err)
	}
	_, err = f.WriteString(line + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to %s: %w", file, err)
	}
	return nil
}

// firstServed appends "served <color> <version> <unix nanoseconds>" to
// FIRST_SERVED_FILE at the app's first GET /, once, so that a test can
// tell when the first request reached this version.
type firstServed struct {
	file string
	once sync.Once
}

func (f *firstServed) record(color, version string) {
	if f == nil || f.file == "" {
		return
	}
	f.once.Do(func() {
		line := fmt.Sprintf("served %s %s %d", color, version, time.Now().UnixNano())
		if err := appendLine(f.file, line); err != nil {
			fmt.Fprintf(os.Stderr, "rudeapp: first request: %v\n", err)
		}
	})
}
