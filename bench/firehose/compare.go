// compare.go — what the firehose checks of a worker's completions against
// the recording (template.go). Ids are left out: each SDK numbers its
// activities and timers its own way (twe "1", "2", ...; the Go SDK by the
// event id it expects), and identities, headers, SDK metadata and the
// eager-execution and build-id flags are the SDK's, not the workflow's.
// Compared:
//
//   - every command, in order across the run's workflow tasks: its type
//     (the grouping into workflow tasks is not compared: when activity
//     results arrive while a task runs is timing, not workflow code);
//   - ScheduleActivityTask: activity type, task queue (empty = the
//     workflow's, as the server reads it), input values, the four
//     timeouts, and the retry policy after the server's defaults are filled
//     in (the recording holds the server's filled-in policy);
//   - StartTimer: the duration;
//   - CompleteWorkflowExecution: the result's values;
//   - RespondActivityTaskCompleted: the result's values against the result
//     the same activity (by scheduling order) returned in the recording.
//
// Values: a json/plain payload is compared as JSON (parsed, so spacing does
// not count), binary/null as null, anything else byte for byte with its
// encoding. No payload at all and one null payload are the same value (the
// Go SDK sends none for an activity that returns only an error, twe one
// binary/null; every SDK's converter reads both as no value).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	commandpb "go.temporal.io/api/command/v1"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// payloadValue is one payload as a comparable string.
func payloadValue(p *commonpb.Payload) string {
	enc := string(p.GetMetadata()["encoding"])
	switch enc {
	case "binary/null":
		return "null"
	case "json/plain":
		d := json.NewDecoder(bytes.NewReader(p.GetData()))
		d.UseNumber()
		var v interface{}
		if err := d.Decode(&v); err != nil {
			return fmt.Sprintf("json/plain(invalid: %q)", p.GetData())
		}
		out, _ := json.Marshal(v) // map keys sorted
		return string(out)
	}
	return fmt.Sprintf("%s:%q", enc, p.GetData())
}

// payloadsValue is a Payloads as comparable strings; none and [null] are
// both empty.
func payloadsValue(ps *commonpb.Payloads) []string {
	var out []string
	for _, p := range ps.GetPayloads() {
		out = append(out, payloadValue(p))
	}
	if len(out) == 1 && out[0] == "null" {
		out = nil
	}
	return out
}

func sameValues(a, b *commonpb.Payloads) (bool, string) {
	va, vb := payloadsValue(a), payloadsValue(b)
	if fmt.Sprint(va) == fmt.Sprint(vb) {
		return true, ""
	}
	return false, fmt.Sprintf("%v, recorded %v", va, vb)
}

func dur(d *durationpb.Duration) time.Duration { return d.AsDuration() } // nil: 0

// withServerRetryDefaults is p as the server stores it (1.29's defaults
// for activities: initial 1 s, coefficient 2, maximum 100 x initial,
// unlimited attempts).
func withServerRetryDefaults(p *commonpb.RetryPolicy) *commonpb.RetryPolicy {
	q := &commonpb.RetryPolicy{}
	if p != nil {
		q = proto.Clone(p).(*commonpb.RetryPolicy)
	}
	if dur(q.InitialInterval) == 0 {
		q.InitialInterval = durationpb.New(time.Second)
	}
	if q.BackoffCoefficient == 0 {
		q.BackoffCoefficient = 2
	}
	if dur(q.MaximumInterval) == 0 {
		q.MaximumInterval = durationpb.New(100 * dur(q.InitialInterval))
	}
	return q
}

func sameRetry(a, b *commonpb.RetryPolicy) bool {
	a, b = withServerRetryDefaults(a), withServerRetryDefaults(b)
	return dur(a.InitialInterval) == dur(b.InitialInterval) &&
		a.BackoffCoefficient == b.BackoffCoefficient &&
		dur(a.MaximumInterval) == dur(b.MaximumInterval) &&
		a.MaximumAttempts == b.MaximumAttempts &&
		fmt.Sprint(a.NonRetryableErrorTypes) == fmt.Sprint(b.NonRetryableErrorTypes)
}

// compareCommand says how got differs from rec ("" when it does not).
// queue is the firehose's task queue; recQueue the recording's.
func compareCommand(rec recordedCommand, got *commandpb.Command, queue, recQueue string) string {
	if got.GetCommandType() != rec.typ {
		return fmt.Sprintf("command %s, recorded %s", got.GetCommandType(), rec.typ)
	}
	switch rec.typ {
	case enumspb.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK:
		g := got.GetScheduleActivityTaskCommandAttributes()
		r := rec.event.GetActivityTaskScheduledEventAttributes()
		if g.GetActivityType().GetName() != r.GetActivityType().GetName() {
			return fmt.Sprintf("activity type %q, recorded %q", g.GetActivityType().GetName(),
				r.GetActivityType().GetName())
		}
		gq, rq := g.GetTaskQueue().GetName(), r.GetTaskQueue().GetName()
		if gq == "" {
			gq = queue
		}
		if rq == recQueue {
			rq = queue
		}
		if gq != rq {
			return fmt.Sprintf("activity task queue %q, recorded %q", gq, rq)
		}
		if ok, why := sameValues(g.GetInput(), r.GetInput()); !ok {
			return "activity input " + why
		}
		for _, t := range []struct {
			name     string
			got, rec *durationpb.Duration
		}{
			{"schedule-to-close", g.GetScheduleToCloseTimeout(), r.GetScheduleToCloseTimeout()},
			{"schedule-to-start", g.GetScheduleToStartTimeout(), r.GetScheduleToStartTimeout()},
			{"start-to-close", g.GetStartToCloseTimeout(), r.GetStartToCloseTimeout()},
			{"heartbeat", g.GetHeartbeatTimeout(), r.GetHeartbeatTimeout()},
		} {
			if dur(t.got) != dur(t.rec) {
				return fmt.Sprintf("activity %s timeout %v, recorded %v", t.name, dur(t.got), dur(t.rec))
			}
		}
		if !sameRetry(g.GetRetryPolicy(), r.GetRetryPolicy()) {
			return fmt.Sprintf("activity retry policy %v, recorded %v",
				withServerRetryDefaults(g.GetRetryPolicy()), r.GetRetryPolicy())
		}
	case enumspb.COMMAND_TYPE_START_TIMER:
		g := got.GetStartTimerCommandAttributes().GetStartToFireTimeout()
		r := rec.event.GetTimerStartedEventAttributes().GetStartToFireTimeout()
		if dur(g) != dur(r) {
			return fmt.Sprintf("timer %v, recorded %v", dur(g), dur(r))
		}
	case enumspb.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION:
		if ok, why := sameValues(got.GetCompleteWorkflowExecutionCommandAttributes().GetResult(),
			rec.event.GetWorkflowExecutionCompletedEventAttributes().GetResult()); !ok {
			return "workflow result " + why
		}
	}
	return ""
}
