package spec

import (
	"strings"
	"testing"
)

func TestParseVolume(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   Mount
		reason string // a word the refusal holds; "" when it parses
	}{
		{in: "uploads:/data", want: Mount{Source: "uploads", Target: "/data"}},
		{in: "uploads:/data:ro", want: Mount{Source: "uploads", Target: "/data", ReadOnly: true}},
		{in: "/srv/web:/etc/web:rw", want: Mount{Source: "/srv/web", Target: "/etc/web", Bind: true}},
		{in: "/:/host:ro", want: Mount{Source: "/", Target: "/host", Bind: true, ReadOnly: true}},
		{in: "uploads", reason: "want"},
		{in: "uploads:/data:rx", reason: "mode"},
		{in: "a:b:c:d", reason: "want"},
		{in: "uploads:data", reason: "absolute"},
		{in: "uploads:/data/", reason: "clean"},
		{in: "uploads:/", reason: "container's /"},
		{in: "./data:/data", reason: "absolute"},
		{in: "/srv/../etc:/data", reason: "clean"},
		{in: "-x:/data", reason: "volume name"},
		{in: "a:/data", reason: "volume name"},
	} {
		got, reason := ParseVolume(tc.in)
		if tc.reason == "" {
			if reason != "" || got != tc.want {
				t.Errorf("ParseVolume(%q) = %+v, %q; want %+v", tc.in, got, reason, tc.want)
			}
			continue
		}
		if !strings.Contains(reason, tc.reason) {
			t.Errorf("ParseVolume(%q) refusal %q; want one about %q", tc.in, reason, tc.reason)
		}
	}
}

func TestValidateVolumesAndUser(t *testing.T) {
	for _, tc := range []struct {
		volumes []string
		user    string
		path    string // the field refused; "" for none
	}{
		{volumes: []string{"uploads:/data", "/srv/x:/etc/x:ro"}, user: "1000:1000"},
		{user: "app"},
		{volumes: []string{"uploads:/data", "other:/data"}, path: "spec.volumes[1]"},
		{volumes: []string{"bad"}, path: "spec.volumes[0]"},
		{user: "root;rm", path: "spec.user"},
		{user: "1000:", path: "spec.user"},
	} {
		s := goodService(t)
		s.Volumes, s.User = tc.volumes, tc.user
		err := s.Validate()
		if tc.path == "" {
			if err != nil {
				t.Errorf("volumes %q user %q: %v", tc.volumes, tc.user, err)
			}
			continue
		}
		if fieldError(err, tc.path) == nil {
			t.Errorf("volumes %q user %q: want a refusal at %s, got %v", tc.volumes, tc.user, tc.path, err)
		}
	}
}
