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
	"path/filepath"
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
		return nil, fmt.Errorf("open %s: %w (it is a %s)", path, ErrNotRegular, Kind(fi.Mode()))
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
		return fmt.Errorf("%s is a %s: %w", path, Kind(fi.Mode()), ErrNotRegular)
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
		return fmt.Errorf("directory %s may be written by its group or by others (mode %04o): anyone who can write there can plant files the controller trusts; chmod go-w %s, or chmod 700 %s to keep it private", dir, fi.Mode().Perm(), dir, dir)
	}
	return nil
}

// WriteFile replaces path with data atomically (see Replace), owned by the
// controller.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	return Replace(path, data, mode, -1, -1)
}

// Replace replaces path with data atomically: data goes to a temporary
// file in the same directory, which is synced, renamed over path, and the
// directory synced, so that after a crash or a power cut path holds either
// the old content or the new one, never a part. The new file has mode, and
// the owner uid and gid when they are not -1 and the controller may give
// it away. A symbolic link at path is replaced, not followed.
func Replace(path string, data []byte, mode fs.FileMode, uid, gid int) (err error) {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("create a temporary file beside it: %w: check that %s exists and that the controller may write to it", err, dir)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("set mode of %s: %w", tmp.Name(), err)
	}
	if uid >= 0 && (uid != os.Getuid() || gid != os.Getgid()) {
		// Only root can give a file away; a failure keeps the writer's owner.
		_ = tmp.Chown(uid, gid)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s over it: %w", tmp.Name(), err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s to sync the rename: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Within reports whether path p is dir or below it. Both must be clean,
// absolute and free of symbolic links (resolve them first, with
// filepath.EvalSymlinks): it is the check that a path given by the desired
// file or a config repository does not lead elsewhere on the host.
func Within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// Kind names the type of a file that is not a regular one, for messages:
// "symbolic link", "directory", "named pipe", "socket", "device".
func Kind(m fs.FileMode) string {
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
