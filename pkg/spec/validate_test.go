package spec

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/spec/spectest"
)

// trickyNames are values for every field that reaches HAProxy: each is run
// through every such field.
var trickyNames = []string{
	"", "web_blue", "web-1.blue:2", "Web2",
	"web blue", "web;show info", "#1", "web#1", `web\x`, "web<<", "web<x", "web\tblue", "web\nshow info", "web\r",
	"café", "ключ", "web\u00a0blue", "web\x7f", "web\x00", "web\xff",
	strings.Repeat("a", 255), strings.Repeat("a", 256), "/" + strings.Repeat("m", 254), "/" + strings.Repeat("m", 255),
	"web@blue", "a/b", "/api/v1", "a+b", "a%20b", "*.example.com", `"quoted"`, "'quoted'",
	"/etc/haproxy/hosts.map", "/etc/haproxy/../hosts.map", "/etc/haproxy/hosts..map", "/etc/haproxy//hosts.map", "..", "/..",
	"hosts.map", "etc/haproxy/hosts.map", "./hosts.map", "/etc/haproxy/my hosts.map", "/etc/haproxy/hosts.map;clear map /x", "/etc/haproxy/h#.map",
	"unix:///run/haproxy/admin.sock", "unix://run/haproxy.sock", "unix://", "unix:///run/haproxy.sock;x", "unix:///run/my haproxy.sock",
	"unix:///run/haproxy.sock\x00", "unix:///run/haproxy.sock\n", "tcp://127.0.0.1:9999", "tcp://[::1]:9999", "tcp://:9999", "tcp://127.0.0.1:70000", "tcp://127.0.0.1",
}

// TestValidateRefusesWhatHAProxyRefuses: for every field that reaches
// HAProxy and every tricky value, validating a whole service refuses the
// value at that field exactly when the haproxy client refuses it, at each
// of its calls that take that field, before any I/O (an invalid name) or at
// New (an address). So no desired state that validates is refused later by
// the driver, and validate refuses nothing the driver would take.
func TestValidateRefusesWhatHAProxyRefuses(t *testing.T) {
	base := goodService(t)
	ctx := context.Background()
	// Nothing listens here: a call that passes its own checks fails to
	// connect, with ErrUnreachable.
	client, err := haproxy.New("unix://"+filepath.Join(t.TempDir(), "none.sock"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mapDir := t.TempDir()
	const mapPath, key, backend, server = "/etc/haproxy/hosts.map", "web", "web_blue", "app"

	fields := []struct {
		path string
		set  func(s *Service, v string)
		// driver runs v through each client call that takes this field
		// and returns the errors.
		driver func(v string) []error
		// refusal tells a refusal of v from a failure that comes after
		// the checks; nil means an error wrapping ErrInvalidName.
		refusal func(error) bool
	}{
		{"spec.colors.blue.backend", func(s *Service, v string) { s.Colors.Blue.Backend = v }, func(v string) []error {
			return []error{
				client.SetServerState(ctx, v, server, haproxy.StateMaint),
				client.SetServerHealthUp(ctx, v, server),
				client.SetServerReadyDown(ctx, v, server),
				client.SetMap(ctx, mapPath, key, v), // the backend is the map's value
				haproxy.WriteMapFile(filepath.Join(mapDir, "hosts.map"), key, v),
			}
		}, nil},
		{"spec.colors.green.server", func(s *Service, v string) { s.Colors.Green.Server = v }, func(v string) []error {
			return []error{client.SetServerState(ctx, backend, v, haproxy.StateDrain), client.SetServerHealthUp(ctx, backend, v), client.SetServerReadyDown(ctx, backend, v)}
		}, nil},
		{"spec.haproxy.mapKey", func(s *Service, v string) { s.HAProxy.MapKey = v }, func(v string) []error {
			_, _, getErr := client.GetMap(ctx, mapPath, v)
			return []error{client.SetMap(ctx, mapPath, v, backend), getErr, haproxy.WriteMapFile(filepath.Join(mapDir, "hosts.map"), v, backend)}
		}, nil},
		{"spec.preview.mapKey", func(s *Service, v string) { s.Preview = &PreviewSpec{MapKey: v} }, func(v string) []error {
			return []error{client.SetMap(ctx, mapPath, v, backend)}
		}, nil},
		{"spec.haproxy.mapFile", func(s *Service, v string) { s.HAProxy.MapFile = v }, func(v string) []error {
			_, showErr := client.ShowMap(ctx, v)
			return []error{client.SetMap(ctx, v, key, backend), showErr}
		}, nil},
		{"spec.haproxy.runtime", func(s *Service, v string) { s.HAProxy.Runtime = v }, func(v string) []error {
			_, err := haproxy.New(v, time.Second)
			return []error{err}
		}, func(err error) bool { return err != nil }},
	}
	for _, f := range fields {
		if f.refusal == nil {
			f.refusal = func(err error) bool { return errors.Is(err, haproxy.ErrInvalidName) }
		}
		accepted, refused := 0, 0
		for _, v := range trickyNames {
			s := base
			f.set(&s, v)
			specErr := fieldError(s.Validate(), f.path)
			if specErr != nil {
				refused++
			} else {
				accepted++
			}
			for i, err := range f.driver(v) {
				driverRefuses := f.refusal(err)
				if !driverRefuses && !errors.Is(err, haproxy.ErrUnreachable) && err != nil {
					t.Errorf("%s %q: driver call %d failed for another reason: %v", f.path, v, i, err)
				}
				switch {
				case specErr == nil && driverRefuses:
					t.Errorf("%s %q: validate accepts it, driver call %d refuses it: %v", f.path, v, i, err)
				case specErr != nil && !driverRefuses:
					t.Errorf("%s %q: validate refuses it (%v), driver call %d takes it", f.path, v, specErr, i)
				}
			}
		}
		if accepted == 0 || refused == 0 {
			t.Errorf("%s: %d values accepted, %d refused: the list tests one side only", f.path, accepted, refused)
		}
	}
}

// goodService is the service of the document good, valid.
func goodService(t *testing.T) Service {
	t.Helper()
	svcs, err := Decode([]byte(spectest.Good), "desired.yaml", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return svcs[0]
}

// fieldError is the error of err about the field at path, or nil.
// fieldCase is a spec's extra lines under spec:, and the field they are
// refused at ("" when they are taken) with a part of the refusal's text.
type fieldCase struct {
	extra string
	path  string // the field refused; "" for none
	shown string // a part of the message: the value, or what is wrong
}

// decodeCase decodes tc's spec and checks its refusal: the services when
// tc is taken, nil when it is refused (or was not as it should be, which
// is reported).
func decodeCase(t *testing.T, tc fieldCase) []Service {
	t.Helper()
	svcs, err := Decode([]byte(spectest.Web(tc.extra).YAML()), "desired.yaml", t.TempDir(), nil)
	if tc.path == "" {
		if err != nil {
			t.Errorf("%s: refused: %v", tc.extra, err)
			return nil
		}
		return svcs
	}
	switch fe := fieldError(err, tc.path); {
	case fe == nil:
		t.Errorf("%s: want a refusal at %s, got %v", tc.extra, tc.path, err)
	case !strings.Contains(fe.Error(), tc.shown):
		t.Errorf("%s: refusal %q does not say %q", tc.extra, fe, tc.shown)
	}
	return nil
}

func fieldError(err error, path string) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) && fe.Path == path {
		return fe
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			if fe := fieldError(e, path); fe != nil {
				return fe
			}
		}
	}
	return nil
}

