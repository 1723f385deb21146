// Package spectest builds desired files for tests: the one builder of
// desired YAML, for pkg/spec and every package that reads or runs a
// desired state. Only tests import it.
package spectest

import (
	"fmt"
	"strings"
)

// Desired is a desired file of one service; Extra lines go under spec:,
// indented by two spaces as written.
type Desired struct {
	Name, Active, Image string
	BluePort, GreenPort int
	Runtime, MapFile    string
	Extra               []string
}

// Web is service web: blue serves demo:v1 on ports 18081 and 18082, at
// the runtime API and map file of Debian's HAProxy, with extra lines.
func Web(extra ...string) Desired {
	return Desired{Name: "web", Active: "blue", Image: "demo:v1", BluePort: 18081, GreenPort: 18082,
		Runtime: "unix:///run/haproxy/admin.sock", MapFile: "/etc/haproxy/hosts.map", Extra: extra}
}

// YAML is the desired file.
func (d Desired) YAML() string {
	y := fmt.Sprintf(`apiVersion: bluegreen.dev/v1
kind: Service
metadata:
  name: %s
spec:
  activeColor: %s
  image: %s
  colors:
    blue: {hostPort: %d}
    green: {hostPort: %d}
  haproxy:
    runtime: %s
    mapFile: %s
`, d.Name, d.Active, d.Image, d.BluePort, d.GreenPort, d.Runtime, d.MapFile)
	if len(d.Extra) > 0 {
		y += strings.Join(d.Extra, "\n") + "\n"
	}
	return y
}

// Good is a valid desired file of one service, web, with every default.
var Good = Web().YAML()
