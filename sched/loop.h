/* sched/loop.h — what a thread blocks in when it has nothing to do: the loop
 * ops, and the default implementation (an eventfd in ppoll).
 *
 * A shard thread alternates between its own work (mailboxes, run queue) and
 * waiting for events. What it waits in is pluggable so that the io reactor
 * (io_uring with its own eventfd, or IORING_OP_MSG_RING from other rings) can
 * take over later without sched/ including io/: the reactor hands a
 * twe_shard_loop_ops_t and its context to the shard. Plain threads (activity
 * pool workers, tests) use the default loop below.
 *
 * Spurious returns are allowed everywhere: callers re-check their state after
 * every run_once, so an extra wake costs a round, never correctness.
 */
#ifndef TWE_SCHED_LOOP_H
#define TWE_SCHED_LOOP_H

#include <stdint.h>

typedef struct twe_shard_loop_ops {
  /* Waits up to timeout_ns for events or for wake() (0: do not block;
   * negative: no limit), then handles what is ready. Returns the number of
   * events handled (may be 0) or a negative errno.
   * Thread: the loop's own thread only. */
  int (*run_once)(void *ctx, int64_t timeout_ns);
  /* Makes the current run_once, or the next one if none is running, return
   * soon. Must not block and must tolerate being called many times.
   * Thread: any. */
  void (*wake)(void *ctx);
} twe_shard_loop_ops_t;

/* The default loop: one non-blocking eventfd. run_once waits for it to become
 * readable and resets it; wake adds 1 to it. */
typedef struct twe_eventfd_loop {
  int fd;
} twe_eventfd_loop_t;

/* The ops of the default loop; ctx is a twe_eventfd_loop_t *. */
extern const twe_shard_loop_ops_t twe__eventfd_loop_ops;

/* Opens the eventfd. Returns 0 or a negative errno (-EMFILE, ...).
 * Thread: any, before the loop is used. */
int twe__eventfd_loop_init(twe_eventfd_loop_t *loop);

/* Closes the eventfd. Thread: any, once no thread uses the loop. */
void twe__eventfd_loop_destroy(twe_eventfd_loop_t *loop);

#endif /* TWE_SCHED_LOOP_H */
