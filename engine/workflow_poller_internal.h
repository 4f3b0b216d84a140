/* engine/workflow_poller_internal.h — the workflow side of a shard, shared
 * by workflow_poller.c (polls, rounds), workflow_task.c (one task's life),
 * workflow_respond.c (its answer), workflow_history.c (history pages),
 * workflow_query.c (legacy query tasks), workflow_local.c and
 * workflow_graves.c: the pollers, their states, and the steps of a task
 * these files take. See engine/workflow_task.c for how a task goes through
 * them.
 *
 * Thread: the shard thread. */
#ifndef TWE_ENGINE_WORKFLOW_POLLER_INTERNAL_H
#define TWE_ENGINE_WORKFLOW_POLLER_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/log.h"
#include "engine/poll_scaler.h"
#include "engine/run_cache.h"
#include "engine/watchdog.h"
#include "engine/worker_internal.h"
#include "engine/workflow/run.h"
#include "engine/workflow_query.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

#define SVC "/temporal.api.workflowservice.v1.WorkflowService/"
#define POLL_TIMEOUT_NS (70ull * 1000000000ull)
/* History pages and legacy query answers: within the default workflow task
 * timeout (10 s), after which the server hands the task out again anyway.
 * (A task's answer is retried while it matters: workflow_respond.c.) */
#define CALL_TIMEOUT_NS (10ull * 1000000000ull)
#define MAX_POLLERS TWE__WFT_SLOTS_PER_SHARD /* engine/worker_internal.h */
/* Sticky polls kept out while any poller is free, and up to how many more
 * while the sticky queue has a backlog (engine/workflow_poller.c). */
#define STICKY_BASE_POLLS 2
#define STICKY_BURST_POLLS 3
/* How long a sticky task that reported a backlog keeps the normal queue's
 * polls from being renewed, unless another sticky task says more. */
#define STICKY_BACKLOG_FRESH_NS (100ll * 1000000ll)
#define CAUSE_UNHANDLED \
  TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE

typedef Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse wft_pb_t;

typedef twe__cached_run_t cached_run_t;

/* P_READY: the task's events are gathered; it waits in the side's ready
 * list for twe__wf_side_run to apply it. P_SLICED: its last slice ended
 * before it was done; it waits in the sliced list for its next one. */
/* P_LOCAL_WAIT: the task's code is idle but waits on local activities;
 * their results put it back in the ready list. */
enum poller_state {
  P_IDLE, P_POLLING, P_HISTORY, P_READY, P_SLICED, P_RESPONDING, P_WAIT_RETRY, P_PARKED,
  P_LOCAL_WAIT
};

typedef struct wf_poller {
  struct twe__wf_side *side;
  bool sticky;
  enum poller_state state;
  /* Its workflow task slot (the worker's slots): taken before it polls,
   * kept with the task (and the next one an answer brings), given back
   * when the poller is idle again or its poll failed. */
  twe_slot_t permit;
  twe_grpc_request_t req;
  twe_timer_t retry_timer;
  int poll_failures; /* in a row: the poll backoff's step */
  /* Two arenas: the current task lives in arenas[cur]; a respond's answer
   * (which may carry the next task) decodes into the other one. */
  twe_arena_t arenas[2];
  int cur;
  wft_pb_t *task;
  cached_run_t *entry; /* the run the task is for, once known */
  /* The full history being gathered on a cache miss (the array is
   * malloc'd; the events are in the task's arena, the first page, or in
   * page_arenas). A long history is applied a part at a time as its pages
   * come (partial: the part in apply_events is not the task's end); then
   * the events applied are dropped from the array, and the page arena that
   * held only those is reset. New pages go to page_arenas[page_fill]; the
   * first `carried` events of the array may be in the other one. */
  twe_event_pb_t **events;
  size_t n_events, cap_events;
  ProtobufCBinaryData page_token;
  twe_arena_t page_arenas[2];
  int page_fill;
  size_t carried;
  bool partial;
  /* P_READY: the events to apply (into events, or into the task's own
   * history) and the next poller in the ready list. */
  twe_event_pb_t *const *apply_events;
  size_t apply_n;
  struct wf_poller *next_ready;
  twe_run_outcome_t outcome;
  /* The watchdog's figures carried from slice to slice, and whether the
   * run is in the middle of the task (twe__run_resume next). */
  twe__watch_task_t wtask;
  bool sliced;
  /* The task waits on local activities (twe__run_resume next, when one
   * is back); when it was taken (CLOCK_MONOTONIC ns); the timer that
   * answers it before its timeout if they take too long (a heartbeat:
   * the answer asks for a new task at once). */
  bool local_wait, heartbeat;
  int64_t taken_ns;
  /* Metrics: the task replays its run from the full history; the
   * workflow's close its answer carries (a TWE_M_WORKFLOW_* counter, or
   * -1) and the run's start time (Unix ns). */
  bool replaying_run;
  int close_metric;
  int64_t run_start_ns;
  twe_timer_t hb_timer;
  /* Pool threads the activity side promised to activities this task's
   * completion asks to run eagerly (settled when its answer comes). */
  unsigned eager_promised;
  /* Answers to the queries that came with the task, for its completion. */
  twe__query_result_entry_t **query_results;
  size_t n_query_results;
  /* A legacy query task for a run not in the cache: the run replayed to
   * answer it, never cached. */
  twe_run_t *qrun;
} wf_poller_t;

