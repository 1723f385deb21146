// Package policytest is the table of host-policy cases that the policy's
// own tests, validate's and a running controller's all go through: each
// rule of the policy, by default and as a file sets it, allows at least
// one case and refuses at least one. Only tests import it.
package policytest

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// Case is a policy file and a desired file of service web that it allows
// or refuses. $TMP stands for a directory that Prepare fills.
type Case struct {
	Name    string
	Policy  string // the policy file; "": none (the defaults)
	Runtime string // spec.haproxy.runtime; "": spectest.Web's
	MapFile string // spec.haproxy.mapFile; "": spectest.Web's
	Extra   []string
	Refused string // the desired field refused; "": allowed
	Rule    string // what the refusal names of the policy
	// Remote: the desired file names another host (a runtime or a
	// registry); a controller that acts on it would reach out.
	Remote bool
}

// Cases is the table.
func Cases() []Case {
	return []Case{
		{Name: "the defaults allow Debian's HAProxy"},
		{Name: "finding 1: a map file outside /etc/haproxy", MapFile: "/etc/profile.d/zz-bluegreen.sh",
			Refused: "spec.haproxy.mapFile", Rule: "default mapFileDirs: [/etc/haproxy]"},
		{Name: "finding 1: a runtime on another host", Runtime: "tcp://203.0.113.7:9999",
			Refused: "spec.haproxy.runtime", Rule: "default runtimes: [unix loopback]"},
		{Name: "loopback TCP is allowed by default", Runtime: "tcp://127.0.0.1:9999"},
		{Name: "IPv6 loopback too", Runtime: "tcp://[::1]:9999"},
		{Name: "a name is not taken for loopback", Runtime: "tcp://localhost:9999", Refused: "spec.haproxy.runtime", Rule: "runtimes"},
		{Name: "a runtime the file lists", Policy: "runtimes: [tcp://10.0.0.5:9999]", Runtime: "tcp://10.0.0.5:9999", Remote: true},
		{Name: "unix is refused when the file lists only TCP", Policy: "runtimes: [tcp://10.0.0.5:9999]",
			Refused: "spec.haproxy.runtime", Rule: "line 1 (runtimes: [tcp://10.0.0.5:9999])"},
		{Name: "a map file below a listed directory", Policy: "mapFileDirs: [$TMP/maps]", MapFile: "$TMP/maps/hosts.map"},
		{Name: "a map file elsewhere", Policy: "mapFileDirs: [$TMP/maps]", MapFile: "$TMP/other/hosts.map", Refused: "spec.haproxy.mapFile", Rule: "mapFileDirs"},
		{Name: "a map file through a link out of the directory", Policy: "mapFileDirs: [$TMP/maps]", MapFile: "$TMP/maps/link/hosts.map",
			Refused: "spec.haproxy.mapFile", Rule: "mapFileDirs"},
		{Name: "a bind mount of / is refused by default", Extra: []string{"  volumes: [\"/:/host\"]"}, Refused: "spec.volumes[0]", Rule: "default bindMountRoots: []"},
		{Name: "a bind mount below a listed root", Policy: "bindMountRoots: [$TMP/data]", Extra: []string{"  volumes: [\"$TMP/data/x:/x:ro\"]"}},
		{Name: "a bind mount through a link to /", Policy: "bindMountRoots: [$TMP/data]", Extra: []string{"  volumes: [\"$TMP/data/escape:/x\"]"},
			Refused: "spec.volumes[0]", Rule: "bindMountRoots"},
		{Name: "an env file below a listed directory", Policy: "envFileDirs: [$TMP/envs]", Extra: []string{"  envFile: [$TMP/envs/web.env]"}},
		{Name: "an env file elsewhere, by default", Extra: []string{"  envFile: [$TMP/other/web.env]"},
			Refused: "spec.envFile[0]", Rule: "default envFileDirs: [/etc/bluegreen]"},
		{Name: "any volume name by default", Extra: []string{"  volumes: [\"uploads:/data\"]"}},
		{Name: "a volume name the patterns allow", Policy: "volumeNames: [\"web-*\"]", Extra: []string{"  volumes: [\"web-uploads:/data\"]"}},
		{Name: "a volume name they do not", Policy: "volumeNames: [\"web-*\"]", Extra: []string{"  volumes: [\"db:/data\"]"}, Refused: "spec.volumes[0]", Rule: "volumeNames"},
		{Name: "a named network by default", Extra: []string{"  network: backend"}},
		{Name: "the host network is refused by default", Extra: []string{"  network: host"}, Refused: "spec.network", Rule: "default networks: [*]"},
		{Name: "the host network when listed", Policy: "networks: [host, bridge]", Extra: []string{"  network: host"}},
		{Name: "a network not listed", Policy: "networks: [host, bridge]", Extra: []string{"  network: backend"}, Refused: "spec.network", Rule: "networks"},
		{Name: "more networks the patterns allow", Policy: "networks: [bridge, \"app-*\"]", Extra: []string{"  networks: [app-db, app-cache]"}},
		{Name: "one more network they do not", Policy: "networks: [bridge, \"app-*\"]", Extra: []string{"  networks: [app-db, billing]"},
			Refused: "spec.networks[1]", Rule: "networks"},
		{Name: "a listed registry", Policy: "registries: [registry.example.com]", Extra: []string{"  image: registry.example.com/web:v1"}, Remote: true},
		{Name: "Docker Hub when not listed", Policy: "registries: [registry.example.com]", Refused: "spec.image", Rule: "registries"},
		{Name: "root allowed by default"},
		{Name: "a user other than root", Policy: "rootUser: Refuse", Extra: []string{"  user: \"1000:1000\""}},
		{Name: "no user: the image's may be root", Policy: "rootUser: Refuse", Refused: "spec.user", Rule: "rootUser"},
		{Name: "uid 0", Policy: "rootUser: Refuse", Extra: []string{"  user: \"0:1000\""}, Refused: "spec.user", Rule: "rootUser"},
		{Name: "resources under the caps", Policy: "maxResources: {memory: 512m, cpus: 1}", Extra: []string{"  resources: {memory: 256m, cpus: 0.5}"}},
		{Name: "no memory limit under a cap", Policy: "maxResources: {memory: 512m}", Refused: "spec.resources.memory", Rule: "maxResources"},
		{Name: "more CPUs than the cap", Policy: "maxResources: {cpus: 1}", Extra: []string{"  resources: {cpus: 2}"}, Refused: "spec.resources.cpus", Rule: "maxResources"},
		{Name: "a build context below the desired file's directory by default", Extra: []string{"  build: {context: other}"}},
		{Name: "a build context below a listed root", Policy: "buildContextRoots: [$TMP/builds]", Extra: []string{"  build: {context: builds/app}"}},
		{Name: "a build context elsewhere", Policy: "buildContextRoots: [$TMP/builds]", Extra: []string{"  build: {context: other}"},
			Refused: "spec.build.context", Rule: "buildContextRoots"},
	}
}

