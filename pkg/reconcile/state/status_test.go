package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner/plantest"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// TestConditions: each phase sets Ready, Reconciling and Stalled as kstatus
// reads them, each with the spec digest it was judged on, and the phase
// is derived back from the conditions; a transition time moves only when
// a condition's status changes.
func TestConditions(t *testing.T) {
	want := map[planner.Phase][3]string{ // Ready, Reconciling, Stalled
		planner.Converged:   {"True", "False", "False"},
		planner.Progressing: {"False", "True", "False"},
		planner.Degraded:    {"False", "True", "True"},
		planner.Failed:      {"False", "False", "True"},
	}
	s := &ServiceStatus{ObservedGeneration: "abc123"}
	for i, p := range []planner.Phase{planner.Progressing, planner.Degraded, planner.Failed, planner.Converged, planner.Progressing} {
		now := plantest.T0.Add(time.Duration(i) * time.Second)
		before := map[string]Condition{}
		for _, c := range s.Conditions {
			before[c.Type] = c
		}
		s.Decided(planner.Decision{Phase: p, Reason: planner.Reason("R" + string(p)), Message: "m"}, now)
		if s.Phase != p || PhaseOf(s.Conditions) != p {
			t.Fatalf("%s: phase %s, derived %s", p, s.Phase, PhaseOf(s.Conditions))
		}
		if len(s.Conditions) != 3 {
			t.Fatalf("%s: conditions %+v", p, s.Conditions)
		}
		for j, typ := range []string{ConditionReady, ConditionReconciling, ConditionStalled} {
			c := s.Conditions[j]
			if c.Type != typ || c.Status != want[p][j] || c.Reason != planner.Reason("R"+string(p)) || c.ObservedDigest != "abc123" {
				t.Errorf("%s: condition %d = %+v, want %s=%s", p, j, c, typ, want[p][j])
			}
			if b, ok := before[typ]; ok && b.Status == c.Status && !c.LastTransitionTime.Equal(b.LastTransitionTime) {
				t.Errorf("%s: %s moved its transition time without a change of status", p, typ)
			}
		}
	}
}

// TestFlushWritesWhatMarshalIndentWould: the file Flush writes, made of
// each service's part encoded when it was last handed out, is exactly the
// whole status encoded at once, through changes of services, of the
// top-level fields, and services dropped; a service not handed out is not
// encoded again.
func TestFlushWritesWhatMarshalIndentWould(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.json")
	st, err := LoadStatus(path, "desired <&> .yaml")
	if err != nil {
		t.Fatal(err)
	}
	same := func(when string) {
		t.Helper()
		if err := st.Flush(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.MarshalIndent(st.cur, "", "  ")
		if string(got) != string(want)+"\n" {
			t.Fatalf("%s: the file is\n%s\nwant\n%s", when, got, want)
		}
	}
	same("no service")
	for _, name := range []string{"web", "api", "a<b>"} {
		st.Service(name).ServedColor = spec.Blue
	}
	same("three services")
	st.Service("api").ServedColor = spec.Green
	st.SetSpecError(errors.New("refused: x"))
	st.SetSource(&SourceStatus{URL: "https://example.com/r.git", Ref: "main"})
	same("one changed, and the top-level fields")
	before, _ := os.ReadFile(path)
	st.cur.Services["web"].ServedColor = spec.Green // not handed out: not encoded again
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(before) {
		t.Fatalf("a service not handed out was encoded again:\n%s", got)
	}
	st.Service("web")
	same("handed out again")
	st.Keep(map[string]bool{"api": true})
	same("two dropped")
}

// TestFlushSoonNeverReplacesANewerStatus: statuses handed to FlushSoon
// faster than they are written, with Flushes in between, leave the file
// holding the newest one once every write has ended.
func TestFlushSoonNeverReplacesANewerStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.json")
	st, err := LoadStatus(path, "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		st.Service("web").FailedReason = fmt.Sprint(i)
		if i%17 == 0 {
			err = st.Flush()
		} else {
			err = st.FlushSoon()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	st.Service("web").FailedReason = "last"
	if err := st.FlushSoon(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st.w.mu.Lock()
		running := st.w.running
		st.w.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writes made soon never ended")
		}
		time.Sleep(time.Millisecond)
	}
	fileHolds(t, path, st, "the newest status")
}

// fileHolds fails unless the file at path holds st's status, as
// json.MarshalIndent makes it; what names the status for the message.
func fileHolds(t *testing.T, path string, st *StatusStore, what string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.MarshalIndent(st.cur, "", "  ")
	if string(got) != string(want)+"\n" {
		t.Fatalf("the file holds\n%s\nwant %s\n%s", got, what, want)
	}
}

// TestStatusHandedOverBeforeAFlushIsNotWrittenAfterIt: a status handed to
// FlushSoon, then a newer one written by Flush before the writer ran: the
// writer, when it runs, leaves the newer one in the file.
func TestStatusHandedOverBeforeAFlushIsNotWrittenAfterIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.json")
	st, err := LoadStatus(path, "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st.w.running = true // the writer is not started: the test runs it below
	st.Service("web").FailedReason = "older"
	if err := st.FlushSoon(); err != nil {
		t.Fatal(err)
	}
	st.Service("web").FailedReason = "newer"
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	st.writeSoon()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), `"newer"`) {
		t.Fatalf("the file holds an older status than the last one written:\n%s", got)
	}
}

