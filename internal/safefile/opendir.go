package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenDir opens the directory at path for reading, one component at a
// time, and refuses a symbolic link at any of them, not only the last: the
// directory it returns is the one path named when it was opened, whatever
// is renamed or swapped for a link afterwards. A missing component is
// reported wrapping fs.ErrNotExist.
func OpenDir(path string) (*os.File, error) {
	p := filepath.Clean(path)
	at := "."
	if filepath.IsAbs(p) {
		at, p = "/", strings.TrimPrefix(p, "/")
	}
	fd, err := unix.Open(at, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open directory %s: %w", path, err)
	}
	var comps []string
	if p != "" && p != "." {
		comps = strings.Split(p, "/")
	}
	walked := at
	for i, c := range comps {
		walked = filepath.Join(walked, c)
		flag := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i == len(comps)-1 {
			flag = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		next, err := unix.Openat(fd, c, flag, 0)
		if err != nil {
			err = dirError(fd, c, walked, path, err)
			unix.Close(fd)
			return nil, err
		}
		unix.Close(fd)
		fd = next
	}
	if len(comps) == 0 {
		// "/" or ".": reopen it for reading.
		next, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("open directory %s: %w", path, err)
		}
		fd = next
	}
	return os.NewFile(uintptr(fd), path), nil
}

// dirError says why component name (walked, so far) of path could not be
// opened in the directory parent.
func dirError(parent int, name, walked, path string, err error) error {
	var st unix.Stat_t
	if serr := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); serr == nil {
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			return fmt.Errorf("open directory %s: %s is a symbolic link, which the controller does not follow here (it could be swapped for another one after the check): name the real directory", path, walked)
		case unix.S_IFDIR:
		default:
			return fmt.Errorf("open directory %s: %s is not a directory", path, walked)
		}
	}
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("open directory %s: %s: %w", path, walked, fs.ErrNotExist)
	}
	return fmt.Errorf("open directory %s: %s: %w", path, walked, err)
}
