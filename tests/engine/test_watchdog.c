/* tests/engine/test_watchdog.c — the watchdog against real workflow runs,
 * without a server: a thread of the test plays the shard thread (attach,
 * task_begin, twe__run_apply, task_end, as engine/workflow_poller.c does)
 * while a real watchdog with small budgets and the test's own hooks watches
 * it. Workflows spin in their own code, loop on a workflow API call, block
 * in read(), or spin for a while and complete.
 *
 * Threads and ownership: cmocka's assertions longjmp, so they run on the
 * test's main thread only; the shard thread records what happened in its
 * job_t. The fiber pool and the histories are created by the main thread
 * (the pool is not bound to a thread: only the running fiber is per
 * thread), so the main thread can free them whatever becomes of the shard
 * thread. A retired thread never returns from twe__run_apply and is never
 * joined (engine/watchdog.c: exit_retired); its run and the pool stay
 * untouched until the retired_gone hook says it has exited. A shard thread
 * that does not finish in time (a preemption that never came) leaves the
 * fixture "broken": teardown then leaks what that thread may still use.
 *
 * Time slices: a sliceable job is applied as engine/workflow_poller.c does,
 * slice after slice (twe__run_resume after TWE__RUN_SLICED), with another
 * job's whole task run in between at the first boundary. */
#define _GNU_SOURCE /* pthread_setaffinity_np, pthread_timedjoin_np, CPU_* */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/fiber.h"
#include "engine/registry.h"
#include "engine/workflow/run.h"
#include "engine/values.h"
#include "engine/watchdog.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define CMD(x) TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_##x
#define CAUSE(x) \
  TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_##x
#define NS 1000000000LL
#define MS 1000000LL
#define T0 (1700000000LL * NS)

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * NS + ts.tv_nsec;
}

/* The watchdog's signal, chosen as engine/watchdog.c chooses it. */
static int watchdog_signal(void) {
  const char *env = getenv("TWE_WATCHDOG_SIGNAL");
  if (env && *env) {
    long v = strtol(env, NULL, 10);
    if (v >= SIGRTMIN && v <= SIGRTMAX) return (int)v;
  }
  return SIGRTMAX - 3;
}

/* --- synthetic histories (as in tests/engine/test_run.c) ------------------------------ */

typedef struct hist {
  twe_arena_t arena;
  twe_event_pb_t *ev[8];
  size_t n;
} hist_t;

static void *halloc(hist_t *h, size_t size) {
  void *p = twe__arena_alloc(&h->arena, size);
  assert_non_null(p);
  memset(p, 0, size);
  return p;
}

static twe_event_pb_t *add(hist_t *h, int type) {
  assert_true(h->n < sizeof h->ev / sizeof h->ev[0]);
  twe_event_pb_t *e = halloc(h, sizeof *e);
  temporal__api__history__v1__history_event__init(e);
  e->event_id = (int64_t)h->n + 1;
  e->event_type = (Temporal__Api__Enums__V1__EventType)type;
  Google__Protobuf__Timestamp *t = halloc(h, sizeof *t);
  google__protobuf__timestamp__init(t);
  t->seconds = (T0 + e->event_id * NS) / NS;
  e->event_time = t;
  h->ev[h->n++] = e;
  return e;
}

/* WORKFLOW_EXECUTION_STARTED of `type`, then the first workflow task
 * (scheduled, started): the task the shard thread answers. */
static void h_first_task(hist_t *h, const char *type) {
  twe_event_pb_t *e = add(h, EV(WORKFLOW_EXECUTION_STARTED));
  Temporal__Api__History__V1__WorkflowExecutionStartedEventAttributes *a = halloc(h, sizeof *a);
  temporal__api__history__v1__workflow_execution_started_event_attributes__init(a);
  Temporal__Api__Common__V1__WorkflowType *wt = halloc(h, sizeof *wt);
  temporal__api__common__v1__workflow_type__init(wt);
  wt->name = twe__str(&h->arena, type);
  a->workflow_type = wt;
  Temporal__Api__Taskqueue__V1__TaskQueue *tq = halloc(h, sizeof *tq);
  temporal__api__taskqueue__v1__task_queue__init(tq);
  tq->name = twe__str(&h->arena, "tq");
  a->task_queue = tq;
  a->attempt = 1;
  e->attributes_case = HATTR(WORKFLOW_EXECUTION_STARTED);
  e->workflow_execution_started_event_attributes = a;
  add(h, EV(WORKFLOW_TASK_SCHEDULED));
  twe_event_pb_t *s = add(h, EV(WORKFLOW_TASK_STARTED));
  Temporal__Api__History__V1__WorkflowTaskStartedEventAttributes *sa = halloc(h, sizeof *sa);
  temporal__api__history__v1__workflow_task_started_event_attributes__init(sa);
  sa->scheduled_event_id = s->event_id - 1;
  s->attributes_case = HATTR(WORKFLOW_TASK_STARTED);
  s->workflow_task_started_event_attributes = sa;
}

/* --- workflows ------------------------------------------------------------------------- */
/* They run on the shard thread: no cmocka assertions in here. */

static volatile uint64_t sink;

/* Pure user code, no call anywhere: only the signal can stop it. */
static __attribute__((noinline)) void spin_forever(void) {
  for (;;) sink++;
}

