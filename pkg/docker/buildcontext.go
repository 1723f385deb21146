package docker

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moby/go-archive"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/bluegreen-host/controller/internal/safefile"
)

// The build context is what the docker CLI would send for the same
// directory: .dockerignore is read and matched by Docker's own packages
// (moby/patternmatcher) and the tar stream is written by Docker's own
// archiver (moby/go-archive). Before anything is sent, the controller walks
// the context the way the archiver will and refuses what the archiver would
// drop or send without a word: sockets, named pipes, devices and files it
// cannot read.

// contextExcludes reads dir/.dockerignore and returns its patterns, each
// checked, followed by exceptions ("!name") that keep the Dockerfile and
// .dockerignore in the context even when the patterns exclude them. The
// docker CLI adds the same exceptions when it finds them excluded: the
// engine reads both from the context, then drops them itself if
// .dockerignore excludes them. They are added here whether or not the
// patterns exclude them, which sends the same files and spares deciding it
// twice. dockerfile is slash-separated and relative to dir. A missing
// .dockerignore means no patterns.
func contextExcludes(dir, dockerfile string) ([]string, error) {
	name := filepath.Join(dir, ".dockerignore")
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	for _, p := range patterns {
		if err := checkPattern(p); err != nil {
			return nil, fmt.Errorf("read %s: bad pattern %q: %w", name, p, err)
		}
	}
	return append(patterns, "!.dockerignore", "!"+escapePattern(dockerfile)), nil
}

// checkPattern reports whether patternmatcher accepts p. Some patterns pass
// its first check and fail only when first matched against a path, which in
// the archiver would silently end the context early; they are matched once
// here so that every bad pattern is reported before the build.
func checkPattern(p string) error {
	if _, err := patternmatcher.New([]string{p}); err != nil {
		return err
	}
	// An exception is only evaluated after something matched; match its
	// pattern as a plain one to compile it.
	pm, err := patternmatcher.New([]string{strings.TrimPrefix(p, "!")})
	if err != nil {
		return err
	}
	_, err = pm.MatchesOrParentMatches("x")
	return err
}

// escapePattern makes a pattern that matches exactly the path p.
func escapePattern(p string) string {
	var b strings.Builder
	for _, c := range p {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// walkContext calls fn for every file and directory of dir that the
// archiver sends with these exclude patterns, with its slash-separated path
// relative to dir. It decides as the archiver does: each path is matched
// with its parent directory's results, and an excluded directory is entered
// only when an exception pattern names a path below it.
func walkContext(dir string, excludes []string, fn func(rel string, fi fs.FileInfo) error) error {
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return err
	}
	dirs := make(map[string]patternmatcher.MatchInfo) // each directory's match results
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		excluded, info, err := pm.MatchesUsingParentResults(rel, dirs[path.Dir(rel)])
		if err != nil {
			return fmt.Errorf("match %s against .dockerignore: %w", rel, err)
		}
		if e.IsDir() {
			dirs[rel] = info
		}
		if excluded {
			if e.IsDir() && !exceptionBelow(pm, rel) {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		return fn(rel, fi)
	})
}

// exceptionBelow reports whether an exception pattern ("!a/b") names a
// path below the directory rel, which must then be walked.
func exceptionBelow(pm *patternmatcher.PatternMatcher, rel string) bool {
	for _, p := range pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", rel+"/") {
			return true
		}
	}
	return false
}

// checkContext fails on what cannot be sent: a socket, named pipe or
// device, or a file that cannot be read.
func checkContext(dir string, excludes []string) error {
	return walkContext(dir, excludes, func(rel string, fi fs.FileInfo) error {
		switch mode := fi.Mode(); {
		case mode.IsDir(), mode&fs.ModeSymlink != 0:
			return nil
		case !mode.IsRegular():
			return fmt.Errorf("build context file %s is a %s, which cannot be sent; add it to .dockerignore", rel, safefile.Kind(mode))
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		return f.Close()
	})
}

// contextTar checks dir and returns its tar stream as the docker CLI makes
// it: what excludes leave out is not sent, and files are owned by root.
// The caller closes the stream.
func contextTar(dir string, excludes []string) (io.ReadCloser, error) {
	if err := checkContext(dir, excludes); err != nil {
		return nil, err
	}
	tb, err := archive.NewTarballer(dir, &archive.TarOptions{
		ExcludePatterns: excludes,
		ChownOpts:       &archive.ChownOpts{UID: 0, GID: 0},
	})
	if err != nil {
		return nil, err
	}
	return &startOnRead{tb: tb}, nil
}

// startOnRead starts the archiver when the stream is first read. A request
// that fails before it reads its body (the engine is down) then leaves no
// archive cut short, which the archiver would report on standard error.
type startOnRead struct {
	tb   *archive.Tarballer
	once sync.Once
}

func (s *startOnRead) Read(p []byte) (int, error) {
	s.once.Do(func() { go s.tb.Do() })
	return s.tb.Reader().Read(p)
}

func (s *startOnRead) Close() error {
	return s.tb.Reader().Close()
}
