package haproxy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/haproxy/names"
)

// ParseMapFile parses a map file the way HAProxy 2.6 loads it: one entry a
// line, the key up to the first space or tab, the value the rest of the line
// without surrounding spaces and tabs (it may contain spaces, and is empty
// when the line has only a key). A line is a comment only when '#' is its
// very first character ("  # x" is the key "#"); blank lines are skipped, and
// a carriage return ends the line. It refuses NUL bytes, which HAProxy would
// silently cut the line at.
func ParseMapFile(text string) ([]MapEntry, error) {
	var entries []MapEntry
	for i, line := range strings.Split(text, "\n") {
		if strings.IndexByte(line, 0) >= 0 {
			return nil, fmt.Errorf("map file line %d contains a NUL byte, which HAProxy would cut the line at", i+1)
		}
		if key, value, ok := parseMapLine(line); ok {
			entries = append(entries, MapEntry{Key: key, Value: value})
		}
	}
	return entries, nil
}

// parseMapLine parses one line without its '\n'; ok is false for comments
// and blank lines.
func parseMapLine(line string) (key, value string, ok bool) {
	if strings.HasPrefix(line, "#") {
		return "", "", false
	}
	if i := strings.IndexByte(line, '\r'); i >= 0 {
		line = line[:i]
	}
	line = strings.TrimLeft(line, " \t")
	if line == "" {
		return "", "", false
	}
	key = line
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		key, value = line[:i], strings.Trim(line[i:], " \t")
	}
	return key, value, true
}

// LookupMapFile returns the value of the first entry with key in the map file
// at path, as HAProxy would load it. A missing file is not an error: found is
// false.
func LookupMapFile(path, key string) (value string, found bool, err error) {
	entries, err := ReadMapFile(path)
	if err != nil {
		return "", false, err
	}
	for _, e := range entries {
		if e.Key == key {
			return e.Value, true, nil
		}
	}
	return "", false, nil
}

// ReadMapFile reads every entry of the map file at path, in order; none
// when there is no such file.
func ReadMapFile(path string) ([]MapEntry, error) {
	data, err := safefile.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read map file %s: %w", path, err)
	}
	entries, err := ParseMapFile(string(data))
	if err != nil {
		return nil, fmt.Errorf("read map file %s: %w", path, err)
	}
	return entries, nil
}

// mapFileLocks holds one mutex per map file path.
var mapFileLocks sync.Map

// WriteMapFile sets key to value in the map file at path, rewriting every
// line with that key (HAProxy's "set map" also changes every duplicate) or
// appending "key value" when there is none, and keeping all other lines,
// comments included, in order. The file is replaced atomically: a temporary
// file in the same directory, fsync, rename, fsync of the directory. The
// file's mode (0644 for a new file) and, when permitted, its owner are kept.
// A symbolic link at path, or anything but a regular file, is refused: it
// is never followed. Nothing is written when the file already holds the
// value.
//
// Writes to one path are made one at a time within the process: each
// rewrites the whole file, so two at once could lose one of the keys.
func WriteMapFile(path, key, value string) error {
	if err := names.ValidateMapPath(path); err != nil {
		return fmt.Errorf("write map file %s: %w", path, err)
	}
	mu, _ := mapFileLocks.LoadOrStore(path, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if err := names.ValidateMapKey(key); err != nil {
		return fmt.Errorf("write map file %s key %q: %w", path, key, err)
	}
	if err := names.ValidateMapValue(value); err != nil {
		return fmt.Errorf("write map file %s key %s: value: %w", path, key, err)
	}
	// A symbolic link at the path is refused, never followed: the
	// controller runs as root and would rewrite whatever it points at.
	target := path
	if err := safefile.CheckTarget(target); err != nil {
		return fmt.Errorf("write map file %s key %s: %w", path, key, err)
	}

	mode := fs.FileMode(0o644)
	uid, gid := -1, -1
	old, err := safefile.ReadFile(target)
	existed := err == nil
	switch {
	case existed:
		fi, err := os.Lstat(target)
		if err != nil {
			return fmt.Errorf("write map file %s key %s: %w", path, key, err)
		}
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
		if _, err := ParseMapFile(string(old)); err != nil {
			return fmt.Errorf("write map file %s key %s: %w; fix the file by hand first", path, key, err)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return fmt.Errorf("write map file %s key %s: %w", path, key, err)
	}

	updated := upsertMapText(string(old), key, value)
	if existed && updated == string(old) {
		return nil
	}
	if err := safefile.Replace(target, []byte(updated), mode, uid, gid); err != nil {
		return fmt.Errorf("write map file %s key %s: %w", path, key, err)
	}
	return nil
}

// upsertMapText rewrites every line whose key is key, or appends one.
func upsertMapText(text, key, value string) string {
	entry := key + " " + value
	var b strings.Builder
	replaced := false
	lines := strings.SplitAfter(text, "\n")
	for _, line := range lines {
		if line == "" {
			continue
		}
		if k, _, ok := parseMapLine(strings.TrimSuffix(line, "\n")); ok && k == key {
			b.WriteString(entry + "\n")
			replaced = true
			continue
		}
		b.WriteString(line)
	}
	if !replaced {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteString("\n")
		}
		b.WriteString(entry + "\n")
	}
	return b.String()
}
