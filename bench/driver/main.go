// Command driver is bench/run's neutral load generator: the same client
// (the Go SDK's) for every worker under test. It starts workflows on a task
// queue, waits for them, and measures the worker's and the server's CPU and
// the worker's memory through /proc, printing one JSON object on stdout.
//
//	driver run  --task-queue Q --workflow TYPE --count N [flags]
//	driver park --task-queue Q --workflow Park --count N [flags]
//
// run:  starts N workflows (at most --in-flight unfinished at once, at most
//
//	--rate per second when > 0), waits for each one's result, and
//	records the end-to-end latency (start call -> result). A wrong
//	result (--expect), a failed/timed-out/terminated workflow or a
//	failed start counts as an error.
//
// park: starts N workflows (at most --in-flight start calls at once), then
//
//	waits until each has completed its first workflow task (its history
//	holds TimerStarted), and reads the worker's RSS 3 s later.
//
// The CPU window opens right before the first start and closes when the
// last workflow completes (run) or all are seen parked (park); the worker's
// VmRSS is read every 200 ms in between. Workflow-task latencies come from
// up to --history-sample histories, evenly spread, fetched after the window.
// Server from TEMPORAL_ADDRESS, namespace TEMPORAL_NAMESPACE (default
// "default"). Progress on stderr every 5 s. Exit 0 when the run finished
// (errors are counted, not fatal); 2 for bad flags; 1 when the driver
// itself could not work (no server).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

type options struct {
	mode          string
	taskQueue     string
	workflow      string
	count         int
	inFlight      int
	rate          float64
	expect        any // decoded JSON; nil = not checked
	hasExpect     bool
	workerPID     int
	serverPID     int
	historySample int
	saveHistory   string
	timeout       time.Duration
	idPrefix      string
}

const usage = `usage: driver run|park --task-queue Q --workflow TYPE --count N
  [--in-flight K] [--rate R] [--expect JSON] [--worker-pid P] [--server-pid S]
  [--history-sample M] [--save-history FILE] [--timeout SECONDS] [--id-prefix STR]`

func parseFlags(args []string) (*options, error) {
	if len(args) == 0 || (args[0] != "run" && args[0] != "park") {
		return nil, errors.New("the first argument must be the mode: run or park")
	}
	o := &options{mode: args[0]}
	fs := flag.NewFlagSet("driver "+o.mode, flag.ContinueOnError)
	fs.StringVar(&o.taskQueue, "task-queue", "", "task queue of the worker under test")
	fs.StringVar(&o.workflow, "workflow", "", "workflow type")
	fs.IntVar(&o.count, "count", 0, "number of workflows")
	fs.IntVar(&o.inFlight, "in-flight", 100, "run: most unfinished workflows at once; park: most start calls at once")
	fs.Float64Var(&o.rate, "rate", 0, "most starts per second (0 = no limit)")
	expect := fs.String("expect", "", "the JSON value each workflow must return")
	fs.IntVar(&o.workerPID, "worker-pid", 0, "the worker's pid (for /proc)")
	fs.IntVar(&o.serverPID, "server-pid", 0, "the server's pid (for /proc)")
	fs.IntVar(&o.historySample, "history-sample", 500, "histories read for workflow-task latencies")
	fs.StringVar(&o.saveHistory, "save-history", "", "write the first completed workflow's history (JSON) here")
	timeout := fs.Float64("timeout", 600, "seconds from the first start until the driver gives up")
	fs.StringVar(&o.idPrefix, "id-prefix", "", "workflow id prefix (default: unique per run)")
	fs.SetOutput(os.Stderr)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, usage) }
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() != 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.taskQueue == "" || o.workflow == "":
		return nil, errors.New("--task-queue and --workflow are required")
	case o.count < 1:
		return nil, errors.New("--count must be at least 1")
	case o.inFlight < 1:
		return nil, errors.New("--in-flight must be at least 1")
	case o.rate < 0 || o.historySample < 0 || *timeout <= 0:
		return nil, errors.New("--rate and --history-sample must be >= 0, --timeout > 0")
	}
	if *expect != "" {
		if err := json.Unmarshal([]byte(*expect), &o.expect); err != nil {
			return nil, fmt.Errorf("--expect %q is not JSON: %v", *expect, err)
		}
		o.hasExpect = true
	}
	o.timeout = time.Duration(*timeout * float64(time.Second))
	if o.idPrefix == "" {
		o.idPrefix = fmt.Sprintf("bench-%s-%s-%d-", o.workflow, o.taskQueue, time.Now().UnixNano())
	}
	return o, nil
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "driver: "+format+"\n", args...)
}

