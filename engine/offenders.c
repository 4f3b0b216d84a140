/* engine/offenders.c — the table of runs the watchdog stopped (see
 * engine/offenders.h): a fixed array of entries, chained by index from a
 * power-of-two bucket array, under one mutex. Offences are rare, so the
 * rare paths (making room) are linear scans; the common path (no offender
 * at all) is one atomic load. */
#define _GNU_SOURCE /* gmtime_r under -std=c11 */
#include "engine/offenders.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_S 1000000000ll

typedef struct entry {
  char run_id[64];
  char type[96];
  uint64_t hash;
  int next;                /* the next entry in its bucket, -1: none */
  bool used;
  unsigned cpu_offences, block_offences;
  int64_t last_ns;         /* the last offence (CLOCK_MONOTONIC) */
  int64_t hold_until_ns;   /* its tasks fail at once until then */
  twe__watched_t *retired; /* the thread it cost, while that may be alive */
} entry_t;

struct twe__offenders {
  twe__offenders_options_t opt;
  pthread_mutex_t lock;
  entry_t *entries;
  int *buckets;
  size_t n_buckets;
  size_t used;
  /* Entries in use. Written under the lock; read without it by the fast
   * path (relaxed: a lookup racing with a first offence may miss it, as it
   * would had it come a moment earlier). */
  _Atomic size_t count;
};

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

int twe__offenders_create(const twe__offenders_options_t *opts, twe__offenders_t **out) {
  twe__offenders_t *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  if (opts) t->opt = *opts;
  if (t->opt.capacity == 0) t->opt.capacity = 4096;
  if (t->opt.hold_ns <= 0) t->opt.hold_ns = 10 * NS_PER_S;
  if (t->opt.max_hold_ns <= 0) t->opt.max_hold_ns = 600 * NS_PER_S;
  if (t->opt.max_hold_ns < t->opt.hold_ns) t->opt.max_hold_ns = t->opt.hold_ns;
  t->n_buckets = 16;
  while (t->n_buckets < t->opt.capacity * 2) t->n_buckets *= 2;
  t->entries = calloc(t->opt.capacity, sizeof *t->entries);
  t->buckets = malloc(t->n_buckets * sizeof *t->buckets);
  if (!t->entries || !t->buckets) {
    free(t->entries);
    free(t->buckets);
    free(t);
    return -ENOMEM;
  }
  for (size_t i = 0; i < t->n_buckets; i++) t->buckets[i] = -1;
  pthread_mutex_init(&t->lock, NULL);
  *out = t;
  return 0;
}

void twe__offenders_destroy(twe__offenders_t *t) {
  if (!t) return;
  pthread_mutex_destroy(&t->lock);
  free(t->entries);
  free(t->buckets);
  free(t);
}

size_t twe__offenders_count(const twe__offenders_t *t) {
  return t ? atomic_load_explicit(&t->count, memory_order_relaxed) : 0;
}

/* --- under the lock ------------------------------------------------------- */

static entry_t *find(twe__offenders_t *t, const char *run_id, uint64_t h) {
  for (int i = t->buckets[h & (t->n_buckets - 1)]; i >= 0; i = t->entries[i].next)
    if (t->entries[i].hash == h && strcmp(t->entries[i].run_id, run_id) == 0)
      return &t->entries[i];
  return NULL;
}

static void unlink_entry(twe__offenders_t *t, entry_t *e) {
  int idx = (int)(e - t->entries);
  for (int *pp = &t->buckets[e->hash & (t->n_buckets - 1)]; *pp >= 0;
       pp = &t->entries[*pp].next)
    if (*pp == idx) {
      *pp = e->next;
      break;
    }
  memset(e, 0, sizeof *e);
  t->used--;
  atomic_store_explicit(&t->count, t->used, memory_order_relaxed);
}

static bool thread_alive(const entry_t *e) {
  return e->retired && !atomic_load_explicit(&e->retired->gone, memory_order_acquire);
}

/* A free entry: an unused one, else the one offended longest ago whose
 * thread is gone (else the oldest of all: the table forgets, the watchdog
 * still bounds the threads). */
static entry_t *make_room(twe__offenders_t *t) {
  entry_t *victim = NULL;
  bool victim_alive = true;
  for (size_t i = 0; i < t->opt.capacity; i++) {
    entry_t *e = &t->entries[i];
    if (!e->used) return e;
    bool alive = thread_alive(e);
    if (!victim || (victim_alive && !alive) ||
        (victim_alive == alive && e->last_ns < victim->last_ns)) {
      victim = e;
      victim_alive = alive;
    }
  }
  unlink_entry(t, victim);
  return victim;
}

