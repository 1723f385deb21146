// Package spectest holds desired files for the tests of pkg/spec and of
// the packages that read it. Only tests import it.
package spectest

// Good is a valid desired file of one service, web, with every default.
const Good = `apiVersion: bluegreen.dev/v1
kind: Service
metadata:
  name: web
spec:
  activeColor: blue
  image: demo:v1
  colors:
    blue: {hostPort: 18081}
    green: {hostPort: 18082}
  haproxy:
    runtime: unix:///run/haproxy/admin.sock
    mapFile: /etc/haproxy/hosts.map
`
