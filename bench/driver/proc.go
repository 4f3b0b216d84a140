package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is the unit of utime/stime in /proc/<pid>/stat (sysconf
// _SC_CLK_TCK). Go has no portable sysconf without cgo; on Linux the value
// has been fixed at 100 for every architecture (USER_HZ), so it is assumed.
const clockTicks = 100.0

// cpuSeconds is the user+system CPU time of pid (every thread) so far.
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after its closing parenthesis start with field 3 (state).
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(data[end+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return float64(utime+stime) / clockTicks, nil
}

// statusKB reads a "Key:   N kB" line (VmRSS, VmHWM) of /proc/<pid>/status.
func statusKB(pid int, key string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, key)
}

// rssSampler keeps the largest VmRSS of a process, read every 200 ms
// between start and stop.
type rssSampler struct {
	pid  int
	mu   sync.Mutex
	max  int64
	stop chan struct{}
	done chan struct{}
}

func startRSSSampler(pid int, initial int64) *rssSampler {
	s := &rssSampler{pid: pid, max: initial, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.observe()
			}
		}
	}()
	return s
}

func (s *rssSampler) observe() int64 {
	kb, err := statusKB(s.pid, "VmRSS")
	if err != nil {
		return 0
	}
	s.mu.Lock()
	if kb > s.max {
		s.max = kb
	}
	s.mu.Unlock()
	return kb
}

// finish stops the sampler after a last reading, which it returns, with
// the largest reading.
func (s *rssSampler) finish() (last, max int64) {
	close(s.stop)
	<-s.done
	last = s.observe()
	s.mu.Lock()
	defer s.mu.Unlock()
	return last, s.max
}
