// tests/support/go_worker — a Go SDK worker with the Go twins of twe's test
// workflows, so that histories the Go SDK records can be replayed on twe
// (tests/integration/test_go_interop.sh).
//
//	worker QUEUE   polls QUEUE at TEMPORAL_ADDRESS (namespace "default"),
//	               prints "ready", runs until SIGTERM
//
// Workflows:
//
//	Versioned  GetVersion("step", DefaultVersion, 1): version 1 sleeps
//	           100 ms and returns "new"; the default version returns "old"
//	GoSided    a SideEffect of 42, a 100 ms sleep; returns the side effect
//	GoMutable  MutableSideEffect "m" of 7, 7 again (not recorded), a 100 ms
//	           sleep, then 8; returns 778
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func versioned(ctx workflow.Context) (string, error) {
	v := workflow.GetVersion(ctx, "step", workflow.DefaultVersion, 1)
	if v == 1 {
		if err := workflow.Sleep(ctx, 100*time.Millisecond); err != nil {
			return "", err
		}
		return "new", nil
	}
	return "old", nil
}

func goSided(ctx workflow.Context) (int, error) {
	var n int
	if err := workflow.SideEffect(ctx, func(workflow.Context) interface{} { return 42 }).Get(&n); err != nil {
		return 0, err
	}
	if err := workflow.Sleep(ctx, 100*time.Millisecond); err != nil {
		return 0, err
	}
	return n, nil
}

func goMutable(ctx workflow.Context) (int, error) {
	get := func(v int) int {
		var n int
		_ = workflow.MutableSideEffect(ctx, "m", func(workflow.Context) interface{} { return v },
			func(a, b interface{}) bool { return a == b }).Get(&n)
		return n
	}
	a := get(7)
	b := get(7)
	if err := workflow.Sleep(ctx, 100*time.Millisecond); err != nil {
		return 0, err
	}
	c := get(8)
	return 100*a + 10*b + c, nil
}

func main() {
	if len(os.Args) != 3 || os.Args[1] != "worker" {
		fmt.Fprintln(os.Stderr, "usage: go_worker worker QUEUE")
		os.Exit(2)
	}
	c, err := client.Dial(client.Options{HostPort: os.Getenv("TEMPORAL_ADDRESS"), Namespace: "default"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	defer c.Close()
	w := worker.New(c, os.Args[2], worker.Options{})
	w.RegisterWorkflowWithOptions(versioned, workflow.RegisterOptions{Name: "Versioned"})
	w.RegisterWorkflowWithOptions(goSided, workflow.RegisterOptions{Name: "GoSided"})
	w.RegisterWorkflowWithOptions(goMutable, workflow.RegisterOptions{Name: "GoMutable"})
	if err := w.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	w.Stop()
}
