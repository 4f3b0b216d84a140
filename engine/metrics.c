/* engine/metrics.c — the metrics' layout, recording and the Prometheus text
 * exposition. See engine/metrics.h. */
#define _GNU_SOURCE /* PATH_MAX (sched/cgroup.h) under -std=c11 */
#include "engine/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/worker_internal.h"
#include "sched/cgroup.h"
#include "sched/slots_resource.h"
#include "twe/worker.h"

/* Histogram buckets, upper bounds in ns (exported in seconds), then +Inf. */
static const uint64_t bucket_ns[] = {
    1000000ull,    5000000ull,    10000000ull,   25000000ull,   50000000ull,
    100000000ull,  250000000ull,  500000000ull,  1000000000ull, 2500000000ull,
    5000000000ull, 10000000000ull, 30000000000ull, 60000000000ull,
};
#define N_BUCKETS (sizeof bucket_ns / sizeof bucket_ns[0])
/* A histogram's slots per label combination: the buckets, +Inf, count,
 * sum (ns). */
#define HIST_SLOTS (N_BUCKETS + 3)

/* The gRPC operations twe's workers call (others count as "other"), and
 * which of them are long polls. */
static const char *const operations[] = {
    "PollWorkflowTaskQueue",       "PollActivityTaskQueue",       "RespondWorkflowTaskCompleted",
    "RespondWorkflowTaskFailed",   "RespondQueryTaskCompleted",   "GetWorkflowExecutionHistory",
    "RecordActivityTaskHeartbeat", "RespondActivityTaskCompleted", "RespondActivityTaskFailed",
    "RespondActivityTaskCanceled", "ShutdownWorker",              "GetSystemInfo",
    "DescribeNamespace",           "other",
};
#define N_OPERATIONS (sizeof operations / sizeof operations[0])
#define N_LONG 2 /* the first N_LONG operations are long polls */

/* gRPC status codes by number, as the Go SDK writes them in status_code. */
static const char *const codes[] = {
    "OK",          "Canceled",          "Unknown",          "InvalidArgument", "DeadlineExceeded",
    "NotFound",    "AlreadyExists",     "PermissionDenied", "ResourceExhausted",
    "FailedPrecondition", "Aborted",    "OutOfRange",       "Unimplemented",   "Internal",
    "Unavailable", "DataLoss",          "Unauthenticated",
};
#define N_CODES (sizeof codes / sizeof codes[0])

typedef enum { COUNTER, HISTOGRAM } mtype_t;
typedef enum { L_NONE, L_OPERATION, L_OPERATION_CODE, L_POLLER, L_WORKFLOW, L_ACTIVITY } mlabels_t;

