package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"github.com/bluegreen-host/controller/pkg/reconcile/state"
	"github.com/bluegreen-host/controller/pkg/spec"
	"github.com/bluegreen-host/controller/pkg/spec/specfile"
)

// TestBadInputChangesNothing: after a release (green serves v2, blue is
// stopped on v1), each of a table of bad desired files is refused by
// `controller run --once` with exit code 2 and an error naming the file, the
// field path and the bad value, and the running system is exactly as before:
// the runtime map, the map file (byte for byte), both containers (ID, state,
// start and finish times), HAProxy's view of both servers and the images of
// the service. Every bad file is a good file that asks for a change (green
// on v3, which would build an image and replace blue) plus one defect, so a
// controller that acted on the good parts would show. Then the same in watch
// mode: status.json's specError names the field, `controller status` exits 1
// and prints it, nothing changes; fixing the file clears it.
func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.save(spec.Blue, "v1")
	if code, out := e.once(); code != 0 {
		t.Fatalf("converge blue v1: --once exited %d:\n%s", code, out)
	}
	e.save(spec.Green, "v2")
	if code, out := e.once(); code != 0 {
		t.Fatalf("release green v2: --once exited %d:\n%s", code, out)
	}
	good := e.spec(spec.Green, "v2")
	// HAProxy's checks see blue's stopped container down a moment after the
	// controller converged: the snapshot is taken once that has settled.
	testenv.WaitFor(t, 30*time.Second, "HAProxy sees the stopped blue down", func() bool {
		return strings.Contains(e.serverStates(), e.svc+"_blue/app op=0")
	})
	before := e.badInputSnapshot()
	if !strings.Contains(before.green, " running ") || !strings.Contains(before.blue, " exited ") || before.mapRuntime != e.svc+"_green" {
		t.Fatalf("after the release: green %q, blue %q, map %q; want green running, blue exited, map on green", before.green, before.blue, before.mapRuntime)
	}
	t.Logf("the system every bad file must leave alone: %+v", before)
	l := e.startLoad(20, 5)
	waitSent(t, l, 1000)

	base := e.spec(spec.Green, "v3") // valid, and not what runs: acting on it would change things
	if _, err := specfile.Parse([]byte(base), e.desired, e.dir); err != nil {
		t.Fatalf("the base of the bad files is itself refused: %v", err)
	}
	repl := func(old, new string) string {
		t.Helper()
		if !strings.Contains(base, old) {
			t.Fatalf("the base spec has no %q:\n%s", old, base)
		}
		return strings.Replace(base, old, new, 1)
	}
	image := e.repo + ":v3"
	blueLine := fmt.Sprintf("blue: {hostPort: %d}", e.bluePort)
	greenLine := fmt.Sprintf("green: {hostPort: %d}", e.greenPort)
	mapFileLine := "    mapFile: " + e.mapPath + "\n"
	withMapKey := func(yamlValue string) string { return repl(mapFileLine, mapFileLine+"    mapKey: "+yamlValue+"\n") }
	// A second service, valid on its own: its own name, ports and map key.
	other := strings.NewReplacer(
		"name: "+e.svc, "name: "+e.svc+"-b",
		blueLine, "blue: {hostPort: 41001, backend: other_blue}",
		greenLine, "green: {hostPort: 41002, backend: other_green}",
		mapFileLine, mapFileLine+"    mapKey: other\n",
	).Replace(base)

	cases := []struct {
		name    string
		text    string
		field   string // the field path the error must name (the line for malformed YAML)
		value   string // the bad value (as the error quotes it) or what the error must say
		missing string // a document to check in the error, e.g. "(document 2)"
	}{
		{"malformed YAML", repl("  activeColor: green\n", "  activeColor: [green\n"), "line 6", "malformed YAML", ""},
		{"tab indentation", repl("  activeColor: green\n", "\tactiveColor: green\n"), "line 6", "malformed YAML", ""},
		{"unknown field", base + "  replicaCount: 3\n", "spec.replicaCount", "unknown field", ""},
		{"field with the wrong case", repl("  activeColor: green", "  activecolor: green"), "spec.activecolor", "activeColor", ""},
		{"wrong type: string for a port", repl(blueLine, `blue: {hostPort: "high"}`), "spec.colors.blue.hostPort", `"high"`, ""},
		{"wrong type: mapping for a string", repl("  image: "+image, "  image: {name: x}"), "spec.image", "mapping", ""},
		{"unknown color", repl("  activeColor: green", "  activeColor: purple"), "spec.activeColor", `"purple"`, ""},
		{"empty image", repl("  image: "+image, `  image: ""`), "spec.image", "empty", ""},
		{"image with a space", repl("  image: "+image, `  image: "`+image+` --privileged"`), "spec.image", image + " --privileged", ""},
		{"image with ';'", repl("  image: "+image, `  image: "`+image+`;rm -rf /"`), "spec.image", image + ";rm -rf /", ""},
		{"same host port for both colors", repl(greenLine, fmt.Sprintf("green: {hostPort: %d}", e.bluePort)), "spec.colors.green.hostPort", fmt.Sprint(e.bluePort), ""},
		{"privileged port", repl(blueLine, "blue: {hostPort: 80}"), "spec.colors.blue.hostPort", "80", ""},
		{"out-of-range port", repl(greenLine, "green: {hostPort: 70000}"), "spec.colors.green.hostPort", "70000", ""},
		{"negative duration", repl("  drainTimeout: 10s", "  drainTimeout: -10s"), "spec.drainTimeout", "-10s", ""},
		{"negative idle duration", base + "  idle: {policy: Stop, stopAfter: -1m}\n", "spec.idle.stopAfter", "-1m", ""},
		{"unparsable duration", repl("  readyTimeout: 30s", "  readyTimeout: soon"), "spec.readyTimeout", `"soon"`, ""},
		{"duration without a unit", repl("  stopTimeout: 10s", "  stopTimeout: 10"), "spec.stopTimeout", "number 10", ""},
		{"missing build context", repl("    context: "+e.buildContext(), "    context: "+e.buildContext()+"-gone"), "spec.build.context", e.buildContext() + "-gone", ""},
		{"map key with ';'", withMapKey(`"k;set map ` + e.mapPath + ` ` + e.svc + ` ` + e.svc + `_blue"`), "spec.haproxy.mapKey", `k;set map`, ""},
		{"map key with a newline", withMapKey(`"k\nset map x y z"`), "spec.haproxy.mapKey", `k\nset map x y z`, ""},
		{"map key with a space", withMapKey(`"k clear"`), "spec.haproxy.mapKey", `k clear`, ""},
		{"backend with ';'", repl(blueLine, fmt.Sprintf(`blue: {hostPort: %d, backend: "b;shutdown frontend fe"}`, e.bluePort)), "spec.colors.blue.backend", "b;shutdown frontend fe", ""},
		{"backend with a newline", repl(greenLine, fmt.Sprintf(`green: {hostPort: %d, backend: "g\nshow info"}`, e.greenPort)), "spec.colors.green.backend", `g\nshow info`, ""},
		{"server with a space", repl(greenLine, fmt.Sprintf(`green: {hostPort: %d, server: "app x"}`, e.greenPort)), "spec.colors.green.server", "app x", ""},
		{"runtime address with ';'", strings.Replace(base, "runtime: unix://"+e.specSock, "runtime: unix://"+e.specSock+";x", 1), "spec.haproxy.runtime", e.specSock + ";x", ""},
		{"duplicate service names", base + "---\n" + base, "metadata.name", `"` + e.svc + `" is already defined`, "(document 2)"},
		// Each service stands on its own: beside a bad document of another
		// service, the first is acted on; it is the spec that runs, so
		// nothing changes (TestRefusedDocumentHoldsOnlyItsService has one
		// that changes).
		{"second document bad, first fine", good + "---\n" + strings.Replace(other, "  activeColor: green", "  activeColor: teal", 1), "spec.activeColor", `"teal"`, "(document 2)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.saveDesiredText(c.text)
			code, out := e.once("--timeout", "1m")
			t.Logf("exit %d: %s", code, strings.TrimSpace(out))
			if code != 2 {
				t.Errorf("--once exited %d, want 2 (desired state refused)", code)
			}
			for _, want := range []string{e.desired, c.field, c.value, c.missing} {
				if !strings.Contains(out, want) {
					t.Errorf("the error does not name %q", want)
				}
			}
			if now := e.badInputSnapshot(); now != before {
				t.Fatalf("a refused desired file changed the running system:\nbefore %+v\nnow    %+v", before, now)
			}
		})
		e.t = t
		if t.Failed() {
			break
		}
	}

	// Watch mode: a running controller meets a bad file, then its fix.
	e.saveDesiredText(good)
	ctl := e.start("--resync", "200ms")
	e.waitConverged(time.Minute)
	bad := strings.Replace(base, greenLine, fmt.Sprintf(`green: {hostPort: %d, backend: "g;clear map %s"}`, e.greenPort, e.mapPath), 1)
	e.saveDesiredText(bad)
	var st state.Status
	testenv.WaitFor(t, 30*time.Second, "status.json names the refused field", func() bool {
		st = e.status()
		return strings.Contains(st.SpecError, "spec.colors.green.backend")
	})
	t.Logf("specError: %s", st.SpecError)
	for _, want := range []string{e.desired, "g;clear map"} {
		if !strings.Contains(st.SpecError, want) {
			t.Errorf("specError does not name %q: %s", want, st.SpecError)
		}
	}
	time.Sleep(2 * time.Second) // several resyncs on the bad file
	code, out := runToExit(t, e.command("status"), 30*time.Second)
	t.Logf("controller status (exit %d):\n%s", code, out)
	if code != 1 {
		t.Errorf("controller status exited %d while the desired state is refused, want 1", code)
	}
	for _, want := range []string{"spec.colors.green.backend", "g;clear map", e.desired} {
		if !strings.Contains(out, want) {
			t.Errorf("controller status does not print %q", want)
		}
	}
	if now := e.badInputSnapshot(); now != before {
		t.Fatalf("a refused desired file changed the running system (watch mode):\nbefore %+v\nnow    %+v", before, now)
	}

	e.saveDesiredText(good)
	testenv.WaitFor(t, 30*time.Second, "specError clears once the file is fixed", func() bool {
		return e.status().SpecError == ""
	})
	e.waitConverged(time.Minute)
	if code, out := runToExit(t, e.command("status"), 30*time.Second); code != 0 {
		t.Errorf("controller status exited %d after the fix, want 0:\n%s", code, out)
	}
	if now := e.badInputSnapshot(); now != before {
		t.Fatalf("the fixed (unchanged) desired file changed the running system:\nbefore %+v\nnow    %+v", before, now)
	}
	e.assertFrontend("green v2")
	e.stopLoadNoFailures(l)
	ctl.stop()
}

