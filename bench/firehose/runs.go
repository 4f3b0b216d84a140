// runs.go — the synthetic workflow runs and their task queues: the part of
// a Temporal server a worker sees, kept in memory under one mutex.
//
// A run's history is built from what the worker sends, never from the
// recording: its first workflow task carries the recorded start (new ids,
// the firehose's task queue); each completion's commands become the events
// the server would write (ACTIVITY_TASK_SCHEDULED, TIMER_STARTED,
// WORKFLOW_EXECUTION_COMPLETED); each scheduled activity becomes an
// activity task, whose completion (ACTIVITY_TASK_STARTED + _COMPLETED, with
// the worker's result) schedules the next workflow task; a timer fires after
// its duration. The recording is only what the completions are checked
// against (compare.go). A run that breaks (a mismatch, a failed or timed-out
// task) is dropped and counted; its tokens then get NOT_FOUND.
//
// Sticky execution as server 1.29 does it: after a completion that names a
// sticky queue, the run's next workflow task waits on that queue and, taken
// from it, carries only the events after the previous started event; taken
// from the normal queue it carries the whole history. A task not taken from
// the sticky queue within the completion's schedule-to-start timeout times
// out (WORKFLOW_TASK_TIMED_OUT, SCHEDULE_TO_START) and is scheduled again on
// the normal queue; after ShutdownWorker names a sticky queue, the runs on
// it get their next tasks on the normal queue. Events that arrive while a
// workflow task runs are buffered and written after its completion, which
// then schedules the next task and, if the worker asked for it
// (return_new_workflow_task), starts it and returns it in the response with
// only the new events.
package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	commandpb "go.temporal.io/api/command/v1"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	wftNone = iota
	wftQueued
	wftStarted
)

// run is one synthetic workflow execution.
type run struct {
	seq           uint64
	wfID, runID   string
	events        []*historypb.HistoryEvent
	buffered      []*historypb.HistoryEvent // arrived while a workflow task ran
	startedOf     map[int64]int64           // activity scheduled id -> its started id
	next          int                       // next recorded command to match
	scheduledActs int                       // activities scheduled so far
	acts          map[int64]*activity       // by scheduled event id
	timers        map[string]int64          // timer id -> TIMER_STARTED id
	done          bool                      // completed or dropped

	// The workflow task: none, queued (on wftQ, entry wftGen) or started.
	wft          int
	wftQ         *wfQueue
	wftGen       uint64
	wftScheduled int64
	wftStartedID int64
	wftSince     time.Time // queued at, or handed out at
	wftTimeout   time.Duration
	lastStarted  int64 // started event id of the last completed workflow task

	sticky        string // the worker's sticky queue, "" for none
	stickyTimeout time.Duration
}

// activity is one scheduled activity of a run.
type activity struct {
	k         int // scheduling order (recorded result index)
	scheduled *historypb.HistoryEvent
	started   bool
	since     time.Time
	identity  string
	timeout   time.Duration
}

type wfEntry struct {
	r   *run
	gen uint64
}

// wfWaiter is a parked PollWorkflowTaskQueue.
type wfWaiter struct {
	ch       chan *workflowservice.PollWorkflowTaskQueueResponse
	identity string
}

// wfQueue is a workflow task queue (the normal one, or one sticky queue).
type wfQueue struct {
	name    string
	sticky  bool
	dead    bool // ShutdownWorker named it
	tasks   []wfEntry
	waiters []*wfWaiter
}

type actEntry struct {
	r  *run
	id int64
}

type actWaiter struct {
	ch       chan *workflowservice.PollActivityTaskQueueResponse
	identity string
}

// firehose is the whole server state.
type firehose struct {
	mu         sync.Mutex
	namespace  string
	queue      string
	tpl        *template
	open       int
	generating bool
	runs       map[uint64]*run
	nextSeq    uint64
	taskID     int64
	normal     *wfQueue
	sticky     map[string]*wfQueue
	acts       []actEntry
	actWaiters []*actWaiter
	st         *stats
	gen        uint64
	// backlogHints: tell polls how many tasks are left on the queue, as
	// the server does (the SDKs add sticky polls while it is above 0).
	backlogHints bool
}

