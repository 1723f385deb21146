// Package specfile reads the desired state from disk: a file, or every
// *.yaml / *.yml file of a directory, decoded and validated by package spec,
// the build contexts they name checked where they lie, and their env files
// read (only a digest of them is kept; the values are read again when a
// container is created, by ReadEnvFiles). Package spec
// itself reads no file, so that the planner, which imports it, does no I/O
// by construction.
package specfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Load reads desired services from a file or from every *.yaml / *.yml file
// of a directory. A document that is refused (it does not decode or
// validate, its env files cannot be read, or it takes what another service
// holds) refuses that service alone: the error is then a
// *spec.PartlyRefused holding the services that stand (spec.Refused), for a
// caller that goes on with them; to any other caller it refuses the whole
// input, as does a path that cannot be read.
func Load(path string) ([]spec.Service, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read desired state %s: %w", path, err)
	}
	files := []string{path}
	if info.IsDir() {
		files, err = yamlFiles(path)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("read desired state %s: the directory holds no .yaml or .yml file", path)
		}
	}
	var all []spec.Service
	var refused []spec.Refusal
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			refused = append(refused, spec.Refusal{File: f, Err: fmt.Errorf("read desired state %s: %w", f, err)})
			continue
		}
		svcs, bad := decodeFile(data, f)
		refused = append(refused, bad...)
		for _, s := range svcs {
			one := []spec.Service{s} // its env files' digest goes into one[0]
			if err := loadEnvFiles(one); err != nil {
				refused = append(refused, spec.Refusal{File: f, Name: s.Name, Err: err})
				continue
			}
			all = append(all, one[0])
		}
	}
	all, bad := spec.CheckAcrossEach(all, nil)
	refused = append(refused, bad...)
	if len(refused) > 0 {
		return nil, &spec.PartlyRefused{Valid: spec.NotRefused(all, refused), Refused: refused}
	}
	return all, nil
}

// Parse decodes every document of one file as Load does, the build
// contexts checked and the env files read on disk. source names the file
// in errors; baseDir resolves build contexts.
func Parse(data []byte, source, baseDir string) ([]spec.Service, error) {
	svcs, err := spec.Decode(data, source, baseDir, CheckBuild)
	if err != nil {
		return nil, err
	}
	if err := loadEnvFiles(svcs); err != nil {
		return nil, err
	}
	return svcs, nil
}

func yamlFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read desired state directory %s: %w", dir, err)
	}
	var files []string
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.Type().IsRegular() && (ext == ".yaml" || ext == ".yml") && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

// decoded memoizes the decoding of each desired file by its contents: a
// controller reads the same file at every resync, and decoding 200
// services took milliseconds of CPU and megabytes of garbage each time. A
// file whose decoding looked at the disk (a build context, which may
// appear or change with the file untouched) is decoded again at every
// read.
var decoded = struct {
	sync.Mutex
	m map[string]decodedFile
}{m: map[string]decodedFile{}}

// maxDecoded is the most files decoded holds.
const maxDecoded = 1024

type decodedFile struct {
	data    []byte
	svcs    []spec.Service
	refused []spec.Refusal
}

// decodeFile is spec.DecodeEach of file f's data, with CheckBuild.
func decodeFile(data []byte, f string) ([]spec.Service, []spec.Refusal) {
	decoded.Lock()
	d, ok := decoded.m[f]
	decoded.Unlock()
	if ok && bytes.Equal(d.data, data) {
		return slices.Clone(d.svcs), slices.Clone(d.refused)
	}
	disk := false
	svcs, refused := spec.DecodeEach(data, f, filepath.Dir(f), func(s *spec.Service, bad func(path, format string, args ...any)) {
		disk = true
		CheckBuild(s, bad)
	})
	decoded.Lock()
	defer decoded.Unlock()
	if disk {
		delete(decoded.m, f)
	} else {
		if len(decoded.m) >= maxDecoded {
			clear(decoded.m) // files come and go in a directory
		}
		decoded.m[f] = decodedFile{data: data, svcs: slices.Clone(svcs), refused: slices.Clone(refused)}
	}
	return svcs, refused
}

// CheckBuild checks on disk what spec.build names (a spec.FileCheck): the
// context is a directory below the desired file's, with no symbolic link
// on its path (as the build opens it), and the Dockerfile a file inside it
// (a link to one inside is followed). Whoever writes the desired
// file must not make the controller (root) send files from elsewhere on the
// host into an image.
func CheckBuild(s *spec.Service, bad func(path, format string, args ...any)) {
	dir := s.BuildContext()
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		bad("spec.build.context", "%q: directory %s does not exist", s.Build.Context, dir)
		return
	}
	base, err := filepath.EvalSymlinks(s.BaseDir)
	if err != nil {
		bad("spec.build.context", "%q: resolve the desired file's directory %s: %v", s.Build.Context, s.BaseDir, err)
		return
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil || !safefile.Within(base, real) {
		bad("spec.build.context", "%q resolves to %s, outside %s, the directory of the desired file: a build may only read below it", s.Build.Context, real, base)
		return
	}
	// The build opens the context one component at a time and refuses a
	// link at any of them (so that a directory swapped for a link after
	// this check sends nothing from elsewhere): refuse it here too.
	f, err := safefile.OpenDir(dir)
	if err != nil {
		bad("spec.build.context", "%q: %v", s.Build.Context, err)
		return
	}
	f.Close()
	df := filepath.Join(real, s.Build.Dockerfile)
	fi, err := os.Stat(df)
	if err != nil || !fi.Mode().IsRegular() {
		bad("spec.build.dockerfile", "%q: file %s does not exist", s.Build.Dockerfile, df)
		return
	}
	if realDF, err := filepath.EvalSymlinks(df); err != nil || !safefile.Within(real, realDF) {
		bad("spec.build.dockerfile", "%q resolves to %s, outside the build context %s", s.Build.Dockerfile, realDF, real)
	}
}
