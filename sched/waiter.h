/* sched/waiter.h — coalesced wake-ups: how a thread that sleeps learns that
 * someone published work for it, with at most one wake per sleep.
 *
 * Every thread that consumes from mailboxes (a shard, a pool worker) owns one
 * waiter. Producers publish (enqueue into a ring, release a slot, set a stop
 * flag) and then call twe__waiter_notify(); the consumer brackets each round
 * of work with twe__waiter_begin() and twe__waiter_park():
 *
 *   for (;;) {
 *     twe__waiter_begin(w);        // consume notifications, THEN look at work
 *     ...drain mailboxes, run tasks, check stop flags...
 *     twe__waiter_park(w, timeout) // sleeps only if nobody notified since begin
 *   }
 *
 * The state word is RUNNING, NOTIFIED or SLEEPING. A producer exchanges it to
 * NOTIFIED and calls the loop's wake() only when it took it from SLEEPING:
 * many producers and many batches cost one wake per sleep, and a consumer
 * that is awake costs producers one atomic exchange per batch, no system
 * call. All transitions are read-modify-writes of one atomic, so they are
 * totally ordered: a notify either lands before park's compare-exchange
 * (which then fails, and the consumer goes round again) or after it (and sees
 * SLEEPING, and wakes the loop). No fence is needed beyond release/acquire.
 *
 * The loop ops (and their context) are what the thread sleeps in and what
 * wakes it: the default eventfd loop, or the io reactor of a shard.
 */
#ifndef TWE_SCHED_WAITER_H
#define TWE_SCHED_WAITER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sched/loop.h"

enum {
  TWE_WAITER_RUNNING = 0,  /* the owner is working and will look again */
  TWE_WAITER_NOTIFIED = 1, /* published to since the owner's last begin */
  TWE_WAITER_SLEEPING = 2, /* the owner is (about to be) inside run_once */
};

typedef struct twe_waiter {
  /* Written by the owner and by every producer: kept on its own cache line
   * so that producers do not bounce the owner's other fields. */
  _Alignas(64) _Atomic int state;
  /* What the owner sleeps in; set before the first park (see
   * twe__waiter_set_loop) and read by producers only after they took state
   * from SLEEPING, which orders the read after the write. */
  const twe_shard_loop_ops_t *ops;
  void *ctx;
  /* How many times notify actually called wake(): for tests and metrics.
   * Relaxed: a statistic, ordered against nothing. */
  _Atomic uint64_t wakes;
  /* How many times park actually slept. Owner-private. */
  uint64_t sleeps;
} twe_waiter_t;

/* Prepares w in the RUNNING state. ops/ctx may be NULL if the owner sets them
 * with twe__waiter_set_loop before its first park.
 * Thread: any, before the waiter is shared. */
void twe__waiter_init(twe_waiter_t *w, const twe_shard_loop_ops_t *ops, void *ctx);

/* Replaces the loop the owner sleeps in (the io reactor taking over from the
 * default loop). Thread: the owner, while not parked. */
void twe__waiter_set_loop(twe_waiter_t *w, const twe_shard_loop_ops_t *ops, void *ctx);

/* Starts a round: forgets pending notifications, after which everything
 * published before them is visible to the caller. Returns true if there was
 * a notification (for statistics; the caller checks its sources anyway).
 * Thread: the owner. */
bool twe__waiter_begin(twe_waiter_t *w);

/* Ends a round with nothing left to do: sleeps in the loop's run_once for up
 * to timeout_ns (negative: no limit) unless notified since begin, in which
 * case it returns at once. Returns run_once's result, or 0 when it did not
 * sleep. Thread: the owner, after twe__waiter_begin. */
int twe__waiter_park(twe_waiter_t *w, int64_t timeout_ns);

/* Tells the owner that something was published for it. Call after the
 * publishing stores (the exchange is a release). Wakes the owner's loop only
 * if it is asleep and nobody woke it since. Thread: any. */
void twe__waiter_notify(twe_waiter_t *w);

#endif /* TWE_SCHED_WAITER_H */