// saveDesiredText writes the desired file as an editor does (new file, rename).
func (e *env) saveDesiredText(text string) {
	e.t.Helper()
	tmp := e.desired + ".tmp"
	writeFile(e.t, tmp, text)
	if err := os.Rename(tmp, e.desired); err != nil {
		e.t.Fatal(err)
	}
}

// badInputState is everything a refused desired file must leave as it was.
type badInputState struct {
	mapRuntime string
	mapFile    string // the whole file, byte for byte
	blue       string // container ID, state, start and finish times, image label
	green      string
	servers    string // HAProxy's status and admin state of both servers
	images     string // the service's images: tag and ID
}

func (e *env) badInputSnapshot() badInputState {
	e.t.Helper()
	rt, _ := e.maps()
	file, err := os.ReadFile(e.mapPath)
	if err != nil {
		e.t.Fatal(err)
	}
	return badInputState{
		mapRuntime: rt,
		mapFile:    string(file),
		blue:       e.slotDescription(spec.Blue),
		green:      e.slotDescription(spec.Green),
		servers:    e.serverStates(),
		images:     e.serviceImages(),
	}
}

// serverStates reads both colors' servers' operational and administrative
// state from "show servers state" (fields 6 and 7 of each line, after the
// name); the canary backend's servers follow them.
func (e *env) serverStates() string {
	e.t.Helper()
	out := e.ha.Runtime(e.t, "show servers state")
	var states []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 6 && (f[1] == e.svc+"_blue" || f[1] == e.svc+"_green") {
			// be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
			states = append(states, f[1]+"/"+f[3]+" op="+f[5]+" admin="+f[6])
		}
	}
	if len(states) != 2 {
		e.t.Fatalf("show servers state: want the 2 servers of %s, got %q in:\n%s", e.svc, states, out)
	}
	return strings.Join(states, ", ")
}

func (e *env) serviceImages() string {
	e.t.Helper()
	out, err := exec.Command("docker", "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", e.repo).Output()
	if err != nil {
		e.t.Fatalf("docker images %s: %v", e.repo, err)
	}
	lines := strings.Fields(strings.ReplaceAll(string(out), " ", "="))
	sort.Strings(lines)
	return strings.Join(lines, " ")
}
