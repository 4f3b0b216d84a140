// stats.go — what the firehose counts (under the firehose's mutex), the
// task latencies (handed out -> completion received) of the measured
// window, and CPU time from /proc.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// counters are the totals since start; a window is the difference of two.
type counters struct {
	wftCompleted, actCompleted int64
	wftFailed, actFailed       int64
	wftTimeouts, actTimeouts   int64
	mismatches                 int64
	runsStarted, runsCompleted int64
	runsDropped                int64
	wftSticky, wftFullHistory  int64 // later tasks: partial (sticky) or whole history
	wftInResponse              int64 // returned in a completion's response
	stickyTimeouts             int64
	notFound                   int64 // completions naming no live task
	pollsLost                  int64 // tasks put back: their poll had gone
	historyFetches             int64
}

func (c counters) errors() int64 {
	return c.wftFailed + c.actFailed + c.wftTimeouts + c.actTimeouts + c.mismatches
}

type stats struct {
	counters
	measuring      bool
	wftLat, actLat []time.Duration
	samples        []string // the first few error messages
	// Calls by method and the ones answered UNIMPLEMENTED; their own lock
	// (the interceptor runs outside the firehose's).
	callsMu sync.Mutex
	calls   map[string]int64
	unimpl  map[string]int64
}

func newStats() *stats {
	return &stats{calls: map[string]int64{}, unimpl: map[string]int64{}}
}

func (s *stats) wftDone(d time.Duration) {
	s.wftCompleted++
	if s.measuring {
		s.wftLat = append(s.wftLat, d)
	}
}

func (s *stats) actDone(d time.Duration) {
	s.actCompleted++
	if s.measuring {
		s.actLat = append(s.actLat, d)
	}
}

func (s *stats) sample(msg string) {
	if len(s.samples) < 10 {
		s.samples = append(s.samples, msg)
	}
	fmt.Fprintf(os.Stderr, "firehose: %s\n", msg)
}

// call counts one call of method, and the UNIMPLEMENTED ones; any other
// error status as "method: code" among the calls.
func (s *stats) call(method string, code codes.Code) {
	s.callsMu.Lock()
	s.calls[method]++
	if code == codes.Unimplemented {
		s.unimpl[method]++
	} else if code != codes.OK {
		s.calls[method+": "+code.String()]++
	}
	s.callsMu.Unlock()
}

func (s *stats) callCounts() (map[string]int64, map[string]int64) {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	c, u := map[string]int64{}, map[string]int64{}
	for k, v := range s.calls {
		c[k] = v
	}
	for k, v := range s.unimpl {
		u[k] = v
	}
	return c, u
}

// percentileMs is the p-th percentile (nearest rank) in milliseconds; 0
// when there are none. Sorts d.
func percentileMs(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(p/100*float64(len(d))+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(d) {
		i = len(d) - 1
	}
	return float64(d[i]) / float64(time.Millisecond)
}

// clkTck is USER_HZ: 100 on every Linux this runs on (the kernel's ABI).
const clkTck = 100

// procCPU is the user + system CPU time of process pid (all its threads,
// those that exited included), from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	var ut, st int64
	if _, err := fmt.Sscan(f[11], &ut); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(f[12], &st); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// machineBusy is the CPU time every CPU of the machine spent on anything
// but idling and waiting for I/O, from /proc/stat: with the worker's and
// the firehose's own taken off, what else ran beside them.
func machineBusy() (time.Duration, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: no cpu line")
	}
	var busy int64
	// user nice system idle iowait irq softirq steal (guest is in user).
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		var n int64
		if _, err := fmt.Sscan(v, &n); err != nil {
			return 0, err
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clkTck, nil
}
