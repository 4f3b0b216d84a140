/* sched/shard.h — shard threads: one thread per workflow core, named
 * twe-shard-N, optionally pinned, running its loop, its pollers and its run
 * queue.
 *
 * A shard owns everything it runs: nothing here is locked. Other threads
 * reach it only through mailboxes it polls (twe__shard_add_inbox_spsc) and
 * through its waiter (twe__shard_waiter), which producers notify after they
 * publish. One round of the loop:
 *
 *   begin (take notifications)  ->  stop requested? leave
 *   -> every poller, up to `batch` items each (inboxes, pool results, ...)
 *   -> blocked outboxes that have room again: schedule their tasks
 *   -> the tasks queued before the round started
 *   -> more work left? run_once(0) (handle ready I/O, do not block)
 *      else park: run_once(-1) unless notified since begin
 *
 * The loop ops are pluggable (sched/loop.h): the default waits on an eventfd;
 * the io reactor brings its own (io_uring) later.
 */
#ifndef TWE_SCHED_SHARD_H
#define TWE_SCHED_SHARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/loop.h"
#include "sched/mailbox.h"
#include "sched/waiter.h"

typedef struct twe_shard twe_shard_t;

/* Something to run on the shard thread once. Embed it in an object; it can
 * be queued at most once at a time, so the run queue is bounded by the
 * number of objects that exist, and never grows on its own. */
typedef struct twe_task {
  struct twe_task *next;
  void (*run)(struct twe_task *task); /* on the shard thread */
  bool queued;
} twe_task_t;

/* Checked every round: handles up to budget items and returns how many it
 * handled; returning budget means "there may be more" (the shard will not
 * block this round). Runs on the shard thread. */
typedef size_t (*twe_shard_poll_cb)(void *arg, size_t budget);

/* Handles n messages taken from an inbox, oldest first. The messages (and
 * what their ptr fields own) belong to the callback. Runs on the shard
 * thread. */
typedef void (*twe_inbox_cb)(void *arg, twe_msg_t *msgs, size_t n);

/* Runs on the shard thread: on_start before the first round (set up the
 * reactor, call twe__shard_set_loop), on_stop after the last. */
typedef void (*twe_shard_hook_cb)(twe_shard_t *shard, void *arg);

typedef struct twe_shard_options {
  unsigned index;                       /* N of the thread name twe-shard-N */
  int cpu;                              /* pin to this CPU; -1: not pinned */
  const twe_shard_loop_ops_t *loop_ops; /* NULL: the default eventfd loop */
  void *loop_ctx;
  size_t batch;                         /* items per poller per round; 0: 64 */
  twe_shard_hook_cb on_start;
  twe_shard_hook_cb on_stop;
  void *hook_arg;
} twe_shard_options_t;

/* Creates a shard (no thread yet). Returns 0 and *out, -EINVAL, -ENOMEM, or
 * the error of opening the default loop. Thread: any. */
int twe__shard_create(const twe_shard_options_t *options, twe_shard_t **out);

/* Adds a poller. Thread: any before start; the shard thread after. Returns 0
 * or -ENOMEM. */
int twe__shard_add_poller(twe_shard_t *shard, twe_shard_poll_cb cb, void *arg);

/* Makes the shard the consumer of mb: each round takes up to `batch`
 * messages and hands them to cb. mb must have been created with this shard's
 * waiter as its consumer (-EINVAL otherwise). Thread: as add_poller. */
int twe__shard_add_inbox_spsc(twe_shard_t *shard, twe_mailbox_t *mb, twe_inbox_cb cb,
                              void *arg);

/* Starts the thread, named twe-shard-N and pinned to options.cpu if set.
 * Returns 0, or a negative errno from pthread_create (-EINVAL for a CPU
 * outside the allowed set). Thread: any, once. */
int twe__shard_start(twe_shard_t *shard);

/* Gives the shard a new thread because its current one is stuck for good
 * in code that will never return to the shard (the watchdog retired it):
 * starts a thread, pinned like the first, that calls on_takeover(shard,
 * arg) and then runs the loop from a fresh round. Everything the shard owns
 * must be at rest: the stuck thread was inside a poller callback, which the
 * caller's takeover hook deals with. *old receives the stuck thread; the
 * caller joins it (twe__shard_join never will). Returns 0 or a negative
 * errno (the shard keeps its stuck thread). Thread: any but the shard's. */
int twe__shard_replace_thread(twe_shard_t *shard, twe_shard_hook_cb on_takeover, void *arg,
                              pthread_t *old);

/* Asks the shard to leave its loop after the current round; returns at once.
 * Thread: any, any number of times. */
void twe__shard_stop(twe_shard_t *shard);

/* Waits for the thread to end (after stop). Returns 0 or a negative errno.
 * Thread: any but the shard's own. */
int twe__shard_join(twe_shard_t *shard);
/* twe__shard_join, giving up at deadline_ns (CLOCK_MONOTONIC; < 0: never)
 * with -ETIMEDOUT while the loop has not ended (the shard stays joinable).
 * Same thread rule. */
int twe__shard_join_until(twe_shard_t *shard, int64_t deadline_ns);

/* Frees the shard (joined, or never started). Thread: any. */
void twe__shard_destroy(twe_shard_t *shard);

/* The waiter producers notify; the consumer waiter of every inbox, and the
 * producer waiter of every outbox this shard sends on. Thread: any. */
twe_waiter_t *twe__shard_waiter(twe_shard_t *shard);

/* Replaces the loop (the reactor taking over). Thread: the shard thread
 * (typically in on_start), or any before start. */
void twe__shard_set_loop(twe_shard_t *shard, const twe_shard_loop_ops_t *ops, void *ctx);

/* Queues task to run in a coming round (no-op if already queued).
 * Thread: the shard thread. */
void twe__shard_schedule(twe_shard_t *shard, twe_task_t *task);

/* For an outbox this shard produces into (mb->producer must be the shard's
 * waiter) that refused a send: task is scheduled once mb has room again.
 * Returns 0 (task will run), -EINVAL (wrong producer waiter) or -EALREADY
 * (mb is already waited on). Thread: the shard thread. */
int twe__shard_wait_space_spsc(twe_shard_t *shard, twe_mailbox_t *mb, twe_task_t *task);

/* The shard whose thread calls this, or NULL on any other thread. */
twe_shard_t *twe__shard_self(void);

/* The N of twe-shard-N. Thread: any. */
unsigned twe__shard_index(const twe_shard_t *shard);

/* Rounds the loop ran and times it slept (parked in run_once with no
 * limit): statistics for tests and metrics. Thread: the shard thread, or any
 * after join. */
uint64_t twe__shard_rounds(const twe_shard_t *shard);
uint64_t twe__shard_sleeps(const twe_shard_t *shard);

#endif /* TWE_SCHED_SHARD_H */