static void wf_spin(twe_workflow_t *wf, void *user) {
  (void)wf;
  (void)user;
  spin_forever();
}

/* A workflow API call in a loop: stopped by the signal in this code or at
 * the end of a call. */
static void wf_api_loop(twe_workflow_t *wf, void *user) {
  (void)user;
  for (;;) sink += twe_workflow_random(wf) ^ (uint64_t)twe_workflow_now(wf);
}

/* Spins for spin_ns of this thread's CPU time, in chunks between clock
 * reads (the vdso is system code the watchdog cannot abandon), then
 * completes. */
static int64_t spin_ns;
static __attribute__((noinline)) void spin_cpu(int64_t ns) {
  int64_t end = thread_cpu_ns() + ns;
  do {
    for (int i = 0; i < 100000; i++) sink++;
  } while (thread_cpu_ns() < end);
}

static void complete_text(twe_workflow_t *wf, const char *json) {
  twe_payload_t p = twe_payload_json(json);
  twe_workflow_complete(wf, &p);
}

static void wf_spin_then_complete(twe_workflow_t *wf, void *user) {
  (void)user;
  spin_cpu(spin_ns);
  complete_text(wf, "\"spun\"");
}

/* Register-heavy arithmetic in plain user code (integers and doubles live
 * in registers across the loop): a slice that ends inside it must give
 * every register back, or the result differs from an uninterrupted run's. */
static __attribute__((noinline)) uint64_t mix(uint64_t rounds) {
  uint64_t a = 0x9E3779B97F4A7C15ull, b = 0xBF58476D1CE4E5B9ull, c = 1, d = 7;
  double x = 1.0, y = 0.5, z = 0.25;
  for (uint64_t i = 0; i < rounds; i++) {
    a ^= b + (a << 7) + (a >> 3);
    b = b * 0x94D049BB133111EBull + c;
    c += a ^ d;
    d = (d << 13) | (d >> 51);
    x = x * 1.0000001 + y;
    y = y * 0.9999999 + z;
    z = z + x * 1e-12;
    if (x > 1e6) x *= 1e-6;
  }
  return a ^ b ^ c ^ d ^ (uint64_t)(x * 1e3) ^ (uint64_t)(y * 1e3) ^ (uint64_t)(z * 1e3);
}
static uint64_t mix_rounds;

static void wf_mix(twe_workflow_t *wf, void *user) {
  (void)user;
  char text[32];
  snprintf(text, sizeof text, "\"%016llx\"", (unsigned long long)mix(mix_rounds));
  complete_text(wf, text);
}

static void wf_healthy(twe_workflow_t *wf, void *user) {
  (void)user;
  sink += twe_workflow_random(wf);
  complete_text(wf, "\"healthy\"");
}

/* Blocks in read() on a pipe nobody writes (until the test does). */
static int block_fd = -1;
static atomic_bool came_back; /* the code got past the API call after the read */
static void wf_blocked_read(twe_workflow_t *wf, void *user) {
  (void)user;
  char c;
  ssize_t n = read(block_fd, &c, 1);
  (void)n;
  (void)twe_workflow_now(wf); /* a retired thread exits here at the latest */
  atomic_store(&came_back, true);
  complete_text(wf, "\"unblocked\"");
}

/* --- the shard thread -------------------------------------------------------------------- */

typedef struct job {
  const char *type;
  const char *run_id;
  hist_t h;
  twe_arena_t out_arena;
  twe_run_t *run; /* the main thread's (not destroyed here), or NULL: own */
  /* Results, read by the main thread after the join. */
  bool done;
  int setup_rc;
  int rc;
  int cause;
  char message[1024];
  size_t n_commands;
  int first_command;
  bool closes_workflow;
  int64_t cpu_ns, wall_ns;
  size_t stacks_in_use_after; /* of the pool, once this job's run is destroyed */
  bool signal_blocked_after;  /* the watchdog's signal, after the task */
  bool on_altstack_after;     /* still on the signal stack after the task */
  char result[64];            /* the completion's payload, as JSON */
  /* Sliced jobs: applied in slices; `between` runs whole at the first
   * boundary. slices: how many ended; the most CPU one took. */
  bool sliceable;
  struct job *between;
  int slices;
  int64_t max_slice_cpu_ns, charged_cpu_ns;
} job_t;

typedef struct fixture fixture_t;

typedef struct worker {
  fixture_t *fx;
  twe__watchdog_t *wd; /* attach to it; NULL: run unwatched */
  int cpu;             /* pin to this CPU; -1: no */
  job_t *jobs[2];
  size_t n_jobs;
  int64_t idle_first_ns; /* attached and idle this long before the first job */
  _Atomic(twe__watched_t *) rec;
  atomic_bool attached;
  pthread_t thread;
  bool started;
} worker_t;

/* --- the hooks: what the test records of the watchdog's calls -------------------------- */

typedef struct hooks_log {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int replaced, gone;
  twe__watched_t *replaced_rec, *gone_rec;
  int mode_at_replace;
  char message[1024];
  /* The log hook's lines: how many at warn, and the last one's text, type
   * and run. */
  int warn_lines;
  char line[1536], line_type[128], line_run[64];
} hooks_log_t;

