/* engine/run_cache.h — a shard's workflow cache: the runs it keeps between
 * their workflow tasks, found by run id (a chained hash) and evicted least
 * recently used first. Entries in flight (busy), and runs whose local
 * activities are still running, are never evicted by a trim. It counts cached_workflows and cache_evictions in the shard's
 * counters.
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
  bool busy;                                    /* a task of this run is in flight */
  /* A poller holding a second task for this run (the server re-issued a
   * task that timed out while ours was still in flight); it goes on when
   * the first one ends. */
  struct wf_poller *parked;
} twe__cached_run_t;

typedef struct twe__run_cache {
  twe__cached_run_t **buckets;
  size_t n_buckets, n_cached;
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
/* Drops e and destroys its run (abandoning its fibers). */
void twe__run_cache_evict(twe__run_cache_t *c, twe__cached_run_t *e);
/* Evicts least recently used entries that are not busy (nor waiting for
 * local activities) until at most capacity are left; each is a forced
 * eviction (counted, and logged: held back when they come often). */
void twe__run_cache_trim(twe__run_cache_t *c, size_t capacity);
/* Evicts every entry and frees the table. */
void twe__run_cache_destroy(twe__run_cache_t *c);

#endif /* TWE_ENGINE_RUN_CACHE_H */
