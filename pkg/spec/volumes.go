package spec

import (
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Mount is one entry of spec.volumes, parsed.
type Mount struct {
	// Source is a named volume's name, or an absolute host path (Bind).
	Source string
	// Target is the absolute path inside the container.
	Target   string
	Bind     bool
	ReadOnly bool
}

// volumeNameRe is the Docker engine's rule for a volume name.
var volumeNameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ParseVolume reads one entry of spec.volumes: "NAME:/path" or
// "/host/path:/path", each with an optional ":ro" or ":rw". The reason is
// empty when it parses.
func ParseVolume(v string) (m Mount, reason string) {
	parts := strings.Split(v, ":")
	switch {
	case len(parts) == 3 && (parts[2] == "ro" || parts[2] == "rw"):
		m.ReadOnly = parts[2] == "ro"
	case len(parts) == 3:
		return m, "its mode " + parts[2] + " is not \"ro\" or \"rw\""
	case len(parts) != 2:
		return m, "want \"NAME:/path\" or \"/host/path:/path\", with an optional \":ro\""
	}
	m.Source, m.Target = parts[0], parts[1]
	switch {
	case !path.IsAbs(m.Target) || path.Clean(m.Target) != m.Target:
		return m, "the path in the container must be absolute and clean, e.g. /data"
	case m.Target == "/":
		return m, "the container's / cannot be a mount"
	case strings.HasPrefix(m.Source, "/"):
		m.Bind = true
		if path.Clean(m.Source) != m.Source {
			return m, "the host path must be clean (no \"..\", \".\" or trailing \"/\")"
		}
	case strings.HasPrefix(m.Source, "."):
		return m, "a host path must be absolute: relative paths would depend on where the controller runs"
	case !volumeNameRe.MatchString(m.Source):
		return m, "the volume name must be letters, digits, '_', '.' or '-', starting with a letter or digit"
	}
	return m, ""
}

// Mounts is spec.volumes parsed; the spec is validated, so each entry
// parses.
func (s *ServiceSpec) Mounts() []Mount {
	var out []Mount
	for _, v := range s.Volumes {
		m, _ := ParseVolume(v)
		out = append(out, m)
	}
	return out
}

// validateVolumes checks spec.volumes and spec.user: each entry parses
// and no two mount on one path.
func (s *Service) validateVolumes(bad func(path, format string, args ...any)) {
	targets := map[string]int{}
	for i, v := range s.Volumes {
		at := "spec.volumes[" + strconv.Itoa(i) + "]"
		m, reason := ParseVolume(v)
		if reason != "" {
			bad(at, "%q: %s", v, reason)
			continue
		}
		if j, ok := targets[m.Target]; ok {
			bad(at, "%q mounts on %s, as spec.volumes[%d] does", v, m.Target, j)
		}
		targets[m.Target] = i
	}
	if s.User != "" && !userRe.MatchString(s.User) {
		bad("spec.user", "%q is not a user: want \"uid\", \"uid:gid\" or a user name (letters, digits, '_', '.', '-')", s.User)
	}
}

var userRe = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]*)?$`)