static void hook_log(void *arg, int level, unsigned shard, const char *type, const char *run,
                     const char *message) {
  (void)shard;
  hooks_log_t *log = arg;
  pthread_mutex_lock(&log->lock);
  if (level == TWE_LOG_WARN) log->warn_lines++;
  snprintf(log->line, sizeof log->line, "%s", message);
  snprintf(log->line_type, sizeof log->line_type, "%s", type ? type : "");
  snprintf(log->line_run, sizeof log->line_run, "%s", run ? run : "");
  pthread_mutex_unlock(&log->lock);
}

static int hook_replace(void *arg, twe__watched_t *rec) {
  hooks_log_t *log = arg;
  pthread_mutex_lock(&log->lock);
  log->replaced++;
  log->replaced_rec = rec;
  log->mode_at_replace = twe__watch_mode(rec);
  snprintf(log->message, sizeof log->message, "%s", rec->message);
  pthread_cond_broadcast(&log->cond);
  pthread_mutex_unlock(&log->lock);
  return 0;
}

static void hook_gone(void *arg, twe__watched_t *rec) {
  hooks_log_t *log = arg;
  pthread_mutex_lock(&log->lock);
  log->gone++;
  log->gone_rec = rec;
  pthread_cond_broadcast(&log->cond);
  pthread_mutex_unlock(&log->lock);
}

/* Waits until *counter (guarded by log->lock) is at least `want`, for at
 * most `seconds`. Returns whether it got there. */
static bool hooks_wait(hooks_log_t *log, const int *counter, int want, int seconds) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += seconds;
  pthread_mutex_lock(&log->lock);
  int rc = 0;
  while (*counter < want && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&log->cond, &log->lock, &until);
  bool ok = *counter >= want;
  pthread_mutex_unlock(&log->lock);
  return ok;
}

/* --- fixture ----------------------------------------------------------------------------- */

struct fixture {
  twe_registry_t reg;
  twe_fiber_pool_t *pool;
  twe_run_env_t env;
  hooks_log_t log;
  twe__watchdog_t *wd;
  job_t jobs[2];
  int pipe[2];
  bool broken; /* a shard thread may still be using the pool: leak it */
};

static void job_init(job_t *j, const char *type, const char *run_id) {
  memset(j, 0, sizeof *j);
  j->type = type;
  j->run_id = run_id;
  twe__arena_init(&j->h.arena, 0);
  twe__arena_init(&j->out_arena, 0);
  h_first_task(&j->h, type);
}

static void job_fini(job_t *j) {
  if (!j->type) return;
  twe__arena_destroy(&j->h.arena);
  twe__arena_destroy(&j->out_arena);
  j->type = NULL;
}

static void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void run_job(worker_t *wk, twe__watched_t *rec, job_t *j) {
  twe_run_t *run = j->run;
  bool own = !run;
  if (own && (j->setup_rc = twe__run_create(&wk->fx->env, "wf-1", j->run_id, &run)) < 0) return;
  twe_run_outcome_t out;
  int64_t c0 = thread_cpu_ns(), w0 = mono_ns();
  /* As engine/workflow_poller.c apply_now does. */
  twe__watch_task_t task = {.sliceable = j->sliceable};
  int64_t s0 = thread_cpu_ns();
  twe__watch_task_begin(rec, j->type, j->run_id, &task);
  j->rc = twe__run_apply(run, j->h.ev, j->h.n, &j->out_arena, &out);
  twe__watch_task_end(rec, &task);
  while (j->rc == TWE__RUN_SLICED) {
    int64_t used = thread_cpu_ns() - s0;
    if (used > j->max_slice_cpu_ns) j->max_slice_cpu_ns = used;
    if (j->slices++ == 0 && j->between) run_job(wk, rec, j->between);
    s0 = thread_cpu_ns();
    twe__watch_task_begin(rec, j->type, j->run_id, &task);
    j->rc = twe__run_resume(run, &out);
    twe__watch_task_end(rec, &task);
  }
  j->charged_cpu_ns = task.cpu_ns;
  j->cpu_ns = thread_cpu_ns() - c0;
  j->wall_ns = mono_ns() - w0;
  j->cause = (int)out.cause;
  snprintf(j->message, sizeof j->message, "%s", out.message);
  j->n_commands = out.n_commands;
  j->first_command = out.n_commands ? (int)out.commands[0]->command_type : -1;
  j->closes_workflow = out.closes_workflow;
  if (out.n_commands && out.commands[0]->complete_workflow_execution_command_attributes) {
    const Temporal__Api__Common__V1__Payloads *r =
        out.commands[0]->complete_workflow_execution_command_attributes->result;
    if (r && r->n_payloads)
      snprintf(j->result, sizeof j->result, "%.*s", (int)r->payloads[0]->data.len,
               (const char *)r->payloads[0]->data.data);
  }
  if (own) {
    twe__run_destroy(run);
    twe_fiber_pool_stats_t st;
    twe__fiber_pool_stats(wk->fx->pool, &st);
    j->stacks_in_use_after = st.stacks_in_use;
  }
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, NULL, &mask);
  j->signal_blocked_after = sigismember(&mask, watchdog_signal()) == 1;
  stack_t ss;
  j->on_altstack_after = sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK);
  j->done = true;
}

