package state

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestRequestsFileReadAgainOnlyWhenItChanged: the requests kept from the
// last read are given while the file is the same; a request written by
// another process (a new file renamed over), a change in place, or the
// file removed is seen at the next read; and what a caller does with the
// map it was given does not change what is kept.
func TestRequestsFileReadAgainOnlyWhenItChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "approvals.json")
	a := NewApprovals(path)
	want := func(what string, w map[string]string) {
		t.Helper()
		got, err := a.All()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("%s: %v, want %v", what, got, w)
		}
		got["intruder"] = "x" // the caller's copy
	}
	want("no file", map[string]string{})
	if err := NewApprovals(path).Approve("web", "aaaaaaaaaaaa"); err != nil { // another process
		t.Fatal(err)
	}
	want("approved", map[string]string{"web": "aaaaaaaaaaaa"})
	want("read again", map[string]string{"web": "aaaaaaaaaaaa"})
	if err := NewApprovals(path).Approve("web", "bbbbbbbbbbbb"); err != nil {
		t.Fatal(err)
	}
	want("approved again, the same size", map[string]string{"web": "bbbbbbbbbbbb"})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte("bbbbbbbbbbbb"), []byte("cccccccccccc")), 0o600); err != nil { // in place, the same size
		t.Fatal(err)
	}
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	want("changed in place", map[string]string{"web": "cccccccccccc"})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	want("removed", map[string]string{})
}