static const struct {
  const char *name; /* without temporal_ and the _total / _seconds suffix */
  mtype_t type;
  mlabels_t labels;
  const char *worker_type; /* its worker_type label, or NULL */
  const char *help;
} defs[TWE_M_COUNT] = {
    [TWE_M_REQUEST] = {"request", COUNTER, L_OPERATION, NULL, "gRPC requests to the server"},
    [TWE_M_REQUEST_FAILURE] = {"request_failure", COUNTER, L_OPERATION_CODE, NULL,
                               "gRPC requests that failed"},
    [TWE_M_LONG_REQUEST] = {"long_request", COUNTER, L_OPERATION, NULL, "long polls"},
    [TWE_M_LONG_REQUEST_FAILURE] = {"long_request_failure", COUNTER, L_OPERATION_CODE, NULL,
                                    "long polls that failed"},
    [TWE_M_WFT_POLL_EMPTY] = {"workflow_task_queue_poll_empty", COUNTER, L_POLLER,
                              "WorkflowWorker", "workflow polls that ended without a task"},
    [TWE_M_WFT_POLL_SUCCEED] = {"workflow_task_queue_poll_succeed", COUNTER, L_POLLER,
                                "WorkflowWorker", "workflow polls that brought a task"},
    [TWE_M_WFT_EXECUTION_FAILED] = {"workflow_task_execution_failed", COUNTER, L_WORKFLOW,
                                    "WorkflowWorker", "workflow tasks answered as failed"},
    [TWE_M_WORKFLOW_COMPLETED] = {"workflow_completed", COUNTER, L_WORKFLOW, "WorkflowWorker",
                                  "workflows completed"},
    [TWE_M_WORKFLOW_FAILED] = {"workflow_failed", COUNTER, L_WORKFLOW, "WorkflowWorker",
                               "workflows failed"},
    [TWE_M_WORKFLOW_CANCELED] = {"workflow_canceled", COUNTER, L_WORKFLOW, "WorkflowWorker",
                                 "workflows canceled"},
    [TWE_M_WORKFLOW_CONTINUE_AS_NEW] = {"workflow_continue_as_new", COUNTER, L_WORKFLOW,
                                        "WorkflowWorker", "workflows continued as new"},
    [TWE_M_ACTIVITY_POLL_NO_TASK] = {"activity_poll_no_task", COUNTER, L_NONE, "ActivityWorker",
                                     "activity polls that ended without a task"},
    [TWE_M_ACTIVITY_EXECUTION_FAILED] = {"activity_execution_failed", COUNTER, L_ACTIVITY,
                                         "ActivityWorker", "activity attempts that failed"},
    [TWE_M_ACTIVITY_EXECUTION_CANCELLED] = {"activity_execution_cancelled", COUNTER, L_ACTIVITY,
                                            "ActivityWorker",
                                            "activity attempts that ended cancelled"},
    [TWE_M_LOCAL_ACTIVITY_TOTAL] = {"local_activity_total", COUNTER, L_ACTIVITY,
                                    "LocalActivityWorker", "local activity attempts"},
    [TWE_M_LOCAL_ACTIVITY_EXECUTION_FAILED] = {"local_activity_execution_failed", COUNTER,
                                               L_ACTIVITY, "LocalActivityWorker",
                                               "local activity attempts that failed"},
    [TWE_M_LOCAL_ACTIVITY_EXECUTION_CANCELLED] = {"local_activity_execution_cancelled", COUNTER,
                                                  L_ACTIVITY, "LocalActivityWorker",
                                                  "local activity attempts cancelled"},
    [TWE_M_STICKY_CACHE_HIT] = {"sticky_cache_hit", COUNTER, L_NONE, "WorkflowWorker",
                                "workflow tasks that found their run in the cache"},
    [TWE_M_STICKY_CACHE_MISS] = {"sticky_cache_miss", COUNTER, L_NONE, "WorkflowWorker",
                                 "workflow tasks of earlier runs replayed from history"},
    [TWE_M_STICKY_CACHE_FORCED_EVICTION] = {"sticky_cache_total_forced_eviction", COUNTER,
                                            L_NONE, "WorkflowWorker",
                                            "runs evicted because the cache was full (in runs or in bytes)"},
    [TWE_M_REQUEST_LATENCY] = {"request_latency", HISTOGRAM, L_OPERATION, NULL,
                               "gRPC request latency"},
    [TWE_M_LONG_REQUEST_LATENCY] = {"long_request_latency", HISTOGRAM, L_OPERATION, NULL,
                                    "long poll latency"},
    [TWE_M_WFT_SCHEDULE_TO_START_LATENCY] = {"workflow_task_schedule_to_start_latency",
                                             HISTOGRAM, L_WORKFLOW, "WorkflowWorker",
                                             "workflow task schedule-to-start latency"},
    [TWE_M_WFT_EXECUTION_LATENCY] = {"workflow_task_execution_latency", HISTOGRAM, L_WORKFLOW,
                                     "WorkflowWorker",
                                     "workflow task processing, from its poll to its answer"},
    [TWE_M_WFT_REPLAY_LATENCY] = {"workflow_task_replay_latency", HISTOGRAM, L_WORKFLOW,
                                  "WorkflowWorker",
                                  "workflow tasks that replayed a run from its history"},
    [TWE_M_WORKFLOW_ENDTOEND_LATENCY] = {"workflow_endtoend_latency", HISTOGRAM, L_WORKFLOW,
                                         "WorkflowWorker",
                                         "workflow runs, from their start to their close"},
    [TWE_M_ACTIVITY_SCHEDULE_TO_START_LATENCY] = {"activity_schedule_to_start_latency",
                                                  HISTOGRAM, L_ACTIVITY, "ActivityWorker",
                                                  "activity schedule-to-start latency"},
    [TWE_M_ACTIVITY_EXECUTION_LATENCY] = {"activity_execution_latency", HISTOGRAM, L_ACTIVITY,
                                          "ActivityWorker", "activity code run time"},
    [TWE_M_ACTIVITY_SUCCEED_ENDTOEND_LATENCY] = {"activity_succeed_endtoend_latency", HISTOGRAM,
                                                 L_ACTIVITY, "ActivityWorker",
                                                 "successful activities, from schedule to "
                                                 "completion"},
    [TWE_M_LOCAL_ACTIVITY_EXECUTION_LATENCY] = {"local_activity_execution_latency", HISTOGRAM,
                                                L_ACTIVITY, "LocalActivityWorker",
                                                "local activity code run time"},
    [TWE_M_LOCAL_ACTIVITY_SUCCEED_ENDTOEND_LATENCY] = {"local_activity_succeed_endtoend_latency",
                                                       HISTOGRAM, L_ACTIVITY,
                                                       "LocalActivityWorker",
                                                       "successful local activities, from "
                                                       "schedule to completion"},
};

