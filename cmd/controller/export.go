package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/export"
)

// exportManifests renders the desired state as Kubernetes manifests: an
// Argo Rollouts Rollout per service, or (--plain) two Deployments and a
// Service, on standard output or (--out) one file per service. Each field
// with no counterpart is reported on standard error, one line each. A
// desired state that validate refuses is refused the same way.
func exportManifests(o options, stdout, stderr io.Writer) int {
	svcs, ok := loadDesired(o, stderr)
	if !ok {
		return exitUsage
	}
	ms, err := export.Render(svcs, export.Options{Plain: o.plain})
	if err != nil {
		fmt.Fprintf(stderr, "controller export: %v\n", err)
		return exitUsage
	}
	for _, m := range ms {
		for _, u := range m.Unmapped {
			fmt.Fprintf(stderr, "controller export: %s\n", u)
		}
	}
	if o.out == "" {
		stdout.Write(export.Join(ms))
		return exitOK
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		fmt.Fprintf(stderr, "controller export: create output directory: %v\n", err)
		return exitNotConverged
	}
	for _, m := range ms {
		path := filepath.Join(o.out, m.Service+".yaml")
		if err := writeManifest(path, m.YAML); err != nil {
			fmt.Fprintf(stderr, "controller export: write the manifests of %s: %v\n", m.Service, err)
			return exitNotConverged
		}
		fmt.Fprintln(stdout, path)
	}
	return exitOK
}

// writeManifest writes data to the file at path, never through a symbolic
// link (export may run as root, into a directory others can write to) nor
// into a named pipe or device: such a path is refused.
func writeManifest(path string, data []byte) error {
	f, err := safefile.Open(path, os.O_WRONLY|os.O_CREATE|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return fmt.Errorf("truncate %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
