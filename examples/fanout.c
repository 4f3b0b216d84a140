/* examples/fanout.c — the field's stalled-worker scenario (FIELD.md, "The
 * reported failure") as one program: a workflow that runs 2 initial
 * activities, then N inputs x 4 parallel activities (two that block in a
 * system call, two that burn CPU), then 2 final activities; plus runaway
 * workflows (a busy loop, a blocking read) for the watchdog.
 *
 *   fanout [options]                 worker + starter: runs W Fanout
 *                                    workflows on an in-process worker and
 *                                    reports their times and the worker's stats
 *   fanout --worker-only [options]   worker only, for tests driving it with
 *                                    the `temporal` CLI
 *
 * Starter options: --workflows W (5) --inputs N (120) --block-min-ms A (500)
 *   --block-max-ms B (5000) --burn-ms C (50) --runaway cpu|block|both
 *   --id-prefix P (fanout-<pid>: workflows P-0.., P-runaway-cpu/-block)
 *   --timeout-s S (600: how long to wait for each result).
 * Worker options: --task-queue Q (fanout) --activity-threads N
 *   --shard-threads N --cache N --cpu-budget-ms X --cpu-warning-ms X
 *   --blocked-budget-ms X --blocked-warning-ms X (milliseconds or "off")
 *   --max-retired N --hard-cap N --slice-ms X (or "off") --stop-deadline-ms X
 *   --activity-priority idle|nice|normal --activity-nice N
 *   (absent: the engine's defaults). Exit status of the starter: 0 when all
 *   W workflows completed, 1 otherwise; of --worker-only: 0 after a clean
 *   stop, 3 when the stop left a stuck shard behind (TWE_ESTUCK).
 *
 * Workflow types:
 *   Fanout       input {"inputs":N,"block_min_ms":a,"block_max_ms":b,"burn_ms":c}
 *                (missing fields: 120, 500, 5000, 50); result
 *                {"inputs":N,"activities":4N+4,"sum":s}
 *   Quick        one Echo activity; returns its input
 *   RunawayCpu   loops forever in plain user code
 *   RunawayBlock blocks forever in read() on a pipe nobody writes (until
 *                SIGUSR2 in --worker-only mode writes 64 bytes into it)
 * Activities: Init, Prepare, Aggregate, Notify (burn ~5 ms of CPU),
 * Download (nanosleep), Lookup (recv() on a silent UDP socket with a receive
 * timeout), Transform and Score (burn CPU), Echo.
 *
 * --worker-only prints "ready" once the worker has started, one line
 * "stats {json}" (twe_worker_stats plus "threads" and "rss_kb" of the
 * process) on SIGUSR1 and a last one after SIGTERM/SIGINT stopped it.
 *
 * Connection settings come from the TEMPORAL_* environment variables
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key), as for the CLI. */
#define _GNU_SOURCE /* getopt_long, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "twe/twe.h"

#define SEC 1000000000ull
#define MS 1000000ull

/* --- time and work ------------------------------------------------------- */

static int64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Burns ms of this thread's CPU time (not wall time: on a busy machine it
 * takes longer, as real CPU work would). The returned mix keeps the loop
 * from being optimised away. */
static uint64_t burn_cpu_ms(long ms) {
  int64_t end = clock_ns(CLOCK_THREAD_CPUTIME_ID) + (int64_t)ms * 1000000;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  do {
    for (int k = 0; k < 10000; k++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
    }
  } while (clock_ns(CLOCK_THREAD_CPUTIME_ID) < end);
  return x;
}

/* Sleeps ms of wall time in nanosleep (a blocking call, like a synchronous
 * HTTP client waiting for its answer). */
static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L}, rem;
  while (nanosleep(&ts, &rem) < 0 && errno == EINTR) ts = rem;
}

/* Blocks ms in recv() on a UDP socket nothing is sent to: a real socket read
 * that ends by its receive timeout. Returns 0, or a negative errno when the
 * socket could not be set up. */
static int recv_silent_ms(long ms) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  int64_t deadline = clock_ns(CLOCK_MONOTONIC) + (int64_t)ms * 1000000;
  for (;;) {
    int64_t left = deadline - clock_ns(CLOCK_MONOTONIC);
    if (left <= 0) break;
    /* A zero SO_RCVTIMEO means "forever": never set less than 1 us. */
    struct timeval tv = {(time_t)(left / 1000000000), (suseconds_t)(left % 1000000000) / 1000};
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
      int e = -errno;
      close(fd);
      return e;
    }
    char buf[16];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break; /* the timeout */
    /* EINTR or a stray datagram: block again for what is left. */
  }
  close(fd);
  return 0;
}

/* --- activities ---------------------------------------------------------- */

static void fail_activity(twe_activity_t *act, const char *type, const char *msg, bool final) {
  twe_error_info_t e = {.type = type, .message = msg, .non_retryable = final};
  twe_activity_fail(act, &e);
}

/* Reads {"i":i,"ms":ms} (i defaults to -1, ms to 0). Fails the attempt
 * (non-retryable) and returns false when the input is not that. */
