// Command firehose is a BENCHMARK STAND-IN for a Temporal server, never a
// server and never evidence that a worker is correct: a gRPC server that
// implements only the WorkflowService calls a worker makes (service.go) and
// feeds one worker workflow and activity tasks as fast as it takes them, so
// that a benchmark measures the worker's own ceiling rather than a dev
// server's (on 2 CPUs the dev server spends 20-25x the worker's CPU per
// workflow and saturates first). It is built on the Go SDK's API module
// (go.temporal.io/api) and grpc-go, sharing nothing with twe's own stack.
//
// The workload is a history recorded on a real dev server (DIR/NAME.json,
// `temporal workflow show --output json`; bench/results/histories/ by
// default, which bench/run records). The firehose keeps -open runs of it
// open, starting a new one each time one completes; each run goes as a
// server would take it (runs.go): the first workflow task, the activities
// the worker schedules, the later tasks, sticky queues honoured. Every
// completion is checked against the commands and results of the recording
// (compare.go says what is compared), and a difference is counted as an
// error. The worker's own completions drive each run: no result is made up.
//
//	firehose -workload NAME [-histories DIR] [-listen ADDR] [-address-file F]
//	         [-task-queue Q] [-namespace NS] [-open N] -pid-file F
//	         [-warmup D] [-duration D] [-poll-timeout D] [-procs N]
//	         [-backlog-hints] [-cpuprofile F] [-field K=V]...
//	firehose -workload NAME [-histories DIR] -check FILE [-check-events=false]
//
// It listens (default 127.0.0.1:0; the address it got goes to -address-file
// and stderr), then waits for -pid-file to hold the worker's pid (write it
// once the worker is ready), then opens the runs; after -warmup it measures
// for -duration: tasks completed, the worker's CPU (utime + stime from
// /proc/PID/stat), its own, the rest of the machine's (/proc/stat), and
// latencies from handing a task out to its completion. It runs on one
// thread (-procs 1): two cost it a third more CPU per task on 2 CPUs, taken
// from the worker. Then it stops opening runs (those open go on), prints the
// line "window done" on stdout, and serves until SIGTERM or SIGINT, when it
// prints the results as one line of JSON on stdout (the -field pairs
// included) and exits 0. Errors and mismatches are counted until then.
// SIGUSR1 prints a line on the state of the runs and queues on stderr.
// With -check it serves nothing: it compares the history of a run on a real
// server with the recording (check.go) and exits 1 if they differ.
//
// Backlog hints: the server tells a poll how many tasks wait behind the one
// it hands out (backlog_count_hint), and the SDKs add sticky polls while it
// is above 0. The firehose's queues are never empty, and the Go SDK's mixed
// pollers (v1.50) keep the hint of whichever of two concurrent sticky polls
// they read last: a 1 read after a 0 leaves both pollers on the sticky queue
// while the normal one fills, until a poll comes back empty (60 s on a
// server). So the firehose sends none unless -backlog-hints is given.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

type fields map[string]string

func (f fields) String() string { return fmt.Sprint(map[string]string(f)) }
func (f fields) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	f[k] = v
	return nil
}

// result is the JSON line.
type result struct {
	Fields         map[string]string `json:"fields"`
	Workload       string            `json:"workload"`
	Open           int               `json:"open"`
	WindowS        float64           `json:"window_s"`
	WFT            int64             `json:"wft"`
	Act            int64             `json:"act"`
	Workflows      int64             `json:"workflows"`
	WFTPerS        float64           `json:"wft_per_s"`
	ActPerS        float64           `json:"act_per_s"`
	WorkerCPUS     float64           `json:"worker_cpu_s"`
	WorkerCores    float64           `json:"worker_cores"`
	WFTPerCPUS     float64           `json:"wft_per_cpu_s"`
	ActPerCPUS     float64           `json:"act_per_cpu_s"`
	FirehoseCPUS   float64           `json:"firehose_cpu_s"`
	OtherCores     float64           `json:"other_cores"` // the rest of the machine's busy CPUs
	WFTP50Ms       float64           `json:"wft_p50_ms"`
	WFTP99Ms       float64           `json:"wft_p99_ms"`
	ActP50Ms       float64           `json:"act_p50_ms"`
	ActP99Ms       float64           `json:"act_p99_ms"`
	WFTSticky      int64             `json:"wft_sticky"`
	WFTFullHistory int64             `json:"wft_full_history"`
	WFTInResponse  int64             `json:"wft_in_response"`
	Errors         int64             `json:"errors"`
	Mismatches     int64             `json:"mismatches"`
	WFTFailed      int64             `json:"wft_failed"`
	ActFailed      int64             `json:"act_failed"`
	WFTTimeouts    int64             `json:"wft_timeouts"`
	ActTimeouts    int64             `json:"act_timeouts"`
	StickyTimeouts int64             `json:"sticky_timeouts"`
	RunsStarted    int64             `json:"runs_started"`
	RunsCompleted  int64             `json:"runs_completed"`
	RunsDropped    int64             `json:"runs_dropped"`
	NotFound       int64             `json:"not_found"`
	PollsLost      int64             `json:"polls_lost"`
	HistoryFetches int64             `json:"history_fetches"`
	Calls          map[string]int64  `json:"calls"`
	Unimplemented  map[string]int64  `json:"unimplemented"`
	ErrorSamples   []string          `json:"error_samples"`
	WorkerGone     string            `json:"worker_gone,omitempty"`
}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "firehose: "+format+"\n", a...)
	os.Exit(1)
}

