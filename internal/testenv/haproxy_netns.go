package testenv

import (
	"os"
)

// StartHAProxyIn is StartHAProxy with HAProxy running inside the network
// namespace at netnsPath (`nsenter --net=NETNS -- haproxy ...`; nsenter execs
// HAProxy, so PID is the master's): its binds and server addresses are those
// of the namespace, e.g. a private engine's (Engine.NetNS) host-network
// containers on 127.0.0.1. statsSock must be a unix socket path: a file, and
// so reachable from this process, where a TCP address would be inside the
// namespace. Reach the frontends with Engine.HTTPClient or DialInNetNS.
func StartHAProxyIn(t TB, netnsPath, dir, cfg, statsSock string) *HAProxy {
	t.Helper()
	nsenter := RequireBinary(t, "nsenter", "nsenter not found: apt-get install -y util-linux")
	if network, _ := socketAddr(statsSock); network != "unix" {
		t.Fatalf("testenv: StartHAProxyIn: the runtime socket %q must be a unix socket path: a TCP socket would be inside netns %s, out of this process's reach", statsSock, netnsPath)
	}
	if _, err := os.Stat(netnsPath); err != nil {
		t.Fatalf("testenv: StartHAProxyIn: network namespace: %v", err)
	}
	return startHAProxy(t, dir, cfg, statsSock, []string{nsenter, "--net=" + netnsPath, "--"})
}
