package haproxy

import (
	"fmt"
	"strings"
)

// This file follows how HAProxy 2.6 (src/tcpcheck.c) builds the HTTP check
// of a proxy from "option httpchk" and "http-check" lines, in the order
// they come:
//   - "option httpchk" gives the proxy a ruleset of its own, made of the
//     http-check rules written in the section so far, and puts its request
//     (an implicit send rule) first, merged into the first "http-check send"
//     if there is one;
//   - an "http-check" line in a proxy whose check is HTTP (by its own option
//     or by its defaults section's) adds to the proxy's own ruleset and makes
//     it the one in force: the ruleset of the defaults section, request and
//     expect rules alike, no longer applies. So a backend that only adds
//     "http-check expect" to an inherited "option httpchk" sends no request;
//   - a later send rule overrides the method, URI and version it names, and
//     the headers when it names any.

// checkKind is the kind of health check a proxy runs.
type checkKind int

const (
	checkNone  checkKind = iota // connect only (or none)
	checkHTTP                   // option httpchk
	checkOther                  // another option: tcp-check, ssl-hello-chk, ...
)

// otherCheckOptions are the options other than httpchk that choose how a
// proxy checks its servers; the last such option in force wins.
var otherCheckOptions = map[string]bool{
	"tcp-check": true, "ssl-hello-chk": true, "smtpchk": true, "pgsql-check": true,
	"redis-check": true, "mysql-check": true, "ldap-check": true, "spop-check": true,
	"external-check": true,
}

type ruleKind int

const (
	ruleConnect ruleKind = iota
	ruleSend
	ruleExpect
	ruleOther // comment, set-var, unset-var
)

// checkRequest is what a send rule sets; "" is not set.
type checkRequest struct {
	method, uri, version string
	headers              []checkHeader
}

type checkHeader struct{ name, value string }

// overwrite sets in r what newer sets, as HAProxy 2.6.12 merges two send
// rules: the headers are replaced only when newer names some.
func (r *checkRequest) overwrite(newer checkRequest) {
	if newer.method != "" {
		r.method = newer.method
	}
	if newer.uri != "" {
		r.uri = newer.uri
	}
	if newer.version != "" {
		r.version = newer.version
	}
	if len(newer.headers) > 0 {
		r.headers = newer.headers
	}
}

// host is the value of the request's Host header, "" for none.
func (r checkRequest) host() string {
	for _, h := range r.headers {
		if strings.EqualFold(h.name, "host") {
			return h.value
		}
	}
	return ""
}

type checkRule struct {
	kind       ruleKind
	fromOption bool // the implicit send rule of "option httpchk"
	req        checkRequest
	expect     string // the expect rule as written
}

// ruleset is a list of check rules; proxies that inherit one share it.
type ruleset struct{ rules []checkRule }

// addOption adds the request of an "option httpchk" line.
func (rs *ruleset) addOption(req checkRequest) {
	implicit := checkRule{kind: ruleSend, fromOption: true, req: req}
	i := 0
	if i < len(rs.rules) && rs.rules[i].kind == ruleConnect {
		i++
	}
	switch {
	case i >= len(rs.rules) || rs.rules[i].kind != ruleSend:
		rs.rules = append([]checkRule{implicit}, rs.rules...)
	case rs.rules[i].fromOption:
		rest := append(rs.rules[:i:i], rs.rules[i+1:]...)
		rs.rules = append([]checkRule{implicit}, rest...)
	default:
		rs.rules[i].req.overwrite(req)
	}
}

// add adds an http-check rule to a ruleset in force: a send rule is merged
// into a leading "option httpchk" request, which then moves to its place.
func (rs *ruleset) add(r checkRule) {
	if r.kind == ruleSend && len(rs.rules) > 0 && rs.rules[0].kind == ruleSend && rs.rules[0].fromOption {
		merged := rs.rules[0].req
		merged.overwrite(r.req)
		r.req = merged
		rs.rules = rs.rules[1:]
	}
	rs.rules = append(rs.rules, r)
}

// request returns the first request the ruleset sends and the expect
// rules that judge its response, as written; sent is false when no rule
// sends one.
func (rs *ruleset) request() (req checkRequest, expects []string, sent bool) {
	rules := rs.rules
	// HAProxy moves a leading "option httpchk" request after the connect
	// rule that follows it.
	if len(rules) > 1 && rules[0].fromOption && rules[1].kind == ruleConnect {
		rules = append([]checkRule{rules[1], rules[0]}, rules[2:]...)
	}
	for i, r := range rules {
		if r.kind != ruleSend {
			continue
		}
		for _, next := range rules[i+1:] {
			if next.kind == ruleConnect || next.kind == ruleSend {
				break
			}
			if next.kind == ruleExpect {
				expects = append(expects, next.expect)
			}
		}
		return r.req, expects, true
	}
	return checkRequest{}, nil, false
}

