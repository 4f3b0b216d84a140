/* bench/replay_bench.c — the ceiling of replay: how many history events per
 * second one core replays, in-process, with no server. Synthetic histories
 * of closed workflows are built as protobuf messages and replayed the way
 * twe_worker_replay_json does (engine/replay.c): twe__run_create, one
 * twe__run_apply of the whole history (every workflow task in it re-runs
 * the code and its commands are matched), twe__run_check_replayed,
 * twe__run_destroy. That is the cost of a cache miss on a long history,
 * and what the watchdog's default CPU budget (5 s per task) must allow.
 *
 *   build-<name>/bench/replay_bench [events [reps [result_bytes]]]
 *                                              (defaults: 51200 5 16)
 *
 * e.g. cmake -S . -B build-bench -G Ninja && ninja -C build-bench replay_bench &&
 *      build-bench/bench/replay_bench
 *
 * Histories:
 *   sequential  the workflow runs activity "Step" N times, one after the
 *               other: 6 events per activity (scheduled, started,
 *               completed, then a workflow task: scheduled, started,
 *               completed), N chosen so the history has about `events`
 *               events (51,200 is the server's default history limit);
 *               each activity returns a JSON string of result_bytes bytes,
 *               which the code receives;
 *   fanout      the workflow starts 1,000 activities "Par" in its first
 *               task and waits for all: 1,000 scheduled events, 2,000
 *               started/completed, one workflow task, the completion.
 *
 * Measured on the calling thread's CPU clock, median of `reps` runs:
 *   replay  create + apply + check + destroy, from decoded messages;
 *   decode  the history's wire bytes decoded into an arena (what a worker
 *           does first with a history it fetched), for comparison.
 * The thread is pinned to the first CPU of its affinity mask. Prints a
 * Markdown table. */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_* */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/fiber.h"
#include "engine/registry.h"
#include "engine/workflow/run.h"
#include "engine/values.h"
#include "proto/codec.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define NS 1000000000LL
#define T0 (1700000000LL * NS)
#define FANOUT 1000
#define MAX_REPS 101

static void die(const char *what, int rc) {
  fprintf(stderr, "replay_bench: %s: %s\n", what, twe_strerror(rc));
  exit(1);
}

static int64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * NS + ts.tv_nsec;
}

/* --- workflows -------------------------------------------------------------------------- */

static const twe_activity_options_t opts = {.start_to_close_timeout_ns = 10 * NS};
static size_t n_sequential; /* activities of the sequential workflow */
static size_t results_seen; /* activity results the code received, per replay */

static void wf_sequential(twe_workflow_t *wf, void *user) {
  (void)user;
  for (size_t i = 0; i < n_sequential; i++) {
    twe_payload_t r;
    if (twe_workflow_execute_activity(wf, "Step", &opts, NULL, 0, &r, NULL) != 0) abort();
    results_seen += r.len > 0;
  }
}

static void wf_fanout(twe_workflow_t *wf, void *user) {
  (void)user;
  static twe_future_t *fs[FANOUT]; /* one run at a time */
  for (size_t i = 0; i < FANOUT; i++)
    if (twe_workflow_start_activity(wf, "Par", &opts, NULL, 0, &fs[i]) < 0) abort();
  if (twe_future_wait_all(wf, fs, FANOUT) != 0) abort();
  for (size_t i = 0; i < FANOUT; i++) {
    twe_payload_t r;
    if (twe_future_result(fs[i], &r) == 0 && r.len > 0) results_seen++;
  }
}

/* --- synthetic histories ------------------------------------------------------------------ */

typedef struct hist {
  twe_arena_t arena;
  twe_event_pb_t **ev;
  size_t n, cap;
  twe_payloads_pb_t *result; /* every activity's result */
} hist_t;

static void *halloc(hist_t *h, size_t size) {
  void *p = twe__arena_alloc(&h->arena, size);
  if (!p) die("history", -ENOMEM);
  memset(p, 0, size);
  return p;
}

