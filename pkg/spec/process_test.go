package spec

import (
	"testing"

	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestProcessNetworksAndEnvFileFields: each of the fields a container's
// process, its extra networks and its env files are given by is taken
// when good, and refused when bad at its own path, with the bad value in
// the message.
func TestProcessNetworksAndEnvFileFields(t *testing.T) {
	for _, tc := range []fieldCase{
		{extra: `  command: [serve, --port, "8080", ""]`},
		{extra: `  entrypoint: [/bin/app, --flag]`},
		{extra: `  command: "serve --port 8080"`, path: "spec.command", shown: `want a list, got string "serve --port 8080"`},
		{extra: `  command: [serve, 8080]`, path: "spec.command[1]", shown: "want a string, got number 8080"},
		{extra: `  entrypoint: [""]`, path: "spec.entrypoint[0]", shown: "is empty"},
		{extra: `  entrypoint: ["/app\u0000x"]`, path: "spec.entrypoint[0]", shown: "NUL"},
		{extra: `  workingDir: /srv/app`},
		{extra: `  workingDir: srv/app`, path: "spec.workingDir", shown: `"srv/app"`},
		{extra: `  workingDir: /srv/../etc`, path: "spec.workingDir", shown: `"/srv/../etc"`},
		{extra: `  stopSignal: SIGQUIT`},
		{extra: `  stopSignal: SIGWINCH`},
		{extra: `  stopSignal: SIGINT`},
		{extra: `  stopSignal: QUIT`, path: "spec.stopSignal", shown: `"QUIT" is not a stop signal: want one of SIGTERM, SIGINT, SIGQUIT`},
		{extra: `  stopSignal: SIGKILL`, path: "spec.stopSignal", shown: `"SIGKILL"`},
		{extra: `  logging: {driver: json-file, options: {max-size: 10m, max-file: "3"}}`},
		{extra: `  logging: {driver: local}`},
		{extra: `  logging: {driver: journald, options: {tag: web}}`},
		{extra: `  logging: {driver: json-file}`, path: "spec.logging.options", shown: "without max-size never rotates"},
		{extra: `  logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}`, path: "spec.logging.options.max-file", shown: "want a string, got number 3 (quote it)"},
		{extra: `  logging: {driver: json-file, options: {max-size: lots}}`, path: "spec.logging.options.max-size", shown: `"lots" is not a size`},
		{extra: `  logging: {driver: json-file, options: {max-size: 10m, max-file: "0"}}`, path: "spec.logging.options.max-file", shown: `"0"`},
		{extra: `  logging: {driver: local, options: {max-sise: 10m}}`, path: "spec.logging.options.max-sise", shown: `the local driver has no option "max-sise"`},
		{extra: `  logging: {driver: "json file"}`, path: "spec.logging.driver", shown: `"json file"`},
		{extra: `  logging: {options: {max-size: 10m}}`, path: "spec.logging.driver", shown: `"" is not a logging driver`},
		{extra: "  network: front\n  networks: [db, cache]"},
		{extra: `  networks: [db]`},
		{extra: "  network: front\n  networks: [db, front]", path: "spec.networks[1]", shown: `"front" is spec.network already`},
		{extra: `  networks: [db, db]`, path: "spec.networks[1]", shown: `"db" is also spec.networks[0]`},
		{extra: `  networks: [host]`, path: "spec.networks[0]", shown: `"host" is not a user-defined network`},
		{extra: `  networks: [bridge]`, path: "spec.networks[0]", shown: `"bridge" is not a user-defined network`},
		{extra: `  networks: ["db;x"]`, path: "spec.networks[0]", shown: `"db;x" is not a network name`},
		{extra: "  network: host\n  networks: [db]", path: "spec.networks", shown: "joins no other network"},
		{extra: `  envFile: [/etc/bluegreen/web.env, /etc/bluegreen/common.env]`},
		{extra: `  envFile: [web.env]`, path: "spec.envFile[0]", shown: `"web.env" must be an absolute, clean path`},
		{extra: `  envFile: [/etc/bluegreen/web.env, /etc/bluegreen/web.env]`, path: "spec.envFile[1]", shown: "is also spec.envFile[0]"},
	} {
		decodeCase(t, tc)
	}
}

// TestLoggingInForce: a spec without logging is created with the rotating
// default and keeps it out of the spec (so out of the generation); one
// with logging gets exactly its own.
func TestLoggingInForce(t *testing.T) {
	s := goodService(t)
	if s.Logging != nil {
		t.Fatalf("the defaults wrote logging into the spec: %v", s.Logging)
	}
	if got := s.LoggingInForce(); got.String() != "json-file (max-file=3, max-size=10m)" || !got.IsDefault() {
		t.Errorf("logging in force %s, want json-file (max-file=3, max-size=10m)", got)
	}
	s.LoggingInForce().Options["max-size"] = "1g"
	if !s.LoggingInForce().IsDefault() {
		t.Errorf("a caller changed the default for the others")
	}
	svcs, err := Decode([]byte(spectest.Web("  logging: {driver: local, options: {max-size: 5m}}").YAML()), "desired.yaml", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := svcs[0].LoggingInForce().String(); got != "local (max-size=5m)" {
		t.Errorf("logging in force %s, want local (max-size=5m)", got)
	}
}