// --- the JSON report -----------------------------------------------------

type workerReport struct {
	PID        int     `json:"pid"`
	CPUS       float64 `json:"cpu_s"`
	RSSStartKB int64   `json:"rss_start_kb"`
	RSSEndKB   int64   `json:"rss_end_kb"`
	RSSMaxKB   int64   `json:"rss_max_kb"`
	HWMKB      int64   `json:"hwm_kb"`
}

type serverReport struct {
	PID  int     `json:"pid"`
	CPUS float64 `json:"cpu_s"`
}

type parkReport struct {
	Parked      int     `json:"parked"`
	RSSBeforeKB int64   `json:"rss_before_kb"`
	RSSParkedKB int64   `json:"rss_parked_kb"`
	RSSPerWFKB  float64 `json:"rss_per_wf_kb"`
	// Seconds from the first start until the driver saw the last one
	// parked (wall_s is until the last one's TimerStarted event).
	DetectS float64 `json:"detect_s"`
}

type report struct {
	Mode          string        `json:"mode"`
	Workflow      string        `json:"workflow"`
	Count         int           `json:"count"`
	Started       int           `json:"started"`
	Completed     int           `json:"completed"`
	Errors        int           `json:"errors"`
	ErrorMessages []string      `json:"error_messages"`
	Unfinished    int           `json:"unfinished"`
	WallS         float64       `json:"wall_s"`
	WFPerS        float64       `json:"wf_per_s"`
	E2EMS         *pct3         `json:"e2e_ms"`
	WFT           *wftReport    `json:"wft"`
	Worker        *workerReport `json:"worker"`
	Server        *serverReport `json:"server"`
	Park          *parkReport   `json:"park,omitempty"`
}

// --- the measurement window ----------------------------------------------

type window struct {
	o        *options
	t0       time.Time
	wcpu0    float64
	scpu0    float64
	rssStart int64
	sampler  *rssSampler
	once     sync.Once
	t1       time.Time
	worker   *workerReport
	server   *serverReport
}

func warnProc(pid int, err error) {
	if err != nil {
		say("warning: reading /proc of pid %d: %v", pid, err)
	}
}

// open reads the starting figures; the window's clock starts last.
func (w *window) open() {
	var err error
	if w.o.workerPID > 0 {
		w.wcpu0, err = cpuSeconds(w.o.workerPID)
		warnProc(w.o.workerPID, err)
		w.rssStart, err = statusKB(w.o.workerPID, "VmRSS")
		warnProc(w.o.workerPID, err)
		w.sampler = startRSSSampler(w.o.workerPID, w.rssStart)
	}
	if w.o.serverPID > 0 {
		w.scpu0, err = cpuSeconds(w.o.serverPID)
		warnProc(w.o.serverPID, err)
	}
	w.t0 = time.Now()
}

// close reads the ending figures, once; end is the window's end time.
func (w *window) close(end time.Time) {
	w.once.Do(func() {
		w.t1 = end
		if w.o.workerPID > 0 {
			cpu, err := cpuSeconds(w.o.workerPID)
			warnProc(w.o.workerPID, err)
			last, mx := w.sampler.finish()
			hwm, err := statusKB(w.o.workerPID, "VmHWM")
			warnProc(w.o.workerPID, err)
			w.worker = &workerReport{PID: w.o.workerPID, CPUS: round3(cpu - w.wcpu0),
				RSSStartKB: w.rssStart, RSSEndKB: last, RSSMaxKB: mx, HWMKB: hwm}
		}
		if w.o.serverPID > 0 {
			cpu, err := cpuSeconds(w.o.serverPID)
			warnProc(w.o.serverPID, err)
			w.server = &serverReport{PID: w.o.serverPID, CPUS: round3(cpu - w.scpu0)}
		}
	})
}

