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
 *   build-<name>/bench/replay_bench --growth [events...]
 *                        (default 100 300 1000 3000 10000 30000 50000)
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
 * Markdown table.
 *
 * --growth: how the cost per event grows with the history's length, for
 * the sequential history at each length given, replayed whole from three
 * starting points, on the thread's CPU clock:
 *   decoded  as "replay" above;
 *   wire     the wire bytes of a GetWorkflowExecutionHistoryResponse
 *            holding the history (encoded once) decoded into an arena reset
 *            per replay, then replayed;
 *   pages    the same in responses of 1,000 events (as the dev server
 *            pages a history), decoded and applied a part at a time as a
 *            worker does on a cache miss (replay_pages);
 *   json     the history as proto/json_write.h writes it (what the CLI's
 *            `workflow show --output json` prints, indented) read with
 *            twe__history_from_json_text into an arena reset per replay,
 *            then replayed (twe_worker_replay_json's path).
 * Every history is built first; then 7 rounds, each a batch of replays
 * (enough to cover about 200,000 events; 3 to 101) of every length and
 * path in turn, so that the machine's busy spells fall on all alike. One
 * JSON line per length and path on stdout (bench/replay_growth.py draws
 * them): {"events":E,"activities":A,"path":"decoded|wire|pages|json","rounds":7,
 * "reps":N,"bytes":B (the input),"decoded_bytes":the decoded history's
 * arena,"ns_per_event":the median round's batch median,
 * "ns_per_event_min":the fastest round's,"ns_per_event_max":the slowest's}. */
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
#include "proto/json.h"
#include "proto/json_write.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
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

/* --- growth ------------------------------------------------------------------------------- */

enum { PATH_DECODED, PATH_WIRE, PATH_PAGES, PATH_JSON, N_PATHS };
static const char *const path_names[N_PATHS] = {"decoded", "wire", "pages", "json"};
/* Events per history page: the dev server's GetWorkflowExecutionHistory
 * pages hold about 1,000 (tests/integration/test_long_history.sh). */
#define PAGE_EVENTS 1000

/* One replay of h from the given path; CPU ns. in: the wire bytes or the
 * JSON text; arena: reset per replay. */
static int64_t replay_from(const twe_run_env_t *env, hist_t *h, size_t activities, int path,
                           const void *in, size_t in_len, twe_arena_t *arena) {
  twe_arena_t out_arena;
  twe__arena_init(&out_arena, 0);
  twe__arena_reset(arena);
  int64_t t0 = thread_cpu_ns();
  twe_event_pb_t **events = h->ev;
  size_t n = h->n;
  if (path == PATH_WIRE) {
    ProtobufCMessage *msg = NULL;
    int rc = twe__proto_decode(
        &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor,
        arena, in, in_len, &msg);
    if (rc < 0) die("decode", rc);
    Temporal__Api__History__V1__History *hm =
        ((Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *)msg)->history;
    events = hm->events;
    n = hm->n_events;
  } else if (path == PATH_JSON) {
    Temporal__Api__History__V1__History *hm = NULL;
    char why[256];
    int rc = twe__history_from_json_text(in, in_len, arena, &hm, why, sizeof why);
    if (rc < 0) {
      fprintf(stderr, "replay_bench: reading the JSON: %s\n", why);
      exit(1);
    }
    events = hm->events;
    n = hm->n_events;
  }
  if (n != h->n) die("the history read back", TWE_EDECODE);
  twe_run_t *run = NULL;
  int rc = twe__run_create(env, "replay", "replay", &run);
  if (rc < 0) die("twe__run_create", rc);
  twe_run_outcome_t out;
  memset(&out, 0, sizeof out);
  results_seen = 0;
  rc = twe__run_apply(run, events, n, &out_arena, &out);
  if (rc == 0 && out.replay_only) rc = twe__run_check_replayed(run, &out);
  if (rc < 0 || !out.replay_only || results_seen != activities) {
    fprintf(stderr, "replay_bench: replay failed (%d): %s\n", rc, out.message);
    exit(1);
  }
  twe__run_destroy(run);
  int64_t t1 = thread_cpu_ns();
  twe__arena_destroy(&out_arena);
  return t1 - t0;
}

/* One length of the growth curve: the history in its three forms, and the
 * figure of each round for each path. */
#define GROWTH_MAX_LENGTHS 16
#define GROWTH_ROUNDS 7
typedef struct glen {
  hist_t h;
  size_t activities;
  uint8_t *wire;
  size_t wire_len;
  uint8_t **pages; /* the history in responses of PAGE_EVENTS events */
  size_t *page_lens, n_pages, pages_len;
  char *text;
  size_t text_len;
  int reps; /* replays per batch */
  double ns[N_PATHS][GROWTH_ROUNDS];
} glen_t;

static uint8_t *encode_history(twe_event_pb_t **events, size_t n, size_t *len) {
  Temporal__Api__History__V1__History hm;
  temporal__api__history__v1__history__init(&hm);
  hm.events = events;
  hm.n_events = n;
  Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse resp;
  temporal__api__workflowservice__v1__get_workflow_execution_history_response__init(&resp);
  resp.history = &hm;
  *len = protobuf_c_message_get_packed_size(&resp.base);
  uint8_t *b = malloc(*len);
  if (!b) die("encode", -ENOMEM);
  protobuf_c_message_pack(&resp.base, b);
  return b;
}

/* One replay of g from its pages, as a worker replays a long history it
 * fetched (engine/workflow_history.c): each page decoded into one of two
 * arenas in turn; after each page the events gathered are applied up to
 * the last WORKFLOW_TASK_SCHEDULED of that page (where every look-ahead
 * ends), the arena holding only applied events is reset, and the rest is
 * carried; the last page applies all. CPU ns. */
static int64_t replay_pages(const twe_run_env_t *env, glen_t *g, twe_arena_t *arenas) {
  static twe_event_pb_t **ev; /* carried + one page */
  static size_t cap;
  if (cap < 2 * PAGE_EVENTS + 8) {
    cap = 2 * PAGE_EVENTS + 8;
    ev = realloc(ev, cap * sizeof *ev);
    if (!ev) die("pages", -ENOMEM);
  }
  twe_arena_t out_arena;
  twe__arena_init(&out_arena, 0);
  twe__arena_reset(&arenas[0]);
  twe__arena_reset(&arenas[1]);
  int64_t t0 = thread_cpu_ns();
  twe_run_t *run = NULL;
  int rc = twe__run_create(env, "replay", "replay", &run);
  if (rc < 0) die("twe__run_create", rc);
  twe_run_outcome_t out;
  memset(&out, 0, sizeof out);
  results_seen = 0;
  size_t n = 0, carried = 0;
  int fill = 0;
  for (size_t p = 0; p < g->n_pages; p++) {
    ProtobufCMessage *msg = NULL;
    rc = twe__proto_decode(
        &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor,
        &arenas[fill], g->pages[p], g->page_lens[p], &msg);
    if (rc < 0) die("decode", rc);
    const Temporal__Api__History__V1__History *hm =
        ((Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *)msg)->history;
    if (n + hm->n_events > cap) die("pages", -ENOMEM);
    memcpy(ev + n, hm->events, hm->n_events * sizeof *ev);
    n += hm->n_events;
    size_t end = 0;
    if (p + 1 == g->n_pages) {
      end = n;
    } else {
      for (size_t k = n; k-- > (carried > 1 ? carried : 1);)
        if (ev[k]->event_type == EV(WORKFLOW_TASK_SCHEDULED)) {
          end = k;
          break;
        }
    }
    if (end == 0) continue; /* no part yet: the next page joins this arena */
    rc = twe__run_apply(run, ev, end, &out_arena, &out);
    if (rc < 0) break;
    memmove(ev, ev + end, (n - end) * sizeof *ev);
    n -= end;
    twe__arena_reset(&arenas[1 - fill]);
    fill = 1 - fill;
    carried = n;
  }
  if (rc == 0 && out.replay_only) rc = twe__run_check_replayed(run, &out);
  if (rc < 0 || !out.replay_only || results_seen != g->activities) {
    fprintf(stderr, "replay_bench: paged replay failed (%d): %s\n", rc, out.message);
    exit(1);
  }
  twe__run_destroy(run);
  int64_t t1 = thread_cpu_ns();
  twe__arena_destroy(&out_arena);
  return t1 - t0;
}

static void growth_prepare(glen_t *g, long events) {
  memset(g, 0, sizeof *g);
  g->activities = (size_t)(events - 5) / 6;
  build_sequential(&g->h, g->activities);
  g->wire = encode_history(g->h.ev, g->h.n, &g->wire_len);
  g->n_pages = (g->h.n + PAGE_EVENTS - 1) / PAGE_EVENTS;
  g->pages = calloc(g->n_pages, sizeof *g->pages);
  g->page_lens = calloc(g->n_pages, sizeof *g->page_lens);
  if (!g->pages || !g->page_lens) die("pages", -ENOMEM);
  for (size_t p = 0; p < g->n_pages; p++) {
    size_t from = p * PAGE_EVENTS, k = g->h.n - from < PAGE_EVENTS ? g->h.n - from : PAGE_EVENTS;
    g->pages[p] = encode_history(g->h.ev + from, k, &g->page_lens[p]);
    g->pages_len += g->page_lens[p];
  }
  Temporal__Api__History__V1__History hm;
  temporal__api__history__v1__history__init(&hm);
  hm.events = g->h.ev;
  hm.n_events = g->h.n;
  json_t *j = NULL;
  if (twe__json_from_message(&hm.base, &j) < 0) die("JSON", -ENOMEM);
  g->text = json_dumps(j, JSON_INDENT(2));
  json_decref(j);
  if (!g->text) die("JSON", -ENOMEM);
  g->text_len = strlen(g->text);
  g->reps = (int)(200000 / g->h.n);
  g->reps = g->reps < 3 ? 3 : g->reps > MAX_REPS ? MAX_REPS : g->reps;
}

/* One replay of g from path; CPU ns. arenas: two, reset per replay. */
static int64_t replay_path(const twe_run_env_t *env, glen_t *g, int path, twe_arena_t *arenas) {
  n_sequential = g->activities; /* what wf_sequential runs */
  if (path == PATH_PAGES) return replay_pages(env, g, arenas);
  const void *in = path == PATH_WIRE ? (const void *)g->wire : g->text;
  size_t in_len = path == PATH_WIRE ? g->wire_len : path == PATH_JSON ? g->text_len : 0;
  return replay_from(env, &g->h, g->activities, path, in, in_len, &arenas[0]);
}

/* One batch: g->reps replays from path; the median's CPU ns per event. */
static double growth_batch(const twe_run_env_t *env, glen_t *g, int path, twe_arena_t *arenas) {
  int64_t ns[MAX_REPS];
  for (int i = 0; i < g->reps; i++) ns[i] = replay_path(env, g, path, arenas);
  return (double)median(ns, g->reps) / (double)g->h.n;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void growth_run(const twe_run_env_t *env, const long *events, size_t n) {
  static glen_t g[GROWTH_MAX_LENGTHS];
  for (size_t i = 0; i < n; i++) growth_prepare(&g[i], events[i]);
  twe_arena_t arenas[2];
  twe__arena_init(&arenas[0], 0);
  twe__arena_init(&arenas[1], 0);
  for (size_t i = 0; i < n; i++) /* warm: the fiber pool, the allocator, the JSON index */
    for (int path = 0; path < N_PATHS; path++) (void)replay_path(env, &g[i], path, arenas);
  /* Rounds over every length and path in turn (starting one length later
   * each round), so that a busy spell of the machine falls on all alike. */
  for (int round = 0; round < GROWTH_ROUNDS; round++) {
    for (size_t k = 0; k < n; k++) {
      glen_t *gi = &g[(k + (size_t)round) % n];
      for (int path = 0; path < N_PATHS; path++)
        gi->ns[path][round] = growth_batch(env, gi, path, arenas);
    }
    fprintf(stderr, "replay_bench --growth: round %d/%d\n", round + 1, GROWTH_ROUNDS);
  }
  for (size_t i = 0; i < n; i++) {
    for (int path = 0; path < N_PATHS; path++) {
      double *v = g[i].ns[path];
      qsort(v, GROWTH_ROUNDS, sizeof *v, cmp_double);
      size_t bytes = path == PATH_WIRE    ? g[i].wire_len
                     : path == PATH_PAGES ? g[i].pages_len
                     : path == PATH_JSON  ? g[i].text_len
                                          : 0;
      printf("{\"events\":%zu,\"activities\":%zu,\"path\":\"%s\",\"rounds\":%d,\"reps\":%d,"
             "\"bytes\":%zu,\"decoded_bytes\":%zu,\"ns_per_event\":%.1f,"
             "\"ns_per_event_min\":%.1f,\"ns_per_event_max\":%.1f}\n",
             g[i].h.n, g[i].activities, path_names[path], GROWTH_ROUNDS, g[i].reps, bytes,
             g[i].h.arena.reserved_bytes, v[GROWTH_ROUNDS / 2], v[0], v[GROWTH_ROUNDS - 1]);
    }
    free(g[i].text);
    free(g[i].wire);
    for (size_t p = 0; p < g[i].n_pages; p++) free(g[i].pages[p]);
    free(g[i].pages);
    free(g[i].page_lens);
    twe__arena_destroy(&g[i].h.arena);
    free(g[i].h.ev);
  }
  fflush(stdout);
  twe__arena_destroy(&arenas[0]);
  twe__arena_destroy(&arenas[1]);
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

/* The registry and the fiber pool every replay uses. */
static twe_registry_t reg;
static twe_fiber_pool_t *pool;

static twe_run_env_t setup(void) {
  twe__registry_init(&reg);
  if (twe__registry_add_workflow(&reg, "Sequential", wf_sequential, NULL) < 0 ||
      twe__registry_add_workflow(&reg, "Fanout", wf_fanout, NULL) < 0)
    die("registry", -ENOMEM);
  int rc = twe__fiber_pool_create(0, &pool);
  if (rc < 0) die("fiber pool", rc);
  return (twe_run_env_t){.namespace_name = "default", .task_queue = "bench", .registry = &reg,
                         .fibers = pool};
}

static int growth(int argc, char **argv) {
  static const long defaults[] = {100, 300, 1000, 3000, 10000, 30000, 50000};
  long events[GROWTH_MAX_LENGTHS];
  size_t n = 0;
  for (int i = 2; i < argc; i++) {
    events[n] = strtol(argv[i], NULL, 10);
    if (events[n] < 11 || n + 1 == GROWTH_MAX_LENGTHS) {
      fprintf(stderr, "usage: %s --growth [events (>= 11)...] (at most %d lengths)\n", argv[0],
              GROWTH_MAX_LENGTHS - 1);
      return 2;
    }
    n++;
  }
  if (n == 0)
    for (; n < sizeof defaults / sizeof defaults[0]; n++) events[n] = defaults[n];
  int cpu = pin_first_cpu();
  twe_run_env_t env = setup();
  fprintf(stderr, "replay_bench --growth: thread CPU time, CPU %d, activity results of %zu bytes\n",
          cpu, result_bytes);
  growth_run(&env, events, n);
  twe__fiber_pool_destroy(pool);
  twe__registry_destroy(&reg);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--growth") == 0) return growth(argc, argv);
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
  twe_run_env_t env = setup();

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