static twe_event_pb_t *add(hist_t *h, int type) {
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 1024;
    h->ev = realloc(h->ev, h->cap * sizeof *h->ev);
    if (!h->ev) die("history", -ENOMEM);
  }
  twe_event_pb_t *e = halloc(h, sizeof *e);
  temporal__api__history__v1__history_event__init(e);
  e->event_id = (int64_t)h->n + 1;
  e->event_type = (Temporal__Api__Enums__V1__EventType)type;
  Google__Protobuf__Timestamp *t = halloc(h, sizeof *t);
  google__protobuf__timestamp__init(t);
  t->seconds = (T0 + e->event_id * NS / 1000) / NS; /* a millisecond apart */
  t->nanos = (int32_t)((T0 + e->event_id * NS / 1000) % NS);
  e->event_time = t;
  h->ev[h->n++] = e;
  return e;
}

static void h_started(hist_t *h, const char *type) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_STARTED));
  Temporal__Api__History__V1__WorkflowExecutionStartedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_started_event_attributes__init(a);
  Temporal__Api__Common__V1__WorkflowType *wt = halloc(h, sizeof *wt);
  temporal__api__common__v1__workflow_type__init(wt);
  wt->name = twe__str(&h->arena, type);
  a->workflow_type = wt;
  Temporal__Api__Taskqueue__V1__TaskQueue *tq = halloc(h, sizeof *tq);
  temporal__api__taskqueue__v1__task_queue__init(tq);
  tq->name = twe__str(&h->arena, "bench");
  a->task_queue = tq;
  a->attempt = 1;
  a->original_execution_run_id = twe__str(&h->arena, "replay-bench-run");
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_STARTED);
  e->workflow_execution_started_event_attributes = a;
}

/* A workflow task that completed: scheduled, started, completed. */
static void h_task(hist_t *h) {
  add(h, EV(WORKFLOW_TASK_SCHEDULED));
  twe_event_pb_t *e = add(h, EV(WORKFLOW_TASK_STARTED));
  Temporal__Api__History__V1__WorkflowTaskStartedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_task_started_event_attributes__init(a);
  a->scheduled_event_id = e->event_id - 1;
  e->attributes_case = HATTR(WORKFLOW_TASK_STARTED);
  e->workflow_task_started_event_attributes = a;
  twe_event_pb_t *c = add(h, EV(WORKFLOW_TASK_COMPLETED));
  Temporal__Api__History__V1__WorkflowTaskCompletedEventAttributes *ca = halloc(h, sizeof *ca);
  temporal__api__history__v1__workflow_task_completed_event_attributes__init(ca);
  ca->scheduled_event_id = e->event_id - 1;
  ca->started_event_id = e->event_id;
  c->attributes_case = HATTR(WORKFLOW_TASK_COMPLETED);
  c->workflow_task_completed_event_attributes = ca;
}

static int64_t h_act_scheduled(hist_t *h, size_t seq, const char *type) {
  twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_SCHEDULED));
  Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__activity_task_scheduled_event_attributes__init(a);
  char id[24];
  snprintf(id, sizeof id, "%zu", seq); /* the engine's ids: "1", "2", ... */
  a->activity_id = twe__str(&h->arena, id);
  Temporal__Api__Common__V1__ActivityType *at = halloc(h, sizeof *at);
  temporal__api__common__v1__activity_type__init(at);
  at->name = twe__str(&h->arena, type);
  a->activity_type = at;
  e->attributes_case = HATTR(ACTIVITY_TASK_SCHEDULED);
  e->activity_task_scheduled_event_attributes = a;
  return e->event_id;
}

/* STARTED + COMPLETED with the shared small JSON result. */
static void h_act_done(hist_t *h, int64_t scheduled) {
  twe_event_pb_t *s = add(h, EV(ACTIVITY_TASK_STARTED));
  Temporal__Api__History__V1__ActivityTaskStartedEventAttributes *sa = halloc(h, sizeof *sa);
  temporal__api__history__v1__activity_task_started_event_attributes__init(sa);
  sa->scheduled_event_id = scheduled;
  sa->attempt = 1;
  s->attributes_case = HATTR(ACTIVITY_TASK_STARTED);
  s->activity_task_started_event_attributes = sa;
  twe_event_pb_t *e = add(h, EV(ACTIVITY_TASK_COMPLETED));
  Temporal__Api__History__V1__ActivityTaskCompletedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__activity_task_completed_event_attributes__init(a);
  a->scheduled_event_id = scheduled;
  a->started_event_id = s->event_id;
  a->result = h->result;
  e->attributes_case = HATTR(ACTIVITY_TASK_COMPLETED);
  e->activity_task_completed_event_attributes = a;
}