static bool read_step_input(twe_activity_t *act, long *i, long *ms) {
  json_int_t ji = -1, jms = 0;
  bool ok = twe_activity_unpack_arg(act, 0, NULL, "{s?I,s?I}", "i", &ji, "ms", &jms) == 0 &&
            jms >= 0 && jms <= 3600 * 1000;
  if (!ok) {
    fail_activity(act, "BadInput", "expected one JSON object {\"i\":int,\"ms\":int}", true);
    return false;
  }
  *i = (long)ji;
  *ms = (long)jms;
  return true;
}

static void complete_iv(twe_activity_t *act, long i, long long v) {
  char text[64];
  snprintf(text, sizeof text, "{\"i\":%ld,\"v\":%lld}", i, v);
  twe_payload_t r = twe_payload_json(text);
  twe_activity_complete(act, &r);
}

/* Init, Prepare, Aggregate, Notify: a little CPU work each. */
static void act_step(twe_activity_t *act, void *user) {
  (void)user;
  long i, ms;
  if (!read_step_input(act, &i, &ms)) return;
  burn_cpu_ms(ms);
  complete_iv(act, i, 0);
}

static void act_download(twe_activity_t *act, void *user) {
  (void)user;
  long i, ms;
  if (!read_step_input(act, &i, &ms)) return;
  sleep_ms(ms);
  complete_iv(act, i, ms);
}

static void act_lookup(twe_activity_t *act, void *user) {
  (void)user;
  long i, ms;
  if (!read_step_input(act, &i, &ms)) return;
  int rc = recv_silent_ms(ms);
  if (rc < 0) {
    fail_activity(act, "SocketError", twe_strerror(rc), false);
    return;
  }
  complete_iv(act, i, ms);
}

/* Transform and Score burn CPU; their values depend only on i, so the
 * workflow's sum is reproducible. user: the multiplier. */
static void act_burn(twe_activity_t *act, void *user) {
  long i, ms;
  if (!read_step_input(act, &i, &ms)) return;
  static _Atomic uint64_t sink; /* keeps the burn loop's result alive */
  atomic_fetch_xor_explicit(&sink, burn_cpu_ms(ms), memory_order_relaxed);
  complete_iv(act, i, (long long)i * (long long)(intptr_t)user + 1);
}

static void act_echo(twe_activity_t *act, void *user) {
  (void)user;
  twe_payload_t a;
  if (twe_activity_arg(act, 0, &a) == 0) twe_activity_complete(act, &a);
}

/* --- workflows ----------------------------------------------------------- */

/* The RunawayBlock pipe: created in main, the write end is kept open (and
 * non-blocking, for the SIGUSR2 handler), so a read blocks until SIGUSR2. */
static int g_block_pipe[2] = {-1, -1};

static void fail_workflow(twe_workflow_t *wf, const char *type, const char *msg) {
  twe_error_info_t e = {.type = type, .message = msg, .non_retryable = true};
  twe_workflow_fail(wf, &e);
}

typedef struct fanout_input {
  long inputs, block_min_ms, block_max_ms, burn_ms;
} fanout_input_t;

/* Parses the Fanout input (no argument: all defaults). Returns false with
 * the workflow failed when it is not a valid object. */
static bool read_fanout_input(twe_workflow_t *wf, fanout_input_t *in) {
  json_int_t n = 120, a = 500, b = 5000, c = 50;
  if (twe_workflow_arg_count(wf) >= 1) {
    bool ok = twe_workflow_unpack_arg(wf, 0, NULL, "{s?I,s?I,s?I,s?I}", "inputs", &n,
                                      "block_min_ms", &a, "block_max_ms", &b, "burn_ms",
                                      &c) == 0;
    if (!ok) {
      fail_workflow(wf, "BadInput",
                    "Fanout takes {\"inputs\":N,\"block_min_ms\":a,\"block_max_ms\":b,"
                    "\"burn_ms\":c} (integers)");
      return false;
    }
  }
  if (n < 0 || n > 100000 || a < 0 || b < a || b > 3600 * 1000 || c < 0 || c > 3600 * 1000) {
    fail_workflow(wf, "BadInput",
                  "Fanout: need 0 <= inputs <= 100000, 0 <= block_min_ms <= block_max_ms, "
                  "burn_ms >= 0 (at most an hour)");
    return false;
  }
  *in = (fanout_input_t){(long)n, (long)a, (long)b, (long)c};
  return true;
}

/* Runs one sequential step activity; fails the workflow and returns false
 * when it failed. */
static bool run_step(twe_workflow_t *wf, const char *type, const twe_activity_options_t *o) {
  twe_payload_t arg = twe_payload_json("{\"i\":-1,\"ms\":5}"), r;
  twe_error_info_t e;
  int rc = twe_workflow_execute_activity(wf, type, o, &arg, 1, &r, &e);
  if (rc == 0) return true;
  if (rc == TWE_EFAILED) twe_workflow_fail(wf, &e);
  else fail_workflow(wf, "StartFailed", twe_strerror(rc));
  return false;
}

