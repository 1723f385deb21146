package docker

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-host/controller/internal/testenv"
	"golang.org/x/sys/unix"
)

// kmsgID is the container of the kernel lines below, taken from this
// machine's log after an OOM kill (cgroup v1, cgroupfs driver).
const kmsgID = "eec5be3af75249e990fef7cd986d5e129935574aa623cf64b56b45eafa781eb5"

func TestOOMKillOf(t *testing.T) {
	other := "803b970b06b55f006287386a8bbbfd61dff45fbd49e4de8444fb05318239143d"
	for _, tc := range []struct {
		name, text, id string
		want           bool
	}{
		{"cgroupfs driver", "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=" + kmsgID + ",mems_allowed=0,oom_memcg=/docker/" + kmsgID + ",task_memcg=/docker/" + kmsgID + ",task=rudeapp,pid=10567,uid=0", kmsgID, true},
		{"systemd driver", "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/system.slice/docker-" + kmsgID + ".scope,task_memcg=/system.slice/docker-" + kmsgID + ".scope,task=app,pid=7,uid=0", kmsgID, true},
		{"another container", "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=" + other + ",mems_allowed=0,oom_memcg=/docker/" + other + ",task_memcg=/docker/" + other + ",task=rudeapp,pid=10437,uid=0", kmsgID, false},
		// A kill in a parent cgroup whose limit a container hit names the
		// parent as oom_memcg; the task's own cgroup decides.
		{"limit of a parent", "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/docker,task_memcg=/docker/" + other + ",task=x,pid=1,uid=0", kmsgID, false},
		{"id as a prefix only", "oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/docker/" + kmsgID + "0,task=x,pid=1,uid=0", kmsgID, false},
		{"the kill's second line", "Memory cgroup out of memory: Killed process 10567 (rudeapp) total-vm:1329644kB, anon-rss:15872kB", kmsgID, false},
		{"the id elsewhere", "docker0: port 1(veth" + kmsgID[:7] + ") entered disabled state task_memcg=/docker/" + kmsgID, kmsgID, false},
		{"no id asked", "oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/,task=x,pid=1,uid=0", "", false},
	} {
		if got := oomKillOf(tc.text, tc.id); got != tc.want {
			t.Errorf("%s: oomKillOf = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseKmsg(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want kmsgRecord
		ok   bool
	}{
		{"6,1234,297829604,-;oom-kill:constraint=CONSTRAINT_MEMCG,task=rudeapp\n", kmsgRecord{297829604 * time.Microsecond, "oom-kill:constraint=CONSTRAINT_MEMCG,task=rudeapp"}, true},
		{"3,9,5,c,caller=T1;text; with; semicolons\n SUBSYSTEM=net\n DEVICE=n2\n", kmsgRecord{5 * time.Microsecond, "text; with; semicolons"}, true},
		{"6,1,x,-;bad time\n", kmsgRecord{}, false},
		{"6,1,-5,-;negative time\n", kmsgRecord{}, false},
		{"no header\n", kmsgRecord{}, false},
		{"6,1;too few fields\n", kmsgRecord{}, false},
		// Written to /dev/kmsg by a process: facility LOG_USER (1), not the kernel's.
		{"14,1234,297829604,-;oom-kill:constraint=CONSTRAINT_MEMCG,task=rudeapp\n", kmsgRecord{}, false},
		{"x,1234,5,-;no priority\n", kmsgRecord{}, false},
	} {
		got, ok := parseKmsg([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseKmsg(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestKmsgRecords: one record per read; a record lost to the ring buffer
// (EPIPE) is skipped, EAGAIN ends the log, another error is returned.
func TestKmsgRecords(t *testing.T) {
	type ret struct {
		rec string
		err error
	}
	reader := func(rets []ret) func([]byte) (int, error) {
		return func(b []byte) (int, error) {
			if len(rets) == 0 {
				t.Fatal("read past the end of the log")
			}
			r := rets[0]
			rets = rets[1:]
			return copy(b, r.rec), r.err
		}
	}
	var got []string
	each := func(r kmsgRecord) { got = append(got, r.text) }
	err := kmsgRecords(reader([]ret{{"6,1,1,-;one\n", nil}, {"", unix.EPIPE}, {"6,3,3,-;three\n", nil}, {"garbage", nil}, {"", unix.EAGAIN}}), each)
	if err != nil || len(got) != 2 || got[0] != "one" || got[1] != "three" {
		t.Fatalf("kmsgRecords = %q, %v; want [one three], nil", got, err)
	}
	if err := kmsgRecords(reader([]ret{{"", unix.EACCES}}), each); err != unix.EACCES {
		t.Fatalf("kmsgRecords on EACCES = %v", err)
	}
}

func TestKernelOOMKilledUnreadable(t *testing.T) {
	_, err := kernelOOMKilled("/nonexistent/kmsg", kmsgID, time.Now(), time.Now())
	if err == nil || err.Error() != "read the kernel log /nonexistent/kmsg for OOM kills of container "+kmsgID+": no such file or directory" {
		t.Fatalf("err = %v", err)
	}
}

// TestKernelLogReadable: root reads the kernel log; a process without
// CAP_SYSLOG is told what it lacks.
func TestKernelLogReadable(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "this test needs root, as the controller does, to read the kernel log")
	}
	if err := KernelLogReadable(); err != nil {
		t.Fatalf("root cannot read the kernel log: %v", err)
	}
	if _, err := openKmsg("/nonexistent/kmsg"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("openKmsg of a missing file: %v", err)
	}
	setpriv := testenv.RequireBinary(t, "setpriv", "apt-get install -y util-linux")
	if b, _ := os.ReadFile("/proc/sys/kernel/dmesg_restrict"); strings.TrimSpace(string(b)) != "1" {
		return // anyone may read the log here
	}
	cmd := exec.Command(setpriv, "--bounding-set", "-syslog", "--", os.Args[0], "-test.run=^TestKernelLogReadableHelper$")
	cmd.Env = append(os.Environ(), "BG_KMSG_HELPER=1")
	out, _ := cmd.CombinedOutput()
	want := "open the kernel log /dev/kmsg: operation not permitted (it needs root with CAP_SYSLOG, and no ProtectKernelLogs under systemd)"
	if !strings.Contains(string(out), want) {
		t.Fatalf("without CAP_SYSLOG: %s\nwant %q", out, want)
	}
}

// TestKernelLogReadableHelper prints KernelLogReadable's answer for
// TestKernelLogReadable, run under a reduced capability set.
func TestKernelLogReadableHelper(t *testing.T) {
	if os.Getenv("BG_KMSG_HELPER") == "" {
		return
	}
	fmt.Println(KernelLogReadable())
}
