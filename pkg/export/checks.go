package export

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bluegreen-host/controller/pkg/spec"
)

// namespaceArg is the AnalysisTemplate's one argument: the Rollout passes
// its own namespace, so that the checks reach the preview Service by its
// full name from wherever Argo Rollouts runs them.
const namespaceArg = "namespace"

// webMethods are the methods Argo Rollouts' web metric sends.
var webMethods = map[string]bool{"GET": true, "POST": true, "PUT": true}

// checkMetrics turns the pre-switch checks into web metrics sent to the
// preview Service, in order, and reports what of them has no counterpart.
// A check with a method or an expected status a web metric cannot have is
// left out; every other check keeps its path, method, headers, count and
// interval, and must pass every time (consecutiveErrorLimit 0: a non-2xx
// answer or none fails the analysis at once).
func checkMetrics(s *spec.Service) ([]Metric, []Unmapped) {
	var metrics []Metric
	var out []Unmapped
	taken := map[string]bool{}
	for i, c := range s.Checks {
		at := fmt.Sprintf("spec.checks[%d]", i)
		add := func(path, format string, args ...any) {
			out = append(out, Unmapped{Service: s.Name, Path: path, Why: fmt.Sprintf(format, args...)})
		}
		if !webMethods[c.Method] {
			add(at+".method", "%q: Argo Rollouts' web metric sends GET, POST or PUT; check %q is left out", c.Method, c.Name)
			continue
		}
		if c.ExpectStatus < 200 || c.ExpectStatus > 299 {
			add(at+".expectStatus", "%d: a web metric passes on a 2xx answer only; check %q is left out", c.ExpectStatus, c.Name)
			continue
		}
		var headers []WebMetricHeader
		for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
			if http.CanonicalHeaderKey(k) == "Host" {
				add(at+".headers."+k, "%q: a web metric's request names the preview Service as its host; the header is not sent", c.Headers[k])
				continue
			}
			headers = append(headers, WebMetricHeader{Key: k, Value: c.Headers[k]})
		}
		if c.BodyContains != "" {
			add(at+".bodyContains", "%q: a web metric passes any 2xx answer that is not JSON, whatever its body; the body is not checked", c.BodyContains)
		}
		m := Metric{
			Name:                  metricName(c.Name, taken),
			Count:                 new(intstr.FromInt32(int32(c.Count))),
			ConsecutiveErrorLimit: new(intstr.FromInt32(0)),
			Provider: MetricProvider{Web: &WebMetric{
				Method:  c.Method,
				URL:     fmt.Sprintf("http://%s.{{args.%s}}.svc.cluster.local%s", previewName(s), namespaceArg, c.Path),
				Headers: headers,
			}},
		}
		if c.Count > 1 {
			m.Interval = c.Interval.Duration.String()
		}
		metrics = append(metrics, m)
	}
	return metrics, out
}

// metricName is a check's name as a metric name: its letters and digits in
// lower case, other runs of characters as one '-', unique among taken.
func metricName(name string, taken map[string]bool) string {
	var b strings.Builder
	gap := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if gap && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			gap = false
			continue
		}
		gap = true
	}
	base := b.String()
	if base == "" {
		base = "check"
	}
	n := base
	for k := 2; taken[n]; k++ {
		n = fmt.Sprintf("%s-%d", base, k)
	}
	taken[n] = true
	return n
}
