package dashboard

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// BenchmarkPush50 is one push after a pass over 50 services: the status
// copied, every card rendered and compared with what was sent.
func BenchmarkPush50(b *testing.B) {
	st := state.Status{Services: map[string]*state.ServiceStatus{}}
	d := New(Options{Status: func() state.Status {
		var c state.Status
		j, _ := json.Marshal(st)
		_ = json.Unmarshal(j, &c)
		return c
	}})
	for i := range 50 {
		name := fmt.Sprintf("service-%02d", i)
		st.Services[name] = waiting()
		var c planner.Counters
		for k := range 18 {
			c.Responses += 1000
			d.Decided(reconcile.ServiceView{Service: name, Served: spec.Blue, Traffic: map[spec.Color]planner.Counters{spec.Blue: c}},
				planner.Decision{}, t0.Add(time.Duration(k)*10*time.Second))
		}
	}
	d.hub.subs[&subscriber{ch: make(chan push, 1<<20)}] = true
	b.ResetTimer()
	for range b.N {
		for i := range 50 {
			d.touch(fmt.Sprintf("service-%02d", i))
		}
		d.push()
	}
}
