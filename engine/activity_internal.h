/* engine/activity_internal.h — one activity attempt in memory, shared by
 * activity_worker.c (the shard side: poll, run on the pool, heartbeats,
 * respond), activity_eager.c (eager activities) and activity_api.c
 * (twe_activity_*, called by the activity code on its pool thread); and, at
 * the end, the shard's activity side state (activity_worker.c and
 * activity_eager.c).
 *
 * An activity lives on two threads, and each field says who may touch it:
 *
 *  - "fixed": written by the shard thread before the job is submitted,
 *    read-only afterwards by both threads (the pool's submission publishes
 *    it to the pool thread);
 *  - "job": the pool thread's while the job runs (from twe__pool_try_submit
 *    accepting it until its done callback), then the shard thread's (the
 *    pool's result mailbox orders the pool thread's writes before done);
 *  - "mu": under the activity's mutex, any thread;
 *  - "atomic": any thread, without a lock;
 *  - "shard": the shard thread only.
 *
 * Ownership of the struct itself stays with the shard side (it frees it
 * after the respond call finished), except when the worker shuts down while
 * the activity code still runs: the side then marks it detached (under mu)
 * and whichever of the pool's done/abandoned callbacks comes last frees it
 * (see twe__activity_release in activity_worker.c). */
#ifndef TWE_ENGINE_ACTIVITY_INTERNAL_H
#define TWE_ENGINE_ACTIVITY_INTERNAL_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/json_values.h"
#include "engine/poll_scaler.h"
#include "engine/registry.h"
#include "engine/worker_internal.h"
#include "io/grpc_channel.h"
#include "io/reactor.h"
#include "proto/arena.h"
#include "sched/pool.h"
#include "sched/slots.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/activity.h"

/* Heartbeat details recorded by the activity: one malloc'd block holding
 * the payload array, the encodings and the bytes. */
typedef struct twe__act_details {
  size_t n;
  twe_payload_t items[];
} twe__act_details_t;

/* A copy of n payloads in one block (NULL/0 gives an empty list). Returns
 * NULL when out of memory or when a payload has no encoding (*rc says
 * which: -ENOMEM or -EINVAL). Thread: any. */
twe__act_details_t *twe__act_details_new(const twe_payload_t *p, size_t n, int *rc);

/* How an attempt ended, as the code (or the engine) decided. */
typedef enum twe__act_outcome {
  TWE__ACT_NONE = 0,  /* returned without complete/fail */
  TWE__ACT_COMPLETED, /* twe_activity_complete */
  TWE__ACT_FAILED,    /* twe_activity_fail */
} twe__act_outcome_t;

/* Why the activity was asked to stop (the first reason wins). */
typedef enum twe__act_cancel {
  TWE__ACT_CANCEL_NONE = 0,
  TWE__ACT_CANCEL_SERVER, /* heartbeat said cancel_requested, or NOT_FOUND */
  TWE__ACT_CANCEL_WORKER, /* the worker is stopping (grace period over) */
} twe__act_cancel_t;

struct twe__act_side;

struct twe_activity {
  /* --- fixed ------------------------------------------------------------ */
  struct twe__act_side *side;
  const twe_registered_activity_t *reg; /* NULL: not registered */
  /* The poll response and everything read out of it (strings of info,
   * arguments) live here; the respond request is built here too, once the
   * job is back. Freed with the activity. */
  twe_arena_t *arena;
  ProtobufCBinaryData task_token;
  twe_activity_info_t info;
  twe_payload_t *args;
  size_t nargs;
  twe_payload_t *prev_details; /* the previous attempt's last heartbeat */
  size_t nprev_details;
  twe_job_t job;

  /* --- job: the outcome, copied into out_arena -------------------------- */
  twe_arena_t out_arena;
  /* Documents twe_activity_unpack parsed (nodes in out_arena): alive until
   * the attempt is freed. */
  twe__json_keep_t *json_keep;
  twe__act_outcome_t outcome;
  twe_payload_t result;
  twe_error_info_t error;

  /* --- mu ----------------------------------------------------------------- */
  pthread_mutex_t mu;
  /* The latest details from the code that the shard has not taken yet. */
  twe__act_details_t *hb_pending;
  /* On the side's wake list (its wake_next is then the list's). */
  bool hb_queued;
  /* The side is gone (worker shutdown while the code still ran): the code
   * must not touch it; the last of done/abandoned frees the activity. */
  bool detached;
  /* The pool's done or abandoned callback ran after detaching. */
  bool job_returned;
  twe_activity_t *wake_next; /* the side's wake list; under the side's wake_mu */

  /* --- atomic ------------------------------------------------------------ */
  /* twe__act_cancel_t; relaxed: a request read by polling, it publishes no
   * data (the job's cancel flag is set beside it). */
  _Atomic int cancel;