// --- the driver ------------------------------------------------------------

type driver struct {
	o   *options
	c   client.Client
	win window

	ids    []string
	runIDs []string // set once started

	started   atomic.Int64
	completed atomic.Int64
	errs      atomic.Int64
	done      atomic.Int64 // completed + errors

	mu          sync.Mutex
	errMessages []string
	e2e         []float64 // ms, completed workflows
	lastDone    time.Time
	finished    []int // started workflows that finished (any outcome)
	first       int   // first completed workflow, -1 if none
}

func (d *driver) fail(msg string) {
	d.errs.Add(1)
	d.mu.Lock()
	if len(d.errMessages) < 5 {
		d.errMessages = append(d.errMessages, msg)
	}
	d.mu.Unlock()
}

// finish records one workflow's outcome at t; the last one closes the window.
func (d *driver) finish(t time.Time) {
	d.mu.Lock()
	if t.After(d.lastDone) {
		d.lastDone = t
	}
	d.mu.Unlock()
	if d.done.Add(1) == int64(d.o.count) {
		d.win.close(t)
	}
}

// pace hands out start times: at most --rate per second with a burst of
// 50 ms worth, none before now.
type pacer struct {
	interval time.Duration
	next     time.Time
}

func (p *pacer) wait(ctx context.Context) error {
	if p.interval <= 0 {
		return ctx.Err()
	}
	now := time.Now()
	if floor := now.Add(-50 * time.Millisecond); p.next.Before(floor) {
		p.next = floor
	}
	if d := p.next.Sub(now); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	p.next = p.next.Add(p.interval)
	return ctx.Err()
}

// startAll calls one(ctx, i) for every workflow, each in its own goroutine,
// with at most --in-flight running and the --rate pacing, and waits.
func (d *driver) startAll(ctx context.Context, one func(context.Context, int)) {
	p := &pacer{}
	if d.o.rate > 0 {
		p.interval = time.Duration(float64(time.Second) / d.o.rate)
	}
	sem := make(chan struct{}, d.o.inFlight)
	var wg sync.WaitGroup
loop:
	for i := 0; i < d.o.count; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		if p.wait(ctx) != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			one(ctx, i)
		}(i)
	}
	wg.Wait()
}

func (d *driver) start(ctx context.Context, i int) (client.WorkflowRun, error) {
	run, err := d.c.ExecuteWorkflow(ctx,
		client.StartWorkflowOptions{ID: d.ids[i], TaskQueue: d.o.taskQueue}, d.o.workflow)
	if err != nil {
		if ctx.Err() == nil {
			d.fail(fmt.Sprintf("start %s: %v", d.ids[i], err))
			d.finish(time.Now())
		}
		return nil, err
	}
	d.runIDs[i] = run.GetRunID()
	d.started.Add(1)
	return run, nil
}

// runOne starts workflow i and waits for its result.
func (d *driver) runOne(ctx context.Context, i int) {
	t0 := time.Now()
	run, err := d.start(ctx, i)
	if err != nil {
		return
	}
	var result any
	err = run.Get(ctx, &result)
	t1 := time.Now()
	if err != nil && ctx.Err() != nil {
		return // unfinished at the timeout
	}
	ok := false
	switch {
	case err != nil:
		d.fail(fmt.Sprintf("%s: %v", d.ids[i], err))
	case d.o.hasExpect && !reflect.DeepEqual(result, d.o.expect):
		got, _ := json.Marshal(result)
		want, _ := json.Marshal(d.o.expect)
		d.fail(fmt.Sprintf("%s: returned %s, want %s", d.ids[i], got, want))
	default:
		ok = true
		d.completed.Add(1)
	}
	d.mu.Lock()
	d.finished = append(d.finished, i)
	if ok {
		d.e2e = append(d.e2e, float64(t1.Sub(t0))/float64(time.Millisecond))
		if d.first < 0 {
			d.first = i
		}
	}
	d.mu.Unlock()
	d.finish(t1)
}

