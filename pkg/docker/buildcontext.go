package docker

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/go-archive"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"

	"github.com/bluegreen-host/controller/internal/safefile"
)

// The build context is what the docker CLI would send for the same
// directory: .dockerignore is read and matched by Docker's own packages
// (moby/patternmatcher), and each file's tar header is made as Docker's own
// archiver (moby/go-archive) makes it, with its FileInfoHeader. Before
// anything is sent, the controller walks the context the way the archiver
// would and refuses what the archiver would drop or send without a word:
// sockets, named pipes, devices and files it cannot read.
//
// Every file is read through the context directory opened once (an
// os.Root), never by its path on the host: a directory of the context
// swapped for a link during the build cannot lead outside it, and a link
// is sent as a link, never followed.

// contextExcludes reads dir/.dockerignore and returns its patterns, each
// checked, followed by exceptions ("!name") that keep the Dockerfile and
// .dockerignore in the context even when the patterns exclude them. The
// docker CLI adds the same exceptions when it finds them excluded: the
// engine reads both from the context, then drops them itself if
// .dockerignore excludes them. They are added here whether or not the
// patterns exclude them, which sends the same files and spares deciding it
// twice. dockerfile is slash-separated and relative to dir. A missing
// .dockerignore means no patterns.
func contextExcludes(root *os.Root, dockerfile string) ([]string, error) {
	name := filepath.Join(root.Name(), ".dockerignore")
	f, err := root.OpenFile(".dockerignore", os.O_RDONLY|syscall.O_NONBLOCK, 0)
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

// walkContext calls fn for every file and directory of the context root
// that the archiver sends with these exclude patterns, with its
// slash-separated path relative to root and its information (a link's own,
// not its target's). It decides as the archiver does: each path is matched
// with its parent directory's results, and an excluded directory is entered
// only when an exception pattern names a path below it.
func walkContext(root *os.Root, excludes []string, fn func(rel string, fi fs.FileInfo) error) error {
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return err
	}
	dirs := make(map[string]patternmatcher.MatchInfo) // each directory's match results
	return fs.WalkDir(root.FS(), ".", func(rel string, e fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		if rel == "." {
			return nil
		}
		excluded, info, err := pm.MatchesUsingParentResults(rel, dirs[path.Dir(rel)])
		if err != nil {
			return fmt.Errorf("match %s against .dockerignore: %w", rel, err)
		}
		if e.IsDir() {
			dirs[rel] = info
		}
		if excluded {
			if e.IsDir() && !exceptionBelow(pm, rel) {
				return fs.SkipDir
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
func checkContext(root *os.Root, excludes []string) error {
	return walkContext(root, excludes, func(rel string, fi fs.FileInfo) error {
		switch mode := fi.Mode(); {
		case mode.IsDir(), mode&fs.ModeSymlink != 0:
			return nil
		case !mode.IsRegular():
			return fmt.Errorf("build context file %s is a %s, which cannot be sent; add it to .dockerignore", rel, safefile.Kind(mode))
		}
		f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		return f.Close()
	})
}

// contextTar checks the context root and returns its tar stream as the
// docker CLI makes it: what excludes leave out is not sent, and files are
// owned by root. The caller closes the stream, then root.
func contextTar(root *os.Root, excludes []string) (io.ReadCloser, error) {
	if err := checkContext(root, excludes); err != nil {
		return nil, err
	}
	return newStartOnRead(func(w io.Writer) error { return writeContext(w, root, excludes) }), nil
}

// startOnRead starts writing the stream when it is first read. A request
// that fails before it reads its body (the engine is down) then leaves no
// writer behind.
type startOnRead struct {
	write func(io.Writer) error
	once  sync.Once
	pr    *io.PipeReader
	pw    *io.PipeWriter
}

func newStartOnRead(write func(io.Writer) error) *startOnRead {
	pr, pw := io.Pipe()
	return &startOnRead{write: write, pr: pr, pw: pw}
}

func (s *startOnRead) Read(p []byte) (int, error) {
	s.once.Do(func() { go func() { s.pw.CloseWithError(s.write(s.pw)) }() })
	return s.pr.Read(p)
}

func (s *startOnRead) Close() error {
	return s.pr.Close()
}

// writeContext writes the tar stream of the context root to w: the files
// walkContext visits, in its order, each as the archiver would add it.
func writeContext(w io.Writer, root *os.Root, excludes []string) error {
	tw := tar.NewWriter(w)
	seen := make(map[uint64]string) // a hard-linked file's first name, by inode
	if err := walkContext(root, excludes, func(rel string, fi fs.FileInfo) error {
		return addContextFile(tw, root, rel, fi, seen)
	}); err != nil {
		return err
	}
	return tw.Close()
}

// addContextFile adds the file rel of root to tw as the archiver's
// addTarFile does with root as every file's owner: its header from
// archive.FileInfoHeader, a link as a link, a file with more than one link
// as a hard link to its first name, and its security.capability attribute.
// A regular file is opened first and its header made from the open file,
// so that the header and the content sent are of one file.
func addContextFile(tw *tar.Writer, root *os.Root, rel string, fi fs.FileInfo, seen map[uint64]string) error {
	var link string
	var f *os.File
	switch mode := fi.Mode(); {
	case mode&fs.ModeSymlink != 0:
		l, err := root.Readlink(rel)
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		link = l
	case mode.IsRegular():
		var err error
		f, err = root.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		defer f.Close()
		if fi, err = f.Stat(); err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("build context file %s was replaced by a %s while it was sent", rel, safefile.Kind(fi.Mode()))
		}
	case !mode.IsDir():
		return fmt.Errorf("build context file %s is a %s, which cannot be sent; add it to .dockerignore", rel, safefile.Kind(mode))
	}
	hdr, err := archive.FileInfoHeader(rel, fi, link)
	if err != nil {
		return fmt.Errorf("send build context file %s: %w", rel, err)
	}
	if f != nil {
		addCapability(f, hdr)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && !fi.IsDir() && st.Nlink > 1 {
		if first, ok := seen[st.Ino]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			seen[st.Ino] = hdr.Name
		}
	}
	hdr.Uid, hdr.Gid = 0, 0
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("send build context file %s: %w", rel, err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("send build context file %s: it was shortened while it was sent", rel)
		}
		return fmt.Errorf("send build context file %s: %w", rel, err)
	}
	return nil
}

// addCapability copies the file's security.capability attribute into hdr,
// as the archiver does: version 3 (with a user namespace's root) is sent as
// version 2, which a root outside that namespace makes sense of.
func addCapability(f *os.File, hdr *tar.Header) {
	const (
		xattrCapsSz2    = 20
		versionOffset   = 3
		vfsCapRevision2 = 2
		vfsCapRevision3 = 3
	)
	buf := make([]byte, 64)
	n, err := unix.Fgetxattr(int(f.Fd()), "security.capability", buf)
	if err != nil || n <= versionOffset {
		return
	}
	c := buf[:n]
	if c[versionOffset] == vfsCapRevision3 && n >= xattrCapsSz2 {
		c[versionOffset] = vfsCapRevision2
		c = c[:xattrCapsSz2]
	}
	if hdr.PAXRecords == nil {
		hdr.PAXRecords = make(map[string]string)
	}
	hdr.PAXRecords["SCHILY.xattr.security.capability"] = string(c)
}