// TestValidateNameMessages: a refused name is reported at its field, with
// the value and what is wrong with it, in the haproxy package's words.
func TestValidateNameMessages(t *testing.T) {
	s := goodService(t)
	s.Colors.Blue.Backend = "web@blue"
	s.Colors.Green.Server = "app/1"
	s.HAProxy.MapKey = "web;clear map"
	s.HAProxy.MapFile = "/etc/haproxy/../hosts.map"
	s.HAProxy.Runtime = "unix:///run/haproxy.sock;x"
	s.Preview = &PreviewSpec{MapKey: strings.Repeat("p", 256)}
	err := s.Validate()
	for path, want := range map[string]string{
		"spec.colors.blue.backend": `"web@blue" contains '@' (byte 3): haproxy.cfg allows only ASCII letters, digits, '_', '.', ':' and '-' in a backend name`,
		"spec.colors.green.server": `"app/1" contains '/' (byte 3): haproxy.cfg allows only ASCII letters, digits, '_', '.', ':' and '-' in a server name, and the runtime API reads '/' as the separator of <backend>/<server>`,
		"spec.haproxy.mapKey":      `"web;clear map" contains a semicolon (byte 3), which the runtime API reads as the start of another command`,
		"spec.haproxy.mapFile":     `"/etc/haproxy/../hosts.map" contains a ".." element: write the path without it, exactly as in haproxy.cfg`,
		"spec.haproxy.runtime":     `use HAProxy runtime API address "unix:///run/haproxy.sock;x": the socket path contains a semicolon (byte 24)`,
		"spec.preview.mapKey":      "is 256 bytes long: at most 255 reach the HAProxy runtime API",
	} {
		fe := fieldError(err, path)
		if fe == nil {
			t.Errorf("%s: no error, want one saying %s", path, want)
			continue
		}
		if !strings.Contains(fe.Error(), want) {
			t.Errorf("%s: error %q, want it to say %s", path, fe, want)
		}
	}
}
