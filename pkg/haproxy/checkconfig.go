package haproxy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// maxConfigSize caps the haproxy.cfg that ReadHealthChecks reads: 8 MiB.
const maxConfigSize = 8 << 20

// HealthCheck is how haproxy.cfg has HAProxy check one backend's servers,
// and whether it redispatches a retried connection, which the controller's
// moves of a server need.
type HealthCheck struct {
	Backend string
	File    string // the configuration file
	Line    int    // line of the "backend" (or "listen") keyword
	// HTTP: an HTTP check, by "option httpchk" in the backend or in the
	// defaults section it inherits.
	HTTP bool
	// Method is the method as HAProxy sends it: "OPTIONS" when none is
	// named (HAProxy 2.6's default); "" when HAProxy sends no request at
	// all (http-check rules without a send rule replace the request of an
	// inherited "option httpchk").
	Method string
	URI    string // "/" when none is named
	Host   string // the Host header the check sends, "" for none
	// Expect is the "http-check expect" rule as written, e.g. "status 200";
	// "" for HAProxy's default (any 2xx or 3xx). Several rules that judge
	// the response are joined by "; ".
	Expect string
	// Servers holds each server of the backend: true when it is checked
	// ("check" on its line, or on a default-server line in force, and no
	// "no-check" after it).
	Servers map[string]bool
	// Redispatch: "option redispatch" is in force, in the backend or the
	// defaults section it inherits, with an interval other than 0 (which
	// turns it off): a retried connection takes its server's address
	// afresh, or another server.
	Redispatch bool
}

// ReadHealthChecks reads the health check of every backend (and listen
// section) of the haproxy.cfg at path, by backend name. It reads the file
// as HAProxy 2.6 does, with nothing clever: no includes, no environment
// expansion (a "${NAME}" stays as written), and refuses conditional blocks
// (.if). It checks only what it reads: "haproxy -c" is the judge of the
// rest. A file over 8 MiB is refused. Errors name the file and the
// line; a missing file is an fs.ErrNotExist.
func ReadHealthChecks(path string) (map[string]HealthCheck, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read health checks of %s: %w", path, pathCause(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read health checks of %s: %w", path, pathCause(err))
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("read health checks of %s: larger than %d MiB: not a haproxy.cfg", path, maxConfigSize>>20)
	}
	return parseHealthChecks(path, string(data))
}

// pathCause drops the path from an *fs.PathError, which the caller names.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// cfgReader is the state of one pass over a haproxy.cfg.
type cfgReader struct {
	file     string
	defaults map[string]*proxyCheck // named defaults sections
	last     *proxyCheck            // the most recent defaults section
	cur      *proxyCheck            // the current defaults section or backend
	be       *HealthCheck           // the current backend, nil elsewhere
	out      map[string]HealthCheck
}

func parseHealthChecks(file, text string) (map[string]HealthCheck, error) {
	r := &cfgReader{file: file, defaults: map[string]*proxyCheck{}, last: &proxyCheck{}, out: map[string]HealthCheck{}}
	for n, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), "[") {
			continue // a scope, for HAProxy's messages
		}
		words, err := splitCfgLine(line)
		if err == nil {
			err = r.line(words, line, n+1)
		}
		if err != nil {
			return nil, fmt.Errorf("read health checks of %s:%d: %w", file, n+1, err)
		}
	}
	r.endSection()
	return r.out, nil
}

// sectionKeywords start a section of HAProxy 2.6's configuration.
var sectionKeywords = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"peers": true, "resolvers": true, "userlist": true, "mailers": true, "program": true,
	"http-errors": true, "ring": true, "cache": true, "log-forward": true, "fcgi-app": true,
	"namespace_list": true, "spoe-agent": true, "spoe-group": true, "spoe-message": true,
}

// line applies one line: raw as written, n its number.
func (r *cfgReader) line(words []cfgWord, raw string, n int) error {
	if len(words) == 0 {
		return nil
	}
	kw := words[0].text
	switch {
	case kw == ".if" || kw == ".elif" || kw == ".else" || kw == ".endif":
		return fmt.Errorf("conditional block (%s): not read; the checks would depend on its condition", kw)
	case strings.HasPrefix(kw, "."):
		return nil // .diag, .notice, .warning, .alert
	case sectionKeywords[kw]:
		r.endSection()
		return r.startSection(texts(words), n)
	}
	if r.cur == nil {
		return nil
	}
	return r.proxyLine(words, raw)
}

// startSection starts the section a header line opens.
func (r *cfgReader) startSection(args []string, n int) error {
	switch args[0] {
	case "defaults":
		name, from := "", ""
		switch {
		case len(args) >= 3 && args[1] == "from":
			from = args[2]
		case len(args) >= 4 && args[2] == "from":
			name, from = args[1], args[3]
		case len(args) >= 2:
			name = args[1]
		}
		d := &proxyCheck{}
		if from != "" {
			parent, ok := r.defaults[from]
			if !ok {
				return fmt.Errorf("defaults section %q not found above", from)
			}
			*d = parent.inherit()
		}
		if name != "" {
			r.defaults[name] = d
		}
		r.last, r.cur = d, d
	case "backend", "listen":
		if len(args) < 2 {
			return fmt.Errorf("%s needs a name", args[0])
		}
		d := r.last
		if len(args) >= 4 && args[2] == "from" {
			var ok bool
			if d, ok = r.defaults[args[3]]; !ok {
				return fmt.Errorf("defaults section %q not found above", args[3])
			}
		}
		if prev, dup := r.out[args[1]]; dup {
			return fmt.Errorf("backend %s declared twice (first at line %d)", args[1], prev.Line)
		}
		c := d.inherit()
		r.cur = &c
		r.be = &HealthCheck{Backend: args[1], File: r.file, Line: n, Servers: map[string]bool{}}
	}
	return nil
}