// TestFlushSoonHandsOverOnlyChanges: a FlushSoon after which nothing
// changed hands nothing to the writer (with hundreds of services, a pass
// of one assembled the whole file every time); a write that failed is
// handed over again at the next call, changed or not.
func TestFlushSoonHandsOverOnlyChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "status.json")
	st, err := LoadStatus(path, "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	handed := func() uint64 {
		st.w.mu.Lock()
		defer st.w.mu.Unlock()
		return st.w.made
	}
	write := func() { // the writer, run by the test
		st.writeSoon()
		st.w.running = true
	}
	st.w.running = true
	st.Service("web").FailedReason = "first"
	st.Service("api").FailedReason = "first"
	if err := st.FlushSoon(); err != nil || handed() != 1 {
		t.Fatalf("a changed status: err %v, handed over %d times, want once", err, handed())
	}
	write()
	st.Service("web") // handed out, left as it was
	if err := st.FlushSoon(); err != nil || handed() != 1 {
		t.Fatalf("an unchanged status: err %v, handed over %d times in all, want still once", err, handed())
	}

	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Dir(path), nil, 0o600); err != nil { // the directory cannot be made
		t.Fatal(err)
	}
	st.Service("web").FailedReason = "second"
	if err := st.FlushSoon(); err != nil {
		t.Fatal(err)
	}
	write()
	if err := st.FlushSoon(); err == nil || handed() != 3 {
		t.Fatalf("after a failed write: err %v, handed over %d times in all, want the failure and a third time", err, handed())
	}
	if err := os.Remove(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	write()
	fileHolds(t, path, st, "the status, after the retry")
}

// TestFlushOfAStatusReadAndNotTouched: a status read from its file and
// written again before any service was handed out (a controller that
// starts on a refused desired state) keeps every service it held.
func TestFlushOfAStatusReadAndNotTouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.json")
	st, err := LoadStatus(path, "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st.Service("web").FailedReason = "kept"
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	again, err := LoadStatus(path, "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	again.SetSpecError(errors.New("refused"))
	if err := again.FlushSoon(); err != nil {
		t.Fatal(err)
	}
	if err := again.Flush(); err != nil {
		t.Fatal(err)
	}
	fileHolds(t, path, again, "the status read, with its spec error")
	if got, err := ReadStatus(path); err != nil || got.Services["web"] == nil || got.Services["web"].FailedReason != "kept" {
		t.Fatalf("the service read from the file was lost: %+v, %v", got.Services, err)
	}
}

// TestFlushLaterWritesTheStatusOfItsCall: FlushLater encodes the status
// when it is called; the file changes only when its write is made, and
// then holds that status, not one changed in between.
func TestFlushLaterWritesTheStatusOfItsCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.json")
	st, err := LoadStatus(path, "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st.Service("web").FailedReason = "recorded"
	write, err := st.FlushLater()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the status file exists before the write was made (%v)", err)
	}
	want, _ := json.MarshalIndent(st.cur, "", "  ")
	st.Service("web").FailedReason = "changed since"
	if err := write(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want)+"\n" {
		t.Fatalf("the file holds\n%s\nwant the status of the FlushLater call\n%s", got, want)
	}
}