/* The value "v" of an {"i":..,"v":..} activity result (0 if absent). */
static long long result_v(const twe_future_t *f) {
  twe_payload_t r;
  json_int_t v = 0;
  if (twe_future_result(f, &r) != 0 || !twe_payload_is_json(&r)) return 0;
  json_t *j = json_loadb(r.data, r.len, JSON_DECODE_ANY, NULL);
  if (j) json_unpack(j, "{s?I}", "v", &v);
  json_decref(j);
  return (long long)v;
}

static void wf_fanout(twe_workflow_t *wf, void *user) {
  (void)user;
  fanout_input_t in;
  if (!read_fanout_input(wf, &in)) return;
  twe_activity_options_t o = {.start_to_close_timeout_ns = 300 * SEC};
  if (!run_step(wf, "Init", &o) || !run_step(wf, "Prepare", &o)) return;

  static const char *const types[4] = {"Download", "Lookup", "Transform", "Score"};
  size_t nf = (size_t)in.inputs * 4;
  twe_future_t **fs = nf ? twe_workflow_alloc(wf, nf * sizeof *fs) : NULL;
  if (nf && !fs) {
    fail_workflow(wf, "OutOfMemory", "no memory for the futures");
    return;
  }
  uint64_t span = (uint64_t)(in.block_max_ms - in.block_min_ms) + 1;
  for (long i = 0; i < in.inputs; i++) {
    for (int k = 0; k < 4; k++) {
      /* Blocking steps get a deterministic random duration in [a, b]. */
      long ms = k < 2 ? in.block_min_ms + (long)(twe_workflow_random(wf) % span) : in.burn_ms;
      char text[64];
      snprintf(text, sizeof text, "{\"i\":%ld,\"ms\":%ld}", i, ms);
      twe_payload_t arg = twe_payload_json(text);
      int err = twe_workflow_start_activity(wf, types[k], &o, &arg, 1, &fs[i * 4 + k]);
      if (err < 0) {
        fail_workflow(wf, "StartFailed", twe_strerror(err));
        return;
      }
    }
  }
  if (nf && twe_future_wait_all(wf, fs, nf) != 0) {
    for (size_t j = 0; j < nf; j++) {
      twe_error_info_t e;
      if (twe_future_error(fs[j], &e) == 0) {
        twe_workflow_fail(wf, &e);
        return;
      }
    }
  }
  long long sum = 0;
  for (size_t j = 0; j < nf; j++) sum += result_v(fs[j]);
  if (!run_step(wf, "Aggregate", &o) || !run_step(wf, "Notify", &o)) return;
  char text[128];
  snprintf(text, sizeof text, "{\"inputs\":%ld,\"activities\":%zu,\"sum\":%lld}", in.inputs,
           nf + 4, sum);
  twe_payload_t out = twe_payload_json(text);
  twe_workflow_complete(wf, &out);
}

/* A healthy small workflow: Echo its input (null when none). */
static void wf_quick(twe_workflow_t *wf, void *user) {
  (void)user;
  twe_payload_t arg = twe_payload_json("null"), r;
  if (twe_workflow_arg_count(wf) >= 1) twe_workflow_arg(wf, 0, &arg);
  twe_activity_options_t o = {.start_to_close_timeout_ns = 60 * SEC};
  twe_error_info_t e;
  int rc = twe_workflow_execute_activity(wf, "Echo", &o, &arg, 1, &r, &e);
  if (rc == 0) twe_workflow_complete(wf, &r);
  else if (rc == TWE_EFAILED) twe_workflow_fail(wf, &e);
  else fail_workflow(wf, "StartFailed", twe_strerror(rc));
}

/* Workflow code that never yields: no twe call, no libc call, just a loop.
 * Only a watchdog that can take the thread back ends it. */
static void wf_runaway_cpu(twe_workflow_t *wf, void *user) {
  (void)wf;
  (void)user;
  volatile uint64_t n = 0;
  for (;;) n = n + 1;
}

/* Workflow code that blocks in a system call (as a synchronous client call
 * would): read() on the pipe's read end. Completes if the read ever
 * returns (SIGUSR2 in --worker-only mode). */
