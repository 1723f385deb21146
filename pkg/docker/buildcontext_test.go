package docker

import (
	"archive/tar"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// dockerExcludes is Docker's own answer, from its libraries alone: does the
// .dockerignore text ignore exclude the path p?
func dockerExcludes(ignore, p string) (bool, error) {
	patterns, err := ignorefile.ReadAll(strings.NewReader(ignore))
	if err != nil {
		return false, err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return false, err
	}
	return pm.MatchesOrParentMatches(p)
}

// contextRoot opens the context directory dir as a build does; the test's
// cleanup closes it.
func contextRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	root, err := openContext(dir)
	if err != nil {
		t.Fatalf("open the context: %v", err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

// walked lists what walkContext visits: what the controller decides to send.
func walked(t *testing.T, dir string, excludes []string) []string {
	t.Helper()
	var names []string
	err := walkContext(contextRoot(t, dir), excludes, func(rel string, fi fs.FileInfo) error {
		if fi.IsDir() {
			rel += "/"
		}
		names = append(names, rel)
		return nil
	})
	if err != nil {
		t.Fatalf("walk the context: %v", err)
	}
	return names
}

// tarred reads the context tar the controller sends and returns its headers.
func tarred(t *testing.T, dir string, excludes []string) []*tar.Header {
	t.Helper()
	rc, err := contextTar(contextRoot(t, dir), excludes)
	if err != nil {
		t.Fatalf("context tar: %v", err)
	}
	defer rc.Close()
	var hdrs []*tar.Header
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs
		}
		if err != nil {
			t.Fatalf("read the context tar: %v", err)
		}
		hdrs = append(hdrs, h)
	}
}

func tarNames(hdrs []*tar.Header) []string {
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
	}
	return names
}

// TestDockerignoreMatchesDocker runs .dockerignore patterns through the
// controller (reading the file, deciding what to send, and the tar actually
// sent) and through Docker's patternmatcher, and requires one answer.
func TestDockerignoreMatchesDocker(t *testing.T) {
	const (
		sent     = "sent"
		excluded = "excluded"
		bad      = "bad pattern"
	)
	tests := []struct {
		ignore string // the .dockerignore file
		path   string // a file in the context
		want   string // Docker's answer, stated here so a reader sees it
	}{
		{"secret.txt", "secret.txt", excluded},
		{"secret.txt", "sub/secret.txt", sent},
		{"/secret.txt", "secret.txt", excluded},       // leading slash
		{"./secret.txt", "secret.txt", excluded},      // leading ./
		{"sub/../secret.txt", "secret.txt", excluded}, // cleaned
		{"*", "top.txt", excluded},
		{"*", "sub/deep/file", excluded}, // a parent directory matches
		{"*.log", "a.log", excluded},
		{"*.log", "sub/a.log", sent}, // * does not cross a slash
		{"*/*.log", "sub/a.log", excluded},
		{"**", "sub/deep/file", excluded},
		{"**/*.log", "a.log", excluded},
		{"**/*.log", "x/y/a.log", excluded},
		{"**/*.log", "x/y/a.txt", sent},
		{"**/node_modules", "web/app/node_modules/x.js", excluded},
		{"build/**", "build/out/bin", excluded},
		{"build/**", "buildx/bin", sent},
		{"build", "build/out/bin", excluded},
		{"build/", "build/out/bin", excluded}, // trailing slash
		{"build/", "builds/bin", sent},
		{"sub/*/deep", "sub/x/deep/file", excluded},
		{"file?.txt", "file1.txt", excluded},
		{"file?.txt", "file10.txt", sent},
		{"?", "a", excluded},
		{"?", "ab", sent},
		{"[ab].txt", "a.txt", excluded},
		{"[!a]", "a", excluded}, // "!" is literal in a class
		{"[!a]", "!", excluded},
		{"[!a]", "b", sent},
		{"[^a]", "b", excluded}, // "^" negates a class
		{"[[:alpha:]]", "x", excluded},
		{"[[:alpha:]]", "1", sent},
		{`a[\]]b`, "a]b", excluded},
		{`\*`, "*", excluded},
		{`\*`, "x", sent},
		{"a.b", "axb", sent},
		{"a+b", "a+b", excluded},
		{"[a-", "a", bad},
		{"[z-a]", "z", bad}, // passes the first check, fails when matched
		{"!", "x", bad},
		{"ok.txt\n[a-", "ok.txt", bad},
		{"*\n!keep.txt", "keep.txt", sent},
		{"*\n!keep.txt", "other.txt", excluded},
		{"!keep.txt\n*", "keep.txt", excluded}, // the last match wins
		{"cache\n!cache/keep", "cache/keep", sent},
		{"cache\n!cache/keep", "cache/junk", excluded},
		{"cache\n!cache/keep\ncache/keep", "cache/keep", excluded}, // excluded again
		{"logs\n!logs/*.txt\nlogs/secret*", "logs/secret.txt", excluded},
		{"logs\n!logs/*.txt\nlogs/secret*", "logs/a.txt", sent},
		{"*.log\n! important.log ", "important.log", sent},
		{"# comment\n\n  spaced.txt  \n", "spaced.txt", excluded},
		{"# secret.txt", "# secret.txt", sent}, // a comment, not a pattern
		{" # x", "# x", excluded},              // "#" not in the first column
		{"secret.txt\r\n", "secret.txt", excluded},
		{"\ufeffsecret.txt", "secret.txt", excluded}, // byte order mark
	}
	for _, tt := range tests {
		t.Run(tt.ignore+" "+tt.path, func(t *testing.T) {
			docker := sent
			if ex, err := dockerExcludes(tt.ignore, tt.path); err != nil {
				docker = bad
			} else if ex {
				docker = excluded
			}
			if docker != tt.want {
				t.Errorf("patternmatcher: %q with %q: %s, the table says %s", tt.path, tt.ignore, docker, tt.want)
			}

			dir := writeFiles(t, map[string]string{".dockerignore": tt.ignore, tt.path: "x"})
			excludes, err := contextExcludes(contextRoot(t, dir), "Dockerfile")
			if err != nil {
				if docker != bad {
					t.Fatalf("controller refuses %q, Docker accepts it: %v", tt.ignore, err)
				}
				t.Logf("error: %v", err)
				want := "read " + filepath.Join(dir, ".dockerignore") + ": bad pattern "
				if !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %q does not start with %q", err, want)
				}
				return
			}
			if docker == bad {
				t.Fatalf("controller accepts %q, Docker refuses it", tt.ignore)
			}
			controller := excluded
			if slices.Contains(walked(t, dir, excludes), tt.path) {
				controller = sent
			}
			if controller != docker {
				t.Errorf("%q with %q: controller %s, patternmatcher %s", tt.path, tt.ignore, controller, docker)
			}
			inTar := slices.Contains(tarNames(tarred(t, dir, excludes)), tt.path)
			if inTar != (controller == sent) {
				t.Errorf("%q with %q: controller decides %s, in the tar sent: %v", tt.path, tt.ignore, controller, inTar)
			}
		})
	}
}

