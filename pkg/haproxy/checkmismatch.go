package haproxy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Mismatch says, in words an operator acts on, how hc differs from the
// controller's own probe of healthPath (GET healthPath, passing on any 2xx
// or 3xx), e.g. `checks GET /healthz, not spec.healthPath /api/health`;
// "" when they agree. It names each difference: the method, the path, an
// expected status outside 2xx/3xx (or none of them expected). A backend
// with no HTTP check, or whose check sends no request, says so. The Host
// header, the HTTP version and expect rules on the body or headers are not
// compared.
func (hc HealthCheck) Mismatch(healthPath string) string {
	if !hc.HTTP {
		return fmt.Sprintf(`has no HTTP check (no "option httpchk" in it or its defaults section): HAProxy never asks GET %s (spec.healthPath)`, healthPath)
	}
	if hc.Method == "" {
		return fmt.Sprintf(`sends no HTTP request: its http-check rules replace the request of the inherited "option httpchk" and none is "http-check send", so HAProxy never asks GET %s (spec.healthPath)`, healthPath)
	}
	var diffs, want []string
	if hc.Method != "GET" {
		want = append(want, "GET")
	}
	if hc.URI != healthPath {
		want = append(want, "spec.healthPath "+healthPath)
	}
	if len(want) > 0 {
		diffs = append(diffs, fmt.Sprintf("checks %s %s, not %s", hc.Method, hc.URI, strings.Join(want, " ")))
	}
	if d := expectMismatch(hc.Expect); d != "" {
		diffs = append(diffs, d)
	}
	return strings.Join(diffs, "; ")
}

// CheckLines are the lines of a backend section that make HAProxy check
// healthPath as the controller probes it:
//
//	option httpchk GET <healthPath>
//	http-check expect status 200
func CheckLines(healthPath string) string {
	return "option httpchk GET " + cfgQuote(healthPath) + "\nhttp-check expect status 200"
}

// expectMismatch says how the status codes that the expect rules let pass
// differ from the controller's 2xx and 3xx; "" when they are among them, or
// when no rule is on the status.
func expectMismatch(expect string) string {
	if expect == "" {
		return ""
	}
	var rules []func(int) bool
	for _, rule := range strings.Split(expect, "; ") {
		if pass := statusRule(rule); pass != nil {
			rules = append(rules, pass)
		}
	}
	if len(rules) == 0 {
		return ""
	}
	passes := func(code int) bool {
		for _, pass := range rules {
			if !pass(code) {
				return false
			}
		}
		return true
	}
	inside := false
	for code := 200; code < 400 && !inside; code++ {
		inside = passes(code)
	}
	if !inside {
		return fmt.Sprintf("expects %s, which no 2xx or 3xx status passes", expect)
	}
	for _, span := range [][2]int{{400, 599}, {100, 199}} {
		for code := span[0]; code <= span[1]; code++ {
			if passes(code) {
				return fmt.Sprintf("expects %s, which passes status %d, outside 2xx/3xx", expect, code)
			}
		}
	}
	return ""
}

// expectOneArg are the options of "http-check expect" (HAProxy 2.6) that
// take one argument before or after the match.
var expectOneArg = map[string]bool{
	"min-recv": true, "comment": true, "on-success": true, "on-error": true,
	"ok-status": true, "error-status": true, "tout-status": true, "status-code": true,
}

// statusRule reads one "http-check expect" rule, as written, and returns
// which status codes pass it; nil when the rule is not on the status (a
// body or header match) or cannot be read.
func statusRule(rule string) func(int) bool {
	words, err := splitCfgLine(rule)
	if err != nil {
		return nil
	}
	args := texts(words)
	inverse := false
	for i := 0; i < len(args); i++ {
		kw := args[i]
		for strings.HasPrefix(kw, "!") {
			inverse, kw = !inverse, kw[1:]
		}
		var pass func(int) bool
		switch {
		case kw == "":
			continue
		case expectOneArg[kw]:
			i++
			continue
		case (kw == "status" || kw == "rstatus") && i+1 < len(args):
			pass = statusMatcher(kw, args[i+1])
			if pass == nil {
				return nil
			}
		default:
			return nil
		}
		return func(code int) bool { return pass(code) != inverse }
	}
	return nil
}

// statusMatcher is the match of "status <codes>" (a list of codes and
// ranges, "200,301-303") or "rstatus <regex>", nil when pattern cannot be
// read.
func statusMatcher(kw, pattern string) func(int) bool {
	if kw == "rstatus" {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return nil
		}
		return func(code int) bool { return re.MatchString(strconv.Itoa(code)) }
	}
	var spans [][2]int
	for _, part := range strings.Split(pattern, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := lo, error(nil)
		if isRange {
			hi, err2 = strconv.Atoi(b)
		}
		if err1 != nil || err2 != nil || lo > hi {
			return nil
		}
		spans = append(spans, [2]int{lo, hi})
	}
	return func(code int) bool {
		for _, s := range spans {
			if s[0] <= code && code <= s[1] {
				return true
			}
		}
		return false
	}
}
