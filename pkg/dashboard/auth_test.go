package dashboard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadTokens(t *testing.T) {
	secret := strings.Repeat("ab", 16)
	for _, c := range []struct {
		name, text string
		mode       os.FileMode
		want       []string // names; nil: refused with refused in the error
		refused    string
	}{
		{"two tokens", "# operators\nalice:" + secret + "\n\ndeploy-bot:" + secret + "x\n", 0o600, []string{"alice", "deploy-bot"}, ""},
		{"read-only for its owner", "alice:" + secret + "\n", 0o400, []string{"alice"}, ""},
		{"group may read", "alice:" + secret + "\n", 0o640, nil, "mode 0640 lets its group or others at it: chmod 600"},
		{"others may read", "alice:" + secret + "\n", 0o604, nil, "mode 0604"},
		{"no colon", secret + "\n", 0o600, nil, "line 1: token file refused: want NAME:SECRET"},
		{"short secret", "alice:short\n", 0o600, nil, "the secret of alice has 5 characters, want at least 32"},
		{"bad name", "al ice:" + secret + "\n", 0o600, nil, `name "al ice"`},
		{"name twice", "alice:" + secret + "\nalice:" + secret + "\n", 0o600, nil, "line 2: token file refused: name alice given twice"},
		{"empty", "# nothing\n", 0o600, nil, "holds no NAME:SECRET line"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens")
			if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			got, err := ReadTokens(path)
			if c.want == nil {
				if err == nil || !errors.Is(err, ErrTokenFile) || !strings.Contains(err.Error(), c.refused) || !strings.Contains(err.Error(), path) {
					t.Fatalf("ReadTokens = %v, %v; want refused naming %s and %q", got, err, path, c.refused)
				}
				return
			}
			if err != nil || len(got) != len(c.want) {
				t.Fatalf("ReadTokens = %v, %v; want %v", got, err, c.want)
			}
			for i, n := range c.want {
				if got[i].Name != n {
					t.Errorf("token %d named %q, want %q", i, got[i].Name, n)
				}
			}
		})
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTokens(link); err == nil {
		t.Errorf("ReadTokens through a symbolic link succeeded")
	}
}