// progress prints a line every 5 s until stop is closed.
func progress(stop <-chan struct{}, line func() string) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			say("%s", line())
		}
	}
}

// history reads workflow i's events.
func (d *driver) history(ctx context.Context, i int) ([]*historypb.HistoryEvent, error) {
	it := d.c.GetWorkflowHistory(ctx, d.ids[i], d.runIDs[i], false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}

// forEach runs fn(ctx, idx[k]) for every k on `workers` goroutines.
func forEach(ctx context.Context, idx []int, workers int, fn func(context.Context, int)) {
	ch := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, len(idx)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				fn(ctx, i)
			}
		}()
	}
	for _, i := range idx {
		if ctx.Err() != nil {
			break
		}
		ch <- i
	}
	close(ch)
	wg.Wait()
}

// wftFrom reads the histories of the workflows in idx (up to
// --history-sample of them, evenly spread) and gathers their workflow-task
// latencies.
func (d *driver) wftFrom(idx []int) *wftReport {
	pick := spread(len(idx), d.o.historySample)
	if len(pick) == 0 {
		return (&wftStats{}).report()
	}
	sample := make([]int, len(pick))
	for k, j := range pick {
		sample[k] = idx[j]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var mu sync.Mutex
	stats := &wftStats{}
	// Latency probe: every history read, one JSON line each, to
	// $TWE_BENCH_HISTORY_DUMP/<id-prefix>.jsonl.
	var dump *os.File
	if dir := os.Getenv("TWE_BENCH_HISTORY_DUMP"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			dump, _ = os.Create(filepath.Join(dir, d.o.idPrefix+"histories.jsonl"))
		}
	}
	var readErr error
	forEach(ctx, sample, 16, func(ctx context.Context, i int) {
		events, err := d.history(ctx, i)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			readErr = err
			return
		}
		stats.add(events)
		if dump != nil {
			opts := temporalproto.CustomJSONMarshalOptions{}
			if data, err := opts.Marshal(&historypb.History{Events: events}); err == nil {
				dump.Write(append(data, '\n'))
			}
		}
	})
	if dump != nil {
		dump.Close()
	}
	if readErr != nil {
		say("warning: reading histories for workflow-task latencies: %v", readErr)
	}
	return stats.report()
}

// saveHistory writes workflow i's history as `temporal workflow show
// --output json` does (Temporal's protojson: lowerCamelCase fields, enum
// names, 64-bit integers as strings).
func (d *driver) saveHistory(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events, err := d.history(ctx, i)
	if err != nil {
		return err
	}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(
		&historypb.History{Events: events})
	if err != nil {
		return err
	}
	tmp := d.o.saveHistory + ".tmp"
	if err := os.MkdirAll(filepath.Dir(d.o.saveHistory), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, d.o.saveHistory)
}

func (d *driver) report() *report {
	d.mu.Lock()
	defer d.mu.Unlock()
	msgs := append([]string{}, d.errMessages...)
	r := &report{
		Mode: d.o.mode, Workflow: d.o.workflow, Count: d.o.count,
		Started: int(d.started.Load()), Completed: int(d.completed.Load()),
		Errors: int(d.errs.Load()), ErrorMessages: msgs,
		Worker: d.win.worker, Server: d.win.server,
	}
	r.Unfinished = r.Count - r.Completed - r.Errors
	r.WallS = round3(d.win.t1.Sub(d.win.t0).Seconds())
	return r
}

// --- run -------------------------------------------------------------------

