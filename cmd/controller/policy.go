package main

import (
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"

	"github.com/bluegreen-host/controller/pkg/policy"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
)

// policyFlag is --policy, of validate, plan, run and export.
func policyFlag(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.policy, "policy", policy.DefaultPath, "the host's policy: what desired files may ask of this host (map file directories, HAProxy addresses, mounts, networks, registries, users, resources); must be owned by root and writable by no one else; when this default file is absent, the built-in defaults apply")
}

// hostPolicy is the policy in force, read again at each call so that an
// edit of the file applies at the next pass.
func (o options) hostPolicy() (*policy.Policy, error) {
	return policy.Load(o.policy, o.policySet)
}

// loadFile reads the desired state at path, as specfile.Load does, and
// refuses it when it asks for what the host's policy does not allow.
//
// A service the policy refuses is refused alone, as a document that does
// not validate is (spec.PartlyRefused).
func (o options) loadFile(path string) ([]spec.Service, error) {
	svcs, err := specfile.Load(path)
	partly := spec.Refused(err)
	if err != nil && partly == nil {
		return nil, err
	}
	if partly != nil {
		svcs = partly.Valid
	} else {
		partly = &spec.PartlyRefused{}
	}
	p, err := o.hostPolicy()
	if err != nil {
		return nil, err
	}
	partly.Valid = nil
	for i, err := range p.CheckEach(svcs) {
		s := svcs[i]
		if err != nil {
			partly.Refused = append(partly.Refused, spec.Refusal{File: s.File(), Name: s.Name, Err: err})
			continue
		}
		partly.Valid = append(partly.Valid, s)
	}
	if len(partly.Refused) > 0 {
		return nil, partly
	}
	return partly.Valid, nil
}

// tcpWarner says, each time a desired state names an HAProxy runtime API
// address over TCP that the one before did not, that any local user who
// binds that port while HAProxy restarts can answer in its place. A unix
// socket with mode 600 cannot be taken so.
type tcpWarner struct {
	log  logr.Logger
	mu   sync.Mutex
	seen map[string]bool // the TCP addresses of the last desired state
}

func newTCPWarner(log logr.Logger) *tcpWarner { return &tcpWarner{log: log, seen: map[string]bool{}} }

func (w *tcpWarner) warn(svcs []spec.Service) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := map[string]bool{}
	for _, s := range svcs {
		addr := s.HAProxy.Runtime
		if !strings.HasPrefix(addr, "tcp://") || now[addr] {
			continue
		}
		now[addr] = true
		if !w.seen[addr] {
			w.log.Info("Warning: HAProxy runtime API over TCP: a local user who binds this port while HAProxy restarts can answer in its place; prefer a unix socket with mode 600",
				"address", addr, "service", s.Name)
		}
	}
	w.seen = now
}
