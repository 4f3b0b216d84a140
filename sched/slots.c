/* sched/slots.c — permits, watchers and the fixed supplier of
 * sched/slots.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "sched/slots.h"

enum { SLOT_TAKEN = 1, SLOT_USED, SLOT_RELEASED };

struct watcher {
  twe_waiter_t *waiter;
  /* Set by the watcher's owner after a refusal, taken by whoever frees a
   * slot of that kind; see try_take_or_watch for the handshake. */
  _Atomic int want[TWE_SLOT_KINDS];
};

struct twe_slots {
  const twe_slot_supplier_ops_t *ops;
  void *ctx;
  /* Relaxed counters for metrics and tests; they order nothing. */
  _Atomic int64_t outstanding[TWE_SLOT_KINDS];
  /* Watchers are added under add_mu (shards add theirs as they start,
   * while others already take slots); a watcher is set up before the
   * release store of n_watchers publishes it. */
  pthread_mutex_t add_mu;
  _Atomic unsigned n_watchers;
  struct watcher watchers[TWE_SLOTS_MAX_WATCHERS];
};

int twe__slots_create(const twe_slot_supplier_ops_t *ops, void *ctx, twe_slots_t **out) {
  if (!ops || !ops->try_reserve || !ops->release || !out) {
    if (ops && ops->destroy) ops->destroy(ctx);
    return -EINVAL;
  }
  twe_slots_t *s = calloc(1, sizeof *s);
  if (!s) {
    if (ops->destroy) ops->destroy(ctx);
    return -ENOMEM;
  }
  s->ops = ops;
  s->ctx = ctx;
  for (int k = 0; k < TWE_SLOT_KINDS; k++) atomic_init(&s->outstanding[k], 0);
  pthread_mutex_init(&s->add_mu, NULL);
  atomic_init(&s->n_watchers, 0);
  *out = s;
  return 0;
}

void twe__slots_destroy(twe_slots_t *slots) {
  if (!slots) return;
  if (slots->ops->destroy) slots->ops->destroy(slots->ctx);
  pthread_mutex_destroy(&slots->add_mu);
  free(slots);
}

int twe__slots_add_watcher(twe_slots_t *slots, twe_waiter_t *waiter) {
  if (!waiter) return -EINVAL;
  pthread_mutex_lock(&slots->add_mu);
  unsigned n = atomic_load_explicit(&slots->n_watchers, memory_order_relaxed);
  if (n == TWE_SLOTS_MAX_WATCHERS) {
    pthread_mutex_unlock(&slots->add_mu);
    return -ENOSPC;
  }
  struct watcher *w = &slots->watchers[n];
  w->waiter = waiter;
  for (int k = 0; k < TWE_SLOT_KINDS; k++) atomic_init(&w->want[k], 0);
  atomic_store_explicit(&slots->n_watchers, n + 1, memory_order_release);
  pthread_mutex_unlock(&slots->add_mu);
  return (int)n;
}

int twe__slots_try_take(twe_slots_t *slots, twe_slot_kind_t kind, twe_slot_t *slot) {
  if ((unsigned)kind >= TWE_SLOT_KINDS || !slot) return -EINVAL;
  int r = slots->ops->try_reserve(slots->ctx, kind);
  if (r < 0) return r;
  atomic_fetch_add_explicit(&slots->outstanding[kind], 1, memory_order_relaxed);
  slot->slots = slots;
  slot->kind = kind;
  /* Relaxed: the permit travels to other threads only inside messages. */
  atomic_store_explicit(&slot->state, SLOT_TAKEN, memory_order_relaxed);
  return 0;
}

int twe__slots_try_take_or_watch(twe_slots_t *slots, twe_slot_kind_t kind, int watcher,
                                 twe_slot_t *slot) {
  if (watcher < 0 ||
      (unsigned)watcher >= atomic_load_explicit(&slots->n_watchers, memory_order_acquire))
    return -EINVAL;
  int r = twe__slots_try_take(slots, kind, slot);
  if (r != -EAGAIN) return r;
  _Atomic int *want = &slots->watchers[watcher].want[kind];
  /* Store-buffering handshake with twe__slots_notify:
   *   here:     want = 1;  fence; try_reserve (reads the supplier's state)
   *   releaser: release (writes the supplier's state); fence; load want
   * With seq_cst fences on both sides, either our second try sees the freed
   * slot or the releaser sees our flag and notifies us. */
  atomic_store_explicit(want, 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst);
  r = twe__slots_try_take(slots, kind, slot);
  if (r == 0) atomic_store_explicit(want, 0, memory_order_relaxed);
  return r;
}

bool twe__slots_waiting(const twe_slots_t *slots, twe_slot_kind_t kind, int watcher) {
  if ((unsigned)kind >= TWE_SLOT_KINDS || watcher < 0 ||
      (unsigned)watcher >= atomic_load_explicit(&slots->n_watchers, memory_order_acquire))
    return false;
  /* Relaxed: a hint; a notification that clears it also wakes the owner,
   * whose next round reads it again. */
  return atomic_load_explicit(&slots->watchers[watcher].want[kind], memory_order_relaxed) != 0;
}