func newFirehose(namespace, queue string, tpl *template, open int, st *stats) *firehose {
	return &firehose{
		namespace: namespace, queue: queue, tpl: tpl, open: open, st: st,
		runs:   map[uint64]*run{},
		normal: &wfQueue{name: queue},
		sticky: map[string]*wfQueue{},
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// --- task tokens ---------------------------------------------------------

// A token is kind ('W' or 'A'), the run's sequence number and the task's
// scheduled event id.
func token(kind byte, r *run, id int64) []byte {
	t := make([]byte, 17)
	t[0] = kind
	binary.BigEndian.PutUint64(t[1:], r.seq)
	binary.BigEndian.PutUint64(t[9:], uint64(id))
	return t
}

func parseToken(t []byte) (kind byte, seq uint64, id int64, ok bool) {
	if len(t) != 17 {
		return 0, 0, 0, false
	}
	return t[0], binary.BigEndian.Uint64(t[1:]), int64(binary.BigEndian.Uint64(t[9:])), true
}

// --- history -------------------------------------------------------------

func (f *firehose) tq(q *wfQueue) *taskqueuepb.TaskQueue {
	if q.sticky {
		return &taskqueuepb.TaskQueue{Name: q.name, Kind: enumspb.TASK_QUEUE_KIND_STICKY, NormalName: f.queue}
	}
	return &taskqueuepb.TaskQueue{Name: f.queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL}
}

func (f *firehose) event(t enumspb.EventType) *historypb.HistoryEvent {
	f.taskID++
	return &historypb.HistoryEvent{EventType: t, EventTime: timestamppb.Now(), TaskId: f.taskID}
}

// appendEvent gives e the run's next id and writes it.
func (r *run) appendEvent(e *historypb.HistoryEvent) int64 {
	e.EventId = int64(len(r.events) + 1)
	switch a := e.Attributes.(type) {
	case *historypb.HistoryEvent_ActivityTaskStartedEventAttributes:
		r.startedOf[a.ActivityTaskStartedEventAttributes.ScheduledEventId] = e.EventId
	case *historypb.HistoryEvent_ActivityTaskCompletedEventAttributes:
		c := a.ActivityTaskCompletedEventAttributes
		c.StartedEventId = r.startedOf[c.ScheduledEventId]
		delete(r.startedOf, c.ScheduledEventId)
	}
	r.events = append(r.events, e)
	return e.EventId
}

// addEvents writes events that did not come from a workflow task (an
// activity's end, a timer): buffered while a task runs, else written, and
// a workflow task is scheduled if none is.
func (f *firehose) addEvents(r *run, evs ...*historypb.HistoryEvent) {
	if r.wft == wftStarted {
		r.buffered = append(r.buffered, evs...)
		return
	}
	for _, e := range evs {
		r.appendEvent(e)
	}
	if r.wft == wftNone {
		f.scheduleWFT(r, nil)
	}
}

// --- runs ----------------------------------------------------------------

// fill starts runs while generating until open are open.
func (f *firehose) fill() {
	for f.generating && len(f.runs) < f.open {
		f.startRun()
	}
}

func (f *firehose) startRun() {
	f.nextSeq++
	r := &run{
		seq:       f.nextSeq,
		wfID:      fmt.Sprintf("firehose-%s-%d", f.tpl.name, f.nextSeq),
		runID:     newUUID(),
		startedOf: map[int64]int64{},
		acts:      map[int64]*activity{},
		timers:    map[string]int64{},
	}
	r.wftTimeout = dur(f.tpl.start.GetWorkflowTaskTimeout())
	if r.wftTimeout <= 0 {
		r.wftTimeout = 10 * time.Second
	}
	a := proto.Clone(f.tpl.start).(*historypb.WorkflowExecutionStartedEventAttributes)
	a.TaskQueue = f.tq(f.normal)
	a.OriginalExecutionRunId, a.FirstExecutionRunId = r.runID, r.runID
	a.WorkflowId = r.wfID
	a.Identity = "firehose"
	e := f.event(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
	e.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: a}
	r.appendEvent(e)
	f.runs[r.seq] = r
	f.st.runsStarted++
	f.scheduleWFT(r, nil)
}

// drop ends a run that broke; its tasks are forgotten, its tokens go stale.
func (f *firehose) drop(r *run) {
	if r.done {
		return
	}
	r.done = true
	delete(f.runs, r.seq)
	f.st.runsDropped++
	f.fill()
}

// finish ends a run that completed.
func (f *firehose) finish(r *run) {
	r.done = true
	delete(f.runs, r.seq)
	f.st.runsCompleted++
	f.fill()
}

// --- workflow tasks ------------------------------------------------------

// scheduleWFT writes WORKFLOW_TASK_SCHEDULED on the run's sticky queue (if
// it has a live one) or the normal queue and queues the task; with
// startFor set, it starts the task at once for that identity instead (a
// task returned in a completion's response) and returns it.
func (f *firehose) scheduleWFT(r *run, startFor *string) *workflowservice.PollWorkflowTaskQueueResponse {
	q := f.normal
	if r.sticky != "" {
		if sq := f.sticky[r.sticky]; sq != nil && !sq.dead {
			q = sq
		} else {
			r.sticky = ""
		}
	}
	e := f.event(enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)
	e.Attributes = &historypb.HistoryEvent_WorkflowTaskScheduledEventAttributes{
		WorkflowTaskScheduledEventAttributes: &historypb.WorkflowTaskScheduledEventAttributes{
			TaskQueue: f.tq(q), StartToCloseTimeout: durationpb.New(r.wftTimeout), Attempt: 1,
		}}
	r.wftScheduled = r.appendEvent(e)
	r.wft = wftQueued
	r.wftSince = time.Now()
	if startFor != nil {
		// The server's "sticky is always enabled" for a task returned this way.
		return f.startWFT(r, true, *startFor)
	}
	f.offerWFT(q, r)
	return nil
}

// offerWFT hands the queued task of r to a parked poll of q, or queues it.
func (f *firehose) offerWFT(q *wfQueue, r *run) {
	f.gen++
	r.wftQ, r.wftGen = q, f.gen
	if n := len(q.waiters); n > 0 {
		w := q.waiters[0]
		q.waiters = q.waiters[1:]
		w.ch <- f.startWFT(r, q.sticky, w.identity)
		return
	}
	q.tasks = append(q.tasks, wfEntry{r, f.gen})
}

// takeWFT pops the next live task of q, started for identity; nil if none.
func (f *firehose) takeWFT(q *wfQueue, identity string) *workflowservice.PollWorkflowTaskQueueResponse {
	for len(q.tasks) > 0 {
		e := q.tasks[0]
		q.tasks[0] = wfEntry{}
		q.tasks = q.tasks[1:]
		if !e.r.done && e.r.wft == wftQueued && e.r.wftQ == q && e.r.wftGen == e.gen {
			t := f.startWFT(e.r, q.sticky, identity)
			// As the server, the tasks left (stale entries too: a hint).
			if f.backlogHints {
				t.BacklogCountHint = int64(len(q.tasks))
			}
			return t
		}
	}
	return nil
}

// startWFT writes WORKFLOW_TASK_STARTED and builds the task: the events
// after the previous started one when it came from a sticky queue, else the
// whole history.
func (f *firehose) startWFT(r *run, fromSticky bool, identity string) *workflowservice.PollWorkflowTaskQueueResponse {
	e := f.event(enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED)
	e.Attributes = &historypb.HistoryEvent_WorkflowTaskStartedEventAttributes{
		WorkflowTaskStartedEventAttributes: &historypb.WorkflowTaskStartedEventAttributes{
			ScheduledEventId: r.wftScheduled, Identity: identity, RequestId: newUUID(),
		}}
	scheduledAt := r.events[r.wftScheduled-1].EventTime
	r.wftStartedID = r.appendEvent(e)
	r.wft = wftStarted
	r.wftQ = nil
	r.wftSince = time.Now()
	first := 0
	if fromSticky && r.lastStarted > 0 {
		first = int(r.lastStarted)
		f.st.wftSticky++
	} else if r.lastStarted > 0 {
		f.st.wftFullHistory++
	}
	n := len(r.events)
	return &workflowservice.PollWorkflowTaskQueueResponse{
		TaskToken:                  token('W', r, r.wftScheduled),
		WorkflowExecution:          &commonpb.WorkflowExecution{WorkflowId: r.wfID, RunId: r.runID},
		WorkflowType:               f.tpl.start.GetWorkflowType(),
		PreviousStartedEventId:     r.lastStarted,
		StartedEventId:             r.wftStartedID,
		Attempt:                    1,
		History:                    &historypb.History{Events: r.events[first:n:n]},
		WorkflowExecutionTaskQueue: f.tq(f.normal),
		ScheduledTime:              scheduledAt,
		StartedTime:                e.EventTime,
	}
}

// unstartWFT puts back a task whose poll went away before it was sent.
func (f *firehose) unstartWFT(resp *workflowservice.PollWorkflowTaskQueueResponse, q *wfQueue) {
	_, seq, id, _ := parseToken(resp.TaskToken)
	r := f.runs[seq]
	if r == nil || r.wft != wftStarted || r.wftScheduled != id || len(r.events) != int(r.wftStartedID) {
		return
	}
	// A copy: the started event's slot may be in a history already handed
	// out (GetWorkflowExecutionHistory), which the next append must not
	// overwrite.
	r.events = append([]*historypb.HistoryEvent(nil), r.events[:len(r.events)-1]...)
	r.wft = wftQueued
	f.gen++
	r.wftQ, r.wftGen = q, f.gen
	q.tasks = append([]wfEntry{{r, f.gen}}, q.tasks...)
	f.st.pollsLost++
}

// lookupWFT finds the started workflow task a token names.
func (f *firehose) lookupWFT(tok []byte) *run {
	kind, seq, id, ok := parseToken(tok)
	if !ok || kind != 'W' {
		return nil
	}
	r := f.runs[seq]
	if r == nil || r.wft != wftStarted || r.wftScheduled != id {
		return nil
	}
	return r
}

func (f *firehose) mismatch(r *run, why string) {
	f.st.mismatches++
	f.st.sample(fmt.Sprintf("mismatch in %s: %s", r.wfID, why))
	f.drop(r)
}

// completeWFT carries out RespondWorkflowTaskCompleted; nil run: NOT_FOUND.
func (f *firehose) completeWFT(req *workflowservice.RespondWorkflowTaskCompletedRequest) (
	*workflowservice.RespondWorkflowTaskCompletedResponse, bool) {
	r := f.lookupWFT(req.GetTaskToken())
	if r == nil {
		f.st.notFound++
		return nil, false
	}
	f.st.wftDone(time.Since(r.wftSince))
	e := f.event(enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
	e.Attributes = &historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes{
		WorkflowTaskCompletedEventAttributes: &historypb.WorkflowTaskCompletedEventAttributes{
			ScheduledEventId: r.wftScheduled, StartedEventId: r.wftStartedID,
			Identity: req.GetIdentity(), SdkMetadata: req.GetSdkMetadata(),
			MeteringMetadata: req.GetMeteringMetadata(), WorkerVersion: req.GetWorkerVersionStamp(),
		}}
	completed := r.appendEvent(e)
	r.lastStarted = r.wftStartedID
	r.wft = wftNone
	resp := &workflowservice.RespondWorkflowTaskCompletedResponse{}
	closed := false
	for _, c := range req.GetCommands() {
		if closed {
			f.mismatch(r, fmt.Sprintf("command %s after the workflow completed", c.GetCommandType()))
			return resp, true
		}
		if r.next >= len(f.tpl.commands) {
			f.mismatch(r, fmt.Sprintf("command %s beyond the %d recorded", c.GetCommandType(), len(f.tpl.commands)))
			return resp, true
		}
		if why := compareCommand(f.tpl.commands[r.next], c, f.queue, f.tpl.taskQueue); why != "" {
			f.mismatch(r, fmt.Sprintf("command %d: %s", r.next+1, why))
			return resp, true
		}
		r.next++
		closed = f.carryOut(r, c, completed)
	}
	if a := req.GetStickyAttributes(); a.GetWorkerTaskQueue().GetName() != "" {
		r.sticky = a.GetWorkerTaskQueue().GetName()
		r.stickyTimeout = dur(a.GetScheduleToStartTimeout())
		if r.stickyTimeout <= 0 {
			r.stickyTimeout = 5 * time.Second
		}
		if f.sticky[r.sticky] == nil {
			f.sticky[r.sticky] = &wfQueue{name: r.sticky, sticky: true}
		}
	} else {
		r.sticky = ""
	}
	if closed {
		if len(r.buffered) > 0 {
			f.mismatch(r, "completed the workflow with new events unhandled")
			return resp, true
		}
		f.finish(r)
		return resp, true
	}
	buf := r.buffered
	r.buffered = nil
	for _, b := range buf {
		r.appendEvent(b)
	}
	if len(buf) > 0 {
		if req.GetReturnNewWorkflowTask() {
			id := req.GetIdentity()
			resp.WorkflowTask = f.scheduleWFT(r, &id)
			f.st.wftInResponse++
		} else {
			f.scheduleWFT(r, nil)
		}
	}
	return resp, true
}

// carryOut writes the event of a checked command and does what it asks;
// true when it closed the workflow.
func (f *firehose) carryOut(r *run, c *commandpb.Command, completed int64) bool {
	switch c.GetCommandType() {
	case enumspb.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK:
		a := c.GetScheduleActivityTaskCommandAttributes()
		ev := &historypb.ActivityTaskScheduledEventAttributes{
			ActivityId: a.GetActivityId(), ActivityType: a.GetActivityType(),
			TaskQueue: f.tq(f.normal), Header: a.GetHeader(), Input: a.GetInput(),
			ScheduleToCloseTimeout:       durationpb.New(dur(a.GetScheduleToCloseTimeout())),
			ScheduleToStartTimeout:       durationpb.New(dur(a.GetScheduleToStartTimeout())),
			StartToCloseTimeout:          durationpb.New(dur(a.GetStartToCloseTimeout())),
			HeartbeatTimeout:             durationpb.New(dur(a.GetHeartbeatTimeout())),
			WorkflowTaskCompletedEventId: completed,
			RetryPolicy:                  withServerRetryDefaults(a.GetRetryPolicy()),
		}
		e := f.event(enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
		e.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: ev}
		id := r.appendEvent(e)
		act := &activity{k: r.scheduledActs, scheduled: e, timeout: dur(a.GetStartToCloseTimeout())}
		if act.timeout <= 0 {
			act.timeout = dur(a.GetScheduleToCloseTimeout())
		}
		r.scheduledActs++
		r.acts[id] = act
		f.offerActivity(r, id)
	case enumspb.COMMAND_TYPE_START_TIMER:
		a := c.GetStartTimerCommandAttributes()
		e := f.event(enumspb.EVENT_TYPE_TIMER_STARTED)
		e.Attributes = &historypb.HistoryEvent_TimerStartedEventAttributes{TimerStartedEventAttributes: &historypb.TimerStartedEventAttributes{
			TimerId: a.GetTimerId(), StartToFireTimeout: a.GetStartToFireTimeout(), WorkflowTaskCompletedEventId: completed,
		}}
		id := r.appendEvent(e)
		r.timers[a.GetTimerId()] = id
		timerID := a.GetTimerId()
		time.AfterFunc(dur(a.GetStartToFireTimeout()), func() { f.fireTimer(r, timerID, id) })
	case enumspb.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION:
		e := f.event(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
		e.Attributes = &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{
			WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{
				Result: c.GetCompleteWorkflowExecutionCommandAttributes().GetResult(), WorkflowTaskCompletedEventId: completed,
			}}
		r.appendEvent(e)
		return true
	}
	return false
}

func (f *firehose) fireTimer(r *run, timerID string, started int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.done || r.timers[timerID] != started {
		return
	}
	delete(r.timers, timerID)
	e := f.event(enumspb.EVENT_TYPE_TIMER_FIRED)
	e.Attributes = &historypb.HistoryEvent_TimerFiredEventAttributes{TimerFiredEventAttributes: &historypb.TimerFiredEventAttributes{
		TimerId: timerID, StartedEventId: started,
	}}
	f.addEvents(r, e)
}

// failWFT carries out RespondWorkflowTaskFailed: counted, and the run is
// dropped (a benchmark that retried it would fail it again).
func (f *firehose) failWFT(req *workflowservice.RespondWorkflowTaskFailedRequest) bool {
	r := f.lookupWFT(req.GetTaskToken())
	if r == nil {
		f.st.notFound++
		return false
	}
	f.st.wftFailed++
	f.st.sample(fmt.Sprintf("workflow task failed in %s: %s: %s", r.wfID, req.GetCause(), req.GetFailure().GetMessage()))
	f.drop(r)
	return true
}

// --- activity tasks ------------------------------------------------------

func (f *firehose) offerActivity(r *run, id int64) {
	if n := len(f.actWaiters); n > 0 {
		w := f.actWaiters[0]
		f.actWaiters = f.actWaiters[1:]
		w.ch <- f.startActivity(r, id, w.identity)
		return
	}
	f.acts = append(f.acts, actEntry{r, id})
}

func (f *firehose) takeActivity(identity string) *workflowservice.PollActivityTaskQueueResponse {
	for len(f.acts) > 0 {
		e := f.acts[0]
		f.acts[0] = actEntry{}
		f.acts = f.acts[1:]
		if a := e.r.acts[e.id]; !e.r.done && a != nil && !a.started {
			return f.startActivity(e.r, e.id, identity)
		}
	}
	return nil
}

func (f *firehose) startActivity(r *run, id int64, identity string) *workflowservice.PollActivityTaskQueueResponse {
	a := r.acts[id]
	a.started, a.since, a.identity = true, time.Now(), identity
	s := a.scheduled.GetActivityTaskScheduledEventAttributes()
	now := timestamppb.Now()
	return &workflowservice.PollActivityTaskQueueResponse{
		TaskToken:                   token('A', r, id),
		WorkflowNamespace:           f.namespace,
		WorkflowType:                f.tpl.start.GetWorkflowType(),
		WorkflowExecution:           &commonpb.WorkflowExecution{WorkflowId: r.wfID, RunId: r.runID},
		ActivityType:                s.GetActivityType(),
		ActivityId:                  s.GetActivityId(),
		Header:                      s.GetHeader(),
		Input:                       s.GetInput(),
		ScheduledTime:               a.scheduled.EventTime,
		CurrentAttemptScheduledTime: a.scheduled.EventTime,
		StartedTime:                 now,
		Attempt:                     1,
		ScheduleToCloseTimeout:      s.GetScheduleToCloseTimeout(),
		StartToCloseTimeout:         s.GetStartToCloseTimeout(),
		HeartbeatTimeout:            s.GetHeartbeatTimeout(),
		RetryPolicy:                 s.GetRetryPolicy(),
	}
}

func (f *firehose) unstartActivity(resp *workflowservice.PollActivityTaskQueueResponse) {
	_, seq, id, _ := parseToken(resp.TaskToken)
	r := f.runs[seq]
	if r == nil || r.acts[id] == nil || !r.acts[id].started {
		return
	}
	r.acts[id].started = false
	f.acts = append([]actEntry{{r, id}}, f.acts...)
	f.st.pollsLost++
}

func (f *firehose) lookupActivity(tok []byte) (*run, int64, *activity) {
	kind, seq, id, ok := parseToken(tok)
	if !ok || kind != 'A' {
		return nil, 0, nil
	}
	r := f.runs[seq]
	if r == nil || r.acts[id] == nil || !r.acts[id].started {
		return nil, 0, nil
	}
	return r, id, r.acts[id]
}

// completeActivity carries out RespondActivityTaskCompleted.
func (f *firehose) completeActivity(tok []byte, result *commonpb.Payloads, identity string) bool {
	r, id, a := f.lookupActivity(tok)
	if r == nil {
		f.st.notFound++
		return false
	}
	f.st.actDone(time.Since(a.since))
	delete(r.acts, id)
	if ok, why := sameValues(result, f.tpl.results[a.k].completed.GetResult()); !ok {
		f.mismatch(r, fmt.Sprintf("activity %d (%s) result %s", a.k+1,
			a.scheduled.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(), why))
		return true
	}
	s := f.event(enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED)
	s.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{
		ScheduledEventId: id, Identity: a.identity, RequestId: newUUID(), Attempt: 1,
	}}
	c := f.event(enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
	c.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{
		ScheduledEventId: id, Result: result, Identity: identity,
	}}
	f.addEvents(r, s, c)
	return true
}

// failActivity carries out RespondActivityTaskFailed / _Canceled: counted,
// the run dropped (no recorded activity here fails).
func (f *firehose) failActivity(tok []byte, what, message string) bool {
	r, _, a := f.lookupActivity(tok)
	if r == nil {
		f.st.notFound++
		return false
	}
	f.st.actFailed++
	f.st.sample(fmt.Sprintf("activity %d of %s %s: %s", a.k+1, r.wfID, what, message))
	f.drop(r)
	return true
}

// --- sticky queues and time-outs ------------------------------------------

// shutdownWorker: the runs on that sticky queue get their next tasks on the
// normal queue; tasks already waiting there time out as on the server.
func (f *firehose) shutdownWorker(stickyQueue string) {
	if q := f.sticky[stickyQueue]; q != nil {
		q.dead = true
	}
}

// sweep, every few milliseconds: sticky schedule-to-start time-outs (the
// task moves to the normal queue, as the server writes it), and tasks a
// worker holds past their start-to-close timeout (counted, run dropped).
func (f *firehose) sweep(now time.Time) {
	for _, q := range f.sticky {
		keep := q.tasks[:0]
		for _, e := range q.tasks {
			r := e.r
			if r.done || r.wft != wftQueued || r.wftQ != q || r.wftGen != e.gen {
				continue
			}
			if now.Sub(r.wftSince) < r.stickyTimeout {
				keep = append(keep, e)
				continue
			}
			f.st.stickyTimeouts++
			t := f.event(enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)
			t.Attributes = &historypb.HistoryEvent_WorkflowTaskTimedOutEventAttributes{WorkflowTaskTimedOutEventAttributes: &historypb.WorkflowTaskTimedOutEventAttributes{
				ScheduledEventId: r.wftScheduled, TimeoutType: enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START,
			}}
			r.appendEvent(t)
			r.wft = wftNone
			r.sticky = ""
			f.scheduleWFT(r, nil) // appends to f.normal, not q
		}
		for i := len(keep); i < len(q.tasks); i++ {
			q.tasks[i] = wfEntry{}
		}
		q.tasks = keep
	}
	var late []*run
	for _, r := range f.runs {
		if r.wft == wftStarted && now.Sub(r.wftSince) > r.wftTimeout {
			f.st.wftTimeouts++
			f.st.sample(fmt.Sprintf("workflow task of %s not completed within %v", r.wfID, r.wftTimeout))
			late = append(late, r)
			continue
		}
		for _, a := range r.acts {
			if a.started && a.timeout > 0 && now.Sub(a.since) > a.timeout {
				f.st.actTimeouts++
				f.st.sample(fmt.Sprintf("activity %d of %s not completed within %v", a.k+1, r.wfID, a.timeout))
				late = append(late, r)
				break
			}
		}
	}
	for _, r := range late {
		f.drop(r)
	}
}

// history is the whole history of a live run (GetWorkflowExecutionHistory:
// a worker that lost a run from its cache fetches it); nil if there is none.
func (f *firehose) history(wfID, runID string) *historypb.History {
	var seq uint64
	prefix := fmt.Sprintf("firehose-%s-", f.tpl.name)
	if !strings.HasPrefix(wfID, prefix) {
		return nil
	}
	if _, err := fmt.Sscan(wfID[len(prefix):], &seq); err != nil {
		return nil
	}
	r := f.runs[seq]
	if r == nil || r.wfID != wfID || (runID != "" && r.runID != runID) {
		return nil
	}
	n := len(r.events)
	return &historypb.History{Events: r.events[:n:n]}
}

// describe is a one-line picture of the state (SIGUSR1, for debugging).
func (f *firehose) describe() string {
	states := map[string]int{}
	var started []string
	for _, r := range f.runs {
		switch r.wft {
		case wftQueued:
			if r.wftQ != nil && r.wftQ.sticky {
				states["wft queued sticky"]++
			} else {
				states["wft queued normal"]++
			}
		case wftStarted:
			states["wft started"]++
			if len(started) < 3 {
				started = append(started, fmt.Sprintf("%s: %d events, previous started %d, started %v ago",
					r.wfID, len(r.events), r.lastStarted, time.Since(r.wftSince).Round(time.Millisecond)))
			}
		default:
			n := 0
			for _, a := range r.acts {
				if a.started {
					n++
				}
			}
			if n > 0 {
				states["activity started"]++
			} else if len(r.acts) > 0 {
				states["activity queued"]++
			} else {
				states["other"]++
			}
		}
	}
	s := fmt.Sprintf("runs %d %v; normal queue %d tasks %d polls; activity queue %d tasks %d polls",
		len(f.runs), states, len(f.normal.tasks), len(f.normal.waiters), len(f.acts), len(f.actWaiters))
	for _, q := range f.sticky {
		s += fmt.Sprintf("; sticky %q dead=%v %d tasks %d polls", q.name, q.dead, len(q.tasks), len(q.waiters))
	}
	return s + fmt.Sprintf("; tasks started, the first 3: %v", started)
}