static void wf_runaway_block(twe_workflow_t *wf, void *user) {
  (void)user;
  char buf[64];
  ssize_t n;
  do n = read(g_block_pipe[0], buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  char text[48];
  snprintf(text, sizeof text, "{\"woke\":%zd}", n);
  twe_payload_t out = twe_payload_json(text);
  twe_workflow_complete(wf, &out);
}

/* --- options -------------------------------------------------------------- */

typedef struct config {
  const char *task_queue, *id_prefix, *runaway;
  long workflows, inputs, block_min_ms, block_max_ms, burn_ms, cache, timeout_s;
  bool worker_only;
  unsigned activity_threads, shard_threads, max_retired, hard_cap;
  int64_t cpu_budget, cpu_warning, blocked_budget, blocked_warning; /* ns, 0, or OFF */
  int64_t slice, stop_deadline;                                     /* ns, 0, or OFF */
  int activity_priority, activity_nice;
} config_t;

/* A millisecond budget: "off" or a negative number turn the check off. */
static bool parse_budget(const char *s, int64_t *out) {
  if (strcmp(s, "off") == 0) {
    *out = TWE_WATCHDOG_OFF;
    return true;
  }
  char *end;
  long long v = strtoll(s, &end, 10);
  if (*s == '\0' || *end != '\0') return false;
  *out = v < 0 ? TWE_WATCHDOG_OFF : (int64_t)v * 1000000;
  return true;
}

static bool parse_long(const char *s, long min, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno || v < min) return false;
  *out = v;
  return true;
}

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--task-queue Q] [--workflows W] [--inputs N]\n"
          "         [--block-min-ms A] [--block-max-ms B] [--burn-ms C]\n"
          "         [--runaway cpu|block|both] [--id-prefix P] [--timeout-s S]\n"
          "         [--worker-only] [--activity-threads N] [--shard-threads N] [--cache N]\n"
          "         [--cpu-budget-ms X] [--cpu-warning-ms X] [--blocked-budget-ms X]\n"
          "         [--blocked-warning-ms X] [--max-retired N] [--hard-cap N]\n"
          "         [--slice-ms X] [--stop-deadline-ms X]\n"
          "         [--activity-priority idle|nice|normal] [--activity-nice N]\n"
          "Budgets: milliseconds, or off.\n",
          argv0);
  return 2;
}

enum {
  OPT_QUEUE = 256, OPT_WORKFLOWS, OPT_INPUTS, OPT_BMIN, OPT_BMAX, OPT_BURN, OPT_RUNAWAY,
  OPT_PREFIX, OPT_WORKER_ONLY, OPT_ACT_THREADS, OPT_SHARD_THREADS, OPT_CACHE, OPT_CPU_BUDGET,
  OPT_CPU_WARNING, OPT_BLK_BUDGET, OPT_BLK_WARNING, OPT_MAX_RETIRED, OPT_PRIORITY, OPT_NICE,
  OPT_TIMEOUT, OPT_HARD_CAP, OPT_SLICE, OPT_STOP_DEADLINE,
};

/* Returns 0, or 2 after printing the usage. */
static int parse_args(int argc, char **argv, config_t *c) {
  static const struct option opts[] = {
      {"task-queue", required_argument, NULL, OPT_QUEUE},
      {"workflows", required_argument, NULL, OPT_WORKFLOWS},
      {"inputs", required_argument, NULL, OPT_INPUTS},
      {"block-min-ms", required_argument, NULL, OPT_BMIN},
      {"block-max-ms", required_argument, NULL, OPT_BMAX},
      {"burn-ms", required_argument, NULL, OPT_BURN},
      {"runaway", required_argument, NULL, OPT_RUNAWAY},
      {"id-prefix", required_argument, NULL, OPT_PREFIX},
      {"timeout-s", required_argument, NULL, OPT_TIMEOUT},
      {"worker-only", no_argument, NULL, OPT_WORKER_ONLY},
      {"activity-threads", required_argument, NULL, OPT_ACT_THREADS},
      {"shard-threads", required_argument, NULL, OPT_SHARD_THREADS},
      {"cache", required_argument, NULL, OPT_CACHE},
      {"cpu-budget-ms", required_argument, NULL, OPT_CPU_BUDGET},
      {"cpu-warning-ms", required_argument, NULL, OPT_CPU_WARNING},
      {"blocked-budget-ms", required_argument, NULL, OPT_BLK_BUDGET},
      {"blocked-warning-ms", required_argument, NULL, OPT_BLK_WARNING},
      {"max-retired", required_argument, NULL, OPT_MAX_RETIRED},
      {"hard-cap", required_argument, NULL, OPT_HARD_CAP},
      {"slice-ms", required_argument, NULL, OPT_SLICE},
      {"stop-deadline-ms", required_argument, NULL, OPT_STOP_DEADLINE},
      {"activity-priority", required_argument, NULL, OPT_PRIORITY},
      {"activity-nice", required_argument, NULL, OPT_NICE},
      {NULL, 0, NULL, 0},
  };
  int ch;
  long v;
  while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    bool ok = true;
    switch (ch) {
    case OPT_QUEUE: c->task_queue = optarg; break;
    case OPT_WORKFLOWS: ok = parse_long(optarg, 0, &c->workflows); break;
    case OPT_INPUTS: ok = parse_long(optarg, 0, &c->inputs); break;
    case OPT_BMIN: ok = parse_long(optarg, 0, &c->block_min_ms); break;
    case OPT_BMAX: ok = parse_long(optarg, 0, &c->block_max_ms); break;
    case OPT_BURN: ok = parse_long(optarg, 0, &c->burn_ms); break;
    case OPT_RUNAWAY:
      c->runaway = optarg;
      ok = !strcmp(optarg, "cpu") || !strcmp(optarg, "block") || !strcmp(optarg, "both");
      break;
    case OPT_PREFIX: c->id_prefix = optarg; break;
    case OPT_TIMEOUT: ok = parse_long(optarg, 1, &c->timeout_s); break;
    case OPT_WORKER_ONLY: c->worker_only = true; break;
    case OPT_ACT_THREADS: ok = parse_long(optarg, 0, &v); c->activity_threads = (unsigned)v; break;
    case OPT_SHARD_THREADS: ok = parse_long(optarg, 0, &v); c->shard_threads = (unsigned)v; break;
    case OPT_CACHE: ok = parse_long(optarg, 0, &c->cache); break;
    case OPT_CPU_BUDGET: ok = parse_budget(optarg, &c->cpu_budget); break;
    case OPT_CPU_WARNING: ok = parse_budget(optarg, &c->cpu_warning); break;
    case OPT_BLK_BUDGET: ok = parse_budget(optarg, &c->blocked_budget); break;
    case OPT_BLK_WARNING: ok = parse_budget(optarg, &c->blocked_warning); break;
    case OPT_MAX_RETIRED: ok = parse_long(optarg, 0, &v); c->max_retired = (unsigned)v; break;
    case OPT_HARD_CAP: ok = parse_long(optarg, 0, &v); c->hard_cap = (unsigned)v; break;
    case OPT_SLICE: ok = parse_budget(optarg, &c->slice); break;
    case OPT_STOP_DEADLINE:
      ok = parse_budget(optarg, &c->stop_deadline) && c->stop_deadline >= 0;
      break;
    case OPT_PRIORITY:
      if (!strcmp(optarg, "idle")) c->activity_priority = TWE_ACTIVITY_PRIORITY_IDLE;
      else if (!strcmp(optarg, "nice")) c->activity_priority = TWE_ACTIVITY_PRIORITY_NICE;
      else if (!strcmp(optarg, "normal")) c->activity_priority = TWE_ACTIVITY_PRIORITY_NORMAL;
      else ok = false;
      break;
    case OPT_NICE: ok = parse_long(optarg, 1, &v) && v <= 19; c->activity_nice = (int)v; break;
    default: ok = false;
    }
    if (!ok) return usage(argv[0]);
  }
  if (c->block_max_ms < c->block_min_ms) {
    fprintf(stderr, "%s: --block-max-ms (%ld) is below --block-min-ms (%ld)\n", argv[0],
            c->block_max_ms, c->block_min_ms);
    return 2;
  }
  if (optind != argc) return usage(argv[0]);
  return 0;
}

