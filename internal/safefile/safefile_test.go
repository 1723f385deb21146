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
