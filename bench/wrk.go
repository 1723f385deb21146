package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrkHint is how to get the load tool of the data-plane section.
const wrkHint = "install Debian's package: apt-get install -y wrk"

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests  int64         // "N requests in ..."
	RPS       float64       // "Requests/sec:"
	P50, P99  time.Duration // "Latency Distribution" (wrk --latency)
	Non2xx    int64         // "Non-2xx or 3xx responses:"
	SocketErr int64         // "Socket errors:" connect + read + write + timeout
	CPU       time.Duration // wrk's own user + system time
}

// errWrkOutput is wrapped by parseWrk when a figure it needs is missing.
var errWrkOutput = errors.New("unexpected wrk output")

// runWrk runs `wrk -t<threads> -c<conns> -d<d> --latency url` and parses
// its report. The process is killed if ctx ends first or the bench dies.
func runWrk(ctx context.Context, bin, url string, threads, conns int, d time.Duration) (wrkResult, string, error) {
	args := []string{fmt.Sprintf("-t%d", threads), fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Round(time.Second)/time.Second)), "--latency", url}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, string(out), fmt.Errorf("wrk %s: %w", strings.Join(args, " "), err)
	}
	res, err := parseWrk(string(out))
	res.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if err != nil {
		return res, string(out), fmt.Errorf("wrk %s: %w", strings.Join(args, " "), err)
	}
	return res, string(out), nil
}

// parseWrk reads wrk 4's report (run with --latency).
func parseWrk(out string) (wrkResult, error) {
	var res wrkResult
	var haveRPS, haveP99, inDist bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		f := strings.Fields(l)
		switch {
		case l == "Latency Distribution":
			inDist = true
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return res, fmt.Errorf("%w: latency %q: %v", errWrkOutput, l, err)
			}
			switch f[0] {
			case "50%":
				res.P50 = d
			case "99%":
				res.P99, haveP99 = d, true
			}
		case strings.HasPrefix(l, "Requests/sec:") && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return res, fmt.Errorf("%w: %q: %v", errWrkOutput, l, err)
			}
			res.RPS, haveRPS = v, true
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			inDist = false
			res.Requests, _ = strconv.ParseInt(f[0], 10, 64)
		case strings.HasPrefix(l, "Socket errors:"):
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				res.SocketErr += n
			}
		case strings.HasPrefix(l, "Non-2xx or 3xx responses:"):
			res.Non2xx, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		}
	}
	if !haveRPS || !haveP99 {
		return res, fmt.Errorf("%w: no Requests/sec or no 99%% latency line (was --latency given?)", errWrkOutput)
	}
	return res, nil
}

// parseWrkDuration reads wrk's latency figures: "812.00us", "1.23ms",
// "2.00s", "1.50m".
func parseWrkDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(x * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("no unit in %q", s)
}
