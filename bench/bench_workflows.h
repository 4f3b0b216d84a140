/* bench/bench_workflows.h — the workflow and activity types of the worker
 * benchmarks, shared by the worker that runs them (bench_worker.c) and the
 * replayer that replays their histories (replay_histories.c), so both run
 * the very same code.
 *
 * The types of bench/peers/README.md (the same on every SDK peer):
 *   Noop          activity: nothing, completes with null
 *   OneActivity   Noop once, returns 1
 *   TenSequential Noop 10 times in sequence, returns 10
 *   FanOut100     100 Noop at once, waits for all, returns 100
 *   FiftyTimers   50 timers of 1 ms in sequence, returns 50
 *   Park          one 1-hour timer, returns 1
 * and twe's own, for bench/run_worker_bench.sh:
 *   Greet         activity: Greet(greeting, name) -> "<greeting>, <name>!"
 *   Hello         the workflow of examples/hello.c (Greet x3 in sequence,
 *                 then x10 in parallel)
 * Activities: start-to-close 10 s, the workflow's own task queue, the
 * server's default retry policy; nothing else set.
 *
 * Thread: the tables are constant data, read from any thread; the functions
 * run where twe runs workflow code and activities. */
#ifndef TWE_BENCH_WORKFLOWS_H
#define TWE_BENCH_WORKFLOWS_H
#include <stdbool.h>
#include <stddef.h>

#include "twe/twe.h"

typedef struct bench_workflow_type {
  const char *name;
  twe_workflow_fn fn;
} bench_workflow_type_t;

typedef struct bench_activity_type {
  const char *name;
  twe_activity_fn fn;
} bench_activity_type_t;

extern const bench_workflow_type_t bench_workflow_types[];
extern const size_t bench_workflow_type_count;
extern const bench_activity_type_t bench_activity_types[];
extern const size_t bench_activity_type_count;

/* Registers every workflow type (and, with activities true, every activity
 * type) on w, user NULL. Returns 0 or the first registration's negative
 * code. Thread: w's owner, before start. */
int bench_register(twe_worker_t *w, bool activities);

#endif /* TWE_BENCH_WORKFLOWS_H */