static void h_workflow_completed(hist_t *h) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_COMPLETED));
  Temporal__Api__History__V1__WorkflowExecutionCompletedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_completed_event_attributes__init(a);
  a->workflow_task_completed_event_id = e->event_id - 1;
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_COMPLETED);
  e->workflow_execution_completed_event_attributes = a;
}

/* Every activity's result: a JSON string of result_bytes bytes. */
static size_t result_bytes = 16;

static void h_init(hist_t *h) {
  memset(h, 0, sizeof *h);
  twe__arena_init(&h->arena, 0);
  char *json = halloc(h, result_bytes + 1);
  memset(json, 'x', result_bytes);
  json[0] = json[result_bytes - 1] = '"';
  twe_payload_t v = twe_payload_json(json);
  if (twe__values_to_payloads(&h->arena, &v, 1, &h->result) < 0) die("history", -ENOMEM);
}

static void build_sequential(hist_t *h, size_t n) {
  h_init(h);
  h_started(h, "Sequential");
  h_task(h);
  for (size_t i = 1; i <= n; i++) {
    h_act_done(h, h_act_scheduled(h, i, "Step"));
    h_task(h);
  }
  h_workflow_completed(h);
}

static void build_fanout(hist_t *h) {
  h_init(h);
  h_started(h, "Fanout");
  h_task(h);
  int64_t first = h_act_scheduled(h, 1, "Par");
  for (size_t i = 2; i <= FANOUT; i++) h_act_scheduled(h, i, "Par");
  for (size_t i = 0; i < FANOUT; i++) h_act_done(h, first + (int64_t)i);
  h_task(h);
  h_workflow_completed(h);
}

/* --- measuring ------------------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int64_t median(int64_t *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_i64);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One replay of h, as engine/replay.c does it; CPU ns. */
static int64_t replay_once(const twe_run_env_t *env, hist_t *h, size_t activities) {
  twe_arena_t out_arena;
  twe__arena_init(&out_arena, 0);
  int64_t t0 = thread_cpu_ns();
  twe_run_t *run = NULL;
  int rc = twe__run_create(env, "replay", "replay", &run);
  if (rc < 0) die("twe__run_create", rc);
  twe_run_outcome_t out;
  memset(&out, 0, sizeof out);
  results_seen = 0;
  rc = twe__run_apply(run, h->ev, h->n, &out_arena, &out);
  if (rc == 0 && out.replay_only) rc = twe__run_check_replayed(run, &out);
  if (rc < 0 || !out.replay_only) {
    fprintf(stderr, "replay_bench: replay failed (%d): %s\n", rc, out.message);
    exit(1);
  }
  if (results_seen != activities) {
    fprintf(stderr, "replay_bench: the code saw %zu activity results, not %zu\n", results_seen,
            activities);
    exit(1);
  }
  twe__run_destroy(run);
  int64_t t1 = thread_cpu_ns();
  twe__arena_destroy(&out_arena);
  return t1 - t0;
}

/* One decode of the history's wire bytes into a fresh arena; CPU ns. */
static int64_t decode_once(const uint8_t *bytes, size_t len, size_t n_events) {
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  int64_t t0 = thread_cpu_ns();
  ProtobufCMessage *msg = NULL;
  int rc = twe__proto_decode(&temporal__api__history__v1__history__descriptor, &arena, bytes, len,
                             &msg);
  int64_t t1 = thread_cpu_ns();
  if (rc < 0) die("decode", rc);
  if (((Temporal__Api__History__V1__History *)msg)->n_events != n_events) die("decode", TWE_EDECODE);
  twe__arena_destroy(&arena);
  return t1 - t0;
}

