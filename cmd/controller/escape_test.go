package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEscapeTerminal(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\nand\ttabs": "plain text\nand\ttabs",
		"\x1b[2J\x1b[Hclear":    `\x1b[2J\x1b[Hclear`,
		"bell\a cr\r del\x7f":   `bell\x07 cr\x0d del\x7f`,
		"bidi \u202eevil":       `bidi \u202eevil`,
		"csi \u009b31m":         `csi \u009b31m`,
		"bad \xff utf8":         `bad \xff utf8`,
		"grün ✓":                "grün ✓",
	} {
		if got := escapeTerminal(in); got != want {
			t.Errorf("escapeTerminal(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStatusEscapesWhatContainersPrint: a container's log line with
// terminal escapes, kept in status.json, cannot rewrite the operator's
// screen when controller status prints it.
func TestStatusEscapesWhatContainersPrint(t *testing.T) {
	dir := t.TempDir()
	status := `{"desired": "/etc/bluegreen/desired.yaml", "services": {"web": {
		"phase": "Failed", "observedGeneration": "abc", "activeColor": "green", "image": "app:v2",
		"conditions": [{"type": "Ready", "status": "False", "reason": "ContainerExited",
			"message": "bg-web-green exited\u001b[1A\u001b[2K", "lastTransitionTime": "2026-11-30T07:00:00Z"}],
		"logs": "panic: boom\n\u001b[2J\u001b[HFAKE: all services Converged\n"}}}`
	if err := os.WriteFile(filepath.Join(dir, "status.json"), []byte(status), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"status", "--state-dir", dir}, &out, &errOut)
	if code != exitNotConverged {
		t.Errorf("exit %d, want %d; stderr %s", code, exitNotConverged, errOut.String())
	}
	if bytes.ContainsRune(out.Bytes(), 0x1b) {
		t.Fatalf("status printed a raw escape character:\n%q", out.String())
	}
	for _, want := range []string{`\x1b[2J\x1b[HFAKE`, `exited\x1b[1A`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output does not show %q escaped:\n%s", want, out.String())
		}
	}
}