func (d *driver) run() *report {
	ctx, cancel := context.WithTimeout(context.Background(), d.o.timeout)
	defer cancel()
	d.win.open()
	stop := make(chan struct{})
	go progress(stop, func() string {
		return fmt.Sprintf("%s: started %d/%d, completed %d, errors %d, %.0f s",
			d.o.workflow, d.started.Load(), d.o.count, d.completed.Load(), d.errs.Load(),
			time.Since(d.win.t0).Seconds())
	})
	d.startAll(ctx, d.runOne)
	close(stop)
	if d.done.Load() < int64(d.o.count) {
		say("timed out after %.0f s: %d of %d workflows finished", d.o.timeout.Seconds(),
			d.done.Load(), d.o.count)
		d.win.close(time.Now())
	}
	r := d.report()
	if r.WallS > 0 {
		r.WFPerS = round3(float64(r.Completed) / r.WallS)
	}
	d.mu.Lock()
	r.E2EMS = summarize3(d.e2e)
	finished := append([]int{}, d.finished...)
	first := d.first
	d.mu.Unlock()
	slices.Sort(finished)
	r.WFT = d.wftFrom(finished)
	if d.o.saveHistory != "" {
		if first < 0 {
			say("warning: no workflow completed; no history saved")
		} else if err := d.saveHistory(first); err != nil {
			say("warning: saving the history of %s: %v", d.ids[first], err)
		}
	}
	return r
}

// --- park ------------------------------------------------------------------

// parkState is what a look at a workflow's history found.
type parkState int

const (
	notYet parkState = iota
	parked
	closed
)

