package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen-host/controller/internal/safefile"
	"github.com/bluegreen-host/controller/pkg/reconcile/planner"
	"github.com/bluegreen-host/controller/pkg/spec"
)

// Status is what the controller last saw and did, per service. It is
// written atomically to its own file, never into the desired file.
type Status struct {
	// Desired is the desired-state path the controller reads.
	Desired string `json:"desired"`
	// SpecError is set while the desired state is refused; nothing is acted on then.
	SpecError string `json:"specError,omitempty"`
	// Source is the git commit the desired state in force comes from,
	// when it comes from a repository.
	Source   *SourceStatus             `json:"source,omitempty"`
	Services map[string]*ServiceStatus `json:"services"`
}

// SourceStatus says which commit of a git repository the desired state in
// force comes from, and which newer one was refused, if any.
type SourceStatus struct {
	URL string `json:"url"`
	Ref string `json:"ref"`
	// Commit is the commit in force, its subject and its time.
	Commit  string    `json:"commit,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time,omitempty"`
	// RefusedCommit is a newer commit whose desired state was refused,
	// with why; the commit in force stays until a newer one is accepted.
	RefusedCommit string `json:"refusedCommit,omitempty"`
	RefusedReason string `json:"refusedReason,omitempty"`
	// FetchError is the last failure to fetch the repository.
	FetchError string `json:"fetchError,omitempty"`
}

// ServiceStatus is one service's status.
type ServiceStatus struct {
	Phase planner.Phase `json:"phase"`
	// ObservedGeneration is the digest of the spec the controller acted on.
	ObservedGeneration string                      `json:"observedGeneration"`
	ActiveColor        spec.Color                  `json:"activeColor"`
	Image              string                      `json:"image"`
	ServedColor        spec.Color                  `json:"servedColor,omitempty"`
	Colors             map[spec.Color]*ColorStatus `json:"colors,omitempty"`
	Conditions         []Condition                 `json:"conditions"`
	LastStep           string                      `json:"lastStep,omitempty"`
	LastStepTime       *time.Time                  `json:"lastStepTime,omitempty"`
	LastError          string                      `json:"lastError,omitempty"`
	LastErrorTime      *time.Time                  `json:"lastErrorTime,omitempty"`
	// Logs holds the last log lines of a container that failed.
	Logs string `json:"logs,omitempty"`
	// Since is when the controller first acted on this generation.
	Since *time.Time `json:"since,omitempty"`
	// Verification is the latest release's judgement on real traffic.
	Verification *planner.Verification `json:"verification,omitempty"`
	// Checks is the outcome of the latest pre-switch checks.
	Checks *planner.CheckRecord `json:"checks,omitempty"`
	// Warmup says which runs of the new color were last warmed up.
	Warmup *planner.WarmupRecord `json:"warmup,omitempty"`
	// FailedReason is "<generation>/<reason>" of the last release that
	// failed before traffic moved, so that it is recorded once.
	FailedReason string `json:"failedReason,omitempty"`
	// Release is the release in progress, from its first step until it
	// ends, so that its start and its end are each reported once, across
	// restarts of the controller.
	Release *Release `json:"release,omitempty"`
	// Refused says why the service's latest document was refused while it
	// runs on at its last valid spec (Hold); "" when it is not held.
	Refused string `json:"refused,omitempty"`
	// Jobs are the records of the release jobs of this generation, and of
	// earlier ones whose containers may still exist (see JobRecord).
	Jobs []planner.JobRecord `json:"jobs,omitempty"`
	// Retried counts the retries an operator asked for at the host
	// (controller retry, the dashboard) of the spec as written: each is
	// a new attempt under a new generation (spec.Service.HostRetries).
	Retried *Retried `json:"retried,omitempty"`
}

// Retried counts the retries asked for at the host of one spec.
type Retried struct {
	// Spec is the generation of the spec as written
	// (spec.Service.WrittenGeneration); Count the retries of it honoured.
	Spec  string `json:"spec"`
	Count int    `json:"count"`
}

// ReadyReason is the reason of the Ready condition ("" with none).
func (s *ServiceStatus) ReadyReason() planner.Reason {
	for _, c := range s.Conditions {
		if c.Type == ConditionReady {
			return c.Reason
		}
	}
	return ""
}

// RetriesOf is how many retries asked for at the host the spec whose
// generation as written is spec has had: none once the spec changed.
func (s *ServiceStatus) RetriesOf(spec string) int {
	if s == nil || s.Retried == nil || s.Retried.Spec != spec {
		return 0
	}
	return s.Retried.Count
}

