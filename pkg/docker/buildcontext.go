package docker

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// writeContext writes dir as an uncompressed tar stream to w, leaving out
// what rules exclude. The Dockerfile and .dockerignore are always sent, as
// the docker CLI does. Files are owned by root in the archive. Sockets,
// pipes and devices make it fail rather than be skipped silently.
func writeContext(w io.Writer, dir string, rules ignoreRules, dockerfile string) error {
	tw := tar.NewWriter(w)
	// An excluded directory is skipped whole unless something inside it may
	// still be sent.
	walkAll := rules.hasNegation() || strings.Contains(dockerfile, "/")
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
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
		if rel != dockerfile && rel != ".dockerignore" && rules.excluded(rel) {
			if e.IsDir() && !walkAll {
				return filepath.SkipDir
			}
			return nil
		}
		return addToTar(tw, p, rel)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// addToTar writes one file, directory or symlink at path p as name rel.
func addToTar(tw *tar.Writer, p, rel string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("read build context: %w", err)
	}
	var link string
	switch mode := fi.Mode(); {
	case mode.IsRegular(), mode.IsDir():
	case mode&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
	default:
		return fmt.Errorf("build context file %s is a %s, which cannot be sent; add it to .dockerignore", rel, fileKind(mode))
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("add %s to build context: %w", rel, err)
	}
	hdr.Name = rel
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("add %s to build context: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("read build context: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("add %s to build context: %w", rel, err)
	}
	return nil
}

// fileKind names the special file types a build context cannot hold.
func fileKind(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe"
	case mode&fs.ModeDevice != 0:
		return "device"
	default:
		return "special file (" + mode.Type().String() + ")"
	}
}