/* The workflow pollers' poller_type values (the only metrics with it). */
static const char *const poller_types[] = {"workflow_task", "workflow_sticky_task"};

/* --- layout and recording ------------------------------------------------------------ */

static size_t label_dim(const twe__metrics_layout_t *l, mlabels_t labels) {
  switch (labels) {
    case L_OPERATION:
      return N_OPERATIONS;
    case L_OPERATION_CODE:
      return N_OPERATIONS * N_CODES;
    case L_POLLER:
      return 2;
    case L_WORKFLOW:
      return l->n_workflow_types;
    case L_ACTIVITY:
      return l->n_activity_types;
    default:
      return 1;
  }
}

void twe__metrics_layout_init(twe__metrics_layout_t *l, const twe_registry_t *reg) {
  memset(l, 0, sizeof *l);
  l->registry = reg;
  l->n_workflow_types = reg->workflow_count + 1;
  l->n_activity_types = reg->activity_count + 1;
  size_t at = 0;
  for (int id = 0; id < TWE_M_COUNT; id++) {
    l->dim[id] = label_dim(l, defs[id].labels);
    l->offset[id] = at;
    at += l->dim[id] * (defs[id].type == HISTOGRAM ? HIST_SLOTS : 1);
  }
  l->total = at;
}

twe__metrics_t *twe__metrics_new(const twe__metrics_layout_t *l) {
  twe__metrics_t *m = calloc(1, sizeof *m + l->total * sizeof m->v[0]);
  if (m) m->layout = l;
  return m;
}

size_t twe__m_workflow_type(const twe__metrics_layout_t *l, const char *name) {
  const twe_registered_workflow_t *r = name ? twe__registry_workflow(l->registry, name) : NULL;
  return r ? (size_t)(r - l->registry->workflows) : l->n_workflow_types - 1;
}

size_t twe__m_activity_type(const twe__metrics_layout_t *l, const char *name) {
  const twe_registered_activity_t *r = name ? twe__registry_activity(l->registry, name) : NULL;
  return r ? (size_t)(r - l->registry->activities) : l->n_activity_types - 1;
}

size_t twe__m_operation(const char *path) {
  const char *slash = path ? strrchr(path, '/') : NULL;
  const char *method = slash ? slash + 1 : "";
  for (size_t i = 0; i + 1 < N_OPERATIONS; i++)
    if (strcmp(operations[i], method) == 0) return i;
  return N_OPERATIONS - 1;
}

int twe__m_operation_is_long(size_t op) {
  return op < N_LONG;
}

size_t twe__m_failure(size_t op, int status_code) {
  size_t code = status_code >= 0 && (size_t)status_code < N_CODES ? (size_t)status_code : 2;
  return op * N_CODES + code;
}

