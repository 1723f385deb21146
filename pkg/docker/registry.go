package docker

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/docker/api/types/registry"
)

// hubAuthKey is the key under which `docker login` stores the credentials
// of Docker Hub (docker.io), as the docker CLI does.
const hubAuthKey = "https://index.docker.io/v1/"

// registryCreds is what a pull found for the registry of its image: the
// credentials that `docker login` stored for it, read with Docker's own
// config library, as the docker CLI reads them for `docker pull`.
type registryCreds struct {
	// registry is the registry as the image reference names it
	// ("docker.io" for a bare name such as nginx).
	registry string
	// key is the name the credentials are stored under.
	key string
	// source says where they were looked for: the config file or the
	// credential helper that config file names for the registry.
	source string
	found  bool
	user   string
	// encoded is the value of image.PullOptions.RegistryAuth ("" when
	// none were found).
	encoded string
	// secrets are the values that must never be printed.
	secrets []string
}

// dockerConfigDir is the directory of Docker's client configuration, found
// as the docker CLI finds it: $DOCKER_CONFIG, else .docker in the home
// directory of the user the controller runs as (root under systemd:
// /root/.docker). Unlike config.Dir it reads the environment at each call.
func dockerConfigDir() string {
	if dir := os.Getenv(config.EnvOverrideConfigDir); dir != "" {
		return dir
	}
	home, _ := os.UserHomeDir()
	if home == "" {
		// systemd sets no $HOME for a system service without User=.
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	return filepath.Join(home, ".docker")
}

// authKey is the key `docker login REGISTRY` stores credentials under.
func authKey(domain string) string {
	if domain == "docker.io" || domain == "index.docker.io" {
		return hubAuthKey
	}
	return domain
}

// lookupCreds finds the credentials for the registry of ref in the Docker
// client configuration in configDir (config.json, with its credsStore and
// credHelpers). A file that does not exist holds no credentials; one that
// cannot be read, or a credential helper that fails, is an error.
func lookupCreds(ref, configDir string) (registryCreds, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return registryCreds{}, fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	c := registryCreds{registry: reference.Domain(named)}
	c.key = authKey(c.registry)
	cfg, err := config.Load(configDir)
	if err != nil {
		return c, fmt.Errorf("read the Docker client config in %s: %w", configDir, err)
	}
	c.source = credSource(cfg, c.key)
	ac, err := cfg.GetAuthConfig(c.key)
	if err != nil {
		return c, fmt.Errorf("read the credentials for %s from %s: %w", c.key, c.source, err)
	}
	c.found = ac.Username != "" || ac.Password != "" || ac.Auth != "" || ac.IdentityToken != "" || ac.RegistryToken != ""
	if !c.found {
		return c, nil
	}
	// The fields the docker CLI sends for `docker pull`.
	c.encoded, err = registry.EncodeAuthConfig(registry.AuthConfig{
		Username:      ac.Username,
		Password:      ac.Password,
		ServerAddress: ac.ServerAddress,
		Auth:          ac.Auth,
		IdentityToken: ac.IdentityToken,
		RegistryToken: ac.RegistryToken,
	})
	if err != nil {
		return c, fmt.Errorf("encode the credentials for %s from %s: %w", c.key, c.source, err)
	}
	c.user = ac.Username
	for _, s := range []string{ac.Password, ac.Auth, ac.IdentityToken, ac.RegistryToken, c.encoded} {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	return c, nil
}

// credSource names where the credentials of key are looked up, the way
// configfile.GetCredentialsStore chooses: DOCKER_AUTH_CONFIG first when
// set, then the helper of credHelpers[key] or credsStore, else the file.
func credSource(cfg *configfile.ConfigFile, key string) string {
	src := cfg.Filename
	helper := cfg.CredentialHelpers[key]
	if helper == "" {
		helper = cfg.CredentialsStore
	}
	if helper != "" {
		src = "credential helper docker-credential-" + helper + " (named in " + cfg.Filename + ")"
	}
	if os.Getenv(configfile.DockerEnvConfigKey) != "" {
		src = configfile.DockerEnvConfigKey + " and " + src
	}
	return src
}

// describe says, for an error, what credentials the pull used.
func (c registryCreds) describe() string {
	if !c.found {
		return fmt.Sprintf("no credentials found for %s in %s (docker login %s stores them there)", c.key, c.source, c.registry)
	}
	who := ""
	if c.user != "" {
		who = " of user " + c.user
	}
	return fmt.Sprintf("with the credentials%s for %s from %s", who, c.key, c.source)
}

// redact returns err with every secret of c in its message replaced, so
// that no credential reaches an error, a log or a status file, whatever
// the engine put in its answer. The cause is kept for errors.Is.
func (c registryCreds) redact(err error) error {
	msg := err.Error()
	red := msg
	for _, s := range c.secrets {
		red = strings.ReplaceAll(red, s, "[redacted]")
	}
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

// redactedError is an error whose message had credentials taken out.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
