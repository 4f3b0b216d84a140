// firehose_test.go — the firehose's server behaviour, driven without gRPC
// on the recorded histories of bench/results/histories: sticky tasks carry
// only new events, the normal queue the whole history, a sticky task that
// waits too long or whose worker shut down goes to the normal queue, events
// that arrive while a task runs come back in the completion's response, and
// a completion that differs from the recording is counted and its run
// dropped. `go test` in bench/firehose.
package main

import (
	"testing"
	"time"

	commandpb "go.temporal.io/api/command/v1"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

const histories = "../results/histories"

func newTest(t *testing.T, workload string) *firehose {
	t.Helper()
	tpl, err := loadTemplate(histories, workload)
	if err != nil {
		t.Fatal(err)
	}
	f := newFirehose("default", "q", tpl, 1, newStats())
	f.generating = true
	f.fill()
	return f
}

func noop() *commandpb.Command {
	return &commandpb.Command{
		CommandType: enumspb.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
		Attributes: &commandpb.Command_ScheduleActivityTaskCommandAttributes{ScheduleActivityTaskCommandAttributes: &commandpb.ScheduleActivityTaskCommandAttributes{
			ActivityId: "1", ActivityType: &commonpb.ActivityType{Name: "Noop"},
			TaskQueue:           &taskqueuepb.TaskQueue{Name: "q"},
			StartToCloseTimeout: durationpb.New(10 * time.Second),
		}},
	}
}

func completeWith(result string) *commandpb.Command {
	return &commandpb.Command{
		CommandType: enumspb.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
		Attributes: &commandpb.Command_CompleteWorkflowExecutionCommandAttributes{CompleteWorkflowExecutionCommandAttributes: &commandpb.CompleteWorkflowExecutionCommandAttributes{
			Result: &commonpb.Payloads{Payloads: []*commonpb.Payload{{
				Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(result),
			}}},
		}},
	}
}

func respond(t *testing.T, f *firehose, task *workflowservice.PollWorkflowTaskQueueResponse, sticky string,
	cmds ...*commandpb.Command) *workflowservice.RespondWorkflowTaskCompletedResponse {
	t.Helper()
	req := &workflowservice.RespondWorkflowTaskCompletedRequest{TaskToken: task.TaskToken, Commands: cmds,
		Identity: "test", ReturnNewWorkflowTask: true}
	if sticky != "" {
		req.StickyAttributes = &taskqueuepb.StickyExecutionAttributes{
			WorkerTaskQueue:        &taskqueuepb.TaskQueue{Name: sticky, Kind: enumspb.TASK_QUEUE_KIND_STICKY},
			ScheduleToStartTimeout: durationpb.New(5 * time.Second),
		}
	}
	resp, ok := f.completeWFT(req)
	if !ok {
		t.Fatal("completion: task not found")
	}
	return resp
}

// first is the events' first id and last type.
func first(h *historypb.History) int64 { return h.GetEvents()[0].GetEventId() }
func lastType(h *historypb.History) enumspb.EventType {
	return h.GetEvents()[len(h.GetEvents())-1].GetEventType()
}

func noErrors(t *testing.T, f *firehose) {
	t.Helper()
	if n := f.st.errors(); n != 0 {
		t.Fatalf("%d errors: %v", n, f.st.samples)
	}
}

// OneActivity up to its second workflow task, sticky on queue "s".
func toSecondTask(t *testing.T, f *firehose) {
	t.Helper()
	task := f.takeWFT(f.normal, "w")
	if task == nil || first(task.History) != 1 || task.PreviousStartedEventId != 0 || task.StartedEventId != 3 {
		t.Fatalf("first task: %v", task)
	}
	respond(t, f, task, "s", noop())
	act := f.takeActivity("w")
	if act == nil || act.ActivityType.GetName() != "Noop" {
		t.Fatalf("activity task: %v", act)
	}
	if !f.completeActivity(act.TaskToken, nil, "w") {
		t.Fatal("activity completion: not found")
	}
}

func TestStickyTaskCarriesOnlyNewEvents(t *testing.T) {
	f := newTest(t, "OneActivity")
	toSecondTask(t, f)
	if f.takeWFT(f.normal, "w") != nil {
		t.Fatal("the second task is on the normal queue, not the sticky one")
	}
	task := f.takeWFT(f.sticky["s"], "w")
	if task == nil {
		t.Fatal("no task on the sticky queue")
	}
	// 4 WFT completed, 5 scheduled, 6-7 activity, 8-9 the new task.
	if task.PreviousStartedEventId != 3 || first(task.History) != 4 || task.StartedEventId != 9 ||
		lastType(task.History) != enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED {
		t.Fatalf("sticky task: previous %d, first %d, started %d", task.PreviousStartedEventId,
			first(task.History), task.StartedEventId)
	}
	respond(t, f, task, "s", completeWith("1"))
	noErrors(t, f)
	if f.st.runsCompleted != 1 || f.st.runsStarted != 2 {
		t.Fatalf("completed %d started %d", f.st.runsCompleted, f.st.runsStarted)
	}
}

func TestStickyTimeoutMovesTaskToNormalQueue(t *testing.T) {
	f := newTest(t, "OneActivity")
	toSecondTask(t, f)
	f.sweep(time.Now().Add(6 * time.Second))
	if f.st.stickyTimeouts != 1 || f.takeWFT(f.sticky["s"], "w") != nil {
		t.Fatal("the sticky task did not time out")
	}
	task := f.takeWFT(f.normal, "w")
	if task == nil || first(task.History) != 1 {
		t.Fatalf("normal-queue task after the time-out: %v", task)
	}
	n := len(task.History.Events)
	if task.History.Events[n-3].GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT {
		t.Fatalf("no WORKFLOW_TASK_TIMED_OUT before the new task: %v", task.History.Events[n-3].GetEventType())
	}
	respond(t, f, task, "", completeWith("1"))
	noErrors(t, f)
}

func TestShutdownWorkerSendsNextTaskToNormalQueue(t *testing.T) {
	f := newTest(t, "OneActivity")
	task := f.takeWFT(f.normal, "w")
	respond(t, f, task, "s", noop())
	f.shutdownWorker("s")
	act := f.takeActivity("w")
	f.completeActivity(act.TaskToken, nil, "w")
	if f.takeWFT(f.sticky["s"], "w") != nil {
		t.Fatal("a task on the sticky queue of a worker that shut down")
	}
	if task = f.takeWFT(f.normal, "w"); task == nil || first(task.History) != 1 {
		t.Fatalf("normal-queue task: %v", task)
	}
	noErrors(t, f)
}

func TestEventsDuringTaskComeBackInResponse(t *testing.T) {
	f := newTest(t, "FanOut100")
	task := f.takeWFT(f.normal, "w")
	cmds := make([]*commandpb.Command, 100)
	for i := range cmds {
		cmds[i] = noop()
	}
	respond(t, f, task, "s", cmds...)
	a1, a2 := f.takeActivity("w"), f.takeActivity("w")
	f.completeActivity(a1.TaskToken, nil, "w")
	task = f.takeWFT(f.sticky["s"], "w")
	f.completeActivity(a2.TaskToken, nil, "w") // while the task runs
	resp := respond(t, f, task, "s")
	nt := resp.GetWorkflowTask()
	if nt == nil {
		t.Fatal("no task in the response")
	}
	// The new task: previous started = the task just completed; its events
	// are that completion, a2's started + completed, scheduled, started.
	if nt.PreviousStartedEventId != task.StartedEventId || first(nt.History) != task.StartedEventId+1 ||
		len(nt.History.Events) != 5 || nt.History.Events[1].GetEventType() != enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED {
		t.Fatalf("returned task: previous %d first %d events %d", nt.PreviousStartedEventId, first(nt.History),
			len(nt.History.Events))
	}
	c := nt.History.Events[2].GetActivityTaskCompletedEventAttributes()
	if c.GetStartedEventId() != nt.History.Events[1].GetEventId() {
		t.Fatalf("completed names started %d", c.GetStartedEventId())
	}
	noErrors(t, f)
}

func TestMismatchesAreCounted(t *testing.T) {
	f := newTest(t, "OneActivity")
	task := f.takeWFT(f.normal, "w")
	bad := noop()
	bad.GetScheduleActivityTaskCommandAttributes().ActivityType.Name = "Other"
	respond(t, f, task, "s", bad)
	if f.st.mismatches != 1 || f.st.runsDropped != 1 || f.st.runsStarted != 2 {
		t.Fatalf("mismatches %d dropped %d started %d", f.st.mismatches, f.st.runsDropped, f.st.runsStarted)
	}
	// The dropped run's token is stale now.
	if _, ok := f.completeWFT(&workflowservice.RespondWorkflowTaskCompletedRequest{TaskToken: task.TaskToken}); ok {
		t.Fatal("a dropped run's task completed")
	}

	// A wrong activity result, then a wrong workflow result.
	task = f.takeWFT(f.normal, "w")
	respond(t, f, task, "s", noop())
	act := f.takeActivity("w")
	f.completeActivity(act.TaskToken, &commonpb.Payloads{Payloads: []*commonpb.Payload{{
		Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte("2"),
	}}}, "w")
	if f.st.mismatches != 2 {
		t.Fatalf("activity result: mismatches %d", f.st.mismatches)
	}
	toSecondTask(t, f)
	task = f.takeWFT(f.sticky["s"], "w")
	respond(t, f, task, "s", completeWith("2"))
	if f.st.mismatches != 3 || f.st.runsCompleted != 0 {
		t.Fatalf("workflow result: mismatches %d completed %d", f.st.mismatches, f.st.runsCompleted)
	}
}

func TestValuesCompareAsJSON(t *testing.T) {
	p := func(enc, data string) *commonpb.Payloads {
		return &commonpb.Payloads{Payloads: []*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte(enc)}, Data: []byte(data)}}}
	}
	same := [][2]*commonpb.Payloads{
		{nil, p("binary/null", "")},
		{p("json/plain", `{"a": 1, "b":[2]}`), p("json/plain", `{"b":[2],"a":1}`)},
	}
	for _, c := range same {
		if ok, why := sameValues(c[0], c[1]); !ok {
			t.Errorf("differ: %s", why)
		}
	}
	if ok, _ := sameValues(p("json/plain", "1"), p("json/plain", `"1"`)); ok {
		t.Error("1 and \"1\" compare equal")
	}
}