/* --- the worker ------------------------------------------------------------ */

static twe_worker_t *g_worker;

static int create_worker(twe_client_t *client, const config_t *c) {
  twe_worker_options_t o;
  twe_worker_options_init(&o);
  o.task_queue = c->task_queue;
  o.max_cached_workflows = c->cache < 0    ? TWE_CACHE_DEFAULT
                           : c->cache == 0 ? TWE_CACHE_OFF
                                           : c->cache;
  o.shard_threads = c->shard_threads;
  o.activity_threads = c->activity_threads;
  o.workflow_cpu_budget_ns = c->cpu_budget;
  o.workflow_cpu_warning_ns = c->cpu_warning;
  o.workflow_blocked_budget_ns = c->blocked_budget;
  o.workflow_blocked_warning_ns = c->blocked_warning;
  o.max_retired_threads = c->max_retired;
  o.retired_threads_hard_cap = c->hard_cap;
  o.workflow_time_slice_ns = c->slice;
  /* Metrics on, on a free port (the line "metrics endpoint on port N"
   * says which) unless TWE_METRICS_ADDRESS names one. */
  if (!getenv("TWE_METRICS_ADDRESS")) o.metrics_address = "127.0.0.1:0";
  o.stop_deadline_ns = (uint64_t)c->stop_deadline;
  o.activity_priority = (enum twe_activity_priority)c->activity_priority;
  o.activity_nice = c->activity_nice;
  int rc;
  if ((rc = twe_worker_create(client, &o, &g_worker)) < 0) return rc;
  static const struct {
    const char *name;
    twe_workflow_fn fn;
  } wfs[] = {{"Fanout", wf_fanout}, {"Quick", wf_quick}, {"RunawayCpu", wf_runaway_cpu},
             {"RunawayBlock", wf_runaway_block}};
  static const struct {
    const char *name;
    twe_activity_fn fn;
    intptr_t user;
  } acts[] = {{"Init", act_step, 0},          {"Prepare", act_step, 0},
              {"Aggregate", act_step, 0},     {"Notify", act_step, 0},
              {"Download", act_download, 0},  {"Lookup", act_lookup, 0},
              {"Transform", act_burn, 2},     {"Score", act_burn, 3},
              {"Echo", act_echo, 0}};
  for (size_t i = 0; i < sizeof wfs / sizeof wfs[0]; i++)
    if ((rc = twe_worker_register_workflow(g_worker, wfs[i].name, wfs[i].fn, NULL)) < 0)
      return rc;
  for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
    if ((rc = twe_worker_register_activity(g_worker, acts[i].name, acts[i].fn,
                                           (void *)acts[i].user)) < 0)
      return rc;
  return 0;
}