// proxyCheck is what a proxy (a defaults section or a backend) knows of
// its health check; a section inherits it from its defaults section.
type proxyCheck struct {
	kind         checkKind
	rules        *ruleset // the ruleset in force, maybe its defaults section's
	own          *ruleset // the section's own http-check rules
	defaultCheck bool     // "check" on the default-server lines so far
	redispatch   bool     // "option redispatch" in force, with an interval other than 0
}

// inherit is the check a new section starts with under defaults d.
func (d proxyCheck) inherit() proxyCheck {
	d.own = nil
	return d
}

func (p *proxyCheck) ownRules() *ruleset {
	if p.own == nil {
		p.own = &ruleset{}
	}
	return p.own
}

// optionHTTPChk applies "option httpchk [[method] uri [version]]"; args
// are the words after "httpchk".
func (p *proxyCheck) optionHTTPChk(args []string) error {
	if len(args) > 3 {
		return fmt.Errorf("option httpchk takes at most 3 arguments (method, uri, version), got %d", len(args))
	}
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	var req checkRequest
	if arg(0) != "" {
		if arg(1) == "" {
			req.uri = arg(0)
		} else {
			req.method = arg(0)
		}
	}
	if arg(1) != "" {
		req.uri = arg(1)
	}
	req.version, req.headers = splitLegacyVersion(arg(2))
	p.kind = checkHTTP
	p.rules = p.ownRules()
	p.rules.addOption(req)
	return nil
}

// splitLegacyVersion splits the version of "option httpchk" from the
// headers hidden after it ("HTTP/1.1\r\nHost:\ www"), a trick from before
// "http-check send". A body after an empty line is dropped.
func splitLegacyVersion(v string) (version string, headers []checkHeader) {
	head, _, _ := strings.Cut(v, "\r\n\r\n")
	version, rest, found := strings.Cut(head, "\r\n")
	if !found {
		return version, nil
	}
	for _, line := range strings.Split(rest, "\r\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && name != "" {
			headers = append(headers, checkHeader{name: strings.TrimSpace(name), value: strings.TrimSpace(value)})
		}
	}
	return version, headers
}

// httpCheck applies an "http-check" line; words are the line's words and
// raw the line as written.
func (p *proxyCheck) httpCheck(words []cfgWord, raw string) error {
	if len(words) < 2 {
		return fmt.Errorf("http-check needs a keyword")
	}
	var r checkRule
	switch words[1].text {
	case "disable-on-404", "send-state":
		return nil
	case "connect":
		r.kind = ruleConnect
	case "send":
		req, err := parseHTTPCheckSend(words[2:])
		if err != nil {
			return err
		}
		r.kind, r.req = ruleSend, req
	case "expect":
		if len(words) < 3 {
			return fmt.Errorf("http-check expect needs a rule")
		}
		r.kind, r.expect = ruleExpect, strings.TrimSpace(raw[words[2].start:words[len(words)-1].end])
	default:
		r.kind = ruleOther
	}
	own := p.ownRules()
	if p.kind == checkHTTP {
		p.rules = own
		own.add(r)
	} else {
		// kept for an "option httpchk" further down the section
		own.rules = append(own.rules, r)
	}
	return nil
}

// parseHTTPCheckSend reads the arguments of "http-check send".
func parseHTTPCheckSend(args []cfgWord) (checkRequest, error) {
	var req checkRequest
	for i := 0; i < len(args); i++ {
		kw := args[i].text
		n := 1
		if kw == "hdr" {
			n = 2
		}
		switch kw {
		case "meth", "uri", "uri-lf", "ver", "hdr", "body", "body-lf", "comment":
		default:
			return req, fmt.Errorf("http-check send: unknown keyword %q (want meth, uri, uri-lf, ver, hdr, body, body-lf or comment)", kw)
		}
		if i+n >= len(args) {
			return req, fmt.Errorf("http-check send: %s needs %d argument(s)", kw, n)
		}
		switch kw {
		case "meth":
			req.method = args[i+1].text
		case "uri", "uri-lf":
			req.uri = args[i+1].text
		case "ver":
			req.version = args[i+1].text
		case "hdr":
			req.headers = append(req.headers, checkHeader{name: args[i+1].text, value: args[i+2].text})
		}
		i += n
	}
	return req, nil
}