// waitPid reads the worker's pid from path once it is there.
func waitPid(path string, limit time.Duration) int {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		if raw, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 0 {
				return pid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	die("no worker pid in %s after %v", path, limit)
	return 0
}

func main() {
	workload := flag.String("workload", "", "workflow type: the recorded history DIR/NAME.json (required)")
	dir := flag.String("histories", "bench/results/histories", "directory of recorded histories")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	addrFile := flag.String("address-file", "", "write the address listened on here")
	queue := flag.String("task-queue", "firehose", "the task queue the worker polls")
	ns := flag.String("namespace", "default", "the namespace")
	open := flag.Int("open", 200, "runs kept open")
	pidFile := flag.String("pid-file", "", "the worker's pid appears here once it is ready (required)")
	warmup := flag.Duration("warmup", 3*time.Second, "time before the measured window")
	window := flag.Duration("duration", 10*time.Second, "the measured window")
	pollTimeout := flag.Duration("poll-timeout", 60*time.Second, "an idle poll is answered empty after this")
	cpuProfile := flag.String("cpuprofile", "", "write the firehose's own CPU profile (pprof) of the window here")
	procs := flag.Int("procs", 1, "GOMAXPROCS: the firehose's own running threads (1 leaves the other CPUs to the worker)")
	hints := flag.Bool("backlog-hints", false, "send backlog_count_hint on workflow tasks, as the server does (off: see README)")
	extra := fields{}
	flag.Var(extra, "field", "KEY=VALUE copied into the result's fields (repeatable)")
	check := flag.String("check", "", "compare the history of a real run in this file with the recording, and exit (check.go)")
	checkEvents := flag.Bool("check-events", true, "with -check: the event types too, in order")
	flag.Parse()
	if *workload == "" || (*pidFile == "" && *check == "") || flag.NArg() != 0 || *open < 1 {
		flag.Usage()
		os.Exit(2)
	}
	tpl, err := loadTemplate(*dir, *workload)
	if err != nil {
		die("%v", err)
	}
	if *check != "" {
		diffs, err := checkHistory(tpl, *check, *checkEvents)
		if err != nil {
			die("%v", err)
		}
		for _, d := range diffs {
			fmt.Printf("differs: %s: %s\n", *check, d)
		}
		if len(diffs) > 0 {
			os.Exit(1)
		}
		fmt.Printf("same: %s and %s: %d commands, %d activity results (event types %s)\n", *check, tpl.path,
			len(tpl.commands), len(tpl.results), map[bool]string{true: "compared too", false: "not compared"}[*checkEvents])
		return
	}
	st := newStats()
	f := newFirehose(*ns, *queue, tpl, *open, st)
	f.backlogHints = *hints

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		die("%v", err)
	}
	// Its own CPU is not what is measured, but it shares the machine with
	// the worker: less garbage collection, and handlers on kept goroutines
	// whose stacks have grown already (a new goroutine when all are busy,
	// e.g. parked in long polls).
	runtime.GOMAXPROCS(*procs)
	debug.SetGCPercent(400)
	srv := grpc.NewServer(
		grpc.NumStreamWorkers(16),
		grpc.ChainUnaryInterceptor(countCalls(st)),
		grpc.UnknownServiceHandler(unknownService(st)),
		// The server's own keepalive policy: pings no more often than 10 s.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	workflowservice.RegisterWorkflowServiceServer(srv, &service{f: f, pollTimeout: *pollTimeout})
	hs := health.NewServer()
	hs.SetServingStatus("temporal.api.workflowservice.v1.WorkflowService", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() {
		if err := srv.Serve(lis); err != nil {
			die("serve: %v", err)
		}
	}()
	addr := lis.Addr().String()
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile+".tmp", []byte(addr+"\n"), 0o644); err != nil {
			die("%v", err)
		}
		if err := os.Rename(*addrFile+".tmp", *addrFile); err != nil {
			die("%v", err)
		}
	}
	fmt.Fprintf(os.Stderr, "firehose: a benchmark stand-in, not a Temporal server: %s on %s, task queue %q, %d open (%s: %d events, %d commands)\n",
		tpl.name, addr, *queue, *open, tpl.path, tpl.events, len(tpl.commands))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			f.mu.Lock()
			d := f.describe()
			f.mu.Unlock()
			fmt.Fprintf(os.Stderr, "firehose: %s\n", d)
		}
	}()
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		for now := range t.C {
			f.mu.Lock()
			f.sweep(now)
			f.mu.Unlock()
		}
	}()

	pid := waitPid(*pidFile, 120*time.Second)
	f.mu.Lock()
	f.generating = true
	f.fill()
	f.mu.Unlock()

	res := result{Fields: extra, Workload: tpl.name, Open: *open}
	select {
	case <-time.After(*warmup):
	case <-stop:
		die("stopped before the window")
	}
	// The window: counters, CPU and time at both ends.
	var busy [2]time.Duration
	snap := func(i int) (counters, time.Duration, time.Duration, time.Time, error) {
		f.mu.Lock()
		c := st.counters
		f.mu.Unlock()
		w, err := procCPU(pid)
		self, _ := procCPU(os.Getpid())
		busy[i], _ = machineBusy()
		return c, w, self, time.Now(), err
	}
	f.mu.Lock()
	st.measuring = true
	f.mu.Unlock()
	c0, w0, s0, t0, err0 := snap(0)
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			die("%v", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			die("%v", err)
		}
		defer pf.Close()
	}
	select {
	case <-time.After(*window):
	case <-stop:
		die("stopped during the window")
	}
	c1, w1, s1, t1, err1 := snap(1)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	f.mu.Lock()
	st.measuring = false
	f.generating = false
	wftLat, actLat := st.wftLat, st.actLat
	st.wftLat, st.actLat = nil, nil
	f.mu.Unlock()
	if err0 != nil || err1 != nil {
		res.WorkerGone = fmt.Sprintf("worker pid %d: %v %v", pid, err0, err1)
	}
	secs := t1.Sub(t0).Seconds()
	res.WindowS = secs
	res.WFT = c1.wftCompleted - c0.wftCompleted
	res.Act = c1.actCompleted - c0.actCompleted
	res.Workflows = c1.runsCompleted - c0.runsCompleted
	res.WFTPerS = float64(res.WFT) / secs
	res.ActPerS = float64(res.Act) / secs
	res.WorkerCPUS = (w1 - w0).Seconds()
	res.WorkerCores = res.WorkerCPUS / secs
	if res.WorkerCPUS > 0 {
		res.WFTPerCPUS = float64(res.WFT) / res.WorkerCPUS
		res.ActPerCPUS = float64(res.Act) / res.WorkerCPUS
	}
	res.FirehoseCPUS = (s1 - s0).Seconds()
	res.OtherCores = ((busy[1] - busy[0]).Seconds() - res.WorkerCPUS - res.FirehoseCPUS) / secs
	if res.OtherCores < 0 {
		res.OtherCores = 0 // the three reads are not at one instant
	}
	res.WFTP50Ms, res.WFTP99Ms = percentileMs(wftLat, 50), percentileMs(wftLat, 99)
	res.ActP50Ms, res.ActP99Ms = percentileMs(actLat, 50), percentileMs(actLat, 99)
	res.WFTSticky = c1.wftSticky - c0.wftSticky
	res.WFTFullHistory = c1.wftFullHistory - c0.wftFullHistory
	res.WFTInResponse = c1.wftInResponse - c0.wftInResponse
	fmt.Println("window done")

	<-stop
	// The totals, start to stop.
	f.mu.Lock()
	c := st.counters
	res.ErrorSamples = append([]string{}, st.samples...)
	f.mu.Unlock()
	res.Errors = c.errors()
	res.Mismatches, res.WFTFailed, res.ActFailed = c.mismatches, c.wftFailed, c.actFailed
	res.WFTTimeouts, res.ActTimeouts, res.StickyTimeouts = c.wftTimeouts, c.actTimeouts, c.stickyTimeouts
	res.RunsStarted, res.RunsCompleted, res.RunsDropped = c.runsStarted, c.runsCompleted, c.runsDropped
	res.NotFound, res.PollsLost, res.HistoryFetches = c.notFound, c.pollsLost, c.historyFetches
	res.Calls, res.Unimplemented = st.callCounts()
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	srv.Stop()
}
