package specfile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// maxEnvFile bounds what one env file may hold.
const maxEnvFile = 1 << 20

// ErrEnvFileChanged is returned by ReadEnvFiles when the files no longer
// hold what the digest they were planned with says.
var ErrEnvFileChanged = errors.New("the env files changed since the step was planned")

// ReadEnvFiles reads the env files at paths again, to create a container
// from them: each checked as the loader checks it, their digest compared
// with want (Service.EnvFileDigest, as the step carries it), no name set
// twice nor set in env too (the container's other variables, "K=V"). It
// returns their variables, "K=V". Its errors never hold a value.
func ReadEnvFiles(paths []string, want string, env []string) ([]string, error) {
	taken := map[string]string{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		taken[k] = "the container's environment"
	}
	var errs []error
	digest, vars := readEnvFiles(paths, taken, func(i int, msg string) {
		errs = append(errs, fmt.Errorf("read env file %s: %s", paths[i], msg))
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if digest != want {
		return nil, fmt.Errorf("read env files %s: %w; the next pass plans again with what they hold now", strings.Join(paths, ", "), ErrEnvFileChanged)
	}
	return vars, nil
}

// loadEnvFiles reads the env files of each service, as the loader does at
// each pass, and keeps the digest of their contents in the service: the
// values stay in the files.
func loadEnvFiles(svcs []spec.Service) error {
	var errs []error
	for i := range svcs {
		s := &svcs[i]
		if len(s.EnvFile) == 0 {
			continue
		}
		taken := map[string]string{}
		for k := range s.Env {
			taken[k] = "spec.env"
		}
		s.EnvFileDigest, _ = readEnvFiles(s.EnvFile, taken, func(i int, msg string) {
			errs = append(errs, &spec.FieldError{Source: s.Source, Path: "spec.envFile[" + strconv.Itoa(i) + "]", Msg: fmt.Sprintf("%q: %s", s.EnvFile[i], msg)})
		})
	}
	return errors.Join(errs...)
}

// readEnvFiles reads paths in order and returns the digest of what they
// hold (their paths and contents) and their variables, "K=V". A name set
// in two files, or in one and in taken (name -> where), is refused; bad
// reports each refusal with the index of its file.
func readEnvFiles(paths []string, taken map[string]string, bad func(i int, msg string)) (string, []string) {
	h := sha256.New()
	var vars []string
	for i, p := range paths {
		data, err := readEnvFile(p)
		if err != nil {
			bad(i, err.Error())
			continue
		}
		digestFile(h, p, data)
		parsed, err := spec.ParseEnvFile(data)
		if err != nil {
			bad(i, err.Error())
			continue
		}
		for _, v := range parsed {
			if where, ok := taken[v.Name]; ok {
				bad(i, fmt.Sprintf("line %d: %s is also set in %s; set it in one place", v.Line, v.Name, where))
				continue
			}
			taken[v.Name] = p
			vars = append(vars, v.Name+"="+v.Value)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), vars
}

// digestFile adds one file, its path and its length-prefixed contents, to
// the digest.
func digestFile(h hash.Hash, path string, data []byte) {
	fmt.Fprintf(h, "%s\x00%d\x00", path, len(data))
	h.Write(data)
}

// readEnvFile reads one env file, which must be a regular file (a symbolic
// link is not followed, a named pipe cannot hang the read), owned by root
// or by the controller's user and writable by no one else: whoever can
// write it chooses what the container's environment holds.
func readEnvFile(path string) ([]byte, error) {
	f, err := safefile.Open(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := safefile.CheckTrusted(fi, "it", path, "who would choose the container's environment"); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxEnvFile+1))
	if err != nil {
		return nil, fmt.Errorf("read it: %w", err)
	}
	if len(data) > maxEnvFile {
		return nil, fmt.Errorf("it is larger than %d bytes", maxEnvFile)
	}
	return data, nil
}