/* A "Key:   N" line of /proc/self/status (-1 if absent). */
static long proc_status_field(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
      v = strtol(line + kl + 1, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

/* One line "<prefix>{json}" with every twe_worker_stats field plus the
 * process's thread count and resident memory. */
static void print_stats(FILE *out, const char *prefix) {
  twe_worker_stats_t s;
  twe_worker_stats(g_worker, &s);
  long threads = proc_status_field("Threads"), rss = proc_status_field("VmRSS");
  fprintf(out,
          "%s{\"workflow_tasks_completed\":%" PRIu64 ",\"workflow_tasks_failed\":%" PRIu64
          ",\"nondeterminism_errors\":%" PRIu64 ",\"cache_hits\":%" PRIu64
          ",\"cache_misses\":%" PRIu64 ",\"cache_evictions\":%" PRIu64
          ",\"cached_workflows\":%" PRIu64 ",\"history_pages_fetched\":%" PRIu64
          ",\"activities_completed\":%" PRIu64 ",\"activities_failed\":%" PRIu64
          ",\"activities_running\":%" PRIu64 ",\"heartbeats_sent\":%" PRIu64
          ",\"workflow_tasks_in_flight\":%" PRIu64 ",\"watchdog_cpu_warnings\":%" PRIu64
          ",\"watchdog_blocked_warnings\":%" PRIu64 ",\"watchdog_preemptions\":%" PRIu64
          ",\"threads_retired\":%" PRIu64 ",\"retired_threads_alive\":%" PRIu64
          ",\"workflow_tasks_held\":%" PRIu64 ",\"workflow_task_slices\":%" PRIu64
          ",\"offending_runs\":%" PRIu64 ",\"activity_slots_in_use\":%" PRIu64
          ",\"activity_slots_peak\":%" PRIu64 ",\"activity_slots_refused\":%" PRIu64
          ",\"activity_threads\":%" PRIu64 ",\"activity_threads_peak\":%" PRIu64
          ",\"poller_scaling_decisions\":%" PRIu64 ",\"workflow_task_slots_in_use\":%" PRIu64
          ",\"threads\":%ld,\"rss_kb\":%ld}\n",
          prefix, s.workflow_tasks_completed, s.workflow_tasks_failed, s.nondeterminism_errors,
          s.cache_hits, s.cache_misses, s.cache_evictions, s.cached_workflows,
          s.history_pages_fetched, s.activities_completed, s.activities_failed,
          s.activities_running, s.heartbeats_sent, s.workflow_tasks_in_flight,
          s.watchdog_cpu_warnings, s.watchdog_blocked_warnings, s.watchdog_preemptions,
          s.threads_retired, s.retired_threads_alive, s.workflow_tasks_held,
          s.workflow_task_slices, s.offending_runs, s.activity_slots_in_use,
          s.activity_slots_peak, s.activity_slots_refused, s.activity_threads,
          s.activity_threads_peak, s.poller_scaling_decisions, s.workflow_task_slots_in_use,
          threads, rss);
  fflush(out);
}

/* --- --worker-only: signals through a self-pipe ------------------------------ */

static int g_self_pipe[2] = {-1, -1};

static void on_signal(int sig) {
  int saved = errno; /* handlers must not change errno under the code they interrupt */
  char c = 0;
  if (sig == SIGTERM || sig == SIGINT) {
    if (g_worker) twe_worker_stop(g_worker);
    c = 't';
  } else if (sig == SIGUSR1) {
    c = 'u';
  } else if (sig == SIGUSR2) {
    static const char wake[64] = "wake up";
    ssize_t w = write(g_block_pipe[1], wake, sizeof wake); /* non-blocking */
    (void)w;
  }
  if (c) {
    ssize_t w = write(g_self_pipe[1], &c, 1);
    (void)w;
  }
  errno = saved;
}

/* Waits for the worker in the background: it may stop by itself (a shard
 * lost for good), and the main loop must hear of it. */
static int g_wait_rc;
static void *worker_wait_thread(void *arg) {
  (void)arg;
  g_wait_rc = twe_worker_wait(g_worker);
  char c = 'w';
  ssize_t w = write(g_self_pipe[1], &c, 1);
  (void)w;
  return NULL;
}

static int run_worker_only(twe_client_t *client) {
  (void)client;
  if (pipe2(g_self_pipe, O_CLOEXEC) < 0) {
    perror("fanout: pipe");
    return 1;
  }
  fcntl(g_self_pipe[1], F_SETFL, O_NONBLOCK);
  /* Block the signals while the worker starts so its threads inherit the
   * mask and the process-directed signals come to this thread; the handler
   * only writes a byte (stdio is not for signal handlers). */
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigfillset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  int rc = twe_worker_start(g_worker);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc < 0) {
    fprintf(stderr, "fanout: cannot start the worker: %s\n", twe_strerror(rc));
    return 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready\n");
  pthread_t waiter;
  bool waiting = pthread_create(&waiter, NULL, worker_wait_thread, NULL) == 0;
  for (bool stopped = false;;) {
    char c;
    ssize_t n = read(g_self_pipe[0], &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (c == 'u') print_stats(stdout, "stats ");
    if (c == 't' && !waiting) break;
    if (c == 'w') break; /* the worker stopped, asked to or by itself */
    if (c == 't' && !stopped) {
      fprintf(stderr, "fanout: stopping the worker\n");
      stopped = true;
    }
  }
  if (waiting) {
    pthread_join(waiter, NULL);
    rc = g_wait_rc;
  } else {
    rc = twe_worker_wait(g_worker);
  }
  print_stats(stdout, "stats ");
  if (rc == TWE_ESTUCK) {
    /* A shard was left behind (the reason is on stderr): leave without
     * freeing what its thread may still touch. */
    fflush(NULL);
    _exit(3);
  }
  return 0;
}

/* --- default mode: worker + starter ------------------------------------------ */

typedef struct waiter {
  pthread_t thread;
  char id[256];
  int64_t started_ns;
  uint64_t timeout_ns;
  int rc;
  char status[32];
  char *text; /* the result's JSON, or the error message (malloc'd) */
  int64_t elapsed_ns;
  bool waiting; /* thread started */
} waiter_t;

/* Waits for one workflow's result on a client of its own (a result wait
 * holds its client for the whole long poll). */
static void *wait_thread(void *arg) {
  waiter_t *w = arg;
  char err[512] = "";
  twe_client_t *client;
  w->rc = twe_client_connect(NULL, &client, err, sizeof err);
  if (w->rc < 0) {
    snprintf(w->status, sizeof w->status, "NO_CLIENT");
    w->text = strdup(err);
    return NULL;
  }
  twe_workflow_result_t r;
  memset(&r, 0, sizeof r);
  w->rc = twe_client_workflow_result(client, w->id, NULL, w->timeout_ns, &r, err, sizeof err);
  w->elapsed_ns = clock_ns(CLOCK_MONOTONIC) - w->started_ns;
  if (w->rc == 0 || w->rc == TWE_EWORKFLOW) {
    snprintf(w->status, sizeof w->status, "%s", twe_workflow_status_name(r.status));
    if (w->rc == 0 && r.has_result) w->text = strndup(r.result.data, r.result.len);
    else if (r.error.message) w->text = strdup(r.error.message);
    twe_workflow_result_free(&r);
  } else {
    snprintf(w->status, sizeof w->status, "%s",
             w->rc == -ETIMEDOUT ? "WAIT_TIMED_OUT" : "WAIT_FAILED");
    w->text = strdup(err[0] ? err : twe_strerror(w->rc));
  }
  twe_client_close(client);
  return NULL;
}

static pthread_mutex_t g_stop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_stop_cv = PTHREAD_COND_INITIALIZER;
static bool g_stopped;

static void *stop_wait_thread(void *arg) {
  (void)arg;
  twe_worker_wait(g_worker);
  pthread_mutex_lock(&g_stop_mu);
  g_stopped = true;
  pthread_cond_signal(&g_stop_cv);
  pthread_mutex_unlock(&g_stop_mu);
  return NULL;
}

/* Stops the worker and waits up to 30 s: a worker that cannot stop must
 * not hang the program. Returns whether it stopped. */
static bool stop_worker_bounded(void) {
  twe_worker_stop(g_worker);
  pthread_t t;
  if (pthread_create(&t, NULL, stop_wait_thread, NULL) != 0) return twe_worker_wait(g_worker) == 0;
  pthread_detach(t);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 30;
  pthread_mutex_lock(&g_stop_mu);
  while (!g_stopped && pthread_cond_timedwait(&g_stop_cv, &g_stop_mu, &deadline) != ETIMEDOUT) {
  }
  bool stopped = g_stopped;
  pthread_mutex_unlock(&g_stop_mu);
  return stopped;
}

static int start_one(twe_client_t *client, const char *type, const char *id, const char *queue,
                     const char *input) {
  twe_start_workflow_options_t o = {.workflow_id = id, .task_queue = queue};
  twe_payload_t arg = twe_payload_json(input);
  char run_id[64], err[512] = "";
  int rc = twe_client_start_workflow(client, type, &o, &arg, input ? 1 : 0, run_id,
                                     sizeof run_id, err, sizeof err);
  if (rc < 0) fprintf(stderr, "fanout: cannot start %s %s: %s\n", type, id, err);
  return rc;
}

static int run_starter(twe_client_t *client, const config_t *c) {
  int rc = twe_worker_start(g_worker);
  if (rc < 0) {
    fprintf(stderr, "fanout: cannot start the worker: %s\n", twe_strerror(rc));
    return 1;
  }
  char input[256];
  snprintf(input, sizeof input,
           "{\"inputs\":%ld,\"block_min_ms\":%ld,\"block_max_ms\":%ld,\"burn_ms\":%ld}",
           c->inputs, c->block_min_ms, c->block_max_ms, c->burn_ms);
  printf("fanout: %ld workflows x %ld inputs x 4 activities (blocking %ld-%ld ms, burning %ld "
         "ms) on task queue \"%s\"%s%s\n",
         c->workflows, c->inputs, c->block_min_ms, c->block_max_ms, c->burn_ms, c->task_queue,
         c->runaway ? ", runaway: " : "", c->runaway ? c->runaway : "");
  fflush(stdout);

  char runaway_ids[2][256];
  int n_runaway = 0;
  bool want_cpu = c->runaway && strcmp(c->runaway, "block") != 0;
  bool want_block = c->runaway && strcmp(c->runaway, "cpu") != 0;
  if (want_cpu) {
    snprintf(runaway_ids[n_runaway], sizeof runaway_ids[0], "%s-runaway-cpu", c->id_prefix);
    if (start_one(client, "RunawayCpu", runaway_ids[n_runaway], c->task_queue, NULL) == 0)
      n_runaway++;
  }
  if (want_block) {
    snprintf(runaway_ids[n_runaway], sizeof runaway_ids[0], "%s-runaway-block", c->id_prefix);
    if (start_one(client, "RunawayBlock", runaway_ids[n_runaway], c->task_queue, NULL) == 0)
      n_runaway++;
  }

  waiter_t *ws = calloc((size_t)c->workflows + 1, sizeof *ws);
  if (!ws) return 1;
  int64_t t0 = clock_ns(CLOCK_MONOTONIC);
  for (long i = 0; i < c->workflows; i++) {
    waiter_t *w = &ws[i];
    snprintf(w->id, sizeof w->id, "%s-%ld", c->id_prefix, i);
    w->started_ns = clock_ns(CLOCK_MONOTONIC);
    w->timeout_ns = (uint64_t)c->timeout_s * SEC;
    if (start_one(client, "Fanout", w->id, c->task_queue, input) < 0) {
      snprintf(w->status, sizeof w->status, "NOT_STARTED");
      continue;
    }
    if (pthread_create(&w->thread, NULL, wait_thread, w) != 0) {
      snprintf(w->status, sizeof w->status, "NO_THREAD");
      continue;
    }
    w->waiting = true;
  }
  long completed = 0;
  for (long i = 0; i < c->workflows; i++) {
    waiter_t *w = &ws[i];
    if (w->waiting) pthread_join(w->thread, NULL);
    if (w->rc == 0 && strcmp(w->status, "COMPLETED") == 0) completed++;
    printf("%s: %s in %.2f s: %s\n", w->id, w->status, (double)w->elapsed_ns / 1e9,
           w->text ? w->text : "");
    free(w->text);
  }
  double wall = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e9;
  printf("total: %ld/%ld completed in %.2f s wall (%ld activities each)\n", completed,
         c->workflows, wall, c->inputs * 4 + 4);
  print_stats(stdout, "worker stats: ");
  if (n_runaway) {
    /* The C client has no terminate: say what is left behind. */
    printf("runaway workflows still open (the C client cannot terminate them; their workflow "
           "tasks keep being retried until they are terminated, e.g. temporal workflow "
           "terminate --workflow-id ID):");
    for (int i = 0; i < n_runaway; i++) printf(" %s", runaway_ids[i]);
    printf("\n");
  }
  fflush(stdout);
  free(ws);
  if (!stop_worker_bounded()) {
    fprintf(stderr, "fanout: the worker did not stop within 30 s\n");
    fflush(NULL);
    _exit(1); /* its threads are still running: do not destroy it under them */
  }
  return completed == c->workflows ? 0 : 1;
}

int main(int argc, char **argv) {
  config_t c = {.task_queue = "fanout", .workflows = 5, .inputs = 120, .block_min_ms = 500,
                .block_max_ms = 5000, .burn_ms = 50, .cache = -1 /* --cache not given */,
                .timeout_s = 600, .activity_priority = TWE_ACTIVITY_PRIORITY_IDLE};
  int rc = parse_args(argc, argv, &c);
  if (rc) return rc;
  char prefix[64];
  if (!c.id_prefix) {
    snprintf(prefix, sizeof prefix, "fanout-%ld", (long)getpid());
    c.id_prefix = prefix;
  }
  /* The RunawayBlock pipe: the read end blocks, the write end stays open
   * (non-blocking, so the SIGUSR2 handler never blocks on a full pipe). */
  if (pipe2(g_block_pipe, O_CLOEXEC) < 0) {
    perror("fanout: pipe");
    return 1;
  }
  fcntl(g_block_pipe[1], F_SETFL, O_NONBLOCK);

  char err[512];
  twe_client_t *client;
  rc = twe_client_connect(NULL, &client, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "fanout: cannot connect: %s\n", err);
    return 1;
  }
  if ((rc = create_worker(client, &c)) < 0) {
    fprintf(stderr, "fanout: %s\n", twe_strerror(rc));
    return 1;
  }
  int status = c.worker_only ? run_worker_only(client) : run_starter(client, &c);
  twe_worker_destroy(g_worker);
  twe_client_close(client);
  return status;
}
