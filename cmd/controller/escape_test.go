package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"sigs.k8s.io/yaml"
)

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

// TestStatusDataEscapesWhatContainersPrint: status -o yaml and -o json
// print a log excerpt holding terminal escapes, NUL, BEL, DEL, a C1
// control and a bidirectional override without failing, with no raw
// control character, as JSON or YAML that reads back to the same text.
func TestStatusDataEscapesWhatContainersPrint(t *testing.T) {
	logs := "\x1b[31mred\x1b[0m\x00\x07 del\x7f csi\u009b31m bidi \u202eevil"
	dir := t.TempDir()
	st := map[string]any{"desired": "/etc/bluegreen/desired.yaml", "services": map[string]any{"web": map[string]any{
		"phase": "Converged", "observedGeneration": "abc", "activeColor": "green", "image": "app:v2", "logs": logs}}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	for format, unmarshal := range map[string]func([]byte, any) error{
		"yaml": func(b []byte, v any) error { return yaml.Unmarshal(b, v) },
		"json": json.Unmarshal,
	} {
		var out, errOut bytes.Buffer
		if code := run(t.Context(), []string{"status", "--state-dir", dir, "-o", format}, &out, &errOut); code != exitOK || errOut.Len() > 0 {
			t.Errorf("-o %s: exit %d, want %d; stderr %s", format, code, exitOK, errOut.String())
			continue
		}
		for _, r := range out.String() {
			if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
				t.Errorf("-o %s printed a raw %U:\n%q", format, r, out.String())
			}
		}
		var got struct {
			Services map[string]struct{ Logs string }
		}
		if err := unmarshal(out.Bytes(), &got); err != nil {
			t.Errorf("-o %s: the output does not read back: %v\n%s", format, err, out.String())
		} else if got.Services["web"].Logs != logs {
			t.Errorf("-o %s: logs read back as %q, want %q\n%s", format, got.Services["web"].Logs, logs, out.String())
		}
		t.Logf("-o %s:\n%s", format, out.String())
	}
}