/* A run whose thread was retired while in its code: the thread may still
 * wake up on the run's fiber and touch its arena, so both stay until the
 * thread is gone. */
typedef struct grave {
  twe_run_t *run;
  twe__watched_t *retired;
  struct grave *next;
} grave_t;

struct twe__wf_side {
  twe_wshard_t *s;
  wf_poller_t pollers[MAX_POLLERS];
  unsigned n_pollers;
  unsigned want[2]; /* polls outstanding per queue: [0] normal, [1] sticky */
  /* The normal queue's poll count (fixed, or autoscaling): want[0]. */
  twe__poll_scaler_t normal_scaler;
  /* The sticky queue's backlog as its last poll saw it (the server's
   * backlog_count_hint; 0 after a poll that came back empty): while it is
   * not 0, the sticky queue gets up to STICKY_BURST_POLLS more polls, and
   * the normal queue's polls are not renewed until STICKY_BACKLOG_FRESH_NS
   * after sticky_backlog_ns (when a sticky task last reported one);
   * backlog_timer refills then. */
  int64_t sticky_backlog;
  int64_t sticky_backlog_ns;
  twe_timer_t backlog_timer;
  bool normal_held; /* counted once per backlog in normal_polls_held */
  /* A poll did not start for want of a workflow task slot: the shard is
   * told when one is free, and the next round fills the polls again. */
  bool slot_refused;
  twe__run_cache_t cache;
  twe_run_env_t env;
  bool stopping;
  /* Tasks ready to apply, oldest first; the one being applied now; tasks
   * whose slice ended, for the next round. */
  wf_poller_t *ready_head, *ready_tail;
  wf_poller_t *applying;
  wf_poller_t *sliced_head, *sliced_tail;
  /* Parked tasks whose run's other task ended: processed at the next
   * round (after that task's answer went out), never from inside the
   * code that ended it. Linked by next_ready. */
  wf_poller_t *resume_head, *resume_tail;
  grave_t *graves;
  /* Eager starts' first tasks waiting for an idle poller, oldest first
   * (engine/workflow_eager.c). */
  struct twe__eager_wft *eager_head, *eager_tail;
  /* ShutdownWorker, sent once at stop when the shard has a sticky queue. */
  twe_grpc_request_t shutdown_req;
  twe_arena_t shutdown_arena;
  int shutdown_state; /* 0 not sent, 1 in flight, 2 done */
};

static inline twe_arena_t *task_arena(wf_poller_t *p) { return &p->arenas[p->cur]; }

static inline const char *task_run_id(const wft_pb_t *t) {
  return (t->workflow_execution && t->workflow_execution->run_id) ? t->workflow_execution->run_id
                                                                  : "";
}
static inline const char *task_workflow_id(const wft_pb_t *t) {
  return (t->workflow_execution && t->workflow_execution->workflow_id)
             ? t->workflow_execution->workflow_id
             : "";
}
static inline const char *task_workflow_type(const wft_pb_t *t) {
  return t->workflow_type && t->workflow_type->name ? t->workflow_type->name : "";
}

/* A line about task t in the worker's log (engine/log.h), with the shard
 * and the task's workflow type, id and run id. */
#define TWE__TASK_LOG(side, level, t, ...)                                                    \
  twe__log((side)->s->worker, (level), (int)(side)->s->index, task_workflow_type(t),          \
           task_workflow_id(t), task_run_id(t), __VA_ARGS__)

/* Polling (workflow_poller.c). */
void twe__wfp_request_init(wf_poller_t *p, const char *method, const ProtobufCMessage *msg,
                           const ProtobufCMessageDescriptor *resp_type, twe_arena_t *arena,
                           uint64_t timeout_ns, twe_grpc_request_cb done);
/* A TaskQueue message in a (sticky: the shard's, naming the normal one). */
Temporal__Api__Taskqueue__V1__TaskQueue *twe__wfp_task_queue_pb(twe_arena_t *a, const char *name,
                                                                bool sticky, const char *normal);
