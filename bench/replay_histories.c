/* bench/replay_histories.c — twe's replayer for bench/run: how many history
 * events per second of process CPU twe replays, on histories recorded by
 * any worker (twe or an SDK peer) for the workload types of
 * bench/peers/README.md, against the same code bench_worker runs
 * (bench/bench_workflows.c). A history that does not replay is a
 * determinism bug, in twe or in a peer, and fails the program.
 *
 *   replay_histories [--reps N] [--only json|wire|decoded] FILE...
 *                                                (default 100 reps)
 *
 * FILE: a history as `temporal workflow show --output json` writes it. For
 * each file, three loops of N reps, after WARMUP_REPS of each not counted:
 *   decode+replay  twe_worker_replay_json on a replay-only worker (public
 *                  API, what a user's replay test calls): JSON text ->
 *                  protobuf messages -> engine/workflow/run.c, every time;
 *   wire+replay    the history as the server sends it: the wire bytes of a
 *                  GetWorkflowExecutionHistoryResponse (made once, by
 *                  encoding the decoded history) decoded into an arena
 *                  reset per rep (as a task's arena: proto/codec.h), then
 *                  the replay below: what a worker does on a cache miss;
 *   replay         the history decoded once (proto/json.h), then only the
 *                  replay, the way engine/replay.c does it (twe__run_create,
 *                  one twe__run_apply of the whole history,
 *                  twe__run_check_replayed, twe__run_destroy) with one fiber
 *                  pool for all reps, as a worker's shard has: what a cache
 *                  miss costs once the history is in memory.
 * CPU is the process's (getrusage: user + system; twe replays on the
 * calling thread and starts no other, so it is that thread's CPU time), as
 * the Go replayer measures its own. One JSON line per file on stdout
 * (bench/run reads them; the Go replayer prints the same keys):
 *   {"file":...,"workflow_type":...,"events":E,"reps":N,
 *    "decode_replay_cpu_s":x,"replay_cpu_s":x,
 *    "events_per_cpu_s":E*N/decode_replay_cpu_s,
 *    "replay_events_per_cpu_s":E*N/replay_cpu_s,
 *    "wire_bytes":B,"wire_replay_cpu_s":x,
 *    "wire_events_per_cpu_s":E*N/wire_replay_cpu_s}
 * --only runs one of the loops (for a profiler: `perf record`); the others'
 * figures are then null. A file that cannot be read or does not replay: a
 * message naming it on stderr, exit 1. Internal headers (twe_internal) for the replay loop. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_workflows.h"
#include "engine/fiber.h"
#include "engine/registry.h"
#include "engine/workflow/run.h"
#include "proto/arena.h"
#include "proto/codec.h"
#include "proto/json.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/twe.h"

#define WARMUP_REPS 3
#define DEFAULT_REPS 100

static const char *argv0 = "replay_histories";
static const char *only; /* --only: the one loop to run, or NULL for all */

static bool run_loop(const char *name) { return !only || strcmp(only, name) == 0; }

