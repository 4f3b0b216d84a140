/* bench/park_bench.c — what a parked, cached run costs, in process, with no
 * server: N runs of a Park workflow (one 1-hour timer) each get their first
 * workflow task through the replay path a worker uses (twe__run_create, one
 * twe__run_apply of a synthetic first-task history: WorkflowExecutionStarted,
 * WorkflowTaskScheduled, WorkflowTaskStarted; the code starts its timer and
 * waits), are put in a shard's run cache (engine/run_cache.c) and handed
 * back idle to it (twe__run_cache_idle) as a worker does after answering
 * the task. Then it measures, per parked run:
 *   RSS         the process's resident set growth (/proc/self/statm);
 *   heap        bytes malloc handed out (jemalloc's stats.allocated), when
 *               the program runs on jemalloc;
 *   accounted   the cache's own count (twe__run_memory of each run, what
 *               max_cached_bytes is checked against);
 * and the CPU time to create and park them. Then it wakes every 100th run
 * (a task that fires its timer: the code must see it and complete) so a
 * stowed run is shown to resume where it waited.
 *
 *   build/bench/park_bench [N [fiber stack bytes [stow]]]
 *                                         (defaults: 100000 0 on)
 *
 * stow "on": each run is stowed as it goes idle (the worker does it after
 * cache_stow_after_ms); "off": never, its fiber keeps its stack page.
 *
 * The synthetic Started event carries what a real one from the dev server
 * does for Park (workflow id and type, task queue, a 36-character run id,
 * original and first execution run ids, timeouts, identity, attempt, no
 * input): the figures are the engine's, not the history's. Nothing here
 * asserts a figure; it prints one Markdown row. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/fiber.h"
#include "engine/registry.h"
#include "engine/run_cache.h"
#include "engine/values.h"
#include "engine/workflow/run.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define NS 1000000000LL
#define T0 (1700000000LL * NS)

static void die(const char *what, int rc) {
  fprintf(stderr, "park_bench: %s: %s\n", what, twe_strerror(rc));
  exit(1);
}

static int64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * NS + ts.tv_nsec;
}

static size_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (!f) return 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  fclose(f);
  return resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* jemalloc's allocated bytes, or 0 when malloc is not jemalloc. */
static size_t heap_bytes(void) {
  typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
  mallctl_fn mallctl = (mallctl_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "mallctl");
  if (!mallctl) return 0;
  uint64_t epoch = 1;
  size_t sz = sizeof epoch;
  (void)mallctl("epoch", &epoch, &sz, &epoch, sz);
  size_t allocated = 0;
  sz = sizeof allocated;
  if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) != 0) return 0;
  return allocated;
}

/* --- the workflow ---------------------------------------------------------------------------- */

static size_t completed;

static void park(twe_workflow_t *wf, void *user) {
  (void)user;
  if (twe_workflow_sleep(wf, 3600 * NS) != 0) abort();
  completed++;
  twe_payload_t one = twe_payload_json("1");
  twe_workflow_complete(wf, &one);
}

/* --- histories -------------------------------------------------------------------------------- */

typedef struct hist {
  twe_arena_t arena;
  twe_event_pb_t *ev[8];
  size_t n;
} hist_t;

static void *halloc(hist_t *h, size_t size) {
  void *p = twe__arena_alloc(&h->arena, size);
  if (!p) die("history", -ENOMEM);
  memset(p, 0, size);
  return p;
}

static Google__Protobuf__Timestamp *ts_at(hist_t *h, int64_t ns) {
  Google__Protobuf__Timestamp *t = halloc(h, sizeof *t);
  google__protobuf__timestamp__init(t);
  t->seconds = ns / NS;
  t->nanos = (int32_t)(ns % NS);
  return t;
}

static Google__Protobuf__Duration *dur(hist_t *h, int64_t s) {
  Google__Protobuf__Duration *d = halloc(h, sizeof *d);
  google__protobuf__duration__init(d);
  d->seconds = s;
  return d;
}

static twe_event_pb_t *add(hist_t *h, int type, int64_t at_ns) {
  twe_event_pb_t *e = halloc(h, sizeof *e);
  temporal__api__history__v1__history_event__init(e);
  e->event_id = (int64_t)h->n + 1;
  e->event_type = (Temporal__Api__Enums__V1__EventType)type;
  e->event_time = ts_at(h, at_ns);
  e->task_id = 1048576 + e->event_id;
  h->ev[h->n++] = e;
  return e;
}

