/* engine/metrics.h — the worker's metrics under the names, labels and units
 * of the Go and Java SDKs' Prometheus export (the "tally" one Temporal's
 * SDK dashboard reads: counters end in _total, latencies are histograms in
 * seconds, _seconds), plus twe's own under twe_. README "Metrics" lists
 * them beside the Go SDK's.
 *
 * Recording costs a shard no lock and no allocation: every shard has its
 * own block of counters and histogram buckets (twe__metrics_t), laid out at
 * start for the registered workflow and activity types, the gRPC
 * operations and status codes; only the shard writes it (relaxed stores),
 * and the scrape (any thread) sums the shards' blocks with relaxed loads.
 * A worker without an endpoint has no blocks (NULL): recording is a NULL
 * check.
 * Gauges (cache size, slots, pollers) and twe's own figures are read from
 * the worker's counters at scrape time.
 *
 * Thread: twe__m_* on the owning shard thread; twe__metrics_render on any. */
#ifndef TWE_ENGINE_METRICS_H
#define TWE_ENGINE_METRICS_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/registry.h"

typedef enum twe__metric {
  /* Counters. */
  TWE_M_REQUEST,              /* operation */
  TWE_M_REQUEST_FAILURE,      /* operation, status_code */
  TWE_M_LONG_REQUEST,         /* operation */
  TWE_M_LONG_REQUEST_FAILURE, /* operation, status_code */
  TWE_M_WFT_POLL_EMPTY,       /* poller_type */
  TWE_M_WFT_POLL_SUCCEED,     /* poller_type */
  TWE_M_WFT_EXECUTION_FAILED, /* workflow_type */
  TWE_M_WORKFLOW_COMPLETED,   /* workflow_type */
  TWE_M_WORKFLOW_FAILED,
  TWE_M_WORKFLOW_CANCELED,
  TWE_M_WORKFLOW_CONTINUE_AS_NEW,
  TWE_M_ACTIVITY_POLL_NO_TASK,          /* - */
  TWE_M_ACTIVITY_EXECUTION_FAILED,      /* activity_type */
  TWE_M_ACTIVITY_EXECUTION_CANCELLED,   /* activity_type */
  TWE_M_LOCAL_ACTIVITY_TOTAL,           /* activity_type */
  TWE_M_LOCAL_ACTIVITY_EXECUTION_FAILED,
  TWE_M_LOCAL_ACTIVITY_EXECUTION_CANCELLED,
  TWE_M_STICKY_CACHE_HIT,               /* - */
  TWE_M_STICKY_CACHE_MISS,              /* - */
  TWE_M_STICKY_CACHE_FORCED_EVICTION,   /* - */
  /* Histograms (recorded in ns, exported in seconds). */
  TWE_M_REQUEST_LATENCY,      /* operation */
  TWE_M_LONG_REQUEST_LATENCY, /* operation */
  TWE_M_WFT_SCHEDULE_TO_START_LATENCY, /* workflow_type */
  TWE_M_WFT_EXECUTION_LATENCY,         /* workflow_type */
  TWE_M_WFT_REPLAY_LATENCY,            /* workflow_type */
  TWE_M_WORKFLOW_ENDTOEND_LATENCY,     /* workflow_type */
  TWE_M_ACTIVITY_SCHEDULE_TO_START_LATENCY, /* activity_type */
  TWE_M_ACTIVITY_EXECUTION_LATENCY,
  TWE_M_ACTIVITY_SUCCEED_ENDTOEND_LATENCY,
  TWE_M_LOCAL_ACTIVITY_EXECUTION_LATENCY,
  TWE_M_LOCAL_ACTIVITY_SUCCEED_ENDTOEND_LATENCY,
  TWE_M_COUNT
} twe__metric_t;

/* poller_type label values of the workflow poll counters. */
enum { TWE_POLLER_WORKFLOW = 0, TWE_POLLER_WORKFLOW_STICKY = 1 };

/* Where each metric's slots are in a shard's block: the same for every
 * shard of a worker. */
typedef struct twe__metrics_layout {
  size_t offset[TWE_M_COUNT];
  size_t dim[TWE_M_COUNT]; /* label combinations */
  size_t total;            /* slots in a block */
  const twe_registry_t *registry;
  size_t n_workflow_types, n_activity_types; /* registered, plus one "other" */
} twe__metrics_layout_t;

/* A shard's block. */
typedef struct twe__metrics {
  const twe__metrics_layout_t *layout;
  _Atomic uint64_t v[];
} twe__metrics_t;

/* The layout for reg (filled: every type registered already). */
void twe__metrics_layout_init(twe__metrics_layout_t *l, const twe_registry_t *reg);
/* A zeroed block of layout l; NULL when out of memory. free() it. */
twe__metrics_t *twe__metrics_new(const twe__metrics_layout_t *l);

/* Label indexes: a workflow / activity type (unregistered ones share the
 * last index, "other"), a gRPC method path ("/...WorkflowService/X": its
 * operation, or "other"), whether that operation is a long poll, and a
 * gRPC status code. */
size_t twe__m_workflow_type(const twe__metrics_layout_t *l, const char *name);
size_t twe__m_activity_type(const twe__metrics_layout_t *l, const char *name);
size_t twe__m_operation(const char *path);
int twe__m_operation_is_long(size_t op);
size_t twe__m_failure(size_t op, int status_code);

/* Adds n to counter id at label index i. */
static inline void twe__m_add(twe__metrics_t *m, twe__metric_t id, size_t i, uint64_t n) {
  if (!m || i >= m->layout->dim[id]) return;
  _Atomic uint64_t *c = &m->v[m->layout->offset[id] + i];
  /* One writer (the shard): load + store is enough, relaxed. */
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}
/* Records ns in histogram id at label index i. */
void twe__m_observe(twe__metrics_t *m, twe__metric_t id, size_t i, uint64_t ns);

/* The Prometheus text exposition of worker w (every shard's block summed,
 * and the gauges) in *out (malloc'd, NUL-terminated). Returns 0 or
 * -ENOMEM. */
struct twe_worker;
int twe__metrics_render(struct twe_worker *w, char **out, size_t *len);

#endif /* TWE_ENGINE_METRICS_H */