static double process_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The whole of path in *out (malloc'd), its length in *len. 0 or -errno. */
static int read_file(const char *path, char **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -errno;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    char *bigger = realloc(buf, cap * 2);
    if (!bigger) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  int rc = !buf ? -ENOMEM : ferror(f) ? -EIO : 0;
  fclose(f);
  if (rc < 0) {
    free(buf);
    return rc;
  }
  *out = buf;
  *len = n;
  return 0;
}

/* What the replay-only loop needs, set up once. */
typedef struct replayer {
  twe_registry_t registry;
  twe_fiber_pool_t *fibers;
  twe_run_env_t env;
  twe_arena_t out_arena;  /* the outcome's command array; reset per rep */
  twe_arena_t wire_arena; /* the decoded wire bytes; reset per rep */
} replayer_t;

/* One replay of a decoded history. 0, or a negative code with the reason
 * in why. */
static int replay_decoded(replayer_t *r, const Temporal__Api__History__V1__History *h, char *why,
                          size_t why_len) {
  twe__arena_reset(&r->out_arena);
  twe_run_t *run = NULL;
  int rc = twe__run_create(&r->env, "replay", "replay", &run);
  if (rc < 0) {
    snprintf(why, why_len, "%s", twe_strerror(rc));
    return rc;
  }
  twe_run_outcome_t outcome;
  memset(&outcome, 0, sizeof outcome);
  rc = twe__run_apply(run, h->events, h->n_events, &r->out_arena, &outcome);
  if (rc == 0 && outcome.replay_only) rc = twe__run_check_replayed(run, &outcome);
  if (rc < 0) snprintf(why, why_len, "%s", outcome.message[0] ? outcome.message : twe_strerror(rc));
  twe__run_destroy(run);
  return rc;
}

/* One decode of a GetWorkflowExecutionHistoryResponse's wire bytes, then
 * one replay of its history. As replay_decoded. */
static int replay_wire(replayer_t *r, const uint8_t *bytes, size_t len, char *why,
                       size_t why_len) {
  twe__arena_reset(&r->wire_arena);
  ProtobufCMessage *msg = NULL;
  int rc = twe__proto_decode(
      &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor,
      &r->wire_arena, bytes, len, &msg);
  if (rc < 0) {
    snprintf(why, why_len, "decoding the wire bytes: %s", twe_strerror(rc));
    return rc;
  }
  const Temporal__Api__History__V1__History *h =
      ((Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *)msg)->history;
  if (!h) {
    snprintf(why, why_len, "decoding the wire bytes: no history");
    return TWE_EDECODE;
  }
  return replay_decoded(r, h, why, why_len);
}

static const char *workflow_type_of(const Temporal__Api__History__V1__History *h) {
  const Temporal__Api__History__V1__HistoryEvent *e = h->n_events ? h->events[0] : NULL;
  if (e && e->attributes_case ==
               TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_STARTED_EVENT_ATTRIBUTES &&
      e->workflow_execution_started_event_attributes->workflow_type &&
      e->workflow_execution_started_event_attributes->workflow_type->name)
    return e->workflow_execution_started_event_attributes->workflow_type->name;
  return "";
}

static void fail(const char *path, const char *what, const char *why) {
  fprintf(stderr, "%s: %s: %s: %s\n", argv0, path, what, why);
  exit(1);
}

/* Measures one file and prints its line. Exits on any failure. */
static void measure(twe_worker_t *w, replayer_t *r, const char *path, int reps) {
  char *text = NULL, why[1024] = "";
  size_t len = 0;
  int rc = read_file(path, &text, &len);
  if (rc < 0) fail(path, "cannot read", twe_strerror(rc));

  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__History__V1__History *h = NULL;
  rc = twe__history_from_json_text(text, len, &arena, &h, why, sizeof why);
  if (rc < 0) fail(path, "cannot read the history", why);
  if (!h || h->n_events == 0) fail(path, "cannot read the history", "no events");
  size_t events = h->n_events;

  /* The wire form, once: the response a worker gets for this history. */
  Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse resp;
  temporal__api__workflowservice__v1__get_workflow_execution_history_response__init(&resp);
  resp.history = h;
  uint8_t *wire = NULL;
  size_t wire_len = 0;
  if ((rc = twe__proto_encode(&resp.base, &arena, &wire, &wire_len)) < 0)
    fail(path, "cannot encode the history", twe_strerror(rc));

  /* Warm-up (caches, the fiber pool's stacks, malloc's arenas), which also
   * checks that both paths replay before anything is timed. */
  for (int i = 0; i < WARMUP_REPS; i++) {
    if ((rc = twe_worker_replay_json(w, text, len, why, sizeof why)) < 0)
      fail(path, "does not replay", why);
    if ((rc = replay_decoded(r, h, why, sizeof why)) < 0) fail(path, "does not replay", why);
    if ((rc = replay_wire(r, wire, wire_len, why, sizeof why)) < 0)
      fail(path, "does not replay", why);
  }

  double t0 = process_cpu_s();
  for (int i = 0; run_loop("json") && i < reps; i++)
    if ((rc = twe_worker_replay_json(w, text, len, why, sizeof why)) < 0)
      fail(path, "does not replay", why);
  double t1 = process_cpu_s();
  for (int i = 0; run_loop("decoded") && i < reps; i++)
    if ((rc = replay_decoded(r, h, why, sizeof why)) < 0) fail(path, "does not replay", why);
  double t2 = process_cpu_s();
  for (int i = 0; run_loop("wire") && i < reps; i++)
    if ((rc = replay_wire(r, wire, wire_len, why, sizeof why)) < 0)
      fail(path, "does not replay", why);
  double t3 = process_cpu_s();
  if (!run_loop("json")) t1 = t0;
  if (!run_loop("decoded")) t2 = t1;
  if (!run_loop("wire")) t3 = t2;

  double dr = t1 - t0, ro = t2 - t1, wr = t3 - t2, total = (double)events * reps;
  json_t *line = json_object();
  json_object_set_new(line, "file", json_string(path));
  json_object_set_new(line, "workflow_type", json_string(workflow_type_of(h)));
  json_object_set_new(line, "events", json_integer((json_int_t)events));
  json_object_set_new(line, "reps", json_integer(reps));
  json_object_set_new(line, "decode_replay_cpu_s", run_loop("json") ? json_real(dr) : json_null());
  json_object_set_new(line, "replay_cpu_s", run_loop("decoded") ? json_real(ro) : json_null());
  /* A loop too short for the clock's resolution: null, not infinity. */
  json_object_set_new(line, "events_per_cpu_s", dr > 0 ? json_real(total / dr) : json_null());
  json_object_set_new(line, "replay_events_per_cpu_s",
                      ro > 0 ? json_real(total / ro) : json_null());
  json_object_set_new(line, "wire_bytes", json_integer((json_int_t)wire_len));
  json_object_set_new(line, "wire_replay_cpu_s", run_loop("wire") ? json_real(wr) : json_null());
  json_object_set_new(line, "wire_events_per_cpu_s",
                      wr > 0 ? json_real(total / wr) : json_null());
  char *out = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
  if (!out) fail(path, "output", "out of memory");
  printf("%s\n", out);
  fflush(stdout);
  free(out);
  json_decref(line);
  twe__arena_destroy(&arena);
  free(text);
}

static int usage(void) {
  fprintf(stderr, "usage: %s [--reps N] [--only json|wire|decoded] FILE...\n", argv0);
  return 2;
}

int main(int argc, char **argv) {
  int reps = DEFAULT_REPS, first = 1;
  for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
    if (strcmp(argv[first], "--reps") == 0 && first + 1 < argc) {
      char *end;
      long v = strtol(argv[++first], &end, 10);
      if (*end || v < 1 || v > 100000000) return usage();
      reps = (int)v;
    } else if (strcmp(argv[first], "--only") == 0 && first + 1 < argc) {
      only = argv[++first];
      if (strcmp(only, "json") && strcmp(only, "wire") && strcmp(only, "decoded")) return usage();
    } else if (strcmp(argv[first], "--") == 0) {
      first++;
      break;
    } else {
      return usage();
    }
  }
  if (first >= argc) return usage();

  /* The public replayer: a worker with no client, the same types. */
  twe_worker_options_t opts;
  twe_worker_options_init(&opts);
  opts.task_queue = "replay";
  twe_worker_t *w = NULL;
  int rc = twe_worker_create(NULL, &opts, &w);
  if (rc == 0) rc = bench_register(w, false);
  if (rc < 0) {
    fprintf(stderr, "%s: replay worker: %s\n", argv0, twe_strerror(rc));
    return 1;
  }
  /* The internal one: the same types in a registry of its own. */
  replayer_t r;
  memset(&r, 0, sizeof r);
  twe__registry_init(&r.registry);
  for (size_t i = 0; rc == 0 && i < bench_workflow_type_count; i++)
    rc = twe__registry_add_workflow(&r.registry, bench_workflow_types[i].name,
                                    bench_workflow_types[i].fn, NULL);
  if (rc == 0) rc = twe__fiber_pool_create(0, &r.fibers);
  if (rc < 0) {
    fprintf(stderr, "%s: replayer: %s\n", argv0, twe_strerror(rc));
    return 1;
  }
  r.env = (twe_run_env_t){.namespace_name = "default",
                          .task_queue = "replay",
                          .registry = &r.registry,
                          .fibers = r.fibers};
  twe__arena_init(&r.out_arena, 0);
  twe__arena_init(&r.wire_arena, 0);

  for (int i = first; i < argc; i++) measure(w, &r, argv[i], reps);

  twe__arena_destroy(&r.out_arena);
  twe__arena_destroy(&r.wire_arena);
  twe__fiber_pool_destroy(r.fibers);
  twe__registry_destroy(&r.registry);
  twe_worker_destroy(w);
  return 0;
}