static void *worker_main(void *arg) {
  worker_t *wk = arg;
  if (wk->cpu >= 0) pin_self(wk->cpu);
  twe__watched_t *rec = wk->wd ? twe__watch_attach(wk->wd, 0) : NULL;
  atomic_store(&wk->rec, rec);
  atomic_store(&wk->attached, true);
  if (wk->idle_first_ns > 0) {
    struct timespec ts = {wk->idle_first_ns / NS, wk->idle_first_ns % NS};
    nanosleep(&ts, NULL);
  }
  for (size_t i = 0; i < wk->n_jobs; i++) run_job(wk, rec, wk->jobs[i]);
  twe__watch_detach(rec);
  return NULL;
}

static int64_t g_idle_first_ns; /* the next worker_start's idle_first_ns */
static void worker_start(worker_t *wk, fixture_t *fx, twe__watchdog_t *wd, int cpu, job_t *a,
                         job_t *b) {
  memset(wk, 0, sizeof *wk);
  wk->idle_first_ns = g_idle_first_ns;
  g_idle_first_ns = 0;
  wk->fx = fx;
  wk->wd = wd;
  wk->cpu = cpu;
  wk->jobs[wk->n_jobs++] = a;
  if (b) wk->jobs[wk->n_jobs++] = b;
  assert_int_equal(pthread_create(&wk->thread, NULL, worker_main, wk), 0);
  wk->started = true;
}

/* Joins the shard thread within `seconds`; false (and the fixture broken)
 * when it did not finish its jobs: a preemption that never came, or a
 * thread retired unexpectedly (its exit, a bare SYS_exit, satisfies the
 * join too, but it left its run behind). */
static bool worker_join(worker_t *wk, int seconds) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += seconds;
  bool done = pthread_timedjoin_np(wk->thread, NULL, &until) == 0;
  for (size_t i = 0; i < wk->n_jobs; i++) done = done && wk->jobs[i]->done;
  if (!done) wk->fx->broken = true;
  return done;
}

