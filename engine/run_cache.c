/* engine/run_cache.c — a shard's workflow cache (engine/run_cache.h): a
 * chained hash of run ids (FNV-1a, power-of-two buckets doubled as it
 * fills) plus an LRU list. */
#include "engine/run_cache.h"

#include "engine/log.h"
#include "engine/metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

twe__cached_run_t *twe__run_cache_find(twe__run_cache_t *c, const char *run_id) {
  if (!c->n_buckets) return NULL;
  uint64_t h = hash_str(run_id);
  for (twe__cached_run_t *e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->hash_next)
    if (e->hash == h && strcmp(e->run_id, run_id) == 0) return e;
  return NULL;
}

static void lru_unlink(twe__run_cache_t *c, twe__cached_run_t *e) {
  /* The sweep's front moves to the older neighbour, swept already. */
  if (c->stow_front == e) c->stow_front = e->lru_next;
  if (e->lru_prev) e->lru_prev->lru_next = e->lru_next;
  else c->lru_head = e->lru_next;
  if (e->lru_next) e->lru_next->lru_prev = e->lru_prev;
  else c->lru_tail = e->lru_prev;
  e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(twe__run_cache_t *c, twe__cached_run_t *e) {
  e->lru_prev = NULL;
  e->lru_next = c->lru_head;
  if (c->lru_head) c->lru_head->lru_prev = e;
  c->lru_head = e;
  if (!c->lru_tail) c->lru_tail = e;
}

void twe__run_cache_touch(twe__run_cache_t *c, twe__cached_run_t *e) {
  lru_unlink(c, e);
  lru_push_front(c, e);
}

static int grow(twe__run_cache_t *c) {
  size_t n = c->n_buckets ? c->n_buckets * 2 : 64;
  twe__cached_run_t **b = calloc(n, sizeof *b);
  if (!b) return -ENOMEM;
  for (size_t i = 0; i < c->n_buckets; i++) {
    twe__cached_run_t *e = c->buckets[i];
    while (e) {
      twe__cached_run_t *next = e->hash_next;
      e->hash_next = b[e->hash & (n - 1)];
      b[e->hash & (n - 1)] = e;
      e = next;
    }
  }
  free(c->buckets);
  c->buckets = b;
  c->n_buckets = n;
  return 0;
}

static void publish(twe__run_cache_t *c) {
  atomic_store_explicit(&c->counters->cached_workflows, c->n_cached, memory_order_relaxed);
  atomic_store_explicit(&c->counters->cached_bytes, c->bytes, memory_order_relaxed);
  atomic_store_explicit(&c->counters->cached_runs_stowed, c->n_stowed, memory_order_relaxed);
}

twe__cached_run_t *twe__run_cache_insert(twe__run_cache_t *c, twe_run_t *run) {
  if (c->n_cached + 1 > c->n_buckets && grow(c) < 0) return NULL;
  twe__cached_run_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->run = run;
  e->run_id = twe__run_id(run);
  e->hash = hash_str(e->run_id);
  size_t b = e->hash & (c->n_buckets - 1);
  e->hash_next = c->buckets[b];
  c->buckets[b] = e;
  lru_push_front(c, e);
  e->busy = true;
  c->n_cached++;
  publish(c);
  return e;
}

/* e's bytes and stowed state as its run has them now. */
static void count(twe__run_cache_t *c, twe__cached_run_t *e, bool stowed) {
  c->bytes -= e->bytes;
  e->bytes = sizeof *e + twe__run_memory(e->run);
  c->bytes += e->bytes;
  if (stowed && !e->stowed) twe__count(&c->counters->cache_stows, 1);
  c->n_stowed += (size_t)stowed - (size_t)e->stowed;
  e->stowed = stowed;
  publish(c);
}

void twe__run_cache_idle(twe__run_cache_t *c, twe__cached_run_t *e, int64_t now_ns) {
  e->busy = false;
  e->idle_since_ns = now_ns;
  twe__run_cache_touch(c, e);
  /* The task unstowed the run (every call that runs its code or reads
   * its state does). */
  c->n_stowed -= e->stowed;
  e->stowed = twe__run_stowed(e->run);
  c->n_stowed += e->stowed;
  count(c, e, c->stow_after_ns == 0 ? twe__run_stow(e->run) : e->stowed);
}

size_t twe__run_cache_stow_idle(twe__run_cache_t *c, int64_t now_ns) {
  if (c->stow_after_ns < 0) return 0;
  size_t stowed = 0;
  twe__cached_run_t *e = c->stow_front ? c->stow_front->lru_prev : c->lru_tail;
  /* Idle times grow towards the tail: the first entry too young ends it. */
  while (e && (e->busy || now_ns - e->idle_since_ns >= c->stow_after_ns)) {
    if (!e->busy && !e->stowed && twe__run_stow(e->run)) {
      count(c, e, true);
      stowed++;
    }
    c->stow_front = e;
    e = e->lru_prev;
  }
  return stowed;
}

void twe__run_cache_evict(twe__run_cache_t *c, twe__cached_run_t *e) {
  c->bytes -= e->bytes;
  c->n_stowed -= e->stowed;
  size_t b = e->hash & (c->n_buckets - 1);
  for (twe__cached_run_t **pp = &c->buckets[b]; *pp; pp = &(*pp)->hash_next)
    if (*pp == e) {
      *pp = e->hash_next;
      break;
    }
  lru_unlink(c, e);
  twe__run_destroy(e->run);
  free(e);
  c->n_cached--;
  twe__count(&c->counters->cache_evictions, 1);
  publish(c);
}

void twe__run_cache_trim(twe__run_cache_t *c, size_t capacity, size_t max_bytes) {
  twe__cached_run_t *e = c->lru_tail;
  while (e && (c->n_cached > capacity || (max_bytes && c->bytes > max_bytes))) {
    twe__cached_run_t *prev = e->lru_prev;
    /* A run whose local activities still run keeps its place: evicted,
     * their results would be lost and the activities run again. */
    if (!e->busy && !(e->run && twe__run_locals_in_flight(e->run))) {
      twe__m_add(c->metrics, TWE_M_STICKY_CACHE_FORCED_EVICTION, 0, 1);
      twe__count(&c->counters->cache_forced_evictions, 1);
      /* Not about one run: at a high rate these are one message, held
       * back and counted. */
      twe__log(c->shard ? c->shard->worker : NULL, TWE_LOG_INFO,
               c->shard ? (int)c->shard->index : -1, NULL, NULL, NULL,
               c->n_cached > capacity
                   ? "the workflow cache is full (%zu runs on this shard): the least recently "
                     "used runs are evicted, and replay their history at their next task "
                     "(max_cached_workflows sets the size)"
                   : "the workflow cache holds %zu bytes on this shard, its share of "
                     "max_cached_bytes: the least recently used runs are evicted, and replay "
                     "their history at their next task",
               c->n_cached > capacity ? capacity : max_bytes);
      twe__run_cache_evict(c, e);
    }
    e = prev;
  }
}

void twe__run_cache_destroy(twe__run_cache_t *c) {
  while (c->lru_head) twe__run_cache_evict(c, c->lru_head);
  free(c->buckets);
  c->buckets = NULL;
  c->n_buckets = 0;
}
