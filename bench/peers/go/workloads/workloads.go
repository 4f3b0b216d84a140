// Package workloads holds the benchmark's workflow and activity types
// (bench/peers/README.md) for the Go SDK peer: the worker registers them to
// run them, the replayer to replay histories recorded on the Go SDK worker
// (it compares activity and timer ids, which each SDK numbers its own way).
//
// Every activity runs on the workflow's own task queue with a start-to-close
// timeout of 10 s and the SDK's default retry policy; activity and timer ids
// are the SDK's own. Nothing else is set, so the commands match the other
// peers' in type, order and options.
package workloads

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"
)

// Registry is what both worker.Worker and worker.WorkflowReplayer offer.
type Registry interface {
	RegisterWorkflowWithOptions(w interface{}, options workflow.RegisterOptions)
}

// ActivityRegistry is the activity half of worker.Worker.
type ActivityRegistry interface {
	RegisterActivityWithOptions(a interface{}, options activity.RegisterOptions)
}

// The workflow types by name, in the order of the README's table.
var workflows = []struct {
	name string
	fn   interface{}
}{
	{"OneActivity", OneActivity},
	{"TenSequential", TenSequential},
	{"FanOut100", FanOut100},
	{"FiftyTimers", FiftyTimers},
	{"Park", Park},
}

// RegisterWorkflows registers every workflow type under its benchmark name.
func RegisterWorkflows(r Registry) {
	for _, w := range workflows {
		r.RegisterWorkflowWithOptions(w.fn, workflow.RegisterOptions{Name: w.name})
	}
}

// RegisterActivities registers the Noop activity.
func RegisterActivities(r ActivityRegistry) {
	r.RegisterActivityWithOptions(Noop, activity.RegisterOptions{Name: "Noop"})
}

// Noop is the activity: no arguments, no result.
func Noop(ctx context.Context) error { return nil }

func withActivityOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
	})
}

// noop runs Noop once, waiting for it.
func noop(ctx workflow.Context) error {
	return workflow.ExecuteActivity(ctx, "Noop").Get(ctx, nil)
}

// OneActivity runs Noop once and returns 1.
func OneActivity(ctx workflow.Context) (int, error) {
	ctx = withActivityOptions(ctx)
	if err := noop(ctx); err != nil {
		return 0, err
	}
	return 1, nil
}

// TenSequential runs Noop 10 times, one after another, and returns 10.
func TenSequential(ctx workflow.Context) (int, error) {
	ctx = withActivityOptions(ctx)
	n := 0
	for i := 0; i < 10; i++ {
		if err := noop(ctx); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// FanOut100 starts 100 Noop at once, waits for all of them, returns 100.
func FanOut100(ctx workflow.Context) (int, error) {
	ctx = withActivityOptions(ctx)
	futures := make([]workflow.Future, 100)
	for i := range futures {
		futures[i] = workflow.ExecuteActivity(ctx, "Noop")
	}
	n := 0
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// FiftyTimers sleeps 1 ms 50 times, one after another, and returns 50.
func FiftyTimers(ctx workflow.Context) (int, error) {
	n := 0
	for i := 0; i < 50; i++ {
		if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// Park sleeps one hour and returns 1: it stays in the worker's cache,
// waiting on its timer, for the whole of a benchmark.
func Park(ctx workflow.Context) (int, error) {
	if err := workflow.Sleep(ctx, time.Hour); err != nil {
		return 0, err
	}
	return 1, nil
}
