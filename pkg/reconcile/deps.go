package reconcile

import (
	"context"
	"net/netip"
	"time"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// HAProxy is what the controller needs from one HAProxy runtime API.
type HAProxy interface {
	GetMap(ctx context.Context, mapPath, key string) (value string, found bool, err error)
	ShowMap(ctx context.Context, mapPath string) ([]haproxy.MapEntry, error)
	SetMap(ctx context.Context, mapPath, key, value string) error
	ShowStat(ctx context.Context) ([]haproxy.StatRow, error)
	// ServerStatuses is the status and chkdown of every server: a cheaper
	// read than ShowStat, for polling.
	ServerStatuses(ctx context.Context) ([]haproxy.ServerStatus, error)
	ServersState(ctx context.Context) ([]haproxy.ServerState, error)
	// StatOf and ServersStateOf read one backend only: none when HAProxy
	// has no such backend.
	StatOf(ctx context.Context, backend string) ([]haproxy.StatRow, error)
	ServersStateOf(ctx context.Context, backend string) ([]haproxy.ServerState, error)
	SetServerState(ctx context.Context, backend, server string, s haproxy.AdminState) error
	SetServerHealthUp(ctx context.Context, backend, server string) error
	// SetServerReadyDown takes a server out of maintenance DOWN.
	SetServerReadyDown(ctx context.Context, backend, server string) error
	SetServerAddr(ctx context.Context, backend, server string, addr netip.AddrPort) error
	SetServerWeight(ctx context.Context, backend, server string, weight int) error
}

// MapFiles reads and writes the map files HAProxy loads at start.
type MapFiles interface {
	Lookup(path, key string) (value string, found bool, err error)
	Write(path, key, value string) error
}

// Containers is what the controller needs from the container engine.
type Containers interface {
	ImageID(ctx context.Context, ref string) (id string, found bool, err error)
	Build(ctx context.Context, b docker.BuildSpec) (imageID string, err error)
	Pull(ctx context.Context, ref string) error
	Inspect(ctx context.Context, name string) (docker.Container, bool, error)
	Create(ctx context.Context, s docker.CreateSpec) (id string, err error)
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string, timeout time.Duration) error
	Restart(ctx context.Context, name string, timeout time.Duration) error
	SetRestartPolicy(ctx context.Context, name, policy string) error
	OOMKilledBetween(ctx context.Context, id string, since, until time.Time) (bool, error)
	Remove(ctx context.Context, name string) error
	Logs(ctx context.Context, name string, tail int) (string, error)
	// AcceptsConnections fails when the engine refuses a new connection:
	// while reads on the connections already open succeed, it is
	// shutting down.
	AcceptsConnections(ctx context.Context) error
}

// Prober checks a color's address the way HAProxy's health check does.
type Prober interface {
	Probe(ctx context.Context, url string) error
}

// StopRecords is the controller's own memory of the containers it
// stopped, so that a container it stopped is never taken for one that
// died, whatever its exit code, and one that died is never taken for one
// it stopped. It is written before the stop is asked, so that a
// controller killed between the two still knows.
type StopRecords interface {
	Stopping(name string, r state.StopRecord) error
	Get(name string) (state.StopRecord, bool)
}

// Deps are the I/O boundaries of the loop: what it observes through and
// what it executes steps with.
type Deps struct {
	// HAProxy returns a client for one runtime API address.
	HAProxy    func(addr string) (HAProxy, error)
	Containers Containers
	MapFiles   MapFiles
	Prober     Prober
	// Checker sends the pre-switch checks (spec.checks).
	Checker Checker
	// Warmer sends the warm-up requests (spec.warmup).
	Warmer Warmer
	// Stops records the containers the controller stops (nil: kept in
	// memory, lost when the process ends).
	Stops StopRecords
	// CheckConfig, when set, says how HAProxy's configuration file has it
	// check color c's backend (nil: not known), so that a check that
	// disagrees with the controller's probe is named exactly.
	CheckConfig func(s *spec.Service, c spec.Color) *planner.CheckConfig
	// NoPull forbids pulling images from a registry (--no-pull): a missing
	// image must be built or loaded on the host.
	NoPull bool

	// checks completes the rows read while a check runs (nil: not kept).
	checks *lastChecks
	// published remembers the runs whose published port answered (nil:
	// every pass probes it).
	published *publishedAnswers
	// serialReads makes Observe read one thing after the other (in a pass
	// over many services, which observes several at once and shares its
	// reads between them) rather than all at once.
	serialReads bool
	// now is the loop's clock (Loop.Now; nil: time.Now), which the stop
	// records are stamped with and the engine's times compared against.
	now func() time.Time
}

// clock reads d.now.
func (d *Deps) clock() time.Time {
	if d.now == nil {
		return time.Now()
	}
	return d.now()
}

// stops returns d.Stops, creating an in-memory record if none was given.
func (d *Deps) stops() StopRecords {
	if d.Stops == nil {
		d.Stops = state.NewStopRecords()
	}
	return d.Stops
}

// HostMapFiles reads and writes map files on this host's disk, through the
// haproxy package's map file functions.
type HostMapFiles struct{}

// Lookup reads key's value in the map file at path.
func (HostMapFiles) Lookup(path, key string) (string, bool, error) {
	return haproxy.LookupMapFile(path, key)
}

// Entries reads every key of the map file at path (the first of
// duplicates, as HAProxy uses it): a pass reads each map file once.
func (HostMapFiles) Entries(path string) (map[string]string, error) {
	entries, err := haproxy.ReadMapFile(path)
	if err != nil {
		return nil, err
	}
	return firstOfEach(entries), nil
}

// Write sets key to value in the map file at path.
func (HostMapFiles) Write(path, key, value string) error {
	return haproxy.WriteMapFile(path, key, value)
}

// HAProxyClients returns a factory of real runtime API clients with the
// given per-command timeout.
func HAProxyClients(timeout time.Duration) func(addr string) (HAProxy, error) {
	return func(addr string) (HAProxy, error) {
		c, err := haproxy.New(addr, timeout)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}
