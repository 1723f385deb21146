package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bluegreen-host/controller/internal/safefile"
)

// resolve returns the absolute path of rel (slash-separated) in the
// checkout at root, as spelled, after checking that it exists and that,
// links followed, it stays inside root.
//
// Links below a desired directory are not checked here: spec.Load reads
// only the regular files of a directory, and checks build contexts itself.
func resolve(root, rel string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, filepath.FromSlash(rel))
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		if _, lerr := os.Lstat(p); lerr == nil {
			return "", fmt.Errorf("%w: %q is a link to nothing", ErrPathNotFound, rel)
		}
		return "", fmt.Errorf("%w: %q does not exist", ErrPathNotFound, rel)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %q does not resolve: %v", ErrPathOutside, rel, bare(err))
	}
	if !safefile.Within(realRoot, real) {
		return "", fmt.Errorf("%w: %q leads, through a link, to %s: refused", ErrPathOutside, rel, real)
	}
	return p, nil
}