static int setup(void **state) {
  fixture_t *fx = calloc(1, sizeof *fx);
  assert_non_null(fx);
  twe__registry_init(&fx->reg);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Spin", wf_spin, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "ApiLoop", wf_api_loop, NULL), 0);
  assert_int_equal(
      twe__registry_add_workflow(&fx->reg, "SpinThenComplete", wf_spin_then_complete, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Healthy", wf_healthy, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "BlockedRead", wf_blocked_read, NULL), 0);
  assert_int_equal(twe__registry_add_workflow(&fx->reg, "Mix", wf_mix, NULL), 0);
  assert_int_equal(twe__fiber_pool_create(0, &fx->pool), 0);
  fx->env = (twe_run_env_t){.namespace_name = "default", .task_queue = "tq", .registry = &fx->reg, .fibers = fx->pool};
  pthread_mutex_init(&fx->log.lock, NULL);
  pthread_cond_init(&fx->log.cond, NULL);
  fx->pipe[0] = fx->pipe[1] = -1;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_t *fx = *state;
  if (fx->broken) {
    /* A shard thread may still run on the pool's stacks, a watchdog may
     * still watch it: leave all of it. */
    fprintf(stderr, "test_watchdog: a shard thread did not finish; its memory is leaked\n");
    return 0;
  }
  twe__watchdog_destroy(fx->wd);
  for (int i = 0; i < 2; i++) job_fini(&fx->jobs[i]);
  twe_fiber_pool_stats_t st;
  twe__fiber_pool_stats(fx->pool, &st);
  assert_int_equal(st.stacks_in_use, 0);
  twe__fiber_pool_destroy(fx->pool);
  twe__registry_destroy(&fx->reg);
  for (int i = 0; i < 2; i++)
    if (fx->pipe[i] >= 0) close(fx->pipe[i]);
  pthread_cond_destroy(&fx->log.cond);
  pthread_mutex_destroy(&fx->log.lock);
  free(fx);
  return 0;
}

/* retire_grace: 0 for the default (100 ms). Cases that expect no thread
 * to be retired give it 2 s: the grace is wall time, and on a loaded
 * machine a thread that has not had the CPU to take the signal yet would
 * be retired instead of preempted. */
static int64_t g_slice_ns; /* the next watchdog_start's slice (0: none) */
static void watchdog_start(fixture_t *fx, int64_t cpu_warning, int64_t cpu_budget,
                           int64_t blocked_warning, int64_t blocked_budget,
                           int64_t retire_grace) {
  twe__watchdog_options_t o = {.cpu_warning_ns = cpu_warning,
                               .cpu_budget_ns = cpu_budget,
                               .blocked_warning_ns = blocked_warning,
                               .blocked_budget_ns = blocked_budget,
                               .max_retired = 1,
                               .slice_ns = g_slice_ns,
                               .retire_grace_ns = retire_grace};
  g_slice_ns = 0;
  twe__watchdog_hooks_t hooks = {.replace_thread = hook_replace,
                                 .retired_gone = hook_gone,
                                 .log = hook_log,
                                 .arg = &fx->log};
  assert_int_equal(twe__watchdog_create(&o, &hooks, &fx->wd), 0);
}

static uint64_t counter(const fixture_t *fx, size_t offset) {
  const twe__watchdog_counters_t *c = twe__watchdog_counters(fx->wd);
  return atomic_load((const _Atomic uint64_t *)(const void *)((const char *)c + offset));
}
#define COUNTER(fx, name) counter(fx, offsetof(twe__watchdog_counters_t, name))

static void assert_contains(const char *s, const char *part) {
  if (!strstr(s, part)) fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

static void assert_completed(const job_t *j) {
  assert_true(j->done);
  assert_int_equal(j->setup_rc, 0);
  if (j->rc != 0) fail_msg("task failed (%d): %s", j->rc, j->message);
  assert_int_equal(j->n_commands, 1);
  assert_int_equal(j->first_command, CMD(COMPLETE_WORKFLOW_EXECUTION));
  assert_true(j->closes_workflow);
}

/* --- cases -------------------------------------------------------------------------------- */

/* Pure user code over its CPU budget: interrupted by the signal, the task
 * fails, and the same thread carries on with a healthy task. */
static void test_twe__watchdog_cpu_budget_preempts_spin(void **state) {
  fixture_t *fx = *state;
  watchdog_start(fx, 100 * MS, 200 * MS, 0, 0, 2 * NS);
  job_init(&fx->jobs[0], "Spin", "run-spin");
  job_init(&fx->jobs[1], "Healthy", "run-healthy");
  worker_t wk;
  worker_start(&wk, fx, fx->wd, -1, &fx->jobs[0], &fx->jobs[1]);
  assert_true(worker_join(&wk, 20));
  const job_t *j = &fx->jobs[0];
  fprintf(stderr, "spin: preempted after %.1f ms of thread CPU (%.1f ms wall), budget 200 ms\n"
          "spin: message: %s\n", (double)j->cpu_ns / MS, (double)j->wall_ns / MS, j->message);
  assert_true(j->done);
  assert_int_equal(j->rc, TWE_EPREEMPTED);
  assert_int_equal(j->cause, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE));
  assert_contains(j->message, "preempted by the twe watchdog");
  assert_contains(j->message, "\"Spin\"");
  assert_contains(j->message, "run-spin");
  assert_contains(j->message, "of CPU");
  assert_contains(j->message, "budget of 0.20 s");
  assert_contains(j->message, "interrupted at spin_forever");
  assert_true(j->cpu_ns >= 200 * MS);
  assert_int_equal(j->n_commands, 0);
  assert_int_equal(j->stacks_in_use_after, 0);
  assert_false(j->signal_blocked_after);
  assert_false(j->on_altstack_after);
  assert_int_equal(COUNTER(fx, preemptions), 1);
  assert_int_equal(COUNTER(fx, cpu_warnings), 1);
  assert_int_equal(COUNTER(fx, threads_retired), 0);
  /* The warning went to the log hook, naming the workflow. */
  pthread_mutex_lock(&fx->log.lock);
  assert_int_equal(fx->log.warn_lines, 1);
  assert_contains(fx->log.line, "warning threshold");
  assert_string_equal(fx->log.line_type, "Spin");
  assert_string_equal(fx->log.line_run, "run-spin");
  pthread_mutex_unlock(&fx->log.lock);
  /* The thread after the abandon: a whole task, nothing preempted. */
  assert_completed(&fx->jobs[1]);
  assert_int_equal(fx->jobs[1].stacks_in_use_after, 0);
  assert_false(fx->jobs[1].signal_blocked_after);
  assert_int_equal(COUNTER(fx, preemptions), 1);
}

/* An idle worker's watchdog dozes (no tick while every thread is idle);
 * the first task after it still has its budget enforced: the task that
 * begins wakes the watchdog, and the spin is preempted as usual. */
static void test_twe__watchdog_dozes_when_idle_and_wakes_for_a_task(void **state) {
  fixture_t *fx = *state;
  watchdog_start(fx, 100 * MS, 200 * MS, 0, 0, 2 * NS);
  job_init(&fx->jobs[0], "Spin", "run-after-doze");
  job_init(&fx->jobs[1], "Healthy", "run-healthy");
  worker_t wk;
  g_idle_first_ns = 500 * MS; /* 50 ticks: the watchdog dozes after 10 */
  worker_start(&wk, fx, fx->wd, -1, &fx->jobs[0], &fx->jobs[1]);
  assert_true(worker_join(&wk, 20));
  uint64_t dozes = COUNTER(fx, dozes);
  fprintf(stderr, "doze: %llu doze(s); the spin preempted after %.1f ms of thread CPU\n",
          (unsigned long long)dozes, (double)fx->jobs[0].cpu_ns / MS);
  assert_true(dozes >= 1);
  assert_int_equal(fx->jobs[0].rc, TWE_EPREEMPTED);
  assert_contains(fx->jobs[0].message, "run-after-doze");
  assert_int_equal(COUNTER(fx, preemptions), 1);
  assert_completed(&fx->jobs[1]);
}

/* A loop of workflow API calls over its budget: stopped either by the
 * signal in the workflow's own code or at the end of an API call. */
static void test_twe__watchdog_cpu_budget_preempts_api_loop(void **state) {
  fixture_t *fx = *state;
  watchdog_start(fx, 0, 200 * MS, 0, 0, 2 * NS);
  job_init(&fx->jobs[0], "ApiLoop", "run-api");
  job_init(&fx->jobs[1], "Healthy", "run-healthy");
  worker_t wk;
  worker_start(&wk, fx, fx->wd, -1, &fx->jobs[0], &fx->jobs[1]);
  assert_true(worker_join(&wk, 20));
  const job_t *j = &fx->jobs[0];
  fprintf(stderr, "api loop: preempted after %.1f ms of thread CPU\napi loop: message: %s\n",
          (double)j->cpu_ns / MS, j->message);
  assert_true(j->done);
  assert_int_equal(j->rc, TWE_EPREEMPTED);
  assert_int_equal(j->cause, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE));
  assert_contains(j->message, "preempted by the twe watchdog");
  assert_contains(j->message, "\"ApiLoop\"");
  assert_contains(j->message, "budget of 0.20 s");
  /* Where it stopped: in the workflow's code, at the end of an API call,
   * or (the signal landing at the edge of a call, still in workflow mode)
   * in the API function's own code or in twe__watch_api_enter before it
   * switches to engine mode (3 to 8 % of preemptions of a loop like this
   * one, measured; the message then names an engine internal). */
  if (!strstr(j->message, "interrupted at wf_api_loop") &&
      !strstr(j->message, "its call to twe_workflow_") &&
      !strstr(j->message, "interrupted at twe_workflow_") &&
      !strstr(j->message, "interrupted at twe__watch_api_enter"))
    fail_msg("the message names neither wf_api_loop nor the API call: %s", j->message);
  assert_true(j->cpu_ns >= 200 * MS);
  assert_int_equal(j->stacks_in_use_after, 0);
  assert_false(j->signal_blocked_after);
  assert_int_equal(COUNTER(fx, preemptions), 1);
  assert_completed(&fx->jobs[1]);
}

/* All budgets off, a watchdog still running: 300 ms of spinning completes. */
static void test_twe__watchdog_budgets_off_no_preemption(void **state) {
  fixture_t *fx = *state;
  watchdog_start(fx, 0, 0, 0, 0, 0);
  spin_ns = 300 * MS;
  job_init(&fx->jobs[0], "SpinThenComplete", "run-off");
  worker_t wk;
  worker_start(&wk, fx, fx->wd, -1, &fx->jobs[0], NULL);
  assert_true(worker_join(&wk, 20));
  fprintf(stderr, "budgets off: %.1f ms CPU, completed\n", (double)fx->jobs[0].cpu_ns / MS);
  assert_completed(&fx->jobs[0]);
  assert_true(fx->jobs[0].cpu_ns >= 300 * MS);
  assert_int_equal(COUNTER(fx, preemptions), 0);
  assert_int_equal(COUNTER(fx, cpu_warnings), 0);
}

/* A thread that never attached is not watched, whatever the budgets. */
static void test_twe__watchdog_unattached_thread_not_preempted(void **state) {
  fixture_t *fx = *state;
  watchdog_start(fx, 50 * MS, 100 * MS, 0, 0, 2 * NS);
  spin_ns = 300 * MS;
  job_init(&fx->jobs[0], "SpinThenComplete", "run-unwatched");
  worker_t wk;
  worker_start(&wk, fx, NULL, -1, &fx->jobs[0], NULL);
  assert_true(worker_join(&wk, 20));
  assert_completed(&fx->jobs[0]);
  assert_true(fx->jobs[0].cpu_ns >= 300 * MS);
  assert_int_equal(COUNTER(fx, preemptions), 0);
  assert_int_equal(COUNTER(fx, cpu_warnings), 0);
}

static volatile atomic_bool burn_stop;
static void *burner_main(void *arg) {
  pin_self((int)(intptr_t)arg);
  while (!atomic_load_explicit(&burn_stop, memory_order_relaxed)) sink++;
  return NULL;
}

/* CPU time is charged, not wall time, and runnable-but-waiting is not
 * "blocked": the shard thread shares one CPU with four busy threads, so
 * 300 ms of its CPU take well over a second of wall time, past its CPU
 * budget of 1 s and its blocked budget of 200 ms. It must complete. */
static void test_twe__watchdog_charges_cpu_not_wall(void **state) {
  fixture_t *fx = *state;
  cpu_set_t set;
  CPU_ZERO(&set);
  assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof set, &set), 0);
  int cpu = -1;
  for (int i = 0; i < CPU_SETSIZE && cpu < 0; i++)
    if (CPU_ISSET(i, &set)) cpu = i;
  assert_true(cpu >= 0);
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  /* The main thread only wants to know that threads may be pinned. */
  cpu_set_t orig;
  assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof orig, &orig), 0);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) skip();
  assert_int_equal(pthread_setaffinity_np(pthread_self(), sizeof orig, &orig), 0);

  watchdog_start(fx, 0, 1 * NS, 0, 200 * MS, 2 * NS);
  enum { BURNERS = 4 };
  pthread_t burners[BURNERS];
  atomic_store(&burn_stop, false);
  for (int i = 0; i < BURNERS; i++)
    assert_int_equal(pthread_create(&burners[i], NULL, burner_main, (void *)(intptr_t)cpu), 0);
  spin_ns = 300 * MS;
  job_init(&fx->jobs[0], "SpinThenComplete", "run-shared-cpu");
  worker_t wk;
  worker_start(&wk, fx, fx->wd, cpu, &fx->jobs[0], NULL);
  bool joined = worker_join(&wk, 30);
  atomic_store(&burn_stop, true);
  for (int i = 0; i < BURNERS; i++) pthread_join(burners[i], NULL);
  assert_true(joined);
  const job_t *j = &fx->jobs[0];
  fprintf(stderr, "shared CPU %d with %d busy threads: task took %.1f ms wall, %.1f ms CPU "
          "(cpu budget 1000 ms, blocked budget 200 ms)\n",
          cpu, BURNERS, (double)j->wall_ns / MS, (double)j->cpu_ns / MS);
  assert_completed(j);
  /* The case proves something only if wall time went past the budget. */
  assert_true(j->wall_ns > 1 * NS);
  assert_true(j->cpu_ns >= 300 * MS);
  assert_int_equal(COUNTER(fx, preemptions), 0);
  assert_int_equal(COUNTER(fx, blocked_warnings), 0);
  assert_int_equal(COUNTER(fx, threads_retired), 0);
}

