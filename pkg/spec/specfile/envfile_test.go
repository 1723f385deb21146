package specfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// secret is a value no error, and nothing the loader keeps, may show.
const secret = "s3cr3t-hunter2"

// envFile writes an env file with mode 0600 and returns its path.
func envFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "web.env")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// parseWith parses service web with spec.envFile naming files, and extra
// lines.
func parseWith(t *testing.T, files []string, extra ...string) (string, error) {
	t.Helper()
	d := spectest.Web(append([]string{"  envFile: [" + strings.Join(files, ", ") + "]"}, extra...)...)
	svcs, err := Parse([]byte(d.YAML()), "desired.yaml", t.TempDir())
	if err != nil {
		return "", err
	}
	return svcs[0].EnvFileDigest, nil
}

// TestEnvFileDigest: the loader keeps the digest of the env files'
// contents, and no value: a change of content is a change of digest and
// of generation; the same content is the same digest.
func TestEnvFileDigest(t *testing.T) {
	p := envFile(t, "TOKEN="+secret+"\n")
	d1, err := parseWith(t, []string{p})
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := parseWith(t, []string{p})
	if d1 == "" || d1 != d2 {
		t.Fatalf("digests %q and %q of the same file: want one, not empty", d1, d2)
	}
	if strings.Contains(d1, secret) {
		t.Fatalf("the digest holds the value")
	}
	svcs, _ := Parse([]byte(spectest.Web("  envFile: ["+p+"]").YAML()), "desired.yaml", t.TempDir())
	gen := svcs[0].Generation()
	if err := os.WriteFile(p, []byte("TOKEN="+secret+"-rotated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	svcs, err = Parse([]byte(spectest.Web("  envFile: ["+p+"]").YAML()), "desired.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if svcs[0].EnvFileDigest == d1 || svcs[0].Generation() == gen {
		t.Errorf("after the file changed: digest %s (was %s), generation %s (was %s): want both changed", svcs[0].EnvFileDigest, d1, svcs[0].Generation(), gen)
	}
}

// TestEnvFileRefused: a file that others may write, a link, a pipe, a
// missing file, a name also in spec.env or in another env file, a bad
// line: each refused at spec.envFile[i], naming the file and the name,
// never the value.
func TestEnvFileRefused(t *testing.T) {
	good := envFile(t, "TOKEN="+secret+"\n")
	writable := envFile(t, "A=1\n")
	if err := os.Chmod(writable, 0o620); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link.env")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo.env")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		files []string
		extra []string
		want  []string
	}{
		{"group-writable", []string{writable}, nil, []string{"spec.envFile[0]", writable, "mode 0620", "chmod go-w"}},
		{"a symbolic link", []string{good, link}, nil, []string{"spec.envFile[1]", link, "symbolic link"}},
		{"a named pipe", []string{fifo}, nil, []string{"spec.envFile[0]", fifo, "not a regular file"}},
		{"missing", []string{"/nonexistent/web.env"}, nil, []string{"spec.envFile[0]", "/nonexistent/web.env", "no such file"}},
		{"also in spec.env", []string{good}, []string{"  env: {TOKEN: other}"}, []string{"spec.envFile[0]", "line 1: TOKEN is also set in spec.env"}},
		{"in two files", []string{good, envFile(t, "# x\nTOKEN="+secret+"\n")}, nil, []string{"spec.envFile[1]", "line 2: TOKEN is also set in " + good}},
		{"a bare name", []string{envFile(t, secret+"\n")}, nil, []string{"spec.envFile[0]", "line 1 has no '='"}},
	} {
		_, err := parseWith(t, tc.files, tc.extra...)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\ndoes not say %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the value: %v", tc.name, err)
		}
	}
}

// TestEnvFileOfAnotherUserRefused: a file owned by neither root nor the
// controller's user is refused (it chooses the container's environment).
func TestEnvFileOfAnotherUserRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
	p := envFile(t, "A=1\n")
	if err := os.Chown(p, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	_, err := parseWith(t, []string{p})
	if err == nil || !strings.Contains(err.Error(), "owned by uid 4242, neither root nor the controller's user") {
		t.Errorf("got %v, want a refusal of the owner", err)
	}
}

// TestReadEnvFilesAgain: the executor reads the files again and gets
// their variables while they hold what they held when planned on; once
// they changed, the create is refused with ErrEnvFileChanged.
func TestReadEnvFilesAgain(t *testing.T) {
	p := envFile(t, "TOKEN="+secret+"\nB=2\n")
	digest, err := parseWith(t, []string{p})
	if err != nil {
		t.Fatal(err)
	}
	vars, err := ReadEnvFiles([]string{p}, digest, []string{"A=1", "COLOR=blue"})
	if err != nil || strings.Join(vars, " ") != "TOKEN="+secret+" B=2" {
		t.Fatalf("got %q, %v; want the file's two variables", vars, err)
	}
	if _, err := ReadEnvFiles([]string{p}, digest, []string{"B=3"}); err == nil || !strings.Contains(err.Error(), "B is also set in the container's environment") {
		t.Errorf("a name also in the container's env: got %v", err)
	}
	if err := os.WriteFile(p, []byte("TOKEN=other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadEnvFiles([]string{p}, digest, nil); !errors.Is(err, ErrEnvFileChanged) || !strings.Contains(err.Error(), p) {
		t.Errorf("after a change: got %v, want ErrEnvFileChanged naming %s", err, p)
	}
}
