package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSymlinkFollowed: a symbolic link planted at one of the
// controller's paths is refused by every function, and its target is
// neither read, truncated nor rewritten.
func TestNoSymlinkFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "id_rsa")
	if err := os.WriteFile(target, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "controller.lock")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if f, err := Open(link, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600); !errors.Is(err, ErrNotRegular) {
		if f != nil {
			f.Close()
		}
		t.Errorf("Open of a symlink = %v, want ErrNotRegular", err)
	}
	if _, err := ReadFile(link); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadFile of a symlink = %v, want ErrNotRegular", err)
	}
	if err := CheckTarget(link); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("CheckTarget of a symlink = %v, want ErrNotRegular naming the link", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "secret\n" {
		t.Errorf("the link's target now holds %q", b)
	}
	if err := CheckTarget(dir); !errors.Is(err, ErrNotRegular) {
		t.Errorf("CheckTarget of a directory = %v, want ErrNotRegular", err)
	}
	if err := CheckTarget(filepath.Join(dir, "absent")); err != nil {
		t.Errorf("CheckTarget of an absent file = %v", err)
	}
	if _, err := Open(dir, os.O_RDONLY, 0); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Open of a directory = %v, want ErrNotRegular", err)
	}
}

func TestPrivateDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "state", "deep")
	if err := PrivateDir(dir); err != nil {
		t.Fatalf("PrivateDir(new) = %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("new directory mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(dir); err == nil || !strings.Contains(err.Error(), "chmod go-w") {
		t.Errorf("PrivateDir(world-writable) = %v, want it refused", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(dir); err != nil {
		t.Errorf("PrivateDir(0755) = %v", err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("PrivateDir(symlink) = %v, want it refused", err)
	}
}

// TestReplace: the file is replaced whole with the mode asked for, a link
// at the path is replaced rather than written through, and a failed write
// leaves the old file and no temporary file behind.
func TestReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.json")
	if err := WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Replace(path, []byte("new\n"), 0o644, -1, -1); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("content %q, want %q", b, "new\n")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %04o, want 0644", fi.Mode().Perm())
	}

	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "history.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Errorf("the link's target was written through: %q", b)
	}
	if fi, _ := os.Lstat(link); !fi.Mode().IsRegular() {
		t.Errorf("%s is still a %s, want the regular file written", link, fi.Mode().Type())
	}

	// A rename that fails (a directory is in the way) leaves what was there
	// and no temporary file.
	busy := filepath.Join(dir, "stops.json")
	if err := os.MkdirAll(filepath.Join(busy, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(busy, []byte("new\n"), 0o600); err == nil || !strings.Contains(err.Error(), "rename") {
		t.Errorf("replace a directory: err %v, want the rename refused", err)
	}
	if fi, err := os.Stat(filepath.Join(busy, "inside")); err != nil || !fi.IsDir() {
		t.Errorf("the directory in the way was changed: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if err := WriteFile(filepath.Join(missing, "x.json"), []byte("x"), 0o600); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("write into a missing directory: err %v, want one naming %s", err, missing)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		dir, p string
		want   bool
	}{
		{"/srv/config", "/srv/config", true},
		{"/srv/config", "/srv/config/demo/Dockerfile", true},
		{"/srv/config", "/srv/config/..demo", true},
		{"/srv/config", "/srv/configs/demo", false},
		{"/srv/config", "/srv", false},
		{"/srv/config", "/etc/shadow", false},
		{"/", "/etc", true},
	} {
		if got := Within(tc.dir, tc.p); got != tc.want {
			t.Errorf("Within(%q, %q) = %v, want %v", tc.dir, tc.p, got, tc.want)
		}
	}
}

// TestPrivateDirOwnedByAnother: a directory another user made first (a
// squatter of /run/lock/bluegreen, or the owner of a state directory who
// could plant approvals.json) is refused with its owner named, even with
// mode 0755.
func TestPrivateDirOwnedByAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "bluegreen")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	err := PrivateDir(dir)
	if !errors.Is(err, ErrNotOwned) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "uid 65534") {
		t.Fatalf("PrivateDir(owned by uid 65534) = %v, want ErrNotOwned naming %s and its owner", err, dir)
	}
	if err := os.Chown(dir, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(dir); err != nil {
		t.Errorf("PrivateDir(owned by root again) = %v", err)
	}
}
