// Package safefile opens the controller's own files (the map file, the
// lock, the state files) without following symbolic links: the controller
// runs as root, and a link planted at one of these paths must not make it
// read, truncate or rewrite another file.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is returned for a path that is a symbolic link or not a
// regular file.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path like os.OpenFile, but never through a symbolic link at
// path itself (O_NOFOLLOW), and only when it is a regular file.
func Open(path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, perm)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("open %s: %w: it is a symbolic link, which the controller does not follow; replace it with the file itself", path, ErrNotRegular)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %s: %w (it is a %s)", path, ErrNotRegular, kind(fi.Mode()))
	}
	return f, nil
}

// ReadFile reads a regular file that is not a symbolic link.
func ReadFile(path string) ([]byte, error) {
	f, err := Open(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// CheckTarget refuses a path that exists and is not a regular file (a
// symbolic link, a directory, a device) before it is replaced by a rename:
// a link there was most likely put there to redirect the write.
func CheckTarget(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link, which the controller does not follow: %w; replace it with the file itself (and name the real path in haproxy.cfg and the spec)", path, ErrNotRegular)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is a %s: %w", path, kind(fi.Mode()), ErrNotRegular)
	}
	return nil
}

// PrivateDir creates dir (and its parents) with mode 0700 when it does not
// exist; an existing one must be a directory, not a symbolic link, that
// neither its group nor others may write to.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("directory %s is a symbolic link, which the controller does not follow: name the real directory", dir)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("directory %s may be written by its group or by others (mode %04o): anyone who can write there can plant files the controller trusts; chmod go-w %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
