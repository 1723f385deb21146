package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// RegistryModule is the module and version of the registry StartRegistry
// runs: the distribution project's, built from source with go install.
const RegistryModule = "github.com/distribution/distribution/v3/cmd/registry@v3.1.2"

// Registry is a private image registry on 127.0.0.1 that asks for a user
// and password (htpasswd, bcrypt), with its storage in a temp directory.
// The Docker engine treats 127.0.0.0/8 as an insecure registry by default,
// so it speaks plain HTTP to it.
type Registry struct {
	t TB
	// Addr is 127.0.0.1:PORT, the registry's name in image references.
	Addr string
	// User and Password are the one account it knows.
	User, Password string
	// Dir holds its config, htpasswd file, storage and log.
	Dir string
}

// RegistryBinary builds the registry (RegistryModule) once per test binary
// with go install into a temp directory and returns its path. It is built
// outside this module: it is not one of its dependencies.
func RegistryBinary(t TB) string {
	t.Helper()
	p, err := onceBuild("registry "+RegistryModule, func() (string, error) {
		bin, err := os.MkdirTemp(processTempDir(t), "registry-")
		if err != nil {
			return "", err
		}
		cmd := exec.Command(goTool(t), "install", RegistryModule)
		// Not in this module's directory: go install pkg@version ignores
		// the current module, and GOFLAGS such as -mod must not apply.
		cmd.Dir = bin
		cmd.Env = append(os.Environ(), "GOBIN="+bin, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false", "GOWORK=off")
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go install %s: %v\n%s", RegistryModule, err, tail(string(out), 30))
		}
		t.Logf("testenv: built %s in %s", RegistryModule, time.Since(start).Round(time.Millisecond))
		return filepath.Join(bin, "registry"), nil
	})
	if err != nil {
		t.Fatalf("testenv: RegistryBinary: %v", err)
	}
	return p
}

const registryConfig = `version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {{DIR}}/data
  delete:
    enabled: true
http:
  addr: {{ADDR}}
  secret: {{SECRET}}
auth:
  htpasswd:
    realm: bgtest-registry
    path: {{DIR}}/htpasswd
`

// StartRegistry starts a registry on 127.0.0.1:<free port> with one user
// and a random password, waits until it asks for them, and stops it by
// its PID when the test ends.
func StartRegistry(t TB) *Registry {
	t.Helper()
	bin := RegistryBinary(t)
	dir, err := os.MkdirTemp(processTempDir(t), "registry-run-")
	if err != nil {
		t.Fatalf("testenv: registry: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &Registry{t: t, Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), User: "bgtest", Password: "pw-" + randomHex(12), Dir: dir}

	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.DefaultCost)
	if err != nil {
		t.Fatalf("testenv: registry: bcrypt: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatalf("testenv: registry: %v", err)
	}
	cfg := strings.NewReplacer("{{DIR}}", dir, "{{ADDR}}", r.Addr, "{{SECRET}}", randomHex(16)).Replace(registryConfig)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatalf("testenv: registry: %v", err)
	}

	logPath := filepath.Join(dir, "registry.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("testenv: registry: %v", err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Dir = dir
	// No telemetry exporter: nothing is sent anywhere.
	cmd.Env = append(os.Environ(), "OTEL_SDK_DISABLED=true", "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("testenv: start registry %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() { StopProcess(cmd, done, 10*time.Second) })
	logTail := func() string {
		b, _ := os.ReadFile(logPath)
		return "registry log:\n" + tail(string(b), 30)
	}

	// Ready when /v2/ asks for credentials (401), as a registry with auth does.
	client := &http.Client{Timeout: 2 * time.Second}
	WaitUntil(t, 30*time.Second, "registry at "+r.Addr+" answers /v2/ with 401", func() bool {
		select {
		case <-done:
			t.Fatalf("testenv: registry (pid %d) exited at start\n%s", cmd.Process.Pid, logTail())
		default:
		}
		resp, err := client.Get("http://" + r.Addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized
	}, logTail)
	t.Logf("testenv: registry at %s (pid %d, user %s)", r.Addr, cmd.Process.Pid, r.User)
	return r
}

// Login runs `docker login` for the registry with DOCKER_CONFIG=configDir,
// which stores the credentials in configDir/config.json (never in the
// real ~/.docker).
func (r *Registry) Login(configDir string) {
	r.t.Helper()
	if _, err := r.docker(configDir, r.Password, "login", "--username", r.User, "--password-stdin", r.Addr); err != nil {
		r.t.Fatalf("testenv: %v", err)
	}
}

// Push tags the local image src as r.Addr/repo and pushes it with the
// credentials in configDir, then removes that tag locally; it returns the
// reference pushed. The registry's temp storage goes with it.
func (r *Registry) Push(configDir, src, repo string) string {
	r.t.Helper()
	ref := r.Addr + "/" + repo
	if _, err := r.docker(configDir, "", "tag", src, ref); err != nil {
		r.t.Fatalf("testenv: %v", err)
	}
	_, pushErr := r.docker(configDir, "", "push", ref)
	if _, err := r.docker(configDir, "", "rmi", ref); err != nil {
		r.t.Errorf("testenv: %v", err)
	}
	if pushErr != nil {
		r.t.Fatalf("testenv: %v", pushErr)
	}
	return ref
}

// docker runs the docker CLI with DOCKER_CONFIG=configDir and stdin.
func (r *Registry) docker(configDir, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+configDir)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after 2m")
		}
		return out.String(), fmt.Errorf("DOCKER_CONFIG=%s docker %s: %v\n%s", configDir, strings.Join(args, " "), err, tail(out.String(), 20))
	}
	return out.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
