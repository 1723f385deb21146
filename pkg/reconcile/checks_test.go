package reconcile

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

func TestPlanPreSwitchChecks(t *testing.T) {
	s := plantest.Service(t, spec.Green, "demo:v2", "  checks: [{path: /, bodyContains: green}]")
	ready := func() *plantest.World {
		return plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2)
	}
	plantest.Expect(t, planner.Plan(s, ready().O, plantest.T0), plantest.Want{Action: planner.RunChecks, Color: spec.Green, Target: "bg-web-green"})

	w := ready()
	ct := w.O.Green.First().Container
	w.O.Checks = &planner.CheckRecord{Generation: s.Generation(), Color: spec.Green, Container: ct.ID, StartedAt: ct.StartedAt, Passed: true}
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Action: planner.SwitchMap, Color: spec.Green, Target: "web -> web_green"})

	w.O.Checks.Passed, w.O.Checks.Failure = false, `check "GET /" failed: GET http://127.0.0.1:18082/ answered 500`
	d := planner.Plan(s, w.O, plantest.T0)
	plantest.Expect(t, d, plantest.Want{Phase: planner.Failed, Reason: "CheckFailed"})
	if !strings.Contains(d.Message, "answered 500") {
		t.Fatalf("message %q lacks the failing answer", d.Message)
	}
	// A container restarted since is checked again.
	w.O.Checks.StartedAt = ct.StartedAt.Add(-time.Minute)
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Action: planner.RunChecks, Color: spec.Green, Target: "bg-web-green"})
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
	s := plantest.Service(t, spec.Green, "demo:v2", "  preview: {mapKey: preview.web}", "  promotion: {mode: Manual}")
	w := plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue).Running(spec.Green, plantest.ImageV2)
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Action: planner.SetPreview, Color: spec.Green, Target: "preview.web -> web_green"})
	w.O.Preview = planner.MapValue{Value: "web_green", Found: true}
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Phase: planner.Progressing, Reason: "WaitingForPromotion"})
	// Not before the new color is ready.
	w = plantest.NewWorld(s, plantest.ImageV2).Running(spec.Blue, plantest.ImageV1).Serving(spec.Blue)
	plantest.Expect(t, planner.Plan(s, w.O, plantest.T0), plantest.Want{Action: planner.CreateContainer, Color: spec.Green, Target: "bg-web-green"})
}
