// Command worker is the Go SDK peer of bench/run: it registers the
// benchmark's workflow and activity types (bench/peers/README.md) on one
// task queue and runs them with the SDK's defaults.
//
//	worker --task-queue Q [--cache N]
//
// Server from TEMPORAL_ADDRESS (host:port) and TEMPORAL_NAMESPACE (default
// "default"), plain TCP. Prints "ready" on stdout once the worker polls;
// SIGTERM or SIGINT stops it gracefully (exit 0). Logs (warnings and up)
// go to stderr.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"twebench/gopeer/workloads"
)

func main() {
	taskQueue := flag.String("task-queue", "", "task queue to poll (required)")
	cache := flag.Int("cache", -1, "sticky workflow cache size (default: the SDK's)")
	flag.Parse()
	if *taskQueue == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: worker --task-queue Q [--cache N]")
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

	logger := workloads.QuietLogger()
	c, err := client.Dial(client.Options{HostPort: address, Namespace: namespace, Logger: logger})
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker: cannot connect to %s: %v\n", address, err)
		os.Exit(1)
	}
	defer c.Close()

	// The cache is process-wide and sized when the first worker is made.
	if *cache >= 0 {
		worker.SetStickyWorkflowCacheSize(*cache)
	}
	w := worker.New(c, *taskQueue, worker.Options{})
	workloads.RegisterWorkflows(w)
	workloads.RegisterActivities(w)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	if err := w.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "worker: cannot start: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("ready") // os.Stdout is unbuffered
	<-signals
	w.Stop()
}