/* --- the calls --------------------------------------------------------------- */

void twe__offenders_record(twe__offenders_t *t, const char *run_id, const char *workflow_type,
                           enum twe__offence kind, twe__watched_t *retired, int64_t now_ns) {
  if (!t || !run_id || !*run_id) return;
  uint64_t h = hash_str(run_id);
  pthread_mutex_lock(&t->lock);
  entry_t *e = find(t, run_id, h);
  if (!e) {
    e = make_room(t);
    snprintf(e->run_id, sizeof e->run_id, "%s", run_id);
    snprintf(e->type, sizeof e->type, "%s", workflow_type ? workflow_type : "");
    e->hash = h;
    e->used = true;
    size_t b = h & (t->n_buckets - 1);
    e->next = t->buckets[b];
    t->buckets[b] = (int)(e - t->entries);
    t->used++;
    atomic_store_explicit(&t->count, t->used, memory_order_relaxed);
  }
  e->last_ns = now_ns;
  if (kind == TWE__OFFENCE_CPU) {
    e->cpu_offences++;
  } else {
    e->block_offences++;
    int64_t hold = t->opt.hold_ns;
    for (unsigned i = 1; i < e->block_offences && hold < t->opt.max_hold_ns; i++) hold *= 2;
    if (hold > t->opt.max_hold_ns) hold = t->opt.max_hold_ns;
    e->hold_until_ns = now_ns + hold;
    if (kind == TWE__OFFENCE_RETIRED) e->retired = retired;
  }
  pthread_mutex_unlock(&t->lock);
}

/* "2026-12-06T03:04:05Z", the wall-clock time of monotonic time at_ns. */
static void wall_time(int64_t at_ns, int64_t now_ns, char *buf, size_t len) {
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  time_t when = rt.tv_sec + (time_t)((at_ns - now_ns + NS_PER_S - 1) / NS_PER_S);
  struct tm tm;
  if (!gmtime_r(&when, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(buf, len, "(unknown time)");
}

bool twe__offenders_check(twe__offenders_t *t, const char *run_id, int64_t default_cpu_budget_ns,
                          int64_t now_ns, twe__offender_verdict_t *out) {
  if (!t || !run_id || atomic_load_explicit(&t->count, memory_order_relaxed) == 0) return false;
  uint64_t h = hash_str(run_id);
  pthread_mutex_lock(&t->lock);
  entry_t *e = find(t, run_id, h);
  if (!e) {
    pthread_mutex_unlock(&t->lock);
    return false;
  }
  memset(out, 0, sizeof *out);
  if (e->cpu_offences && default_cpu_budget_ns > 0) {
    unsigned shift = e->cpu_offences < 4 ? e->cpu_offences : 4;
    out->cpu_budget_ns = default_cpu_budget_ns >> shift;
  }
  bool alive = thread_alive(e);
  if (e->retired && !alive) e->retired = NULL; /* gone: nothing left to wait for */
  if (alive || now_ns < e->hold_until_ns) {
    char when[32];
    wall_time(e->hold_until_ns, now_ns, when, sizeof when);
    double ago = (double)(now_ns - e->last_ns) / NS_PER_S;
    char until[160];
    if (alive)
      snprintf(until, sizeof until, "once retired thread %d, still stuck in its code, has exited, "
               "and not before %s", (int)e->retired->tid, when);
    else
      snprintf(until, sizeof until, "at %s (in %.0f s)", when,
               (double)(e->hold_until_ns - now_ns) / NS_PER_S);
    snprintf(out->message, sizeof out->message,
             "workflow task held back by the twe watchdog: workflow \"%s\" (run %s) blocked its "
             "shard thread in workflow code %u time(s), the last %.1f s ago; so that it cannot "
             "take another thread, its code is not run again until %s (the hold doubles with "
             "each offence, up to %.0f s)",
             e->type, e->run_id, e->block_offences, ago, until,
             (double)t->opt.max_hold_ns / NS_PER_S);
    out->hold = true;
  }
  pthread_mutex_unlock(&t->lock);
  return true;
}

void twe__offenders_forget(twe__offenders_t *t, const char *run_id) {
  if (!t || !run_id || atomic_load_explicit(&t->count, memory_order_relaxed) == 0) return;
  uint64_t h = hash_str(run_id);
  pthread_mutex_lock(&t->lock);
  entry_t *e = find(t, run_id, h);
  if (e) unlink_entry(t, e);
  pthread_mutex_unlock(&t->lock);
}
