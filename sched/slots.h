/* sched/slots.h — slots: how many workflow tasks, activities and local
 * activities may run at once, behind a supplier interface.
 *
 * A poller takes a slot BEFORE it polls (never poll work that cannot start)
 * and the slot goes back exactly once on every path: the poll came back
 * empty, the task completed, failed, was cancelled, preempted, or the worker
 * shut down. The permit (twe_slot_t) carries that guarantee: the first
 * release counts, later ones return -EALREADY and count nothing, even when
 * two threads race to release it.
 *
 * Who decides is a supplier: the fixed supplier here (a counter per kind),
 * or the resource-based one (sched/slots_resource.h) that grants while the
 * cgroup's CPU and memory stay under targets. A supplier may say no at any moment; when it can grant
 * again it calls twe__slots_notify (the fixed one does that on release), and
 * every watcher that was refused is notified through its waiter, so a shard
 * never sleeps on a slot that became free.
 */
#ifndef TWE_SCHED_SLOTS_H
#define TWE_SCHED_SLOTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sched/waiter.h"

typedef enum twe_slot_kind {
  TWE_SLOT_WORKFLOW_TASK = 0,
  TWE_SLOT_ACTIVITY = 1,
  TWE_SLOT_LOCAL_ACTIVITY = 2,
  TWE_SLOT_KINDS = 3
} twe_slot_kind_t;

/* Why a slot went back (for suppliers that learn from it, and metrics). */
typedef enum twe_slot_release_reason {
  TWE_SLOT_UNUSED = 0,   /* no task came (empty poll, shutdown before use) */
  TWE_SLOT_COMPLETED,    /* the task finished */
  TWE_SLOT_FAILED,       /* the task failed */
  TWE_SLOT_CANCELLED,    /* the task was cancelled */
  TWE_SLOT_PREEMPTED,    /* the watchdog took the task away */
  TWE_SLOT_SHUTDOWN,     /* the worker stopped with the task unfinished */
  TWE_SLOT_REASONS
} twe_slot_release_reason_t;

/* A supplier. Every function may be called from any thread at once. */
typedef struct twe_slot_supplier_ops {
  /* Grants one slot of kind without blocking: 0, or -EAGAIN for none now. */
  int (*try_reserve)(void *ctx, twe_slot_kind_t kind);
  /* A granted slot now runs a task (a resource-based supplier counts it
   * towards what it has to keep going). May be NULL. */
  void (*mark_used)(void *ctx, twe_slot_kind_t kind);
  /* Gives a granted slot back. */
  void (*release)(void *ctx, twe_slot_kind_t kind, twe_slot_release_reason_t reason);
  /* How many try_reserve would grant now, or -1 when the supplier cannot
   * tell. For metrics; may be stale by the time it returns. */
  int64_t (*available)(void *ctx, twe_slot_kind_t kind);
  /* Frees ctx. May be NULL. */
  void (*destroy)(void *ctx);
} twe_slot_supplier_ops_t;

typedef struct twe_slots twe_slots_t;

/* A permit: what twe__slots_try_take fills in. Owned by whoever holds the
 * task; may travel between threads (inside a mailbox message). */
typedef struct twe_slot {
  twe_slots_t *slots;
  twe_slot_kind_t kind;
  /* TAKEN, USED or RELEASED; the exchange to RELEASED decides which release
   * counts. */
  _Atomic int state;
} twe_slot_t;

/* The most watchers (typically one per shard) a twe_slots_t accepts. */
#define TWE_SLOTS_MAX_WATCHERS 256

/* Creates slots on a supplier; takes ownership of ctx (ops->destroy frees it
 * with the slots). Returns 0 and *out, -EINVAL or -ENOMEM (ctx is then
 * destroyed too). Thread: any. */
int twe__slots_create(const twe_slot_supplier_ops_t *ops, void *ctx, twe_slots_t **out);

/* Creates slots on the fixed supplier: max[kind] slots of each kind (0: none
 * of that kind; negative: -EINVAL). Thread: any. */
int twe__slots_create_fixed(const int64_t max[TWE_SLOT_KINDS], twe_slots_t **out);

/* Frees the slots and the supplier. Thread: any, once no permit is out and
 * no thread uses them. */
void twe__slots_destroy(twe_slots_t *slots);

/* Registers a waiter to notify when slots may be available again after a
 * refusal. Returns the watcher id (>= 0), -ENOSPC past
 * TWE_SLOTS_MAX_WATCHERS. Thread: any, also while others use the slots. */
int twe__slots_add_watcher(twe_slots_t *slots, twe_waiter_t *waiter);

/* Takes a slot of kind into *slot. Returns 0, or -EAGAIN (none now).
 * Thread: any. */
int twe__slots_try_take(twe_slots_t *slots, twe_slot_kind_t kind, twe_slot_t *slot);

/* As twe__slots_try_take, but on -EAGAIN the watcher's waiter will be
 * notified once a slot of kind may be free again (then take again: another
 * watcher may win it). Thread: the watcher's owner. */
int twe__slots_try_take_or_watch(twe_slots_t *slots, twe_slot_kind_t kind, int watcher,
                                 twe_slot_t *slot);

/* Moves a permit from src to dst (a task takes over its poll's permit);
 * src is left empty (releasing it does nothing). Thread: the holder. */
void twe__slot_move(twe_slot_t *dst, twe_slot_t *src);

/* Whether the permit is taken and not yet released. Thread: the holder. */
bool twe__slot_held(const twe_slot_t *slot);

/* The permit now runs a task. Returns 0, or -EALREADY if it was released or
 * already marked. Thread: whoever holds the permit. */
int twe__slot_mark_used(twe_slot_t *slot);

/* Gives the slot back. Returns 0 the first time; -EALREADY afterwards, and
 * then nothing is counted. Thread: any. */
int twe__slot_release(twe_slot_t *slot, twe_slot_release_reason_t reason);

/* Whether the watcher was refused a slot of kind and has not been told to
 * try again since (trying before then would only be refused again).
 * Thread: the watcher's owner. */
bool twe__slots_waiting(const twe_slots_t *slots, twe_slot_kind_t kind, int watcher);

/* Tells watchers that were refused a slot of kind to try again (suppliers
 * whose capacity grows without a release call it). Thread: any. */
void twe__slots_notify(twe_slots_t *slots, twe_slot_kind_t kind);

/* The supplier's view of what is free (-1: unknown). Thread: any. */
int64_t twe__slots_available(const twe_slots_t *slots, twe_slot_kind_t kind);

/* Permits taken and not yet released, per kind. Thread: any. */
int64_t twe__slots_outstanding(const twe_slots_t *slots, twe_slot_kind_t kind);

#endif /* TWE_SCHED_SLOTS_H */
