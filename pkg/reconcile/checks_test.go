package reconcile

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/spec"
)

func TestPlanPreSwitchChecks(t *testing.T) {
	s := testService(t, spec.Green, "demo:v2", "  checks: [{path: /, bodyContains: green}]")
	ready := func() *world {
		return newWorld(s, idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2)
	}
	checkDecision(t, Plan(s, ready().o, t0), want{action: RunChecks, color: spec.Green, target: "bg-web-green"})

	w := ready()
	ct := w.o.Green.Container
	w.o.Checks = &CheckRecord{Generation: s.Generation(), Color: spec.Green, Container: ct.ID, StartedAt: ct.StartedAt, Passed: true}
	checkDecision(t, Plan(s, w.o, t0), want{action: SwitchMap, color: spec.Green, target: "web -> web_green"})

	w.o.Checks.Passed, w.o.Checks.Failure = false, `check "GET /" failed: GET http://127.0.0.1:18082/ answered 500`
	d := Plan(s, w.o, t0)
	checkDecision(t, d, want{phase: Failed, reason: "CheckFailed"})
	if !strings.Contains(d.Message, "answered 500") {
		t.Fatalf("message %q lacks the failing answer", d.Message)
	}
	// A container restarted since is checked again.
	w.o.Checks.StartedAt = ct.StartedAt.Add(-time.Minute)
	checkDecision(t, Plan(s, w.o, t0), want{action: RunChecks, color: spec.Green, target: "bg-web-green"})
}

func TestHTTPCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Host != "shop.example":
			http.Error(w, "wrong host "+r.Host, http.StatusMisdirectedRequest)
		case r.URL.Path == "/fail":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			_, _ = w.Write([]byte("green v2"))
		}
	}))
	defer srv.Close()
	p := NewHTTPProber(time.Second)
	check := func(path, body string, status int) spec.Check {
		return spec.Check{Name: path, Path: path, Method: "GET", Headers: map[string]string{"Host": "shop.example"},
			ExpectStatus: status, BodyContains: body, Count: 3, Interval: spec.Duration{Duration: time.Millisecond}}
	}
	if err := p.Check(context.Background(), srv.URL, check("/", "green", 200)); err != nil {
		t.Fatalf("good check: %v", err)
	}
	var cf *CheckFailedError
	for _, c := range []spec.Check{check("/fail", "", 200), check("/", "blue", 200), check("/", "", 204)} {
		err := p.Check(context.Background(), srv.URL, c)
		if !errors.As(err, &cf) || !strings.Contains(err.Error(), "request 1 of 3") {
			t.Errorf("check %+v: %v, want a CheckFailedError at the first request", c, err)
		}
	}
	if err := p.Check(context.Background(), srv.URL, check("/fail", "", 500)); err != nil {
		t.Fatalf("an expected 500: %v", err)
	}
}

func TestPlanPreview(t *testing.T) {
	s := testService(t, spec.Green, "demo:v2", "  preview: {mapKey: preview.web}", "  promotion: {mode: Manual}")
	w := newWorld(s, idV2).running(spec.Blue, idV1).serving(spec.Blue).running(spec.Green, idV2)
	checkDecision(t, Plan(s, w.o, t0), want{action: SetPreview, color: spec.Green, target: "preview.web -> web_green"})
	w.o.Preview = MapValue{Value: "web_green", Found: true}
	checkDecision(t, Plan(s, w.o, t0), want{phase: Progressing, reason: "WaitingForPromotion"})
	// Not before the new color is ready.
	w = newWorld(s, idV2).running(spec.Blue, idV1).serving(spec.Blue)
	checkDecision(t, Plan(s, w.o, t0), want{action: CreateContainer, color: spec.Green, target: "bg-web-green"})
}
