package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/pkg/policy"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
)

// TestDesiredFile: desired.yaml is accepted as controller validate accepts
// it under the demo's policy (its env file moved to a temp directory, which
// the policy then allows), and asks for what the app needs.
func TestDesiredFile(t *testing.T) {
	const envFile = "/etc/bluegreen/notes.env"
	data, err := os.ReadFile("desired.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "envFile: ["+envFile+"]") {
		t.Fatalf("desired.yaml does not name %s", envFile)
	}
	dir := t.TempDir()
	env := filepath.Join(dir, "notes.env")
	if err := os.WriteFile(env, []byte("SECRET_KEY="+testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), envFile, env, 1))
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := specfile.Parse(data, "desired.yaml", wd)
	if err != nil {
		t.Fatalf("desired.yaml refused: %v", err)
	}
	pol, err := os.ReadFile("../policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The demo's policy, with the test's env file directory in place of
	// /etc/bluegreen.
	pol = []byte(strings.Replace(string(pol), "\nenvFileDirs: [/etc/bluegreen]\n", "\nenvFileDirs: ["+dir+"]\n", 1))
	p, err := policy.Parse(pol, "policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(svcs); err != nil {
		t.Fatalf("desired.yaml refused by the demo's policy: %v", err)
	}

	s := svcs[0].ServiceSpec
	got := []any{s.Command, s.Entrypoint, s.User, s.StopSignal, s.Volumes, s.EnvFile, s.HealthPath, s.Build.Args["VERSION"], s.Replicas}
	want := []any{[]string{"serve"}, []string(nil), "10001:10001", "SIGQUIT", []string{"notes-data:/data"}, []string{env}, "/healthz", "v1", 2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("command, entrypoint, user, stopSignal, volumes, envFile, healthPath, VERSION, replicas =\n%v\nwant\n%v", got, want)
	}
	if len(s.Jobs) != 1 || s.Jobs[0].Name != "migrate" || !reflect.DeepEqual(s.Jobs[0].Command, []string{"migrate"}) {
		t.Errorf("jobs %+v, want the release job migrate", s.Jobs)
	}
	if svcs[0].EnvFileDigest == "" {
		t.Errorf("the env file was not read")
	}
	if s.StopTimeout.Duration <= drainBound {
		t.Errorf("stopTimeout %s is not above the app's drain bound %s", s.StopTimeout.Duration, drainBound)
	}
}