static void add_task(hist_t *h, int64_t at_ns, int with_completed) {
  twe_event_pb_t *s = add(h, EV(WORKFLOW_TASK_SCHEDULED), at_ns);
  Temporal__Api__History__V1__WorkflowTaskScheduledEventAttributes *sa = halloc(h, sizeof *sa);
  temporal__api__history__v1__workflow_task_scheduled_event_attributes__init(sa);
  Temporal__Api__Taskqueue__V1__TaskQueue *tq = halloc(h, sizeof *tq);
  temporal__api__taskqueue__v1__task_queue__init(tq);
  tq->name = "park-bench";
  tq->kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  sa->task_queue = tq;
  sa->start_to_close_timeout = dur(h, 10);
  sa->attempt = 1;
  s->attributes_case = HATTR(WORKFLOW_TASK_SCHEDULED);
  s->workflow_task_scheduled_event_attributes = sa;
  twe_event_pb_t *e = add(h, EV(WORKFLOW_TASK_STARTED), at_ns);
  Temporal__Api__History__V1__WorkflowTaskStartedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_task_started_event_attributes__init(a);
  a->scheduled_event_id = s->event_id;
  a->identity = "12345@park-bench-host";
  a->request_id = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
  a->history_size_bytes = 300;
  e->attributes_case = HATTR(WORKFLOW_TASK_STARTED);
  e->workflow_task_started_event_attributes = a;
  if (!with_completed) return;
  twe_event_pb_t *c = add(h, EV(WORKFLOW_TASK_COMPLETED), at_ns);
  Temporal__Api__History__V1__WorkflowTaskCompletedEventAttributes *ca = halloc(h, sizeof *ca);
  temporal__api__history__v1__workflow_task_completed_event_attributes__init(ca);
  ca->scheduled_event_id = s->event_id;
  ca->started_event_id = e->event_id;
  ca->identity = "12345@park-bench-host";
  c->attributes_case = HATTR(WORKFLOW_TASK_COMPLETED);
  c->workflow_task_completed_event_attributes = ca;
}

/* The first task of run_id: Started, WFT scheduled, WFT started. */
static void first_task(hist_t *h, const char *run_id) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_STARTED), T0);
  Temporal__Api__History__V1__WorkflowExecutionStartedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_started_event_attributes__init(a);
  Temporal__Api__Common__V1__WorkflowType *wt = halloc(h, sizeof *wt);
  temporal__api__common__v1__workflow_type__init(wt);
  wt->name = "Park";
  a->workflow_type = wt;
  Temporal__Api__Taskqueue__V1__TaskQueue *tq = halloc(h, sizeof *tq);
  temporal__api__taskqueue__v1__task_queue__init(tq);
  tq->name = "park-bench";
  tq->kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  a->task_queue = tq;
  a->workflow_execution_timeout = dur(h, 0);
  a->workflow_run_timeout = dur(h, 0);
  a->workflow_task_timeout = dur(h, 10);
  a->original_execution_run_id = (char *)run_id;
  a->first_execution_run_id = (char *)run_id;
  a->identity = "12345@park-bench-driver";
  a->attempt = 1;
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_STARTED);
  e->workflow_execution_started_event_attributes = a;
  add_task(h, T0, 0);
}

/* The next task after the first one was answered: WFT completed, the
 * timer's started and fired events, WFT scheduled and started. */
static void timer_task(hist_t *h) {
  /* event 4: WORKFLOW_TASK_COMPLETED of task 1 */
  twe_event_pb_t *done = add(h, EV(WORKFLOW_TASK_COMPLETED), T0);
  Temporal__Api__History__V1__WorkflowTaskCompletedEventAttributes *ca = halloc(h, sizeof *ca);
  temporal__api__history__v1__workflow_task_completed_event_attributes__init(ca);
  ca->scheduled_event_id = 2;
  ca->started_event_id = 3;
  done->attributes_case = HATTR(WORKFLOW_TASK_COMPLETED);
  done->workflow_task_completed_event_attributes = ca;
  twe_event_pb_t *ts = add(h, EV(TIMER_STARTED), T0);
  Temporal__Api__History__V1__TimerStartedEventAttributes *ta = halloc(h, sizeof *ta);
  temporal__api__history__v1__timer_started_event_attributes__init(ta);
  ta->timer_id = "1";
  ta->start_to_fire_timeout = dur(h, 3600);
  ta->workflow_task_completed_event_id = 4;
  ts->attributes_case = HATTR(TIMER_STARTED);
  ts->timer_started_event_attributes = ta;
  twe_event_pb_t *tf = add(h, EV(TIMER_FIRED), T0 + 3600 * NS);
  Temporal__Api__History__V1__TimerFiredEventAttributes *fa = halloc(h, sizeof *fa);
  temporal__api__history__v1__timer_fired_event_attributes__init(fa);
  fa->timer_id = "1";
  fa->started_event_id = 5;
  tf->attributes_case = HATTR(TIMER_FIRED);
  tf->timer_fired_event_attributes = fa;
  add_task(h, T0 + 3600 * NS, 0);
}