/* p is done with its task: it polls again if a queue needs it. */
void twe__wfp_next_poll(wf_poller_t *p);
/* Task t came to p, holding its slot (a poll of p->sticky's queue, or an
 * eager start): taken, routed, and another poller takes over the poll. */
void twe__wfp_task_arrived(wf_poller_t *p, wft_pb_t *t);
/* Eager starts' tasks (engine/workflow_eager.c): the shard's inbox moved
 * to idle pollers, as tasks of the normal queue. Returns how many. */
size_t twe__wfp_eager_adopt(struct twe__wf_side *w);

/* One task's life (workflow_task.c). */
/* p holds task t from here to twe__wfp_task_finish (a slot in use). */
void twe__wfp_take_task(wf_poller_t *p, wft_pb_t *t);
/* The task's workflow type as a metrics label; how long it took here
 * (observed once it is answered). */
size_t twe__wfp_wf_label(wf_poller_t *p);
void twe__wfp_task_latency(wf_poller_t *p);
/* Ends the current task: unpins its run (keeping it cached, or evicting it
 * when evict is set or the cache holds nothing) and frees the task. A task
 * parked behind it goes on at the next round (twe__wfp_resume_later). */
void twe__wfp_task_finish(wf_poller_t *p, bool evict);
/* Queues a parked task (its run's other task just ended) for the next
 * round (twe__wf_side_run): processing it at once would re-enter the code
 * that ended the other task, before that task's answer went out. */
void twe__wfp_resume_later(struct twe__wf_side *w, wf_poller_t *parked);
/* The task's events are all here: queue it for twe__wf_side_run. */
void twe__wfp_apply_and_respond(wf_poller_t *p, twe_event_pb_t *const *events, size_t n);
/* History pages (workflow_history.c): appends h's events to p->events
 * (0 or -ENOMEM); fetches the next page (p->page_token). */
int twe__wfp_events_append(wf_poller_t *p, Temporal__Api__History__V1__History *h);
void twe__wfp_history_fetch(wf_poller_t *p);
/* A part of a long history (p->partial) was applied: its events and the
 * pages that held only them are dropped, and the next page is fetched. */
void twe__wfp_history_part_applied(wf_poller_t *p);
/* Takes p->task from the top (cache, history, queue to apply). */
void twe__wfp_process_task(wf_poller_t *p);
/* Runs a ready task's events through its run and answers it, or puts it in
 * the sliced list when its slice ended first (from twe__wf_side_run). */
void twe__wfp_apply_now(wf_poller_t *p);
/* Queues p in the side's ready list (P_READY) for twe__wf_side_run. */
void twe__wfp_make_ready(wf_poller_t *p);

/* Answers the task (workflow_respond.c): RespondWorkflowTaskFailed (the
 * run is dropped), or RespondWorkflowTaskCompleted with p->outcome. */
void twe__wfp_respond_failed(wf_poller_t *p, Temporal__Api__Enums__V1__WorkflowTaskFailedCause cause,
                             const char *message);
void twe__wfp_respond_completed(wf_poller_t *p);

/* Frees the runs whose retired thread is gone; returns how many
 * (workflow_graves.c). */
size_t twe__wfp_bury(struct twe__wf_side *w);

/* Local activities (workflow_local.c): hand the run's requests to the
 * activity side; park a task whose code waits on them (P_LOCAL_WAIT, a
 * result resumes it) or answer it early when its timeout nears; the
 * timer of that early answer. */
void twe__wfp_dispatch_locals(wf_poller_t *p);
void twe__wfp_wait_locals(wf_poller_t *p);
void twe__wfp_on_hb_timer(twe_timer_t *t);

/* A local activity of run_id is over (engine/local_activities.c): r goes
 * to the run (copied), and a task waiting for it goes on. r NULL: it was
 * lost (the worker stops, out of memory): a task waiting for it is given
 * up unanswered, for the server to retry. */
struct twe_local_result;
void twe__wfp_local_result(twe_wshard_t *s, const char *run_id, const struct twe_local_result *r);

/* Legacy query tasks (workflow_query.c). */
/* Starts answering legacy query task p: from the cached run, or from a run
 * of its own replayed from the full history. */
void twe__wfp_query_task(wf_poller_t *p);
/* Its turn in the ready list: replays (if it has its own run) and answers. */
void twe__wfp_query_now(wf_poller_t *p);
/* Sends the answer: from run, or failed with why (run NULL). */
void twe__wfp_query_respond(wf_poller_t *p, twe_run_t *run, const char *why);

#endif /* TWE_ENGINE_WORKFLOW_POLLER_INTERNAL_H */
