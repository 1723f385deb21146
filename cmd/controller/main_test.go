package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/bluegreen-host/controller/internal/testenv"
)

// TestMain runs the tests under the tests' host policy (map files in
// temporary directories, the host network), given as BLUEGREEN_POLICY; a
// test of the policy itself passes --policy, which wins.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bluegreen-policy-")
	if err == nil {
		var path string
		if path, err = testenv.WritePolicy(dir); err == nil {
			err = os.Setenv("BLUEGREEN_POLICY", path)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "write the tests' host policy:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
