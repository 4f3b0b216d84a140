/* engine/run_cache.h — a shard's workflow cache: the runs it keeps between
 * their workflow tasks, found by run id (a chained hash) and evicted least
 * recently used first when it holds more runs than its capacity, or more
 * bytes than its byte bound (twe__run_memory of each run as of going idle,
 * plus the entry). Entries in flight (busy), and runs whose local
 * activities are still running, are never evicted by a trim. Runs idle for
 * stow_after_ns are stowed (twe__run_stow: their fibers' stacks copied off
 * their pages) by twe__run_cache_stow_idle, oldest first. It keeps
 * cached_workflows, cached_bytes and cached_runs_stowed in the shard's
 * counters, and counts cache_evictions and cache_forced_evictions there
 * and forced evictions in its metrics too.
 *
 * Thread: the shard thread that owns it. */
#ifndef TWE_ENGINE_RUN_CACHE_H
#define TWE_ENGINE_RUN_CACHE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "engine/workflow/run.h"
#include "engine/worker_internal.h"

struct wf_poller; /* engine/workflow_poller.c */

/* A run in the cache. */
typedef struct twe__cached_run {
  twe_run_t *run;
  const char *run_id; /* the run's own copy */
  uint64_t hash;
  struct twe__cached_run *hash_next;
  struct twe__cached_run *lru_prev, *lru_next; /* most recent at the head */
  size_t bytes;          /* what the run held when it last went idle or was
                            stowed (twe__run_memory), the entry included */
  int64_t idle_since_ns; /* when its last task ended (monotonic) */
  bool busy;             /* a task of this run is in flight */
  bool stowed;           /* stowed when it last went idle or by a sweep (a task
                            unstows it, and the next idle counts anew) */
  /* A poller holding a second task for this run (the server re-issued a
   * task that timed out while ours was still in flight); it goes on when
   * the first one ends. */
  struct wf_poller *parked;
} twe__cached_run_t;

typedef struct twe__run_cache {
  twe__cached_run_t **buckets;
  size_t n_buckets, n_cached;
  size_t bytes;    /* the entries' bytes, their runs' as of going idle */
  size_t n_stowed; /* entries stowed */
  /* Stowing: entries idle this long are stowed (0: at once; < 0: never).
   * stow_front is the most recently used entry the last sweep reached:
   * every entry from it to the tail was looked at (and stowed unless
   * busy), so a sweep goes on from its more recent neighbour. */
  int64_t stow_after_ns;
  struct twe__cached_run *stow_front;
  twe__cached_run_t *lru_head, *lru_tail;
  twe__shard_counters_t *counters; /* borrowed */
  struct twe__metrics *metrics;     /* borrowed; forced evictions */
  twe_wshard_t *shard;              /* borrowed; its worker's log (NULL: stderr) */
} twe__run_cache_t;

/* The entry of run_id, or NULL. */
twe__cached_run_t *twe__run_cache_find(twe__run_cache_t *c, const char *run_id);
/* Makes e the most recently used. */
void twe__run_cache_touch(twe__run_cache_t *c, twe__cached_run_t *e);
/* Adds run (the cache owns it from here), busy: its first task is being
 * processed. Returns the entry, or NULL when out of memory (run is then
 * still the caller's). */
twe__cached_run_t *twe__run_cache_insert(twe__run_cache_t *c, twe_run_t *run);
/* A task of e's run ended and the run stays cached: e is no longer busy
 * and becomes the most recently used, idle since now; its bytes are
 * counted anew (stowed at once when stow_after_ns is 0). */
void twe__run_cache_idle(twe__run_cache_t *c, twe__cached_run_t *e, int64_t now_ns);
/* Stows the runs idle for stow_after_ns or longer at now_ns, oldest
 * first, and counts their bytes anew. Returns how many it stowed. */
size_t twe__run_cache_stow_idle(twe__run_cache_t *c, int64_t now_ns);
/* Drops e and destroys its run (abandoning its fibers). */
void twe__run_cache_evict(twe__run_cache_t *c, twe__cached_run_t *e);
/* Evicts least recently used entries that are not busy (nor waiting for
 * local activities) until at most capacity are left and they hold at most
 * max_bytes (0: no byte bound); each is a forced eviction (counted, and
 * logged: held back when they come often). */
void twe__run_cache_trim(twe__run_cache_t *c, size_t capacity, size_t max_bytes);
/* Evicts every entry and frees the table. */
void twe__run_cache_destroy(twe__run_cache_t *c);

#endif /* TWE_ENGINE_RUN_CACHE_H */