/* Blocked in read() past the blocked budget: the signal cannot abandon it
 * there (inside libc), so after the grace its thread is retired and the
 * replace hook called. Once the pipe is written, the thread wakes, exits at
 * its next engine call, and the retired_gone hook follows. */
static void test_twe__watchdog_blocked_budget_retires_thread(void **state) {
  fixture_t *fx = *state;
  assert_int_equal(pipe(fx->pipe), 0);
  block_fd = fx->pipe[0];
  atomic_store(&came_back, false);
  watchdog_start(fx, 0, 0, 0, 200 * MS, 0);
  job_init(&fx->jobs[0], "BlockedRead", "run-blocked");
  /* The run is the main thread's: the retired thread never returns, and
   * the run (arena, fiber) may go only after retired_gone. */
  twe_run_t *run = NULL;
  assert_int_equal(twe__run_create(&fx->env, "wf-1", "run-blocked", &run), 0);
  fx->jobs[0].run = run;
  worker_t wk;
  worker_start(&wk, fx, fx->wd, -1, &fx->jobs[0], NULL);
  /* From here, until retired_gone, the pool and the run are the shard
   * thread's: any failure leaves them. */
  fx->broken = true;
  int64_t t0 = mono_ns();
  assert_true(hooks_wait(&fx->log, &fx->log.replaced, 1, 10));
  int64_t t_replace = mono_ns();
  fprintf(stderr, "blocked: replace_thread after %.1f ms: %s\n", (double)(t_replace - t0) / MS,
          fx->log.message);
  assert_int_equal(fx->log.replaced, 1);
  twe__watched_t *rec = atomic_load(&wk.rec);
  assert_non_null(rec);
  assert_ptr_equal(fx->log.replaced_rec, rec);
  assert_int_equal(fx->log.mode_at_replace, TWE__WATCH_RETIRED);
  assert_int_equal(twe__watch_mode(rec), TWE__WATCH_RETIRED);
  assert_contains(fx->log.message, "preempted by the twe watchdog");
  assert_contains(fx->log.message, "\"BlockedRead\"");
  assert_contains(fx->log.message, "blocked in a system call");
  assert_contains(fx->log.message, "retired");
  assert_int_equal(COUNTER(fx, threads_retired), 1);
  assert_int_equal(COUNTER(fx, retired_alive), 1);
  assert_false(fx->jobs[0].done); /* twe__run_apply has not returned */
  assert_int_equal(fx->log.gone, 0);

  assert_int_equal(write(fx->pipe[1], "x", 1), 1);
  assert_true(hooks_wait(&fx->log, &fx->log.gone, 1, 5));
  fprintf(stderr, "blocked: retired_gone %.1f ms after the pipe was written\n",
          (double)(mono_ns() - t_replace) / MS);
  assert_ptr_equal(fx->log.gone_rec, rec);
  assert_true(atomic_load(&rec->gone));
  assert_int_equal(COUNTER(fx, retired_alive), 0);
  assert_int_equal(COUNTER(fx, threads_retired), 1);
  assert_false(atomic_load(&came_back)); /* it never ran past the API call */
  assert_false(fx->jobs[0].done);
  /* The thread is gone: its run and the pool are the main thread's again. */
  fx->broken = false;
  twe__run_destroy(run);
  twe_fiber_pool_stats_t st;
  twe__fiber_pool_stats(fx->pool, &st);
  assert_int_equal(st.stacks_in_use, 0);
}