// ReleaseEnded reports that the release of generation already ended: its
// verification has an outcome, or it failed before traffic moved.
func (s *ServiceStatus) ReleaseEnded(generation string) bool {
	if v := s.Verification; v != nil && v.Generation == generation && v.Outcome != "" {
		return true
	}
	return strings.HasPrefix(s.FailedReason, generation+"/")
}

// HistoryHas reports that the failure of generation for reason is recorded.
func (s *ServiceStatus) HistoryHas(generation string, reason planner.Reason) bool {
	return s.FailedReason == generation+"/"+string(reason)
}

// ColorStatus is what was observed of one color.
type ColorStatus struct {
	Container string `json:"container"`
	ImageID   string `json:"imageID,omitempty"`
	HAProxy   string `json:"haproxy"`
	// Addr is where HAProxy sends the color's traffic: the container's
	// own address, or its published port on 127.0.0.1 (the fallback).
	Addr     string `json:"addr,omitempty"`
	Sessions int    `json:"sessions"`
	// Restarts counts the engine's restarts of the container since the
	// controller last started it; LastExit says how it last ended.
	Restarts int    `json:"restarts,omitempty"`
	LastExit string `json:"lastExit,omitempty"`
	// OutOfServiceSince persists when the color was first seen out of service,
	// so drain and stop timers survive a restart of the controller. Its
	// key keeps the name it had when only drained servers counted, so that
	// status files written by earlier versions are read alike.
	OutOfServiceSince *time.Time `json:"drainingSince,omitempty"`
	// UnhealthySince persists when the color's running container was first
	// seen failing both HAProxy's check and the controller's probe.
	UnhealthySince *time.Time `json:"unhealthySince,omitempty"`
	// MarkedUp is the container run the controller last set UP in HAProxy
	// (once per run at most).
	MarkedUp *planner.Run `json:"markedUp,omitempty"`
	// HealthRestarts counts the restarts of container HealthRestarted for
	// failing its health (spec.health.restartAfter).
	HealthRestarts  int    `json:"healthRestarts,omitempty"`
	HealthRestarted string `json:"healthRestarted,omitempty"`
	// Replicas are the color's other replicas, from the second on (with
	// spec.replicas above 1), each described as the fields above describe
	// the first.
	Replicas []*ColorStatus `json:"replicas,omitempty"`
}

// Replica returns replica i's status (from 0: c itself), nil when there
// is none.
func (c *ColorStatus) Replica(i int) *ColorStatus {
	switch {
	case c == nil:
		return nil
	case i == 0:
		return c
	case i-1 < len(c.Replicas):
		return c.Replicas[i-1]
	}
	return nil
}

// Each returns the status of each replica, the first (c) first.
func (c *ColorStatus) Each() []*ColorStatus {
	if c == nil {
		return nil
	}
	return append([]*ColorStatus{c}, c.Replicas...)
}

// remembered is what c's status keeps for the next observation.
func (c *ColorStatus) remembered() planner.Remembered {
	var r planner.Remembered
	if c == nil {
		return r
	}
	if c.OutOfServiceSince != nil {
		r.OutOfServiceSince = *c.OutOfServiceSince
	}
	if c.UnhealthySince != nil {
		r.UnhealthySince = *c.UnhealthySince
	}
	if c.MarkedUp != nil {
		r.MarkedUp = *c.MarkedUp
	}
	r.HealthRestarts, r.HealthRestarted = c.HealthRestarts, c.HealthRestarted
	return r
}

// Remember keeps r in c's status.
func (c *ColorStatus) Remember(r planner.Remembered) {
	c.OutOfServiceSince, c.UnhealthySince, c.MarkedUp = nil, nil, nil
	if !r.OutOfServiceSince.IsZero() {
		t := r.OutOfServiceSince
		c.OutOfServiceSince = &t
	}
	if !r.UnhealthySince.IsZero() {
		t := r.UnhealthySince
		c.UnhealthySince = &t
	}
	if r.MarkedUp != (planner.Run{}) {
		m := r.MarkedUp
		c.MarkedUp = &m
	}
	c.HealthRestarts, c.HealthRestarted = r.HealthRestarts, r.HealthRestarted
}