void twe__m_observe(twe__metrics_t *m, twe__metric_t id, size_t i, uint64_t ns) {
  if (!m || i >= m->layout->dim[id]) return;
  _Atomic uint64_t *h = &m->v[m->layout->offset[id] + i * HIST_SLOTS];
  size_t b = 0;
  while (b < N_BUCKETS && ns > bucket_ns[b]) b++;
  /* Buckets are not cumulative here (one store per observation); the
   * scrape adds them up. One writer: load + store, relaxed. */
  atomic_store_explicit(&h[b], atomic_load_explicit(&h[b], memory_order_relaxed) + 1,
                        memory_order_relaxed);
  _Atomic uint64_t *count = &h[N_BUCKETS + 1], *sum = &h[N_BUCKETS + 2];
  atomic_store_explicit(count, atomic_load_explicit(count, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  atomic_store_explicit(sum, atomic_load_explicit(sum, memory_order_relaxed) + ns,
                        memory_order_relaxed);
}

/* --- the exposition ---------------------------------------------------------------------- */

typedef struct buf {
  char *p;
  size_t len, cap;
  bool oom;
} buf_t;

static void put(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf_t *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = true;
      return;
    }
    if (b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap * 2 + (size_t)n;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

/* A label value, escaped as the text format wants (\\, \", \n). */
static void put_value(buf_t *b, const char *v) {
  put(b, "\"");
  for (const char *c = v ? v : ""; *c; c++) {
    if (*c == '\\' || *c == '"') put(b, "\\%c", *c);
    else if (*c == '\n') put(b, "\\n");
    else put(b, "%c", *c);
  }
  put(b, "\"");
}

/* The labels of label index i of metric id (without the braces' end, so
 * `le` can follow). */
static void put_labels(buf_t *b, twe_worker_t *w, const twe__metrics_layout_t *l, int id,
                       size_t i) {
  put(b, "{namespace=");
  put_value(b, w->namespace_name);
  put(b, ",task_queue=");
  put_value(b, w->task_queue);
  if (defs[id].worker_type) put(b, ",worker_type=\"%s\"", defs[id].worker_type);
  switch (defs[id].labels) {
    case L_OPERATION:
      put(b, ",operation=\"%s\"", operations[i]);
      break;
    case L_OPERATION_CODE:
      put(b, ",operation=\"%s\",status_code=\"%s\"", operations[i / N_CODES],
          codes[i % N_CODES]);
      break;
    case L_POLLER:
      put(b, ",poller_type=\"%s\"", poller_types[i]);
      break;
    case L_WORKFLOW:
      put(b, ",workflow_type=");
      put_value(b, i + 1 < l->n_workflow_types ? l->registry->workflows[i].name : "other");
      break;
    case L_ACTIVITY:
      put(b, ",activity_type=");
      put_value(b, i + 1 < l->n_activity_types ? l->registry->activities[i].name : "other");
      break;
    default:
      break;
  }
}

static uint64_t sum_slot(twe_worker_t *w, size_t slot) {
  uint64_t n = 0;
  for (unsigned s = 0; s < w->shard_count; s++)
    if (w->shards[s].metrics)
      n += atomic_load_explicit(&w->shards[s].metrics->v[slot], memory_order_relaxed);
  return n;
}

static void put_metric(buf_t *b, twe_worker_t *w, const twe__metrics_layout_t *l, int id) {
  bool hist = defs[id].type == HISTOGRAM;
  const char *suffix = hist ? "_seconds" : "_total";
  put(b, "# HELP temporal_%s%s %s\n# TYPE temporal_%s%s %s\n", defs[id].name, suffix,
      defs[id].help, defs[id].name, suffix, hist ? "histogram" : "counter");
  for (size_t i = 0; i < l->dim[id]; i++) {
    size_t base = l->offset[id] + i * (hist ? HIST_SLOTS : 1);
    if (!hist) {
      uint64_t v = sum_slot(w, base);
      /* Label combinations never seen stay out (operations x codes). */
      if (!v && defs[id].labels != L_NONE && defs[id].labels != L_POLLER) continue;
      put(b, "temporal_%s_total", defs[id].name);
      put_labels(b, w, l, id, i);
      put(b, "} %" PRIu64 "\n", v);
      continue;
    }
    uint64_t count = sum_slot(w, base + N_BUCKETS + 1);
    if (!count) continue;
    uint64_t cum = 0;
    for (size_t k = 0; k <= N_BUCKETS; k++) {
      cum += sum_slot(w, base + k);
      put(b, "temporal_%s_seconds_bucket", defs[id].name);
      put_labels(b, w, l, id, i);
      if (k < N_BUCKETS) put(b, ",le=\"%g\"} %" PRIu64 "\n", (double)bucket_ns[k] / 1e9, cum);
      else put(b, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
    }
    put(b, "temporal_%s_seconds_sum", defs[id].name);
    put_labels(b, w, l, id, i);
    put(b, "} %.9f\n", (double)sum_slot(w, base + N_BUCKETS + 2) / 1e9);
    put(b, "temporal_%s_seconds_count", defs[id].name);
    put_labels(b, w, l, id, i);
    put(b, "} %" PRIu64 "\n", count);
  }
}

/* A gauge or counter of the worker's own figures: a family's samples are
 * consecutive rows (one HELP and TYPE each, as the format wants). */
typedef struct simple {
  const char *name, *type, *help;
  const char *extra; /* another label, or NULL */
  double value;
} simple_t;

static void put_simples(buf_t *b, twe_worker_t *w, const simple_t *rows, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const simple_t *r = &rows[i];
    if (i == 0 || strcmp(rows[i - 1].name, r->name) != 0)
      put(b, "# HELP %s %s\n# TYPE %s %s\n", r->name, r->help, r->name, r->type);
    put(b, "%s{namespace=", r->name);
    put_value(b, w->namespace_name);
    put(b, ",task_queue=");
    put_value(b, w->task_queue);
    if (r->extra) put(b, ",%s", r->extra);
    put(b, "} %.17g\n", r->value);
  }
}

int twe__metrics_render(twe_worker_t *w, char **out, size_t *len) {
  buf_t b = {.cap = 16384};
  b.p = malloc(b.cap);
  if (!b.p) return -ENOMEM;
  b.p[0] = 0;
  const twe__metrics_layout_t *l = w->metrics_layout;
  if (l)
    for (int id = 0; id < TWE_M_COUNT; id++) put_metric(&b, w, l, id);
  twe_worker_stats_t st;
  twe_worker_stats(w, &st);
  const twe_worker_options_t *o = &w->opts;
  unsigned pollers = o->workflow_pollers ? o->workflow_pollers : 2;
  unsigned act_pollers = o->activity_pollers ? o->activity_pollers : 2;
  /* Slots free now: what the supplier would grant (a resource-based one
   * grants above its floor only while the CPU and memory have headroom). */
  int64_t avail = w->slots ? twe__slots_available(w->slots, TWE_SLOT_ACTIVITY) : 0;
  double free_slots = avail > 0 ? (double)avail : 0;
  twe_resource_sample_t rs = {0};
  if (w->resource) twe__resource_last(w->resource, &rs);
  const simple_t rows[] = {
      {"temporal_sticky_cache_size", "gauge", "runs in the workflow cache",
       "worker_type=\"WorkflowWorker\"", (double)st.cached_workflows},
      {"twe_sticky_cache_bytes", "gauge",
       "bytes the cached runs hold (each as of its last task or stowing)", NULL,
       (double)st.cached_bytes},
      {"twe_sticky_cache_stowed", "gauge", "cached runs whose fiber stacks are stowed", NULL,
       (double)st.cached_runs_stowed},
      {"temporal_worker_task_slots_used", "gauge", "task slots in use",
       "worker_type=\"WorkflowWorker\"", (double)st.workflow_tasks_in_flight},
      {"temporal_worker_task_slots_used", "gauge", "task slots in use",
       "worker_type=\"ActivityWorker\"", (double)st.activities_running},
      {"temporal_worker_task_slots_available", "gauge", "task slots free",
       "worker_type=\"ActivityWorker\"", free_slots},
      {"temporal_num_pollers", "gauge", "pollers", "poller_type=\"workflow_task\"",
       (double)(pollers * w->shard_count)},
      {"temporal_num_pollers", "gauge", "pollers", "poller_type=\"activity_task\"",
       (double)(act_pollers * w->shard_count)},
      {"temporal_worker_start_total", "counter", "workers started", NULL,
       atomic_load(&w->started) ? 1 : 0},
      {"twe_watchdog_cpu_warnings_total", "counter",
       "workflow tasks past the CPU warning threshold", NULL, (double)st.watchdog_cpu_warnings},
      {"twe_watchdog_blocked_warnings_total", "counter",
       "workflow tasks past the blocked warning threshold", NULL,
       (double)st.watchdog_blocked_warnings},
      {"twe_watchdog_preemptions_total", "counter", "workflow tasks the watchdog preempted",
       NULL, (double)st.watchdog_preemptions},
      {"twe_threads_retired_total", "counter", "shard threads retired (stuck in workflow code)",
       NULL, (double)st.threads_retired},
      {"twe_retired_threads_alive", "gauge", "retired shard threads not exited", NULL,
       (double)st.retired_threads_alive},
      {"twe_workflow_tasks_held_total", "counter",
       "workflow tasks failed at once: their run blocked a thread before", NULL,
       (double)st.workflow_tasks_held},
      {"twe_workflow_task_slices_total", "counter",
       "time slices that ended with their workflow task not done", NULL,
       (double)st.workflow_task_slices},
      {"twe_workflow_task_heartbeats_total", "counter",
       "workflow tasks answered early: local activities ran long", NULL,
       (double)st.workflow_task_heartbeats},
      {"twe_nondeterminism_errors_total", "counter", "workflow tasks failed as non-deterministic",
       NULL, (double)st.nondeterminism_errors},
      {"twe_connection_losses_total", "counter", "connections to the server lost", NULL,
       (double)st.connection_losses},
      {"twe_reconnects_total", "counter", "connections to the server back after a loss", NULL,
       (double)st.reconnects},
      {"twe_calls_failed_total", "counter", "gRPC calls that ended in an error", NULL,
       (double)st.calls_failed},
      {"twe_polls_failed_total", "counter", "polls that ended in an error", NULL,
       (double)st.polls_failed},
      {"twe_activity_slots_used", "gauge",
       "activity slots taken (running activities, and polls waiting for one)", NULL,
       (double)st.activity_slots_in_use},
      {"twe_activity_slots_refused_total", "counter",
       "activity slots refused below the maximum: CPU or memory over its target", NULL,
       (double)st.activity_slots_refused},
      {"twe_activity_threads", "gauge", "activity threads alive", NULL,
       (double)st.activity_threads},
      {"twe_resource_cpu_ratio", "gauge",
       "the activity slots' CPU sample: the highest of use against the quota (or the host's "
       "busy share), throttled periods and CPU pressure",
       NULL, rs.cpu},
      {"twe_resource_memory_ratio", "gauge",
       "the activity slots' memory sample: use against the cgroup's limit or the host's memory",
       NULL, rs.memory},
  };
  put_simples(&b, w, rows, sizeof rows / sizeof rows[0]);
  /* Each shard loop's lag: how late its 1 s tick came last, and the most
   * in the last minute (a loop kept busy, or its thread kept off the CPU). */
  for (int pass = 0; pass < 2 && w->shard_count <= 256; pass++) {
    simple_t lag[256];
    char labels[256][24];
    for (unsigned i = 0; i < w->shard_count; i++) {
      snprintf(labels[i], sizeof labels[i], "shard=\"%u\"", i);
      _Atomic int64_t *v = pass ? &w->shards[i].loop_lag_max_ns : &w->shards[i].loop_lag_ns;
      lag[i] = (simple_t){pass ? "twe_shard_loop_lag_max_seconds" : "twe_shard_loop_lag_seconds",
                          "gauge",
                          pass ? "the largest lateness of the shard loop's 1 s tick in the last "
                                 "minute"
                               : "how late the shard loop's last 1 s tick came",
                          labels[i], (double)atomic_load_explicit(v, memory_order_relaxed) / 1e9};
    }
    put_simples(&b, w, lag, w->shard_count);
  }
  /* The cgroup's CPU accounting, read now: throttling says the CPU quota
   * is too tight for the load. */
  twe_cpu_stat_t cs;
  if (w->cgroup && twe__cgroup_cpu_stat(w->cgroup, NULL, NULL, &cs) == 0) {
    simple_t cg[3];
    size_t n = 0;
    if (cs.nr_throttled >= 0)
      cg[n++] = (simple_t){"twe_cgroup_throttled_periods_total", "counter",
                           "CPU quota periods in which the cgroup was throttled", NULL,
                           (double)cs.nr_throttled};
    if (cs.throttled_ns >= 0)
      cg[n++] = (simple_t){"twe_cgroup_throttled_seconds_total", "counter",
                           "time the cgroup spent throttled", NULL, (double)cs.throttled_ns / 1e9};
    if (cs.usage_ns >= 0)
      cg[n++] = (simple_t){"twe_cgroup_cpu_usage_seconds_total", "counter",
                           "CPU time the process's cgroup used", NULL, (double)cs.usage_ns / 1e9};
    put_simples(&b, w, cg, n);
  }
  if (b.oom) {
    free(b.p);
    return -ENOMEM;
  }
  *out = b.p;
  *len = b.len;
  return 0;
}
