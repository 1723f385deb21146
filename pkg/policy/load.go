package policy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"sigs.k8s.io/yaml"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/haproxy/names"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// maxFileSize bounds what is read of a policy file.
const maxFileSize = 1 << 20

// Load reads the policy file at file. A file that does not exist gives the
// default policy, unless named says the operator named it (a flag or
// BLUEGREEN_POLICY): then it is an error. An empty file name asks for the
// defaults. The file, and its directory,
// must be owned by root or by the controller's own user, and writable by
// no one else: whoever can write the policy decides what desired files
// may ask of the host.
func Load(file string, named bool) (*Policy, error) {
	if file == "" {
		p := Default()
		p.source = "the built-in default policy (--policy \"\")"
		return p, nil
	}
	what := "read host policy " + file
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !named:
		p := Default()
		p.source = "the built-in default policy (no " + file + ")"
		return p, nil
	case errors.Is(err, syscall.ELOOP):
		return nil, fmt.Errorf("%s: it is a symbolic link, which is not followed: put the file itself there", what)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	if err := checkOwner(f, file); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", what, maxFileSize)
	}
	p, err := Parse(data, file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return p, nil
}

// checkOwner refuses a policy file, or a directory holding it, that
// someone other than root and the controller's user may write.
func checkOwner(f *os.File, file string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("it is a %s, not a regular file", safefile.Kind(fi.Mode()))
	}
	const why = "who would decide what desired files may ask of this host"
	if err := safefile.CheckTrusted(fi, "the file", file, why); err != nil {
		return err
	}
	dir := filepath.Dir(file)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return safefile.CheckTrusted(di, "its directory "+dir, dir, why)
}

// Parse decodes a policy file's content strictly and checks its values;
// source names it in refusals.
func Parse(data []byte, source string) (*Policy, error) {
	p := &Policy{}
	if err := yaml.UnmarshalStrict(data, p); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	p.source, p.lines = "host policy "+source, fieldLines(data)
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

var topKey = regexp.MustCompile(`^([A-Za-z]+):`)

// fieldLines is the line of each top-level field of a policy file.
func fieldLines(data []byte) map[string]int {
	lines := map[string]int{}
	for i, l := range strings.Split(string(data), "\n") {
		if m := topKey.FindStringSubmatch(l); m != nil {
			lines[m[1]] = i + 1
		}
	}
	return lines
}

// check refuses values that cannot mean what their author meant.
func (p *Policy) check() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", p.at(field), fmt.Sprintf(format, args...)))
	}
	for field, dirs := range map[string]*[]string{"mapFileDirs": p.MapFileDirs, "buildContextRoots": p.BuildContextRoots, "bindMountRoots": p.BindMountRoots, "envFileDirs": p.EnvFileDirs} {
		for _, d := range orDefault(dirs, nil) {
			if !path.IsAbs(d) || path.Clean(d) != d {
				bad(field, "%q is not an absolute, clean directory", d)
			}
		}
	}
	for _, r := range orDefault(p.Runtimes, nil) {
		if r == "unix" || r == "loopback" {
			continue
		}
		if _, _, err := names.ParseRuntimeAddr(r); err != nil {
			bad("runtimes", "%q is not \"unix\", \"loopback\" or a runtime address: %v", r, err)
		}
	}
	for field, pats := range map[string]*[]string{"volumeNames": p.VolumeNames, "networks": p.Networks, "registries": p.Registries} {
		for _, pat := range orDefault(pats, nil) {
			if _, err := path.Match(pat, ""); err != nil {
				bad(field, "%q is not a pattern: %v", pat, err)
			}
		}
	}
	switch p.RootUser {
	case "", RootAllow, RootRefuse:
	default:
		bad("rootUser", "%q: want %q or %q", p.RootUser, RootAllow, RootRefuse)
	}
	if m := p.MaxResources.Memory; m != "" {
		if _, err := spec.ParseMemory(m); err != nil {
			bad("maxResources", "memory %q is not a size such as \"1g\": %v", m, err)
		}
	}
	if p.MaxResources.CPUs < 0 {
		bad("maxResources", "cpus %v is negative", p.MaxResources.CPUs)
	}
	return errors.Join(errs...)
}

// at names a field of the file with its line.
func (p *Policy) at(field string) string {
	if l, ok := p.lines[field]; ok {
		return fmt.Sprintf("line %d: %s", l, field)
	}
	return field
}
