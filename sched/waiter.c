/* sched/waiter.c — the coalesced wake-up protocol of sched/waiter.h. */
#include <stdatomic.h>

#include "sched/waiter.h"

void twe__waiter_init(twe_waiter_t *w, const twe_shard_loop_ops_t *ops, void *ctx) {
  atomic_init(&w->state, TWE_WAITER_RUNNING);
  atomic_init(&w->wakes, 0);
  w->sleeps = 0;
  w->ops = ops;
  w->ctx = ctx;
}

void twe__waiter_set_loop(twe_waiter_t *w, const twe_shard_loop_ops_t *ops, void *ctx) {
  /* Plain stores: a producer reads ops/ctx only after taking the state from
   * SLEEPING, and the owner's release in park orders these stores before
   * that. */
  w->ops = ops;
  w->ctx = ctx;
}

bool twe__waiter_begin(twe_waiter_t *w) {
  /* Acquire: pairs with the release in twe__waiter_notify, so whatever a
   * producer published before notifying is visible to the scan that follows.
   * Also resets SLEEPING left by a run_once that returned on its own (I/O or
   * timeout). */
  return atomic_exchange_explicit(&w->state, TWE_WAITER_RUNNING, memory_order_acquire) ==
         TWE_WAITER_NOTIFIED;
}

int twe__waiter_park(twe_waiter_t *w, int64_t timeout_ns) {
  int expected = TWE_WAITER_RUNNING;
  /* Release: publishes ops/ctx (set_loop) to the producer that will take
   * SLEEPING and call wake. Acquire on failure: the state is NOTIFIED, and
   * the caller's next begin() acquires again anyway. Being a read-modify-
   * write of the same atomic the producers exchange is what closes the lost
   * wake-up window: no fence needed. */
  if (!atomic_compare_exchange_strong_explicit(&w->state, &expected, TWE_WAITER_SLEEPING,
                                               memory_order_acq_rel, memory_order_acquire))
    return 0;
  w->sleeps++;
  return w->ops->run_once(w->ctx, timeout_ns);
}

void twe__waiter_notify(twe_waiter_t *w) {
  /* Release: orders the producer's publishing stores before the
   * notification the owner's begin() acquires. Acquire: on taking SLEEPING,
   * makes the owner's ops/ctx visible before we call them. An exchange (not a
   * load first) because a plain load could see a stale NOTIFIED that the
   * owner already consumed, and then nobody would wake it. */
  int prev = atomic_exchange_explicit(&w->state, TWE_WAITER_NOTIFIED, memory_order_acq_rel);
  if (prev == TWE_WAITER_SLEEPING) {
    atomic_fetch_add_explicit(&w->wakes, 1, memory_order_relaxed);
    w->ops->wake(w->ctx);
  }
}