static void row(const char *name, const twe_run_env_t *env, hist_t *h, size_t activities,
                int reps) {
  Temporal__Api__History__V1__History hist_msg;
  temporal__api__history__v1__history__init(&hist_msg);
  hist_msg.events = h->ev;
  hist_msg.n_events = h->n;
  size_t len = protobuf_c_message_get_packed_size(&hist_msg.base);
  uint8_t *bytes = malloc(len ? len : 1);
  if (!bytes) die("encode", -ENOMEM);
  protobuf_c_message_pack(&hist_msg.base, bytes);

  (void)replay_once(env, h, activities); /* warm: pool stacks, allocator */
  int64_t replay[MAX_REPS], decode[MAX_REPS];
  for (int i = 0; i < reps; i++) replay[i] = replay_once(env, h, activities);
  for (int i = 0; i < reps; i++) decode[i] = decode_once(bytes, len, h->n);
  int64_t r = median(replay, reps), d = median(decode, reps);
  printf("| %-11s | %7zu | %13.2f | %10.0f | %8.0f | %7.1f | %9.2f | %14.0f |\n", name, h->n,
         (double)r / 1e6, (double)h->n * 1e9 / (double)r, (double)r / (double)h->n,
         (double)len / 1e6, (double)d / 1e6, (double)(r + d) / (double)h->n);
  free(bytes);
}

static int pin_first_cpu(void) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return -1;
  for (int i = 0; i < CPU_SETSIZE; i++)
    if (CPU_ISSET(i, &set)) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(i, &one);
      return pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0 ? i : -1;
    }
  return -1;
}

int main(int argc, char **argv) {
  long events = argc > 1 ? strtol(argv[1], NULL, 10) : 51200;
  int reps = argc > 2 ? atoi(argv[2]) : 5;
  long rbytes = argc > 3 ? strtol(argv[3], NULL, 10) : 16;
  if (events < 11 || reps < 1 || reps > MAX_REPS || rbytes < 2 || rbytes > (1 << 20)) {
    fprintf(stderr, "usage: %s [events (>= 11) [reps (1..%d) [result bytes (2..1048576)]]]\n",
            argv[0], MAX_REPS);
    return 2;
  }
  result_bytes = (size_t)rbytes;
  /* 4 events around the activities (started, first task), 1 after
   * (completed), 6 per activity. */
  n_sequential = (size_t)(events - 5) / 6;
  int cpu = pin_first_cpu();

  twe_registry_t reg;
  twe__registry_init(&reg);
  if (twe__registry_add_workflow(&reg, "Sequential", wf_sequential, NULL) < 0 ||
      twe__registry_add_workflow(&reg, "Fanout", wf_fanout, NULL) < 0)
    die("registry", -ENOMEM);
  twe_fiber_pool_t *pool = NULL;
  int rc = twe__fiber_pool_create(0, &pool);
  if (rc < 0) die("fiber pool", rc);
  twe_run_env_t env = {.namespace_name = "default", .task_queue = "bench", .registry = &reg, .fibers = pool};

  hist_t seq, fan;
  build_sequential(&seq, n_sequential);
  build_fanout(&fan);

  printf("replay_bench: median of %d replays per row, thread CPU time, CPU %d, activity "
         "results of %zu bytes\n"
         "(replay: create + apply of the whole closed history + check + destroy; decode: the\n"
         "history's wire bytes into an arena, separately)\n\n", reps, cpu, result_bytes);
  printf("| %-11s | %7s | %13s | %10s | %8s | %7s | %9s | %14s |\n", "history", "events",
         "replay CPU ms", "events/s", "ns/event", "wire MB", "decode ms", "ns/event +dec.");
  printf("|-------------|--------:|--------------:|-----------:|---------:|--------:|----------:|"
         "---------------:|\n");
  char name[32];
  snprintf(name, sizeof name, "seq %zu", n_sequential);
  row(name, &env, &seq, n_sequential, reps);
  snprintf(name, sizeof name, "fanout %d", FANOUT);
  row(name, &env, &fan, FANOUT, reps);

  twe__arena_destroy(&seq.arena);
  twe__arena_destroy(&fan.arena);
  free(seq.ev);
  free(fan.ev);
  twe__fiber_pool_destroy(pool);
  twe__registry_destroy(&reg);
  return 0;
}