/* Warning thresholds only: logged and counted once, nothing preempted. */
static void test_twe__watchdog_warning_only(void **state) {
  fixture_t *fx = *state;
  watchdog_start(fx, 50 * MS, 0, 0, 0, 2 * NS);
  spin_ns = 200 * MS;
  job_init(&fx->jobs[0], "SpinThenComplete", "run-warn");
  worker_t wk;
  worker_start(&wk, fx, fx->wd, -1, &fx->jobs[0], NULL);
  assert_true(worker_join(&wk, 20));
  assert_completed(&fx->jobs[0]);
  assert_int_equal(COUNTER(fx, cpu_warnings), 1);
  assert_int_equal(COUNTER(fx, preemptions), 0);
  assert_int_equal(COUNTER(fx, threads_retired), 0);
}

/* A task of 300 ms of CPU with 10 ms slices: it gives the thread up many
 * times (a healthy task runs whole in between), completes with the right
 * result, and its CPU is charged across the slices. */
static void test_twe__watchdog_slices_long_task(void **state) {
  fixture_t *fx = *state;
  g_slice_ns = 10 * MS;
  watchdog_start(fx, 0, 5 * NS, 0, 0, 2 * NS);
  spin_ns = 300 * MS;
  job_init(&fx->jobs[0], "SpinThenComplete", "run-sliced");
  job_init(&fx->jobs[1], "Healthy", "run-between");
  fx->jobs[0].sliceable = true;
  fx->jobs[0].between = &fx->jobs[1];
  worker_t wk;
  worker_start(&wk, fx, fx->wd, -1, &fx->jobs[0], NULL);
  assert_true(worker_join(&wk, 30));
  const job_t *j = &fx->jobs[0];
  fprintf(stderr, "sliced: %d slices, longest %.1f ms of CPU, %.1f ms charged in all\n",
          j->slices, (double)j->max_slice_cpu_ns / MS, (double)j->charged_cpu_ns / MS);
  assert_completed(j);
  assert_string_equal(j->result, "\"spun\"");
  assert_true(j->slices >= 2);
  /* The spin counts the thread's CPU, the healthy task's too; the charge
   * counts this task's slices only. */
  assert_true(j->charged_cpu_ns >= 250 * MS);
  assert_completed(&fx->jobs[1]);
  assert_string_equal(fx->jobs[1].result, "\"healthy\"");
  assert_int_equal(COUNTER(fx, preemptions), 0);
}

