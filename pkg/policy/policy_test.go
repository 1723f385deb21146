package policy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bluegreen-host/controller/pkg/policy/policytest"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// TestCheck: every case of the shared table, checked by Check: a refusal
// names the desired field and the policy rule.
func TestCheck(t *testing.T) {
	tmp := t.TempDir()
	if err := policytest.Prepare(tmp); err != nil {
		t.Fatal(err)
	}
	for _, tc := range policytest.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			p := Default()
			if tc.Policy != "" {
				var err error
				if p, err = Parse([]byte(policytest.Sub(tc.Policy, tmp)), "policy.yaml"); err != nil {
					t.Fatal(err)
				}
			}
			d := tc.Desired(spectest.Web(), tmp)
			svcs, err := spec.Decode([]byte(d.YAML()), "desired.yaml", tmp, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Check(svcs)
			if tc.Refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			rule := policytest.Sub(tc.Rule, tmp)
			if err == nil || !strings.Contains(err.Error(), ": "+tc.Refused+": ") || !strings.Contains(err.Error(), rule) {
				t.Fatalf("got %v; want a refusal at %s, naming %q", err, tc.Refused, rule)
			}
		})
	}
}

// TestCheckEach: CheckEach judges each service on its own. Next to a
// service the default policy allows, one it refuses has its own refusal,
// the same as Check gives it alone, and the allowed one has none.
func TestCheckEach(t *testing.T) {
	tmp := t.TempDir()
	if err := policytest.Prepare(tmp); err != nil {
		t.Fatal(err)
	}
	p := Default()
	allowed, err := spec.Decode([]byte(spectest.Web().YAML()), "desired.yaml", tmp, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for _, tc := range policytest.Cases() {
		if tc.Policy != "" || tc.Refused == "" {
			continue
		}
		cases++
		refused, err := spec.Decode([]byte(tc.Desired(spectest.Web(), tmp).YAML()), "desired.yaml", tmp, nil)
		if err != nil {
			t.Fatal(err)
		}
		errs := p.CheckEach(append(slices.Clone(allowed), refused...))
		alone := p.Check(refused)
		if len(errs) != 2 || errs[0] != nil || errs[1] == nil || alone == nil || errs[1].Error() != alone.Error() {
			t.Errorf("%s: CheckEach gave %v, want [nil, %v]", tc.Name, errs, alone)
		}
	}
	if cases == 0 {
		t.Fatal("no case of the table is refused by the default policy")
	}
}

// TestLoad: the policy file must be the host administrator's: a file or
// directory others may write, another user's file, a link, an unknown
// field or a bad value refuses it; no file gives the defaults unless the
// operator named it.
func TestLoad(t *testing.T) {
	write := func(t *testing.T, content string, mode os.FileMode) string {
		dir := t.TempDir()
		f := filepath.Join(dir, "policy.yaml")
		if err := os.WriteFile(f, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, mode); err != nil {
			t.Fatal(err)
		}
		return f
	}
	t.Run("no file: the defaults", func(t *testing.T) {
		p, err := Load(filepath.Join(t.TempDir(), "policy.yaml"), false)
		if err != nil || !strings.Contains(p.Source(), "built-in default") {
			t.Fatalf("got %v, %v", p, err)
		}
	})
	t.Run("no file, named", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), "policy.yaml"), true); err == nil {
			t.Fatal("a named policy file that does not exist was taken")
		}
	})
	t.Run("a good file", func(t *testing.T) {
		p, err := Load(write(t, "# host policy\nmapFileDirs: [/srv/maps]\n", 0o644), true)
		if err != nil {
			t.Fatal(err)
		}
		if s := p.Summary(); !strings.Contains(s, "mapFileDirs: [/srv/maps] (line 2)") || !strings.Contains(s, "runtimes: [unix loopback] (default)") {
			t.Fatalf("summary:\n%s", s)
		}
	})
	refusals := []struct {
		name, content string
		mode          os.FileMode
		prepare       func(t *testing.T, f string)
		want          string
	}{
		{name: "group-writable", content: "{}", mode: 0o664, want: "chmod go-w"},
		{name: "another user's", content: "{}", mode: 0o644, prepare: func(t *testing.T, f string) { chown(t, f, 65534) }, want: "owned by uid 65534"},
		{name: "in a directory others may write", content: "{}", mode: 0o644, prepare: func(t *testing.T, f string) {
			if err := os.Chmod(filepath.Dir(f), 0o777); err != nil {
				t.Fatal(err)
			}
		}, want: "its directory"},
		{name: "a link", content: "{}", mode: 0o644, prepare: func(t *testing.T, f string) {
			real := f + ".real"
			if err := os.Rename(f, real); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, f); err != nil {
				t.Fatal(err)
			}
		}, want: "symbolic link"},
		{name: "an unknown field", content: "mapFileDir: [/srv]\n", mode: 0o644, want: "unknown field"},
		{name: "a relative directory", content: "\nmapFileDirs: [maps]\n", mode: 0o644, want: "line 2: mapFileDirs: \"maps\""},
		{name: "a bad rootUser", content: "rootUser: Maybe\n", mode: 0o644, want: "rootUser"},
		{name: "a bad runtime", content: "runtimes: [\"tcp://10.0.0.5\"]\n", mode: 0o644, want: "runtimes"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			f := write(t, tc.content, tc.mode)
			if tc.prepare != nil {
				tc.prepare(t, f)
			}
			_, err := Load(f, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), f) {
				t.Fatalf("got %v; want an error naming %s and %q", err, f, tc.want)
			}
		})
	}
}

func chown(t *testing.T, f string, uid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	if err := os.Lchown(f, uid, uid); err != nil {
		t.Fatal(err)
	}
}
