package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

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
		if err := os.WriteFile(path, m.YAML, 0o644); err != nil {
			fmt.Fprintf(stderr, "controller export: write the manifests of %s: %v\n", m.Service, err)
			return exitNotConverged
		}
		fmt.Fprintln(stdout, path)
	}
	return exitOK
}
