// Command replayer replays workflow histories with the Go SDK's
// WorkflowReplayer, for bench/run's replay comparison (bench/peers/README.md):
//
//	replayer [--reps N] FILE...
//
// Each FILE is a history as `temporal workflow show --output json` writes
// it. For each, after a few warm-up replays that are not counted, it
// decodes and replays it N times, then replays the once-decoded history N
// times, then N times decodes the history's wire bytes (a
// GetWorkflowExecutionHistoryResponse, encoded once: what the server sends)
// and replays it, measuring the process's CPU time (getrusage user+sys) of
// each loop, and prints one JSON line:
//
//	{"file":...,"workflow_type":...,"events":E,"reps":N,
//	 "decode_replay_cpu_s":x,"replay_cpu_s":x,
//	 "events_per_cpu_s":E*N/decode_replay_cpu_s,
//	 "replay_events_per_cpu_s":E*N/replay_cpu_s,
//	 "wire_bytes":B,"wire_replay_cpu_s":x,
//	 "wire_events_per_cpu_s":E*N/wire_replay_cpu_s}
//
// A history that does not decode or replay (nondeterminism) is reported on
// stderr with the file's name, and the exit status is 1.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"syscall"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/proto"

	"twebench/gopeer/workloads"
)

const warmupReps = 5

type result struct {
	File                string  `json:"file"`
	WorkflowType        string  `json:"workflow_type"`
	Events              int     `json:"events"`
	Reps                int     `json:"reps"`
	DecodeReplayCPUS    float64 `json:"decode_replay_cpu_s"`
	ReplayCPUS          float64 `json:"replay_cpu_s"`
	EventsPerCPUS       float64 `json:"events_per_cpu_s"`
	ReplayEventsPerCPUS float64 `json:"replay_events_per_cpu_s"`
	WireBytes           int     `json:"wire_bytes"`
	WireReplayCPUS      float64 `json:"wire_replay_cpu_s"`
	WireEventsPerCPUS   float64 `json:"wire_events_per_cpu_s"`
}

// cpuSeconds is the process's user+system CPU time so far, every thread.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// round rounds x to the given number of decimals.
func round(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p) / p
}

func decode(data []byte) (*historypb.History, error) {
	return client.HistoryFromJSON(bytes.NewReader(data), client.HistoryJSONOptions{})
}

func replayFile(replayer worker.WorkflowReplayer, logger sdklog.Logger, file string, reps int) (*result, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	history, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	events := len(history.GetEvents())
	if events == 0 {
		return nil, fmt.Errorf("no events")
	}
	wfType := history.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
	decodeReplay := func() error {
		h, err := decode(data)
		if err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		return replayer.ReplayWorkflowHistory(logger, h)
	}
	wire, err := proto.Marshal(&workflowservice.GetWorkflowExecutionHistoryResponse{History: history})
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	wireReplay := func() error {
		var resp workflowservice.GetWorkflowExecutionHistoryResponse
		if err := proto.Unmarshal(wire, &resp); err != nil {
			return fmt.Errorf("decode the wire bytes: %w", err)
		}
		return replayer.ReplayWorkflowHistory(logger, resp.GetHistory())
	}
	for i := 0; i < warmupReps; i++ {
		if err := decodeReplay(); err != nil {
			return nil, err
		}
		if err := wireReplay(); err != nil {
			return nil, err
		}
	}
	c0 := cpuSeconds()
	for i := 0; i < reps; i++ {
		if err := decodeReplay(); err != nil {
			return nil, err
		}
	}
	c1 := cpuSeconds()
	for i := 0; i < reps; i++ {
		if err := replayer.ReplayWorkflowHistory(logger, history); err != nil {
			return nil, err
		}
	}
	c2 := cpuSeconds()
	for i := 0; i < reps; i++ {
		if err := wireReplay(); err != nil {
			return nil, err
		}
	}
	c3 := cpuSeconds()
	r := &result{File: file, WorkflowType: wfType, Events: events, Reps: reps,
		DecodeReplayCPUS: c1 - c0, ReplayCPUS: c2 - c1, WireBytes: len(wire), WireReplayCPUS: c3 - c2}
	work := float64(events) * float64(reps)
	// getrusage ticks in microseconds at best; a loop too short to register
	// gets the resolution as its time rather than a division by zero.
	const floor = 1e-6
	r.EventsPerCPUS = round(work/max(r.DecodeReplayCPUS, floor), 1)
	r.ReplayEventsPerCPUS = round(work/max(r.ReplayCPUS, floor), 1)
	r.WireEventsPerCPUS = round(work/max(r.WireReplayCPUS, floor), 1)
	r.WireReplayCPUS = round(r.WireReplayCPUS, 6)
	r.DecodeReplayCPUS = round(r.DecodeReplayCPUS, 6)
	r.ReplayCPUS = round(r.ReplayCPUS, 6)
	return r, nil
}

func main() {
	reps := flag.Int("reps", 100, "counted replays per file and loop")
	flag.Parse()
	if flag.NArg() == 0 || *reps < 1 {
		fmt.Fprintln(os.Stderr, "usage: replayer [--reps N] FILE...")
		os.Exit(2)
	}
	replayer := worker.NewWorkflowReplayer()
	workloads.RegisterWorkflows(replayer)
	// The SDK logs a failed replay (with a stack) at error level; the
	// message below names the file and the error instead.
	logger := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	out := json.NewEncoder(os.Stdout)
	for _, file := range flag.Args() {
		r, err := replayFile(replayer, logger, file, *reps)
		if err != nil {
			fmt.Fprintf(os.Stderr, "replayer: %s: %v\n", file, err)
			os.Exit(1)
		}
		if err := out.Encode(r); err != nil {
			os.Exit(1)
		}
	}
}