// Condition follows the Kubernetes convention, with the types kstatus
// reads (Ready, Reconciling, Stalled).
type Condition struct {
	Type   string         `json:"type"`
	Status string         `json:"status"` // "True" or "False"
	Reason planner.Reason `json:"reason"`
	// Message says what holds, in words an operator acts on.
	Message string `json:"message"`
	// ObservedDigest is the digest of the spec (ServiceStatus's
	// observedGeneration) this condition was judged on.
	ObservedDigest     string    `json:"observedDigest,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// Condition types, as kstatus reads them.
const (
	// ConditionReady is True once the service is converged: the active
	// color runs the spec's image, is UP, and the map points at it.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller works towards the
	// spec (a release, a repair, retries after an error).
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the controller cannot make progress:
	// a failure that needs a person (Failed), or an error it retries
	// (Degraded, together with Reconciling).
	ConditionStalled = "Stalled"
)

// PhaseOf derives the phase from the conditions: Ready is Converged;
// Stalled and Reconciling is Degraded; Stalled alone is Failed;
// Reconciling alone is Progressing.
func PhaseOf(conds []Condition) planner.Phase {
	is := map[string]bool{}
	for _, c := range conds {
		is[c.Type] = c.Status == "True"
	}
	switch {
	case is[ConditionReady]:
		return planner.Converged
	case is[ConditionStalled] && is[ConditionReconciling]:
		return planner.Degraded
	case is[ConditionStalled]:
		return planner.Failed
	case is[ConditionReconciling]:
		return planner.Progressing
	}
	return ""
}

// StatusStore holds status in memory and writes it once per pass when it changed.
type StatusStore struct {
	path    string
	cur     Status
	written []byte
	// encoded holds each service's part of the file as last encoded, and
	// head the rest; touched, the services handed out (Service) since:
	// only those are encoded again, so a pass of one service among
	// hundreds does not encode them all. names is encoded's keys, sorted.
	encoded map[string][]byte
	head    []byte
	names   []string
	touched map[string]bool
	// regroup says services were added or removed since the last encode.
	regroup bool
	// w writes the file, now (Flush) or soon (FlushSoon).
	w statusWriter
}

// statusWriter writes encoded statuses in the order they were made: one
// made earlier never replaces one made later, whichever write ends first.
type statusWriter struct {
	mu      sync.Mutex     // guards made, pending, running, err and retry
	made    uint64         // the sequence number of the last status handed over
	pending *encodedStatus // the newest status handed over to FlushSoon and not written yet
	seq     uint64         // pending's sequence number
	running bool           // a goroutine writes pending
	err     error          // the last failure of a write made soon
	retry   bool           // a write made soon failed: the next FlushSoon hands one over
	disk    sync.Mutex     // held while writing; guards wrote and StatusStore.written
	wrote   uint64         // the sequence number of the last status written
}

// LoadStatus reads the status file; a missing file is an empty status.
func LoadStatus(path, desired string) (*StatusStore, error) {
	st := &StatusStore{path: path, cur: Status{Desired: desired, Services: map[string]*ServiceStatus{}}}
	b, err := safefile.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read status file %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &st.cur); err != nil {
		// A damaged status only loses drain timers: start afresh, loudly.
		return st, fmt.Errorf("read status file %s: %w (starting with an empty status)", path, err)
	}
	st.cur.Desired = desired
	if st.cur.Services == nil {
		st.cur.Services = map[string]*ServiceStatus{}
	}
	st.written = b
	return st, nil
}

// ReadStatus reads a status file for display.
func ReadStatus(path string) (Status, error) {
	var s Status
	b, err := safefile.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read status file %s: %w (has the controller run with this --state-dir?)", path, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read status file %s: %w", path, err)
	}
	return s, nil
}

// Service returns the status of one service, creating it if needed.
func (st *StatusStore) Service(name string) *ServiceStatus {
	if st.touched == nil {
		st.touched = map[string]bool{}
	}
	st.touched[name] = true // the caller may change it
	s, ok := st.cur.Services[name]
	if !ok {
		s = &ServiceStatus{}
		st.cur.Services[name] = s
		st.regroup = true
	}
	return s
}

// Snapshot returns a deep copy of the status as it is in memory.
func (st *StatusStore) Snapshot() Status {
	var s Status
	b, _ := json.Marshal(st.cur)
	_ = json.Unmarshal(b, &s)
	return s
}

// SetSpecError records that the desired state is refused (or not, with nil).
func (st *StatusStore) SetSpecError(err error) {
	st.cur.SpecError = ""
	if err != nil {
		st.cur.SpecError = err.Error()
	}
}

// Source is the git commit of the desired state in force, nil when it
// does not come from git.
func (st *StatusStore) Source() *SourceStatus { return st.cur.Source }

// SetSource records where the desired state comes from.
func (st *StatusStore) SetSource(s *SourceStatus) { st.cur.Source = s }

// Keep forgets services that are no longer in the desired state.
func (st *StatusStore) Keep(names map[string]bool) {
	for n := range st.cur.Services {
		if !names[n] {
			delete(st.cur.Services, n)
			st.regroup = true
		}
	}
}

// Flush writes the status atomically (temp file, fsync, rename) if it
// changed, and returns once it is on disk: after it, no write handed to
// FlushSoon before replaces it.
func (st *StatusStore) Flush() error {
	write, err := st.FlushLater()
	if err != nil {
		return err
	}
	return write()
}

// FlushLater encodes the status as it is now and returns the write of it
// that Flush makes, to be called later, with or without the status's
// lock: the caller may do other work while the disk is written, and must
// call write before it acts on what the status records. When write
// returns nil, that status, or a later one, is on disk.
func (st *StatusStore) FlushLater() (write func() error, err error) {
	if _, err := st.encode(); err != nil {
		return nil, fmt.Errorf("encode status: %w", err)
	}
	e := st.parts()
	st.w.mu.Lock()
	st.w.made++
	seq := st.w.made
	st.w.mu.Unlock()
	return func() error {
		st.w.disk.Lock()
		defer st.w.disk.Unlock()
		return st.write(e.assemble(), seq)
	}, nil
}

// FlushSoon hands the status, if it changed since it was last encoded, to
// a goroutine that writes it as Flush does, and returns at once: a pass
// does not wait for the disk, and a pass that changed nothing hands
// nothing over. Statuses handed over faster than they are written are
// coalesced (the newest is assembled and written). It returns the failure
// of the last write made soon, if any, to be logged; the status is then
// handed over again at the next call.
func (st *StatusStore) FlushSoon() error {
	changed, err := st.encode()
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	st.w.mu.Lock()
	defer st.w.mu.Unlock()
	err, st.w.err = st.w.err, nil
	if !changed && !st.w.retry {
		return err
	}
	e := st.parts()
	st.w.made++
	st.w.pending, st.w.seq, st.w.retry = &e, st.w.made, false
	if !st.w.running {
		st.w.running = true
		go st.writeSoon()
	}
	return err
}

// writeSoon writes the pending statuses until none is left.
func (st *StatusStore) writeSoon() {
	for {
		st.w.mu.Lock()
		e, seq := st.w.pending, st.w.seq
		st.w.pending = nil
		if e == nil {
			st.w.running = false
			st.w.mu.Unlock()
			return
		}
		st.w.mu.Unlock()
		st.w.disk.Lock()
		err := st.write(e.assemble(), seq)
		st.w.disk.Unlock()
		if err != nil {
			st.w.mu.Lock()
			st.w.err, st.w.retry = err, true
			st.w.mu.Unlock()
		}
	}
}

// write writes b, the status of sequence number seq, unless one made later
// was written or it is what the file holds. st.w.disk is held.
func (st *StatusStore) write(b []byte, seq uint64) error {
	if seq < st.w.wrote || bytes.Equal(b, st.written) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(st.path), 0o755); err != nil {
		return fmt.Errorf("write status file %s: %w", st.path, err)
	}
	// Not world-readable: it holds the last log lines of failed containers.
	if err := safefile.WriteFile(st.path, b, 0o600); err != nil {
		return fmt.Errorf("write status file %s: %w", st.path, err)
	}
	st.written, st.w.wrote = b, seq
	return nil
}

// encodedStatus is the status encoded in parts: its head (everything but
// the services) and each service's part, by sorted name. Parts are never
// changed once made, so a writer may assemble it while the next pass
// encodes.
type encodedStatus struct {
	head  []byte
	parts [][]byte
}

// assemble is the file: json.MarshalIndent of the status, with a newline.
func (e encodedStatus) assemble() []byte {
	if len(e.parts) == 0 {
		return append(slices.Clip(e.head), "{}\n}\n"...)
	}
	size := len(e.head) + 16
	for _, p := range e.parts {
		size += len(p) + 2
	}
	b := append(make([]byte, 0, size), e.head...)
	b = append(b, "{\n"...)
	for i, p := range e.parts {
		if i > 0 {
			b = append(b, ",\n"...)
		}
		b = append(b, p...)
	}
	return append(b, "\n  }\n}\n"...)
}

// encode encodes the status in parts: the head, and the part of each
// service handed out since (Service) or not yet encoded; it says whether
// any of it changed since the last encode. Only the services handed out
// are looked at, unless services were added or removed.
func (st *StatusStore) encode() (bool, error) {
	top := st.cur
	top.Services = map[string]*ServiceStatus{}
	head, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		return false, err
	}
	// head ends with "services": {}\n}; the services go between the braces.
	head = bytes.TrimSuffix(head, []byte("{}\n}"))
	changed := !bytes.Equal(head, st.head)
	st.head = head
	todo := st.touched
	if st.encoded == nil || st.regroup {
		if st.encoded == nil {
			st.encoded = map[string][]byte{}
		}
		for name := range st.encoded {
			if _, ok := st.cur.Services[name]; !ok {
				delete(st.encoded, name)
				changed = true
			}
		}
		todo = make(map[string]bool, len(st.cur.Services))
		maps.Copy(todo, st.touched) // none may have been handed out yet
		for name := range st.cur.Services {
			if _, ok := st.encoded[name]; !ok {
				todo[name] = true
			}
		}
		st.names = slices.Sorted(maps.Keys(st.cur.Services))
		st.regroup = false
	}
	for name := range todo {
		svc, ok := st.cur.Services[name]
		if !ok {
			continue // handed out, then forgotten
		}
		part, err := json.MarshalIndent(svc, "    ", "  ")
		if err != nil {
			return false, err
		}
		key, _ := json.Marshal(name)
		part = append(append(append([]byte("    "), key...), ": "...), part...)
		if old, ok := st.encoded[name]; !ok || !bytes.Equal(part, old) {
			st.encoded[name], changed = part, true
		}
	}
	clear(st.touched)
	return changed, nil
}

// parts is the status as last encoded, its services in name order.
func (st *StatusStore) parts() encodedStatus {
	e := encodedStatus{head: st.head, parts: make([][]byte, len(st.names))}
	for i, name := range st.names {
		e.parts[i] = st.encoded[name]
	}
	return e
}

// Remembered returns what status keeps of each replica of each color for
// the next observation.
func (s *ServiceStatus) Remembered() map[spec.Color][]planner.Remembered {
	m := map[spec.Color][]planner.Remembered{}
	if s == nil {
		return m
	}
	for c, cs := range s.Colors {
		for _, r := range cs.Each() {
			m[c] = append(m[c], r.remembered())
		}
	}
	return m
}

// Observed records a snapshot.
func (s *ServiceStatus) Observed(sv *spec.Service, o planner.Observed) {
	s.ServedColor = o.Served
	if sp, ok := planner.SplitOf(sv, o); ok {
		s.ServedColor = sp.From // a canary's step: it serves the rest
	}
	prev := s.Colors
	s.Colors = map[spec.Color]*ColorStatus{}
	for _, c := range spec.Colors() {
		var first *ColorStatus
		for i, rs := range o.Color(c).Replicas {
			st := replicaStatus(sv, rs, prev[c].Replica(i))
			if i == 0 {
				first = st
			} else {
				first.Replicas = append(first.Replicas, st)
			}
		}
		if first == nil {
			first = &ColorStatus{Container: "absent"}
		}
		s.Colors[c] = first
	}
}

// Unknown is the word status gives a container's state and HAProxy's
// view of a server that could not be observed.
const Unknown = "unknown"

// Unobserved records that the service could not be observed: what was last
// seen of its containers and servers is no longer known, and status says
// so rather than show it as if it still held (a container "running" on an
// engine that is down). The served color and what status remembers for
// the next observation (drain and health timers, the run set UP) are kept.
func (s *ServiceStatus) Unobserved() {
	for _, cs := range s.Colors {
		for _, r := range cs.Each() {
			r.Container, r.ImageID, r.HAProxy, r.Addr, r.Sessions = Unknown, "", Unknown, "", 0
		}
	}
}

// replicaStatus is the status of replica rs as observed, prev its status
// before (nil for none).
func replicaStatus(sv *spec.Service, rs planner.ReplicaState, prev *ColorStatus) *ColorStatus {
	ct := rs.Container
	st := &ColorStatus{Container: "absent", ImageID: planner.ShortID(ct.ImageID), HAProxy: rs.Server.Status, Addr: rs.Server.Addr, Sessions: rs.Server.Sessions}
	if ct.Exists {
		st.Container = ct.State
		st.Restarts = ct.RestartCount
		switch {
		case ct.Running && prev != nil:
			// The engine forgets the exit code once it runs again.
			st.LastExit = prev.LastExit
		case !ct.Running && !ct.FinishedAt.IsZero():
			st.LastExit = ct.Exit()
			if ct.StoppedByController {
				st.LastExit += " (stopped by the controller)"
			}
		}
		switch {
		case !ct.Managed:
			st.Container += " (not managed)"
		case ct.Service != sv.Name || ct.Color != string(rs.Slot.Color) || ct.Replica != rs.Slot.Number():
			st.Container += " (not managed: labelled for another slot)"
		}
	} else {
		st.ImageID = ""
	}
	st.Remember(rs.Remembered)
	return st
}

// Target records the spec a pass works on, whatever comes of it.
func (s *ServiceStatus) Target(sv *spec.Service, now time.Time) {
	if g := sv.Generation(); g != s.ObservedGeneration || s.Since == nil {
		t := now
		s.Since = &t
	}
	s.ObservedGeneration = sv.Generation()
	s.ActiveColor = sv.ActiveColor
	s.Image = sv.Image
	s.Refused = ""
}

// Hold records that the service's latest document was refused (why): the
// service runs on at its last valid spec, Stalled until the file is fixed,
// whatever the pass decided on that spec.
func (s *ServiceStatus) Hold(why string, now time.Time) {
	s.Refused = why
	msg := "its latest desired state is refused; it runs on at its last valid spec (generation " + s.ObservedGeneration + ") until the file is fixed: " + why
	s.setConditions(planner.Failed, planner.ReasonSpecRefused, msg, now)
}

// Decided records the decision of a pass.
func (s *ServiceStatus) Decided(d planner.Decision, now time.Time) {
	if d.LogsOf == "" {
		s.Logs = ""
	}
	if d.Phase != planner.Degraded {
		s.LastError, s.LastErrorTime = "", nil
	}
	s.setConditions(d.Phase, d.Reason, d.Message, now)
}

// setConditions sets Ready, Reconciling and Stalled for phase, and the
// phase from them.
func (s *ServiceStatus) setConditions(phase planner.Phase, reason planner.Reason, msg string, now time.Time) {
	tf := func(b bool) string {
		if b {
			return "True"
		}
		return "False"
	}
	s.setCondition(ConditionReady, tf(phase == planner.Converged), reason, msg, now)
	s.setCondition(ConditionReconciling, tf(phase == planner.Progressing || phase == planner.Degraded), reason, msg, now)
	s.setCondition(ConditionStalled, tf(phase == planner.Failed || phase == planner.Degraded), reason, msg, now)
	s.dropCondition("Progressing") // the type before Reconciling
	s.Phase = PhaseOf(s.Conditions)
}

// Stepped records a step taken (err nil) or failed.
func (s *ServiceStatus) Stepped(st planner.Step, err error, refused bool, now time.Time) {
	t := now
	s.LastStep, s.LastStepTime = st.String(), &t
	switch {
	case err != nil && refused:
		// Retrying cannot mend it: stalled until the spec or the host changes.
		s.LastError, s.LastErrorTime = err.Error(), &t
		s.setConditions(planner.Failed, planner.ReasonStepRefused, err.Error(), now)
	case err != nil:
		s.Failed(planner.ReasonStepFailed, err, now)
	}
}

// Failed records an error that stops this pass for the service.
func (s *ServiceStatus) Failed(reason planner.Reason, err error, now time.Time) {
	t := now
	s.LastError, s.LastErrorTime = err.Error(), &t
	s.setConditions(planner.Degraded, reason, err.Error(), now)
}

func (s *ServiceStatus) setCondition(typ, status string, reason planner.Reason, msg string, now time.Time) {
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if c.Type != typ {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message, c.ObservedDigest = status, reason, msg, s.ObservedGeneration
		return
	}
	s.Conditions = append(s.Conditions, Condition{Type: typ, Status: status, Reason: reason, Message: msg,
		ObservedDigest: s.ObservedGeneration, LastTransitionTime: now})
}

func (s *ServiceStatus) dropCondition(typ string) {
	for i, c := range s.Conditions {
		if c.Type == typ {
			s.Conditions = append(s.Conditions[:i], s.Conditions[i+1:]...)
			return
		}
	}
}