/* Slices end inside register-heavy user code (the signal path): the result
 * is bit for bit that of the same code run without a watchdog. */
static void test_twe__watchdog_slice_keeps_registers(void **state) {
  fixture_t *fx = *state;
  /* Rounds for about 200 ms of CPU here. */
  mix_rounds = 1024;
  for (;;) {
    int64_t t0 = thread_cpu_ns();
    sink += mix(mix_rounds);
    if (thread_cpu_ns() - t0 >= 5 * MS) break;
    mix_rounds *= 2;
  }
  mix_rounds *= 40;
  job_init(&fx->jobs[0], "Mix", "run-mix-plain");
  worker_t plain;
  worker_start(&plain, fx, NULL, -1, &fx->jobs[0], NULL);
  assert_true(worker_join(&plain, 60));
  assert_completed(&fx->jobs[0]);

  g_slice_ns = 10 * MS;
  watchdog_start(fx, 0, 30 * NS, 0, 0, 2 * NS);
  job_init(&fx->jobs[1], "Mix", "run-mix-sliced");
  fx->jobs[1].sliceable = true;
  worker_t wk;
  worker_start(&wk, fx, fx->wd, -1, &fx->jobs[1], NULL);
  assert_true(worker_join(&wk, 60));
  fprintf(stderr, "mix: %llu rounds, %.1f ms CPU unsliced; sliced %d times: %s vs %s\n",
          (unsigned long long)mix_rounds, (double)fx->jobs[0].cpu_ns / MS, fx->jobs[1].slices,
          fx->jobs[0].result, fx->jobs[1].result);
  assert_completed(&fx->jobs[1]);
  assert_true(fx->jobs[1].slices >= 2);
  assert_string_equal(fx->jobs[1].result, fx->jobs[0].result);
}

/* A runaway in slices: its CPU budget counts every slice, so it is still
 * preempted at the budget (not per slice), and no thread is retired. */
static void test_twe__watchdog_slices_charge_one_budget(void **state) {
  fixture_t *fx = *state;
  g_slice_ns = 10 * MS;
  watchdog_start(fx, 0, 200 * MS, 0, 0, 2 * NS);
  job_init(&fx->jobs[0], "Spin", "run-spin-sliced");
  job_init(&fx->jobs[1], "ApiLoop", "run-api-sliced");
  fx->jobs[0].sliceable = fx->jobs[1].sliceable = true;
  worker_t wk;
  worker_start(&wk, fx, fx->wd, -1, &fx->jobs[0], &fx->jobs[1]);
  assert_true(worker_join(&wk, 30));
  for (int i = 0; i < 2; i++) {
    const job_t *j = &fx->jobs[i];
    fprintf(stderr, "%s sliced: %d slices (longest %.1f ms CPU), %.1f ms charged; %s\n", j->type,
            j->slices, (double)j->max_slice_cpu_ns / MS, (double)j->charged_cpu_ns / MS,
            j->message);
    assert_int_equal(j->rc, TWE_EPREEMPTED);
    assert_contains(j->message, "budget of 0.20 s");
    assert_true(j->slices >= 2);
    assert_true(j->charged_cpu_ns >= 200 * MS);
    assert_int_equal(j->stacks_in_use_after, 0);
    assert_false(j->signal_blocked_after);
    assert_false(j->on_altstack_after);
  }
  assert_int_equal(COUNTER(fx, preemptions), 2);
  assert_int_equal(COUNTER(fx, threads_retired), 0);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_twe__watchdog_cpu_budget_preempts_spin),
      T(test_twe__watchdog_dozes_when_idle_and_wakes_for_a_task),
      T(test_twe__watchdog_cpu_budget_preempts_api_loop),
      T(test_twe__watchdog_budgets_off_no_preemption),
      T(test_twe__watchdog_unattached_thread_not_preempted),
      T(test_twe__watchdog_charges_cpu_not_wall),
      T(test_twe__watchdog_blocked_budget_retires_thread),
      T(test_twe__watchdog_warning_only),
      T(test_twe__watchdog_slices_long_task),
      T(test_twe__watchdog_slice_keeps_registers),
      T(test_twe__watchdog_slices_charge_one_budget),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
