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
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
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
	if uid, ok := foreignOwner(fi); ok {
		return fmt.Errorf("directory %s is %w: %s, not %s, the user the controller runs as; its owner can plant files the controller trusts and take its locks: remove the directory (the controller creates it again), or chown %d %s if that user is trusted", dir, ErrNotOwned, userName(uid), userName(os.Geteuid()), os.Geteuid(), dir)
	}
	return nil
}

// ErrNotOwned is returned for a directory or file of the controller's that
// another user owns.
var ErrNotOwned = errors.New("owned by another user")

// CheckOwned refuses the open file f, at path, when the controller's user
// (its effective uid) does not own it: a file another user made where the
// controller keeps its own was put there to mislead it or keep it out.
func CheckOwned(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("check owner of %s: %w", path, err)
	}
	if uid, ok := foreignOwner(fi); ok {
		return fmt.Errorf("%s is %w: %s, not %s, the user the controller runs as; someone else made it, to mislead the controller or keep it out: remove it (the controller creates it again)", path, ErrNotOwned, userName(uid), userName(os.Geteuid()))
	}
	return nil
}

// CheckTrusted refuses fi, the file or directory at path that what names
// in the message ("it", "its directory /etc/x"), when someone other than
// root and the controller's user may change it: another owner, or write
// permission for its group or others. why says what that someone could
// then do.
func CheckTrusted(fi fs.FileInfo, what, path, why string) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, neither root nor the controller's user (uid %d), %s: chown root %s", what, st.Uid, os.Geteuid(), why, path)
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%s may be written by its group or others (mode %04o), %s: chmod go-w %s", what, m, why, path)
	}
	return nil
}

// foreignOwner returns the owner of fi when it is not the effective uid.
func foreignOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == os.Geteuid() {
		return 0, false
	}
	return int(st.Uid), true
}

// userName names uid for a message: "uid 65534 (nobody)".
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("uid %d (%s)", uid, u.Username)
	}
	return fmt.Sprintf("uid %d", uid)
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
	tmp, err := os.CreateTemp(dir, tempPrefix(base)+"*")
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

// tempPrefix is how the name of a temporary file of Replace for the file
// base begins; os.CreateTemp ends it with a decimal number.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// RemoveTemps removes from dir the temporary files that Replace left for
// the files names there when it was cut short (the process killed between
// creating one and renaming it over the file), and returns their paths.
// Only regular files named as Replace names them are removed, never a link
// or a directory. The caller must make sure that no one writes those files
// at the time, for instance by holding the lock of dir.
func RemoveTemps(dir string, names ...string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s for temporary files left by a cut write: %w", dir, err)
	}
	var removed []string
	for _, e := range ents {
		if !e.Type().IsRegular() || !isTemp(e.Name(), names) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("remove temporary file %s left by a cut write: %w", p, err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// isTemp reports whether name is a temporary file of Replace for one of
// names.
func isTemp(name string, names []string) bool {
	for _, base := range names {
		n, ok := strings.CutPrefix(name, tempPrefix(base))
		if !ok || n == "" {
			continue
		}
		if _, err := strconv.ParseUint(n, 10, 32); err == nil {
			return true
		}
	}
	return false
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
