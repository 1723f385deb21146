package reconcile

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/bluegreen-host/controller/pkg/docker"
	"github.com/bluegreen-host/controller/pkg/haproxy"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestRefusedDocumentHoldsOnlyItsService: with web and api running, api's
// document is refused while web is released: web's release goes on, api
// runs on at its last valid spec, untouched, and status says why (Stalled,
// SpecRefused, the refusal); fixing the document resumes it. A --once run,
// which has no last valid spec, acts on web and exits with the refusal.
func TestRefusedDocumentHoldsOnlyItsService(t *testing.T) {
	w := newFakeWorld()
	web := withBuild(plantest.Service(t, spec.Blue, "demo:v1"))
	api := withBuild(w.apiService(t, spec.Blue, "demo:v1"))
	api.Colors.Blue.HostPort, api.Colors.Green.HostPort = 18091, 18092
	refusal := errors.New(`api.yaml service "api": spec.activeColor: "purple" is not a color`)
	var load func() ([]spec.Service, error)
	statusPath := ""
	now := plantest.T0
	w.clock = func() time.Time { return now }
	newLoop := func() *Loop {
		statusPath = filepath.Join(t.TempDir(), "status.json")
		st, err := state.LoadStatus(statusPath, "desired")
		if err != nil {
			t.Fatal(err)
		}
		return &Loop{Deps: w.deps(), Log: logr.Discard(), Status: st, Now: func() time.Time { return now },
			Load: func() ([]spec.Service, error) { return load() }}
	}
	loop := newLoop()
	converge := func(what string) PassResult {
		t.Helper()
		for i := 0; i < 60; i++ {
			res := loop.Pass(context.Background())
			if res.Converged {
				return res
			}
			now = afterPass(now, res)
		}
		t.Fatalf("%s: not converged in 60 passes; calls %v; decisions %v", what, w.mutating(), loop.last)
		return PassResult{}
	}
	// api runs and serves blue already.
	w.images["demo:v1"] = plantest.ImageV1
	w.run(t, api, spec.Blue, plantest.ImageV1)
	w.servers["api_green/app"] = &haproxy.StatRow{Proxy: "api_green", Server: "app", Status: "DOWN", Addr: planner.FallbackAddr(api.Replica(spec.Green, 0))}
	w.runtimeMap["api"], w.fileMap["api"] = "api_blue", "api_blue"
	w.containers["bg-api-blue"].RestartPolicy = docker.RestartUnlessStopped
	load = func() ([]spec.Service, error) { return []spec.Service{*web, *api}, nil }
	converge("first start")

	release := withBuild(plantest.Service(t, spec.Green, "demo:v2"))
	load = func() ([]spec.Service, error) {
		return nil, &spec.PartlyRefused{Valid: []spec.Service{*release},
			Refused: []spec.Refusal{{File: "api.yaml", Name: "api", Err: refusal}}}
	}
	w.calls = nil
	res := converge("web's release beside api's refused document")
	if !errors.Is(res.Refused, ErrSpec) || !strings.Contains(res.Refused.Error(), "purple") {
		t.Errorf("the pass's refusal = %v, want ErrSpec naming the document", res.Refused)
	}
	for _, c := range w.mutating() {
		if strings.Contains(c, "api") {
			t.Errorf("a call touched the held service: %s", c)
		}
	}
	if !slices.Contains(w.mutating(), "set map /etc/haproxy/hosts.map web web_green") {
		t.Errorf("web was not released: %v", w.mutating())
	}
	st, _ := state.ReadStatus(statusPath)
	a := st.Services["api"]
	if a == nil || a.Phase != planner.Failed || readyReason(a) != planner.ReasonSpecRefused ||
		!strings.Contains(a.Refused, "purple") || a.ServedColor != spec.Blue || a.ObservedGeneration != api.Generation() {
		t.Fatalf("api's status: %+v, want Failed (SpecRefused) naming the refusal, blue serving, its last valid generation", a)
	}
	if !strings.Contains(st.SpecError, "purple") || st.Services["web"].Phase != planner.Converged {
		t.Errorf("status: specError %q, web %s", st.SpecError, st.Services["web"].Phase)
	}

	load = func() ([]spec.Service, error) { return []spec.Service{*release, *api}, nil }
	converge("the document fixed")
	st, _ = state.ReadStatus(statusPath)
	if a := st.Services["api"]; a.Phase != planner.Converged || a.Refused != "" || st.SpecError != "" {
		t.Errorf("after the fix: api %s refused %q, specError %q", a.Phase, a.Refused, st.SpecError)
	}

	load = func() ([]spec.Service, error) {
		return nil, &spec.PartlyRefused{Valid: []spec.Service{*release},
			Refused: []spec.Refusal{{File: "api.yaml", Name: "api", Err: refusal}}}
	}
	loop = newLoop()
	if err := loop.RunOnce(context.Background()); !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), "purple") {
		t.Errorf("--once beside a refused document: %v, want ErrSpec naming it", err)
	}
}

// TestHeldServiceKeepsWhatItHolds: a held service keeps its ports,
// backends and map key: a service that takes one of them is held back in
// turn (at its own last valid spec) or, new, left out.
func TestHeldServiceKeepsWhatItHolds(t *testing.T) {
	w := newFakeWorld()
	web := plantest.Service(t, spec.Blue, "demo:v1")
	api := w.apiService(t, spec.Blue, "demo:v1")
	api.Colors.Blue.HostPort, api.Colors.Green.HostPort = 18091, 18092
	shop := w.apiService(t, spec.Blue, "demo:v1")
	shop.Name, shop.HAProxy.MapKey = "shop", "shop"
	shop.Colors.Blue.Backend, shop.Colors.Green.Backend = "shop_blue", "shop_green"
	shop.Colors.Blue.HostPort, shop.Colors.Green.HostPort = 18093, 18094
	loop := &Loop{Load: func() ([]spec.Service, error) { return []spec.Service{*web, *api}, nil }}
	if _, _, err := loop.desired(); err != nil {
		t.Fatal(err)
	}
	// api is refused; shop (new) takes api's blue port; web takes api's map key.
	shopTakes, webTakes := *shop, *web
	shopTakes.Colors.Blue.HostPort = 18091
	webTakes.HAProxy.MapKey = "api"
	loop.Load = func() ([]spec.Service, error) {
		return nil, &spec.PartlyRefused{Valid: []spec.Service{webTakes, shopTakes},
			Refused: []spec.Refusal{{File: "api.yaml", Name: "api", Err: errors.New("api refused")}}}
	}
	svcs, held, err := loop.desired()
	if err == nil {
		t.Fatal("no refusal")
	}
	var names []string
	for _, s := range svcs {
		names = append(names, s.Name+"/"+s.HAProxy.MapKey)
	}
	if want := []string{"api/api", "web/web"}; !slices.Equal(names, want) {
		t.Errorf("services acted on %v, want %v (api and web at their last valid specs, shop left out)", names, want)
	}
	if held["api"] != "api refused" || !strings.Contains(held["web"], `"api"`) || held["shop"] != "" {
		t.Errorf("held %q", held)
	}
}