// Prepare makes, in tmp, the directories, files and links the cases
// name: maps/, other/ and builds/app (build contexts, with a Dockerfile),
// data/x, env files envs/web.env and other/web.env, maps/link to other/
// and data/escape to /. The desired file is meant to
// lie in tmp itself.
func Prepare(tmp string) error {
	for _, d := range []string{"maps", "other", "data/x", "builds/app", "envs"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			return err
		}
	}
	for _, d := range []string{"other", "builds/app"} {
		if err := os.WriteFile(filepath.Join(tmp, d, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
			return err
		}
	}
	for _, f := range []string{"envs/web.env", "other/web.env"} {
		if err := os.WriteFile(filepath.Join(tmp, f), []byte("GREETING=hello\n"), 0o600); err != nil {
			return err
		}
	}
	for link, to := range map[string]string{"maps/link": filepath.Join(tmp, "other"), "data/escape": "/"} {
		if err := os.Symlink(to, filepath.Join(tmp, link)); err != nil {
			return err
		}
	}
	return nil
}

// Sub puts tmp in place of $TMP.
func Sub(s, tmp string) string { return strings.ReplaceAll(s, "$TMP", tmp) }

// Desired is the case's desired file, starting from d: its runtime, map
// file and extra lines ("  image: X" sets the image).
func (c Case) Desired(d spectest.Desired, tmp string) spectest.Desired {
	if c.Runtime != "" {
		d.Runtime = c.Runtime
	}
	if c.MapFile != "" {
		d.MapFile = Sub(c.MapFile, tmp)
	}
	for _, l := range c.Extra {
		l = Sub(l, tmp)
		if img, ok := strings.CutPrefix(l, "  image: "); ok {
			d.Image = img
			continue
		}
		d.Extra = append(d.Extra, l)
	}
	return d
}
