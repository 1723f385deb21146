package source

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"golang.org/x/net/proxy"
)

// Two process-wide registrations, made once at start so that nothing
// races with them:
//
//   - go-git serves file:// URLs with its in-process server instead of
//     running git-upload-pack: no git binary, for file:// URLs too.
//   - go-git's ssh transport neither dials nor shakes hands under the
//     fetch's context, so a server that accepts and then says nothing
//     would hold Sync forever. Sync hands it, as a "proxy", a dialer whose
//     connection is closed when Sync's context ends.
func init() {
	client.InstallProtocol("file", server.NewClient(streamingLoader{}))
	proxy.RegisterDialerType(ctxDialScheme, func(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
		ctx, ok := ctxDials.Load(u.Host)
		if !ok {
			return nil, fmt.Errorf("no Sync in progress for dial %s", u.Host)
		}
		return ctxDialer{ctx.(context.Context)}, nil
	})
}

// streamingLoader is go-git's loader of file:// repositories, whose
// storage streams objects larger than 1 MiB instead of reading them whole:
// the server runs in this process, and a file too large for Sync would
// otherwise be read into its memory before Sync refuses it.
type streamingLoader struct{}

func (streamingLoader) Load(ep *transport.Endpoint) (storer.Storer, error) {
	s, err := server.DefaultLoader.Load(ep)
	if fs, ok := s.(*filesystem.Storage); ok && err == nil {
		return filesystem.NewStorageWithOptions(fs.Filesystem(), cache.NewObjectLRUDefault(), filesystem.Options{LargeObjectThreshold: 1 << 20}), nil
	}
	return s, err
}

const ctxDialScheme = "bluegreen-sync"

var (
	ctxDials   sync.Map // dial key → the context.Context of the Sync it serves
	ctxDialSeq atomic.Uint64
)

// ctxDialOptions returns the proxy options that make go-git's ssh
// transport dial under ctx, and a func to call once the fetch is over.
func ctxDialOptions(ctx context.Context) (transport.ProxyOptions, func()) {
	key := strconv.FormatUint(ctxDialSeq.Add(1), 10)
	ctxDials.Store(key, ctx)
	return transport.ProxyOptions{URL: ctxDialScheme + "://" + key}, func() { ctxDials.Delete(key) }
}

// ctxDialer dials under its Sync's context and closes the connection
// when that context ends, whatever go-git is waiting for on it.
type ctxDialer struct{ ctx context.Context }

func (d ctxDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

func (d ctxDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopDial := context.AfterFunc(d.ctx, cancel)
	defer stopDial()
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		if d.ctx.Err() != nil {
			return nil, d.ctx.Err()
		}
		return nil, err
	}
	stop := context.AfterFunc(d.ctx, func() { conn.Close() })
	return &ctxConn{Conn: conn, stop: stop}, nil
}

type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
