package testenv

import (
	"fmt"
	"os"
	"path/filepath"
)

// WritePolicy writes into dir the host policy tests run the controller
// under, and returns its path: map files, bind mounts and env files
// anywhere below the temporary directory (where tests keep them) as well
// as where the defaults allow them, any Docker network, the host's too;
// everything else as the defaults. The controller reads it through
// --policy or BLUEGREEN_POLICY.
func WritePolicy(dir string) (string, error) {
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		return "", err
	}
	content := fmt.Sprintf(`# The tests' host policy (internal/testenv/policy.go).
mapFileDirs: [/etc/haproxy, %q]
bindMountRoots: [%q]
envFileDirs: [/etc/bluegreen, %q]
networks: ["*", host]
`, tmp, tmp, tmp)
	path := filepath.Join(dir, "policy.yaml")
	return path, os.WriteFile(path, []byte(content), 0o644)
}