func (d *driver) park() *report {
	ctx, cancel := context.WithTimeout(context.Background(), d.o.timeout)
	defer cancel()
	var parkedN atomic.Int64
	d.win.open()
	stop := make(chan struct{})
	go progress(stop, func() string {
		return fmt.Sprintf("%s: started %d/%d, parked %d, errors %d, %.0f s",
			d.o.workflow, d.started.Load(), d.o.count, parkedN.Load(), d.errs.Load(),
			time.Since(d.win.t0).Seconds())
	})
	d.startAll(ctx, func(ctx context.Context, i int) { d.start(ctx, i) })

	// Look at the started workflows' histories until each has a
	// TimerStarted event (or has closed). The worker takes them roughly in
	// start order, so a round goes through the pending ones in that order,
	// 32 at once, and ends early at a batch where none had parked: the
	// later ones are unlikely to have, and reading every pending history
	// each round would load the server being measured.
	const batch = 32
	var pending []int
	for i, run := range d.runIDs {
		if run != "" {
			pending = append(pending, i)
		}
	}
	sampled := make(map[int]bool)
	for _, i := range spread(d.o.count, d.o.historySample) {
		sampled[i] = true
	}
	var lastParked time.Time
	first := -1
	stats := &wftStats{}
	type look struct {
		state  parkState
		at     time.Time
		events []*historypb.HistoryEvent
		err    error
	}
	looks := make([]look, batch)
	for len(pending) > 0 && ctx.Err() == nil {
		var still []int
		k := 0
		for k < len(pending) && ctx.Err() == nil {
			chunk := pending[k:min(k+batch, len(pending))]
			var wg sync.WaitGroup
			for j, i := range chunk {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l := &looks[j]
					l.state, l.at, l.events, l.err = d.lookPark(ctx, i)
				}()
			}
			wg.Wait()
			progressed := false
			var lookErr error
			for j, i := range chunk {
				l := &looks[j]
				switch {
				case l.err != nil:
					if ctx.Err() == nil {
						lookErr = l.err
					}
					still = append(still, i)
				case l.state == parked:
					progressed = true
					parkedN.Add(1)
					if l.at.After(lastParked) {
						lastParked = l.at
					}
					if first < 0 || i < first {
						first = i
					}
					if sampled[i] {
						stats.add(l.events)
					}
				case l.state == closed:
					progressed = true
					d.fail(fmt.Sprintf("%s: closed without parking (last event %s)", d.ids[i],
						l.events[len(l.events)-1].GetEventType()))
				default:
					still = append(still, i)
				}
				*l = look{}
			}
			if lookErr != nil {
				say("warning: reading a history: %v", lookErr)
			}
			k += len(chunk)
			if !progressed {
				break
			}
		}
		pending = append(still, pending[k:]...)
		if len(pending) > 0 {
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
	detected := time.Now()
	d.win.close(detected)
	close(stop)
	if len(pending) > 0 || ctx.Err() != nil {
		say("timed out after %.0f s: %d started workflows not parked", d.o.timeout.Seconds(), len(pending))
	}

	r := d.report()
	nParked := int(parkedN.Load())
	r.Unfinished = r.Count - nParked - r.Errors
	// The last workflow parked when its TimerStarted event was written
	// (server clock; the server is on this machine); seeing it took a
	// little longer. Fall back to when it was seen if the clocks disagree.
	detect := detected.Sub(d.win.t0).Seconds()
	wall := lastParked.Sub(d.win.t0).Seconds()
	if lastParked.IsZero() || wall <= 0 || wall > detect {
		wall = detect
	}
	r.WallS = round3(wall)
	if wall > 0 {
		r.WFPerS = round3(float64(nParked) / wall)
	}
	r.WFT = stats.report()
	pr := &parkReport{Parked: nParked, DetectS: round3(detect)}
	if d.o.workerPID > 0 {
		pr.RSSBeforeKB = d.win.rssStart
		time.Sleep(3 * time.Second)
		kb, err := statusKB(d.o.workerPID, "VmRSS")
		warnProc(d.o.workerPID, err)
		pr.RSSParkedKB = kb
		if nParked > 0 {
			pr.RSSPerWFKB = round3(float64(kb-pr.RSSBeforeKB) / float64(nParked))
		}
	}
	r.Park = pr
	if d.o.saveHistory != "" {
		if first < 0 {
			say("warning: no workflow parked; no history saved")
		} else if err := d.saveHistory(first); err != nil {
			say("warning: saving the history of %s: %v", d.ids[first], err)
		}
	}
	return r
}

// lookPark reads workflow i's history: parked (with its TimerStarted
// event's time), closed, or not yet. The events are returned for the
// workflow-task latencies and messages.
func (d *driver) lookPark(ctx context.Context, i int) (parkState, time.Time, []*historypb.HistoryEvent, error) {
	events, err := d.history(ctx, i)
	if err != nil {
		return notYet, time.Time{}, nil, err
	}
	for _, e := range events {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			return parked, e.GetEventTime().AsTime(), events, nil
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
			return closed, time.Time{}, events, nil
		}
	}
	return notYet, time.Time{}, events, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "driver: %v\n%s\n", err, usage)
		}
		os.Exit(2)
	}
	address := os.Getenv("TEMPORAL_ADDRESS")
	if address == "" {
		address = client.DefaultHostPort
	}
	namespace := os.Getenv("TEMPORAL_NAMESPACE")
	if namespace == "" {
		namespace = client.DefaultNamespace
	}
	logger := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr,
		&slog.HandlerOptions{Level: slog.LevelWarn})))
	c, err := client.Dial(client.Options{HostPort: address, Namespace: namespace, Logger: logger})
	if err != nil {
		say("cannot connect to %s: %v", address, err)
		os.Exit(1)
	}
	defer c.Close()

	d := &driver{o: o, c: c, win: window{o: o}, first: -1,
		ids: make([]string, o.count), runIDs: make([]string, o.count)}
	for i := range d.ids {
		d.ids[i] = fmt.Sprintf("%s%d", o.idPrefix, i)
	}
	say("%s: %d %s on %s (in flight %d, rate %g/s)", o.mode, o.count, o.workflow,
		o.taskQueue, o.inFlight, o.rate)
	var r *report
	if o.mode == "run" {
		r = d.run()
	} else {
		r = d.park()
	}
	say("%s: %d completed, %d errors, %d unfinished, %.3f s, %.1f wf/s", o.workflow,
		r.Completed, r.Errors, r.Unfinished, r.WallS, r.WFPerS)
	out, err := json.Marshal(r)
	if err != nil {
		say("encoding the report: %v", err)
		os.Exit(1)
	}
	fmt.Println(strings.TrimSpace(string(out)))
}