/* --- main ------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
  long stack = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
  bool stow = argc > 3 ? strcmp(argv[3], "off") != 0 : true;
  if (n < 1 || stack < 0 || (argc > 3 && strcmp(argv[3], "on") && strcmp(argv[3], "off"))) {
    fprintf(stderr, "usage: %s [runs (>= 1) [fiber stack bytes [on|off]]]\n", argv[0]);
    return 2;
  }
  twe_registry_t reg;
  twe__registry_init(&reg);
  if (twe__registry_add_workflow(&reg, "Park", park, NULL) < 0) die("registry", -ENOMEM);
  twe_fiber_pool_t *pool = NULL;
  int rc = twe__fiber_pool_create((size_t)stack, &pool);
  if (rc < 0) die("fiber pool", rc);
  twe_fiber_pool_stats_t ps;
  twe__fiber_pool_stats(pool, &ps);
  twe_run_env_t env = {.namespace_name = "default", .task_queue = "park-bench", .registry = &reg,
                       .fibers = pool};
  twe__shard_counters_t counters;
  memset(&counters, 0, sizeof counters);
  twe__run_cache_t cache;
  memset(&cache, 0, sizeof cache);
  cache.counters = &counters;
  cache.stow_after_ns = stow ? 0 : -1;

  /* A task's arena, reset between tasks as a poller's is. */
  twe_arena_t out;
  twe__arena_init(&out, 0);
  hist_t h;
  twe__arena_init(&h.arena, 0);

  size_t rss0 = rss_bytes(), heap0 = heap_bytes();
  int64_t t0 = cpu_ns();
  char wid[32], rid[48];
  for (long i = 0; i < n; i++) {
    snprintf(wid, sizeof wid, "park-%ld", i);
    snprintf(rid, sizeof rid, "%08lx-6d1e-4a5b-9c3d-%012lx", (unsigned long)i,
             (unsigned long)i * 2654435761ul);
    h.n = 0;
    twe__arena_reset(&h.arena);
    first_task(&h, rid);
    twe_run_t *run = NULL;
    if ((rc = twe__run_create(&env, wid, rid, &run)) < 0) die("twe__run_create", rc);
    twe_run_outcome_t o;
    memset(&o, 0, sizeof o);
    twe__arena_reset(&out);
    rc = twe__run_apply(run, h.ev, h.n, &out, &o);
    if (rc != 0 || o.n_commands != 1) {
      fprintf(stderr, "park_bench: first task of run %ld: %d (%zu commands): %s\n", i, rc,
              o.n_commands, o.message);
      return 1;
    }
    twe__cached_run_t *e = twe__run_cache_insert(&cache, run);
    if (!e) die("cache insert", -ENOMEM);
    twe__run_cache_idle(&cache, e, 0);
  }
  int64_t t1 = cpu_ns();
  twe__arena_reset(&out);
  twe__arena_reset(&h.arena);
  size_t rss1 = rss_bytes(), heap1 = heap_bytes();

  /* Wake every 100th run: its timer fires; the code completes. */
  size_t woken = 0, n_wake = 0;
  twe__cached_run_t **wake = malloc(((size_t)n / 100 + 1) * sizeof *wake);
  if (!wake) die("wake list", -ENOMEM);
  for (twe__cached_run_t *e = cache.lru_head; e; e = e->lru_next)
    if (woken++ % 100 == 0) wake[n_wake++] = e; /* waking one moves it to the head */
  for (size_t k = 0; k < n_wake; k++) {
    twe__cached_run_t *e = wake[k];
    h.n = 0;
    twe__arena_reset(&h.arena);
    first_task(&h, twe__run_id(e->run));
    timer_task(&h);
    e->busy = true;
    twe_run_outcome_t o;
    memset(&o, 0, sizeof o);
    twe__arena_reset(&out);
    rc = twe__run_apply(e->run, h.ev + 3, h.n - 3, &out, &o);
    if (rc != 0 || !o.closes_workflow) {
      fprintf(stderr, "park_bench: the timer task: %d: %s\n", rc, o.message);
      return 1;
    }
    twe__run_cache_idle(&cache, e, 0);
  }
  free(wake);
  size_t expect = ((size_t)n + 99) / 100;
  if (completed != expect) {
    fprintf(stderr, "park_bench: %zu runs completed after their timer, not %zu\n", completed,
            expect);
    return 1;
  }

  printf("| runs | fiber stack | stowed | RSS per run | heap per run | accounted per run | CPU µs per run "
         "| woken and completed |\n|---:|---:|---|---:|---:|---:|---:|---:|\n");
  printf("| %ld | %zu KiB | %s | %.0f B | %.0f B | %.0f B | %.1f | %zu |\n", n, ps.stack_size / 1024, stow ? "yes" : "no",
         (double)(rss1 - rss0) / (double)n,
         heap0 || heap1 ? (double)(heap1 - heap0) / (double)n : 0.0,
         (double)cache.bytes / (double)n, (double)(t1 - t0) / 1e3 / (double)n, completed);
  twe__run_cache_destroy(&cache);
  twe__arena_destroy(&out);
  twe__arena_destroy(&h.arena);
  twe__fiber_pool_destroy(pool);
  twe__registry_destroy(&reg);
  return 0;
}
