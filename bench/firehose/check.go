// check.go — `firehose -check FILE`: compares the history of a run on a
// real server (FILE, `temporal workflow show --output json`) with the
// recording the firehose serves, with the firehose's own comparison
// (compare.go): every command, read back from the event the server wrote
// for it, and every activity's result; and, with -check-events (the
// default), the sequence of event types, which for workflows whose tasks
// do not race with their activities (OneActivity, TenSequential) does not
// depend on timing. tests/integration/test_firehose_input.sh runs it on
// histories twe makes on the dev server: the firehose's input is what a
// real server does with these workflows.
package main

import (
	"fmt"
	"os"

	commandpb "go.temporal.io/api/command/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

func readHistory(path string) (*historypb.History, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h historypb.History
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &h, nil
}

// commandOf is the command that left event e (the inverse of carryOut).
func commandOf(e *historypb.HistoryEvent) *commandpb.Command {
	c := &commandpb.Command{CommandType: commandFor(e.GetEventType())}
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		a := e.GetActivityTaskScheduledEventAttributes()
		c.Attributes = &commandpb.Command_ScheduleActivityTaskCommandAttributes{ScheduleActivityTaskCommandAttributes: &commandpb.ScheduleActivityTaskCommandAttributes{
			ActivityId: a.GetActivityId(), ActivityType: a.GetActivityType(), TaskQueue: a.GetTaskQueue(),
			Header: a.GetHeader(), Input: a.GetInput(), ScheduleToCloseTimeout: a.GetScheduleToCloseTimeout(),
			ScheduleToStartTimeout: a.GetScheduleToStartTimeout(), StartToCloseTimeout: a.GetStartToCloseTimeout(),
			HeartbeatTimeout: a.GetHeartbeatTimeout(), RetryPolicy: a.GetRetryPolicy(),
		}}
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		a := e.GetTimerStartedEventAttributes()
		c.Attributes = &commandpb.Command_StartTimerCommandAttributes{StartTimerCommandAttributes: &commandpb.StartTimerCommandAttributes{
			TimerId: a.GetTimerId(), StartToFireTimeout: a.GetStartToFireTimeout(),
		}}
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		c.Attributes = &commandpb.Command_CompleteWorkflowExecutionCommandAttributes{CompleteWorkflowExecutionCommandAttributes: &commandpb.CompleteWorkflowExecutionCommandAttributes{
			Result: e.GetWorkflowExecutionCompletedEventAttributes().GetResult(),
		}}
	}
	return c
}

// checkHistory lists how the history at path differs from tpl.
func checkHistory(tpl *template, path string, events bool) ([]string, error) {
	h, err := readHistory(path)
	if err != nil {
		return nil, err
	}
	ev := h.GetEvents()
	if len(ev) == 0 || ev[0].GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED {
		return nil, fmt.Errorf("%s: not a whole history", path)
	}
	start := ev[0].GetWorkflowExecutionStartedEventAttributes()
	var diffs []string
	if got := start.GetWorkflowType().GetName(); got != tpl.name {
		diffs = append(diffs, fmt.Sprintf("workflow type %q, recorded %q", got, tpl.name))
	}
	queue := start.GetTaskQueue().GetName()
	if events {
		rec, _ := readHistory(tpl.path)
		re := rec.GetEvents()
		for i := 0; i < len(ev) || i < len(re); i++ {
			var g, r enumspb.EventType
			if i < len(ev) {
				g = ev[i].GetEventType()
			}
			if i < len(re) {
				r = re[i].GetEventType()
			}
			if g != r {
				diffs = append(diffs, fmt.Sprintf("event %d: %s, recorded %s", i+1, g, r))
				break
			}
		}
	}
	n := 0
	scheduled := map[int64]int{}
	for _, e := range ev {
		if e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED {
			a := e.GetActivityTaskCompletedEventAttributes()
			k, ok := scheduled[a.GetScheduledEventId()]
			if ok && k < len(tpl.results) {
				if same, why := sameValues(a.GetResult(), tpl.results[k].completed.GetResult()); !same {
					diffs = append(diffs, fmt.Sprintf("activity %d result %s", k+1, why))
				}
			}
			continue
		}
		if commandFor(e.GetEventType()) == enumspb.COMMAND_TYPE_UNSPECIFIED {
			continue
		}
		if n >= len(tpl.commands) {
			diffs = append(diffs, fmt.Sprintf("event %d: command %s beyond the %d recorded", e.GetEventId(),
				commandFor(e.GetEventType()), len(tpl.commands)))
			break
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED {
			scheduled[e.GetEventId()] = len(scheduled)
		}
		if why := compareCommand(tpl.commands[n], commandOf(e), queue, tpl.taskQueue); why != "" {
			diffs = append(diffs, fmt.Sprintf("event %d: command %d: %s", e.GetEventId(), n+1, why))
		}
		n++
	}
	if n < len(tpl.commands) {
		diffs = append(diffs, fmt.Sprintf("%d commands, recorded %d", n, len(tpl.commands)))
	}
	return diffs, nil
}