void twe__slots_notify(twe_slots_t *slots, twe_slot_kind_t kind) {
  if ((unsigned)kind >= TWE_SLOT_KINDS) return;
  /* The releaser's half of the handshake in try_take_or_watch. */
  atomic_thread_fence(memory_order_seq_cst);
  unsigned n = atomic_load_explicit(&slots->n_watchers, memory_order_acquire);
  for (unsigned i = 0; i < n; i++) {
    _Atomic int *want = &slots->watchers[i].want[kind];
    /* The exchange makes one notification per refusal, however many slots
     * are released meanwhile. */
    if (atomic_load_explicit(want, memory_order_relaxed) &&
        atomic_exchange_explicit(want, 0, memory_order_relaxed))
      twe__waiter_notify(slots->watchers[i].waiter);
  }
}

void twe__slot_move(twe_slot_t *dst, twe_slot_t *src) {
  dst->slots = src->slots;
  dst->kind = src->kind;
  /* Relaxed: one holder; the permit travels inside messages. */
  atomic_store_explicit(&dst->state, atomic_load_explicit(&src->state, memory_order_relaxed),
                        memory_order_relaxed);
  atomic_store_explicit(&src->state, 0, memory_order_relaxed);
}

bool twe__slot_held(const twe_slot_t *slot) {
  int st = atomic_load_explicit(&slot->state, memory_order_relaxed);
  return st == SLOT_TAKEN || st == SLOT_USED;
}

int twe__slot_mark_used(twe_slot_t *slot) {
  int expected = SLOT_TAKEN;
  /* Relaxed: the holder is the only one who marks; release decides by its
   * own exchange. */
  if (!atomic_compare_exchange_strong_explicit(&slot->state, &expected, SLOT_USED,
                                               memory_order_relaxed, memory_order_relaxed))
    return -EALREADY;
  twe_slots_t *s = slot->slots;
  if (s->ops->mark_used) s->ops->mark_used(s->ctx, slot->kind);
  return 0;
}

int twe__slot_release(twe_slot_t *slot, twe_slot_release_reason_t reason) {
  /* The one exchange that decides which release counts, even if two threads
   * release the same permit at once (completion racing preemption).
   * acq_rel: the winner sees the holder's last writes to the permit. */
  int prev = atomic_exchange_explicit(&slot->state, SLOT_RELEASED, memory_order_acq_rel);
  if (prev == SLOT_RELEASED) return -EALREADY;
  if (prev != SLOT_TAKEN && prev != SLOT_USED) return -EINVAL; /* never taken */
  twe_slots_t *s = slot->slots;
  atomic_fetch_sub_explicit(&s->outstanding[slot->kind], 1, memory_order_relaxed);
  s->ops->release(s->ctx, slot->kind, reason);
  twe__slots_notify(s, slot->kind);
  return 0;
}

int64_t twe__slots_available(const twe_slots_t *slots, twe_slot_kind_t kind) {
  if ((unsigned)kind >= TWE_SLOT_KINDS || !slots->ops->available) return -1;
  return slots->ops->available(slots->ctx, kind);
}

int64_t twe__slots_outstanding(const twe_slots_t *slots, twe_slot_kind_t kind) {
  if ((unsigned)kind >= TWE_SLOT_KINDS) return -1;
  return atomic_load_explicit(&slots->outstanding[kind], memory_order_relaxed);
}

/* --- the fixed supplier ----------------------------------------------------- */

struct fixed {
  /* Free slots per kind. Relaxed: a count, ordering nothing by itself; the
   * handshake with watchers has its own fences. */
  _Atomic int64_t free[TWE_SLOT_KINDS];
};

static int fixed_try_reserve(void *ctx, twe_slot_kind_t kind) {
  struct fixed *f = ctx;
  int64_t cur = atomic_load_explicit(&f->free[kind], memory_order_relaxed);
  while (cur > 0)
    if (atomic_compare_exchange_weak_explicit(&f->free[kind], &cur, cur - 1,
                                              memory_order_relaxed, memory_order_relaxed))
      return 0;
  return -EAGAIN;
}

static void fixed_release(void *ctx, twe_slot_kind_t kind, twe_slot_release_reason_t reason) {
  (void)reason;
  struct fixed *f = ctx;
  atomic_fetch_add_explicit(&f->free[kind], 1, memory_order_relaxed);
}

static int64_t fixed_available(void *ctx, twe_slot_kind_t kind) {
  struct fixed *f = ctx;
  return atomic_load_explicit(&f->free[kind], memory_order_relaxed);
}

static void fixed_destroy(void *ctx) {
  free(ctx);
}

static const twe_slot_supplier_ops_t fixed_ops = {
  .try_reserve = fixed_try_reserve,
  .mark_used = NULL,
  .release = fixed_release,
  .available = fixed_available,
  .destroy = fixed_destroy,
};

int twe__slots_create_fixed(const int64_t max[TWE_SLOT_KINDS], twe_slots_t **out) {
  for (int k = 0; k < TWE_SLOT_KINDS; k++)
    if (max[k] < 0) return -EINVAL;
  struct fixed *f = calloc(1, sizeof *f);
  if (!f) return -ENOMEM;
  for (int k = 0; k < TWE_SLOT_KINDS; k++) atomic_init(&f->free[k], max[k]);
  return twe__slots_create(&fixed_ops, f, out);
}