// TestContextFollowsArchiver: where Docker's archiver and a plain match
// disagree, the controller sends what the archiver (and so docker build)
// sends.
func TestContextFollowsArchiver(t *testing.T) {
	tests := []struct{ ignore, path string }{
		// An excluded directory is not entered for an exception that
		// does not name a path below it.
		{"build\n!**/keep", "build/keep"},
		// A path is matched with its parent's results.
		{"a/b\n!a", "a/b"},
	}
	for _, tt := range tests {
		if ex, err := dockerExcludes(tt.ignore, tt.path); err != nil || ex {
			t.Fatalf("patternmatcher alone: %q with %q: excluded %v, %v; this case wants it not excluded", tt.path, tt.ignore, ex, err)
		}
		dir := writeFiles(t, map[string]string{".dockerignore": tt.ignore, tt.path: "x"})
		excludes, err := contextExcludes(contextRoot(t, dir), "Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		w, tr := walked(t, dir, excludes), tarNames(tarred(t, dir, excludes))
		if slices.Contains(w, tt.path) || slices.Contains(tr, tt.path) {
			t.Errorf("%q with %q: controller sends %q, tar holds %q; the archiver leaves it out", tt.path, tt.ignore, w, tr)
		}
	}
}

// TestContextTar checks the tar a build sends: what .dockerignore leaves
// out is missing, the Dockerfile and .dockerignore are there even when
// excluded, files are owned by root, symbolic links stay links.
func TestContextTar(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"build/Dockerfile": "FROM scratch\n",
		".dockerignore":    "*.log\nsecret\n.dockerignore\nbuild\ncache\n!cache/keep",
		"app":              "binary",
		"debug.log":        "x",
		"secret/key":       "x",
		"build/other":      "x",
		"cache/junk":       "x",
		"cache/keep":       "kept",
		"sub/nested.log":   "kept: *.log matches only the top level",
		"sub/dir/file.go":  "package x",
	})
	if err := os.Symlink("app", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	// Files not owned by root before they are sent: as root, give one away.
	if os.Getuid() == 0 {
		if err := os.Lchown(filepath.Join(dir, "app"), 12345, 12345); err != nil {
			t.Fatal(err)
		}
	}
	excludes, err := contextExcludes(contextRoot(t, dir), "build/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	hdrs := tarred(t, dir, excludes)
	for _, h := range hdrs {
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want 0:0", h.Name, h.Uid, h.Gid)
		}
		if h.Name == "link" && (h.Typeflag != tar.TypeSymlink || h.Linkname != "app") {
			t.Errorf("link: type %c -> %q, want a symlink to app", h.Typeflag, h.Linkname)
		}
	}
	want := []string{".dockerignore", "app", "build/Dockerfile", "cache/keep", "link", "sub/", "sub/dir/", "sub/dir/file.go", "sub/nested.log"}
	if got := tarNames(hdrs); !slices.Equal(got, want) {
		t.Errorf("context holds %q, want %q", got, want)
	}
}

// TestContextSpecialFiles: a socket or named pipe that would be sent fails
// the build with a message naming it; excluded, it is left out.
func TestContextSpecialFiles(t *testing.T) {
	for _, kind := range []string{"socket", "named pipe"} {
		for _, ignored := range []bool{false, true} {
			dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\n"})
			if ignored {
				if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("run/\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Mkdir(filepath.Join(dir, "run"), 0o755); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "run", "special")
			switch kind {
			case "socket":
				ln, err := net.Listen("unix", p)
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			case "named pipe":
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			excludes, err := contextExcludes(contextRoot(t, dir), "Dockerfile")
			if err != nil {
				t.Fatal(err)
			}
			if ignored {
				// tarred fails the test if contextTar refuses the context.
				if names := tarNames(tarred(t, dir, excludes)); !slices.Equal(names, []string{".dockerignore", "Dockerfile"}) {
					t.Errorf("%s excluded by .dockerignore: the context holds %q", kind, names)
				}
				continue
			}
			want := "build context file run/special is a " + kind + ", which cannot be sent; add it to .dockerignore"
			rc, err := contextTar(contextRoot(t, dir), excludes)
			if err == nil {
				rc.Close()
				t.Errorf("%s in the context: no error, want %q", kind, want)
			} else if err.Error() != want {
				t.Errorf("%s in the context: error %q, want %q", kind, err, want)
			}
		}
	}
}