  /* --- shard ---------------------------------------------------------------- */
  twe_activity_t *prev, *next;   /* the side's live list */
  bool running;                  /* submitted, done not yet seen */
  bool waiting;                  /* taken from the server, waiting for a pool thread */
  twe_activity_t *wait_next;     /* the side's queue of waiting tasks */
  bool finished;                 /* job back (or never run): responding */
  twe__act_details_t *hb_latest; /* latest details the shard has */
  bool hb_dirty;                 /* hb_latest not yet sent */
  bool hb_ever_sent;
  bool hb_in_flight;
  uint64_t hb_last_sent_ns;
  twe_timer_t hb_timer; /* the trailing send */
  /* Fires at the start-to-close deadline: the server has timed the attempt
   * out by then, so the code is told to stop and frees its pool thread. */
  twe_timer_t deadline_timer;
  twe_arena_t hb_arena;
  twe_grpc_request_t hb_req;
  /* Set by the engine for attempts it fails without running them. */
  const char *engine_fail_type, *engine_fail_message;
  bool engine_fail_non_retryable;
  twe_grpc_request_t resp_req;
  bool resp_in_flight;
  const char *resp_what; /* "RespondActivityTaskCompleted" ... for logs */
  /* A local activity's attempt (engine/local_activities.c), else NULL: the
   * outcome goes back to its workflow run instead of to the server. */
  struct twe__local *local;
  bool deadline_hit; /* the start-to-close deadline timer fired */
  /* Its slot (the worker's activity or local activity slots): taken by
   * its poll, or by an eager promise, or before a local attempt runs;
   * given back when its code is back, or when it ends without running. */
  twe_slot_t permit;
  int64_t run_start_ns; /* when its job went to the pool (CLOCK_MONOTONIC) */
};

/* For engine/local_activities.c: an attempt the shard runs on its pool
 * like a polled task (activity_worker.c). New: linked in the side's list,
 * its job set up; arena (may be NULL) becomes the attempt's. Submit: runs
 * it now, or queues it for the next idle thread. Free: after its job is
 * back. Cancel: asks the code to stop. Shard thread. */
twe_activity_t *twe__act_new(struct twe__act_side *side, twe_arena_t *arena);
void twe__act_submit(twe_activity_t *act);
void twe__act_free(twe_activity_t *act);
void twe__act_cancel(twe_activity_t *act);
/* A local activity's attempt is back from the pool (its outcome, cancel
 * flag and deadline_hit say how it went); takes ownership of act.
 * engine/local_activities.c. Shard thread. */
void twe__local_attempt_done(twe_activity_t *act);

/* The requests a run made (engine/workflow/run.h): attempts to start on
 * the shard's pool, or to stop. Results go back through
 * twe__wfp_local_result, possibly before this returns. Shard thread. */
struct twe_local_request;
void twe__local_dispatch(twe_wshard_t *s, const char *run_id, const char *workflow_id,
                         const char *workflow_type, const struct twe_local_request *reqs);
/* Forgets every local activity of the shard (it stops): attempts still on
 * the pool are the activity side's to free. */
void twe__local_shard_destroy(twe_wshard_t *s);

/* Hands new heartbeat details (ownership of d) to the shard, which sends
 * them throttled. Returns 0, or TWE_ECANCELED_ACTIVITY when the activity
 * was cancelled or the worker is gone (d is then freed too).
 * Thread: the activity's pool thread (activity_worker.c). */
int twe__act_record_heartbeat(twe_activity_t *act, twe__act_details_t *d);

/* --- the shard's activity side (activity_worker.c, activity_eager.c) --- */

typedef Temporal__Api__Workflowservice__V1__PollActivityTaskQueueRequest poll_req_pb_t;
typedef Temporal__Api__Workflowservice__V1__PollActivityTaskQueueResponse twe__act_task_pb_t;

/* One concurrent poll. Its arena holds the poll's response; when that is a
 * task, the arena moves to the activity and the slot gets a new one. */
typedef struct poll_slot {
  struct twe__act_side *side;
  twe_arena_t *arena;
  bool in_flight;
  /* The activity slot the poll holds for the task it may bring. */
  twe_slot_t permit;
  twe_grpc_request_t req;
  poll_req_pb_t msg;
  Temporal__Api__Taskqueue__V1__TaskQueue tq;
} poll_slot_t;

struct twe__act_side {
  twe_wshard_t *s;
  poll_slot_t *slots; /* room for the most polls the scaler allows */
  unsigned nslots, polls_in_flight;
  twe__poll_scaler_t scaler; /* how many of them poll (engine/poll_scaler.h) */
  twe_timer_t backoff_timer; /* polls pause after a failed one */
  int poll_failures;         /* in a row: the backoff's step */
  twe_timer_t grace_timer;   /* shutdown: grace period, then the cancel wait */
  twe_timer_t respond_cutoff; /* shutdown: outcomes still being sent give up */
  bool stopping, destroying;
  bool cancelled_running; /* the grace period is over */
  bool abandon_running;   /* the cancel wait is over: idle ignores running code */
  uint64_t grace_ns;
  twe_activity_t *live;                  /* every activity the side holds */
  twe_activity_t *wait_head, *wait_tail; /* tasks waiting for a pool thread */
  size_t running, waiting, responding, heartbeats_in_flight;
  /* Slots and pool threads promised to activities asked for eagerly (a
   * workflow task's completion in flight): polls leave them free. */
#define TWE__EAGER_MAX 64
  unsigned eager_reserved;
  twe_slot_t eager_permits[TWE__EAGER_MAX];
  /* Heartbeats from pool threads: pushed under wake_mu, then the wake. */
  twe_wake_t wake;
  pthread_mutex_t wake_mu;
  twe_activity_t *wake_list;
};

/* Pool threads (idle, or that may start) no task is waiting for nor
 * promised to an eager one. */
unsigned twe__act_free_threads(const struct twe__act_side *side);
/* A task arrived (a poll's, or an eager one) with the slot its poll or
 * promise held (moved into the activity): arena, which holds t, becomes
 * the activity's; it runs when a pool thread is free. */
void twe__act_on_task(struct twe__act_side *side, twe_arena_t *arena, const twe__act_task_pb_t *t,
                      twe_slot_t *permit);

#endif /* TWE_ENGINE_ACTIVITY_INTERNAL_H */
