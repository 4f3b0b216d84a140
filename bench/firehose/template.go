// template.go — a recorded history read as the script of a workload: what
// the workflow started with, the commands its workers sent (in order, across
// all of its workflow tasks) and the results its activities returned. The
// firehose serves runs of this workload and checks what a worker does
// against it (compare.go).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// recordedCommand is one command of the recording: its type and the event
// the server wrote for it (ACTIVITY_TASK_SCHEDULED, TIMER_STARTED,
// WORKFLOW_EXECUTION_COMPLETED).
type recordedCommand struct {
	typ   enumspb.CommandType
	event *historypb.HistoryEvent
	wft   int // the recorded workflow task (1-based) that sent it
}

// template is one workload's recording.
type template struct {
	name      string // the workflow type
	path      string
	taskQueue string // the task queue of the recording
	start     *historypb.WorkflowExecutionStartedEventAttributes
	commands  []recordedCommand
	// results[k]: the result the k-th scheduled activity completed with
	// (scheduling order, as the worker sends the commands).
	results []*activityOutcome
	events  int // events in the recording
	wfts    int // workflow tasks completed in the recording
}

// activityOutcome is how a recorded activity ended.
type activityOutcome struct {
	completed *historypb.ActivityTaskCompletedEventAttributes
}

// commandFor maps the event a command leaves in history to the command's
// type; 0 for events that are not commands'.
func commandFor(t enumspb.EventType) enumspb.CommandType {
	switch t {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		return enumspb.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		return enumspb.COMMAND_TYPE_START_TIMER
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		return enumspb.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		return enumspb.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
		return enumspb.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK
	case enumspb.EVENT_TYPE_TIMER_CANCELED:
		return enumspb.COMMAND_TYPE_CANCEL_TIMER
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		return enumspb.COMMAND_TYPE_RECORD_MARKER
	}
	return enumspb.COMMAND_TYPE_UNSPECIFIED
}

// loadTemplate reads DIR/NAME.json (the JSON `temporal workflow show
// --output json` writes: {"events": [...]}) and checks that the firehose
// can serve it: a started event first, contiguous event ids, and only the
// commands it knows how to carry out (activities, timers, completion).
func loadTemplate(dir, name string) (*template, error) {
	path := filepath.Join(dir, name+".json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h historypb.History
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ev := h.GetEvents()
	if len(ev) < 3 || ev[0].GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED {
		return nil, fmt.Errorf("%s: not a whole history (no WORKFLOW_EXECUTION_STARTED first)", path)
	}
	t := &template{name: name, path: path, events: len(ev)}
	t.start = ev[0].GetWorkflowExecutionStartedEventAttributes()
	if got := t.start.GetWorkflowType().GetName(); got != name {
		return nil, fmt.Errorf("%s: workflow type %q, not %q", path, got, name)
	}
	t.taskQueue = t.start.GetTaskQueue().GetName()
	scheduled := map[int64]int{} // scheduled event id -> k
	closed := false
	for i, e := range ev {
		if e.GetEventId() != int64(i+1) {
			return nil, fmt.Errorf("%s: event %d has id %d", path, i+1, e.GetEventId())
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			t.wfts++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled[e.GetEventId()] = len(t.results)
			t.results = append(t.results, nil)
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			a := e.GetActivityTaskCompletedEventAttributes()
			k, ok := scheduled[a.GetScheduledEventId()]
			if !ok {
				return nil, fmt.Errorf("%s: event %d completes an activity never scheduled", path, e.GetEventId())
			}
			t.results[k] = &activityOutcome{completed: a}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
			enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED, enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED,
			enumspb.EVENT_TYPE_TIMER_FIRED:
		default:
			if commandFor(e.GetEventType()) == enumspb.COMMAND_TYPE_UNSPECIFIED {
				return nil, fmt.Errorf("%s: event %d (%s) is not one the firehose serves", path,
					e.GetEventId(), e.GetEventType())
			}
		}
		if c := commandFor(e.GetEventType()); c != enumspb.COMMAND_TYPE_UNSPECIFIED {
			switch c {
			case enumspb.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK, enumspb.COMMAND_TYPE_START_TIMER,
				enumspb.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION:
			default:
				return nil, fmt.Errorf("%s: event %d (%s): command %s is not one the firehose carries out",
					path, e.GetEventId(), e.GetEventType(), c)
			}
			t.commands = append(t.commands, recordedCommand{typ: c, event: e, wft: t.wfts})
			if c == enumspb.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION {
				closed = true
			}
		}
	}
	if !closed {
		return nil, fmt.Errorf("%s: the recorded workflow never completed", path)
	}
	for k, r := range t.results {
		if r == nil {
			return nil, fmt.Errorf("%s: activity %d of the recording never completed", path, k+1)
		}
	}
	return t, nil
}