// endSection records the backend being read, if any.
func (r *cfgReader) endSection() {
	if r.be != nil {
		hc := *r.be
		c := r.cur
		hc.HTTP = c.kind == checkHTTP
		hc.Redispatch = c.redispatch
		if hc.HTTP && c.rules != nil {
			if req, expects, sent := c.rules.request(); sent {
				hc.Method, hc.URI, hc.Host = orDefault(req.method, "OPTIONS"), orDefault(req.uri, "/"), req.host()
				hc.Expect = strings.Join(expects, "; ")
			}
		}
		r.out[hc.Backend] = hc
	}
	r.cur, r.be = nil, nil
}

// proxyLine applies a line of a defaults section or a backend.
func (r *cfgReader) proxyLine(words []cfgWord, raw string) error {
	args := texts(words)
	modifier := ""
	if args[0] == "no" || args[0] == "default" {
		modifier, args = args[0], args[1:]
		if len(args) == 0 {
			return nil
		}
	}
	switch args[0] {
	case "option":
		if len(args) < 2 {
			return nil
		}
		opt := args[1]
		if opt == "redispatch" {
			// "no" and "default" (off by default) turn it off, and so does
			// an interval of 0.
			r.cur.redispatch = modifier == "" && (len(args) < 3 || strings.TrimLeft(args[2], "+-0") != "")
			return nil
		}
		if opt != "httpchk" && !otherCheckOptions[opt] {
			return nil
		}
		if modifier != "" {
			return fmt.Errorf("%s option %s: HAProxy 2.6 refuses it (no negation or default for this option)", modifier, opt)
		}
		if opt == "httpchk" {
			return r.cur.optionHTTPChk(args[2:])
		}
		r.cur.kind, r.cur.rules = checkOther, nil
	case "http-check":
		return r.cur.httpCheck(words, raw)
	case "default-server":
		r.cur.defaultCheck = serverChecked(r.cur.defaultCheck, args[1:])
	case "server":
		if r.be == nil {
			return nil
		}
		if len(args) < 3 {
			return fmt.Errorf("server needs a name and an address")
		}
		r.be.Servers[args[1]] = serverChecked(r.cur.defaultCheck, args[3:])
	case "server-template":
		if r.be == nil {
			return nil
		}
		if len(args) < 4 {
			return fmt.Errorf("server-template needs a prefix, a number or range, and an address")
		}
		lo, hi, err := templateRange(args[2])
		if err != nil {
			return err
		}
		checked := serverChecked(r.cur.defaultCheck, args[4:])
		for i := lo; i <= hi; i++ {
			r.be.Servers[args[1]+strconv.Itoa(i)] = checked
		}
	}
	return nil
}

// serverOneArg are the server and default-server keywords of HAProxy 2.6
// that take one argument, which is not a keyword even if it reads like one
// ("cookie check"). "source" takes more, each after a keyword of its own
// ("usesrc", "interface").
var serverOneArg = map[string]bool{
	"addr": true, "agent-addr": true, "agent-inter": true, "agent-port": true, "agent-send": true,
	"alpn": true, "ca-file": true, "check-alpn": true, "check-proto": true, "check-sni": true,
	"ciphers": true, "ciphersuites": true, "cookie": true, "crl-file": true, "crt": true,
	"downinter": true, "error-limit": true, "fall": true, "fastinter": true, "id": true,
	"init-addr": true, "inter": true, "interface": true, "log-proto": true, "max-reuse": true,
	"maxconn": true, "maxqueue": true, "minconn": true, "namespace": true, "npn": true,
	"observe": true, "on-error": true, "on-marked-down": true, "on-marked-up": true,
	"pool-low-conn": true, "pool-max-conn": true, "pool-purge-delay": true, "port": true,
	"proto": true, "proxy-v2-options": true, "redir": true, "resolve-net": true,
	"resolve-opts": true, "resolve-prefer": true, "resolvers": true, "rise": true,
	"slowstart": true, "sni": true, "socks4": true, "source": true, "ssl-max-ver": true,
	"ssl-min-ver": true, "tcp-ut": true, "track": true, "usesrc": true, "verify": true,
	"verifyhost": true, "weight": true, "ws": true,
}

// serverChecked applies the keywords of a server or default-server line to
// checked, whether the server is checked: the last of "check" and
// "no-check" wins.
func serverChecked(checked bool, kws []string) bool {
	for i := 0; i < len(kws); i++ {
		switch kw := kws[i]; {
		case kw == "check":
			checked = true
		case kw == "no-check":
			checked = false
		case serverOneArg[kw]:
			i++
		}
	}
	return checked
}

// templateRange reads the <num> or <low>-<high> of a server-template.
func templateRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = strconv.Atoi(a); err == nil && isRange {
		hi, err = strconv.Atoi(b)
	} else if err == nil {
		lo, hi = 1, lo
	}
	if err != nil || lo < 0 || hi < lo || hi-lo > 100000 {
		return 0, 0, fmt.Errorf("server-template: %q is not a number or a range", s)
	}
	return lo, hi, nil
}

func texts(words []cfgWord) []string {
	s := make([]string, len(words))
	for i, w := range words {
		s[i] = w.text
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
