package docker

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel's log is the last witness of an OOM kill. containerd's shim
// (1.6 here; fixed by containerd/containerd#12405) starts watching a
// container's memory cgroup for OOM only after the container's process has
// started, so a process killed in its first milliseconds leaves neither the
// engine's OOMKilled flag nor its "oom" event (seen in CI under load: exit
// 137, "-2ms after it started", both empty). The kernel logs every kill, in
// a line naming the memory cgroup of the killed task:
//
//	oom-kill:constraint=CONSTRAINT_MEMCG,...,oom_memcg=/docker/<id>,task_memcg=/docker/<id>,task=app,pid=10567,uid=0
//
// (with the systemd cgroup driver: .../docker-<id>.scope).
//
// The kernel log is a witness with gaps: the kernel prints that line under
// a rate limit (10 kills in 5 s, host-wide), and its ring buffer (128 KiB
// here, about 30 kills' reports) overwrites old records. A kill it misses
// is reported as the exit code it gave (137). scripts/oom-witnesses.sh
// counts which witness saw which kill.

// kmsgPath is the kernel's log as a character device: each read returns
// one record, a read past the newest fails with EAGAIN (the file is opened
// non-blocking, and read without Go's poller, which would wait for the
// next record instead), and a record overwritten while reading fails one
// read with EPIPE.
const kmsgPath = "/dev/kmsg"

// kmsgRecordMax is larger than any record the kernel returns (a shorter
// buffer fails the read with EINVAL).
const kmsgRecordMax = 16 << 10

// maxClockSlew is how fast the kernel log's time stamps and CLOCK_MONOTONIC
// can drift apart: NTP corrects the latter by at most 500 ppm.
const maxClockSlew = 0.0005

// kernelOOMKilled reports whether the kernel log at path records an OOM
// kill of a task in the memory cgroup of container id between since and
// until.
//
// The log's time stamps count from boot on the kernel's own clock, which
// CLOCK_MONOTONIC follows up to NTP's corrections; the window is widened by
// the most the two can have drifted apart since boot (500 ppm of the
// uptime, a minute after 33 hours). Only a kill in the same container can
// match, so a wide window can at worst take an earlier kill of the same
// container for this one.
func kernelOOMKilled(path, id string, since, until time.Time) (bool, error) {
	fail := func(err error) (bool, error) {
		return false, fmt.Errorf("read the kernel log %s for OOM kills of container %s: %w", path, id, err)
	}
	fd, err := openKmsg(path)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(fd)
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fail(fmt.Errorf("read the monotonic clock: %w", err))
	}
	uptime := time.Duration(ts.Nano())
	boot := time.Now().Add(-uptime)
	slack := time.Second + time.Duration(float64(uptime)*maxClockSlew)
	found := false
	err = kmsgRecords(func(b []byte) (int, error) { return unix.Read(fd, b) }, func(r kmsgRecord) {
		at := boot.Add(r.sinceBoot)
		if !at.Before(since.Add(-slack)) && !at.After(until.Add(slack)) && oomKillOf(r.text, id) {
			found = true
		}
	})
	if err != nil {
		return fail(err)
	}
	return found, nil
}

// KernelLogReadable returns why this process cannot read the kernel log,
// where OOMKilledBetween finds the OOM kills the engine missed, or nil.
func KernelLogReadable() error {
	fd, err := openKmsg(kmsgPath)
	if err != nil {
		return fmt.Errorf("open the kernel log %s: %w", kmsgPath, err)
	}
	return unix.Close(fd)
}

// openKmsg opens the kernel log at path for reading without blocking.
func openKmsg(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		err = fmt.Errorf("%w (it needs root with CAP_SYSLOG, and no ProtectKernelLogs under systemd)", err)
	}
	return fd, err
}

// kmsgRecord is one record of the kernel log.
type kmsgRecord struct {
	sinceBoot time.Duration
	text      string
}

// kmsgRecords calls each for each record that read returns, one record per
// call, until the log has no newer record. Records lost to the ring buffer
// wrapping while reading are skipped.
func kmsgRecords(read func([]byte) (int, error), each func(kmsgRecord)) error {
	buf := make([]byte, kmsgRecordMax)
	for {
		n, err := read(buf)
		switch {
		case errors.Is(err, unix.EAGAIN) || (err == nil && n == 0):
			return nil
		case errors.Is(err, unix.EPIPE), errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		}
		if rec, ok := parseKmsg(buf[:n]); ok {
			each(rec)
		}
	}
}

// parseKmsg parses one record: "prio,seq,usec,flags[,...];text\n", then
// continuation lines (" KEY=value") that it leaves out. Only the kernel's
// own records count (facility 0, prio below 8): any process that may write
// /dev/kmsg can add a record of the same text, with facility LOG_USER.
func parseKmsg(b []byte) (kmsgRecord, bool) {
	head, text, ok := bytes.Cut(b, []byte{';'})
	if !ok {
		return kmsgRecord{}, false
	}
	fields := strings.Split(string(head), ",")
	if len(fields) < 3 {
		return kmsgRecord{}, false
	}
	if prio, err := strconv.Atoi(fields[0]); err != nil || prio < 0 || prio>>3 != 0 {
		return kmsgRecord{}, false
	}
	usec, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil || usec < 0 {
		return kmsgRecord{}, false
	}
	text, _, _ = bytes.Cut(text, []byte{'\n'})
	return kmsgRecord{sinceBoot: time.Duration(usec) * time.Microsecond, text: string(text)}, true
}

// oomKillOf reports whether text is the kernel's line for an OOM kill of a
// task in container id's memory cgroup.
func oomKillOf(text, id string) bool {
	rest, ok := strings.CutPrefix(text, "oom-kill:")
	if !ok || id == "" {
		return false
	}
	for _, kv := range strings.Split(rest, ",") {
		memcg, ok := strings.CutPrefix(kv, "task_memcg=")
		if !ok {
			continue
		}
		leaf := memcg[strings.LastIndex(memcg, "/")+1:]
		return leaf == id || leaf == "docker-"+id+".scope"
	}
	return false
}
