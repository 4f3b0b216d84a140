/* engine/workflow_poller.c — the workflow side of a shard: polls the normal
 * and the shard's sticky task queue, keeps the shard's workflow cache
 * (engine/run_cache.h: an LRU of runs), has full histories fetched on cache
 * misses (engine/workflow_history.c), feeds runs (engine/workflow/run.h)
 * and sends their answers.
 *
 * Each poller carries one task at a time through its states:
 *
 *   POLL -> (task) -> [HISTORY: GetWorkflowExecutionHistory pages]
 *        -> apply to the run (in slices) -> RESPOND -> (a new task in the
 *           response? process it) -> IDLE (or POLL, if a queue needs one)
 *
 * and a run never sees two tasks at once (the server hands out one task per
 * run at a time). Each queue keeps its configured number of polls
 * outstanding (normal: workflow_pollers, sticky: one) while any poller is
 * free: a poller that gets a task is replaced at once by an idle one, so a
 * shard works on up to MAX_POLLERS minus the polls tasks at once. Tasks
 * that arrive while others run (a long task in its slices, a burst on the
 * sticky queue) wait here, in the ready list, rather than in the server's
 * queue for a poll to come back.
 *
 * Time slices: applying a task may take several slices (engine/watchdog.h).
 * A task whose slice ended waits in the side's sliced list and goes back to
 * the end of the ready list at the next round, after the tasks that became
 * ready meanwhile, so a long task delays the shard's others by one slice,
 * not by its whole run.
 *
 * Offenders: before any code of a run runs, the worker's offender table
 * (engine/offenders.h) is asked whether the watchdog stopped the run
 * before: a run that blocked its thread is failed at once while it is held
 * back; one that ran over its CPU budget gets a smaller one.
 *
 * Local activities: a task whose code waits on them waits here too
 * (P_LOCAL_WAIT) until their results resume it, or is answered early
 * (engine/workflow_local.c). A thread the watchdog retired in a task's code
 * leaves that task failed and its run in a grave (engine/workflow_graves.c).
 *
 * Sticky execution: every completion names this shard's sticky queue, so the
 * next task of the run comes back here with only the new events. A task
 * whose previous_started_event_id is not where the cached run stopped finds
 * the cache stale: the run is dropped and replayed from the full history.
 *
 * Thread: everything here runs on the shard thread. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/activity_internal.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/offenders.h"
#include "engine/run_cache.h"
#include "engine/workflow/run.h"
#include "engine/workflow_poller_internal.h"
#include "engine/workflow_query.h"
#include "engine/values.h"
#include "engine/worker_internal.h"
#include "io/grpc_retry.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/error.h"

static void poll_start(wf_poller_t *p);

/* --- helpers ------------------------------------------------------------- */

/* The poller holds a task from here to twe__wfp_task_finish: a slot in use. */
static void take_task(wf_poller_t *p, wft_pb_t *t) {
  if (!p->task) twe__count(&p->side->s->counters.workflow_tasks_in_flight, 1);
  p->task = t;
  memset(&p->wtask, 0, sizeof p->wtask);
  p->wtask.sliceable = true;
  p->sliced = false;
  p->local_wait = p->heartbeat = false;
  p->taken_ns = twe__mono_ns();
  p->replaying_run = false;
  p->close_metric = -1;
}

static size_t wf_label(wf_poller_t *p) {
  twe_wshard_t *s = p->side->s;
  return s->metrics ? twe__m_workflow_type(s->metrics->layout, task_workflow_type(p->task)) : 0;
}

/* The task is answered (completed or failed): how long it took here. */
static void task_latency(wf_poller_t *p) {
  twe_wshard_t *s = p->side->s;
  uint64_t ns = (uint64_t)(twe__mono_ns() - p->taken_ns);
  size_t l = wf_label(p);
  twe__m_observe(s->metrics, TWE_M_WFT_EXECUTION_LATENCY, l, ns);
  if (p->replaying_run) twe__m_observe(s->metrics, TWE_M_WFT_REPLAY_LATENCY, l, ns);
}


static Temporal__Api__Taskqueue__V1__TaskQueue *task_queue_pb(twe_arena_t *a, const char *name,
                                                               bool sticky, const char *normal) {
  Temporal__Api__Taskqueue__V1__TaskQueue *tq = twe__arena_alloc(a, sizeof *tq);
  if (!tq) return NULL;
  temporal__api__taskqueue__v1__task_queue__init(tq);
  tq->name = (char *)name;
  tq->kind = sticky ? TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_STICKY
                    : TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  if (sticky) tq->normal_name = (char *)normal;
  return tq;
}

void twe__wfp_request_init(wf_poller_t *p, const char *method, const ProtobufCMessage *msg,
                         const ProtobufCMessageDescriptor *resp_type, twe_arena_t *arena,
                         uint64_t timeout_ns, twe_grpc_request_cb done) {
  twe_grpc_request_t *r = &p->req;
  memset(r, 0, sizeof *r);
  r->path = method;
  r->request = msg;
  r->response_type = resp_type;
  r->arena = arena;
  r->timeout_ns = timeout_ns;
  r->namespaced = true;
  r->done = done;
  r->data = p;
}

/* Queues a parked task (its run's other task just ended) for the next
 * round: processing it here would re-enter the code ending that task, and
 * start it before that task's answer went out. */
void twe__wfp_resume_later(struct twe__wf_side *w, wf_poller_t *parked) {
  parked->next_ready = NULL;
  if (w->resume_tail) w->resume_tail->next_ready = parked;
  else w->resume_head = parked;
  w->resume_tail = parked;
}

/* Ends the current task: unpins its run (keeping it cached, or evicting it
 * when evict is set or the cache holds nothing) and frees the task. A task
 * parked behind it goes on at the next round. */
void twe__wfp_task_finish(wf_poller_t *p, bool evict) {
  struct twe__wf_side *w = p->side;
  wf_poller_t *parked = NULL;
  twe__timer_stop(&p->hb_timer);
  p->local_wait = false;
  if (p->entry) {
    parked = p->entry->parked;
    p->entry->parked = NULL;
    p->entry->busy = false;
    /* Without a cache, a run whose local activities still run stays until
     * they are back (the next task, which a heartbeat asked for, takes
     * their results). */
    if (evict || (w->s->cache_capacity == 0 &&
                  !(p->entry->run && twe__run_locals_in_flight(p->entry->run))))
      twe__run_cache_evict(&w->cache, p->entry);
    p->entry = NULL;
    twe__run_cache_trim(&w->cache, w->s->cache_capacity);
  }
  free(p->events);
  p->events = NULL;
  p->n_events = p->cap_events = 0;
  twe__run_destroy(p->qrun);
  p->qrun = NULL;
  p->query_results = NULL;
  p->n_query_results = 0;
  p->page_token.data = NULL;
  p->page_token.len = 0;
  if (p->task) twe__count(&w->s->counters.workflow_tasks_in_flight, -1);
  p->task = NULL;
  twe__arena_reset(task_arena(p));
  if (parked) twe__wfp_resume_later(w, parked);
}

/* Polls of a queue outstanding, or waiting to be retried. */
static unsigned polling(const struct twe__wf_side *w, bool sticky) {
  unsigned n = 0;
  for (unsigned i = 0; i < w->n_pollers; i++) {
    const wf_poller_t *p = &w->pollers[i];
    n += p->sticky == sticky && (p->state == P_POLLING || p->state == P_WAIT_RETRY);
  }
  return n;
}

/* Starts polls on idle pollers until each queue has its polls outstanding
 * (the sticky queue first: its tasks have a short schedule-to-start). */
static void refill(struct twe__wf_side *w) {
  if (w->stopping) return;
  for (int sticky = 1; sticky >= 0; sticky--) {
    unsigned have = polling(w, sticky);
    for (unsigned i = 0; i < w->n_pollers && have < w->want[sticky]; i++) {
      wf_poller_t *p = &w->pollers[i];
      if (p->state != P_IDLE) continue;
      p->sticky = sticky;
      poll_start(p);
      have++;
    }
  }
}

/* p is done with its task (or its poll came back empty): it polls again
 * if a queue needs it, else it waits for the next poll to end. */
void twe__wfp_next_poll(wf_poller_t *p) {
  p->state = P_IDLE;
  refill(p->side);
}

/* --- answering ----------------------------------------------------------- */

static void on_responded(twe_grpc_request_t *req);

/* RespondWorkflowTaskFailed: the run is dropped (its state is unusable)
 * and the server retries the task, on any worker, from the full history. */
void twe__wfp_respond_failed(wf_poller_t *p, Temporal__Api__Enums__V1__WorkflowTaskFailedCause cause,
                           const char *message) {
  struct twe__wf_side *w = p->side;
  twe__count(&w->s->counters.workflow_tasks_failed, 1);
  twe__m_add(w->s->metrics, TWE_M_WFT_EXECUTION_FAILED, wf_label(p), 1);
  task_latency(p);
  TWE__TASK_LOG(w, TWE_LOG_ERROR, p->task, "workflow task failed (attempt %d): %s",
                p->task->attempt, message);
  if (p->entry) {
    wf_poller_t *parked = p->entry->parked;
    p->entry->busy = false;
    twe__run_cache_evict(&w->cache, p->entry);
    p->entry = NULL;
    if (parked) twe__wfp_resume_later(w, parked);
  }
  /* Later attempts are retried by the server without new events; reporting
   * them again only adds load (the failure is already in the history). */
  if (p->task->attempt > 1) {
    twe__wfp_task_finish(p, true);
    twe__wfp_next_poll(p);
    return;
  }
  twe_arena_t *a = task_arena(p);
  Temporal__Api__Workflowservice__V1__RespondWorkflowTaskFailedRequest *rq =
      twe__arena_alloc(a, sizeof *rq);
  twe_failure_pb_t *failure = NULL;
  if (!rq || twe__failure_new(a, "twe.WorkflowTaskFailed", message, false, &failure) < 0) {
    twe__wfp_task_finish(p, true);
    twe__wfp_next_poll(p);
    return;
  }
  temporal__api__workflowservice__v1__respond_workflow_task_failed_request__init(rq);
  rq->task_token = p->task->task_token;
  rq->cause = cause;
  rq->failure = failure;
  rq->identity = w->s->worker->identity;
  rq->namespace_ = (char *)w->s->worker->namespace_name;
  twe__wfp_request_init(p, SVC "RespondWorkflowTaskFailed", &rq->base,
               &temporal__api__workflowservice__v1__respond_workflow_task_failed_response__descriptor,
               a, CALL_TIMEOUT_NS, on_responded);
  p->state = P_RESPONDING;
  p->outcome.status = -1;
  if (twe__grpc_channel_start(w->s->channel, &p->req) < 0) {
    twe__wfp_task_finish(p, true);
    twe__wfp_next_poll(p);
  }
}

void twe__wfp_respond_completed(wf_poller_t *p) {
  struct twe__wf_side *w = p->side;
  twe_wshard_t *s = w->s;
  twe_arena_t *a = task_arena(p);
  Temporal__Api__Workflowservice__V1__RespondWorkflowTaskCompletedRequest *rq =
      twe__arena_alloc(a, sizeof *rq);
  Temporal__Api__Taskqueue__V1__StickyExecutionAttributes *sticky =
      twe__arena_alloc(a, sizeof *sticky);
  Temporal__Api__Sdk__V1__WorkflowTaskCompletedMetadata *meta = twe__arena_alloc(a, sizeof *meta);
  if (!rq || !sticky || !meta) {
    twe__wfp_respond_failed(p, CAUSE_UNHANDLED,
                   "out of memory building the completion");
    return;
  }
  temporal__api__workflowservice__v1__respond_workflow_task_completed_request__init(rq);
  task_latency(p);
  p->close_metric = -1;
  if (p->outcome.closes_workflow && p->outcome.n_commands) {
    switch ((int)p->outcome.commands[p->outcome.n_commands - 1]->command_type) {
      case TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION:
        p->close_metric = TWE_M_WORKFLOW_COMPLETED;
        break;
      case TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION:
        p->close_metric = TWE_M_WORKFLOW_FAILED;
        break;
      case TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION:
        p->close_metric = TWE_M_WORKFLOW_CANCELED;
        break;
      case TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION:
        p->close_metric = TWE_M_WORKFLOW_CONTINUE_AS_NEW;
        break;
    }
    p->run_start_ns = p->entry && p->entry->run ? twe__run_start_time_ns(p->entry->run) : 0;
  }
  rq->task_token = p->task->task_token;
  rq->commands = p->outcome.commands;
  rq->n_commands = p->outcome.n_commands;
  rq->query_results = p->query_results;
  rq->n_query_results = p->n_query_results;
  rq->messages = p->outcome.messages;
  rq->n_messages = p->outcome.n_messages;
  rq->identity = s->worker->identity;
  rq->namespace_ = (char *)s->worker->namespace_name;
  temporal__api__sdk__v1__workflow_task_completed_metadata__init(meta);
  meta->sdk_name = "temporal-c";
  meta->sdk_version = (char *)twe_version();
  rq->sdk_metadata = meta;
  /* With a cache, ask for the next task on our sticky queue (and for it in
   * the response when it is already there). Without one there is nothing
   * to come back to. */
  if (s->cache_capacity > 0 && !p->outcome.closes_workflow && !w->stopping) {
    temporal__api__taskqueue__v1__sticky_execution_attributes__init(sticky);
    sticky->worker_task_queue = task_queue_pb(a, s->sticky_queue, true, s->worker->task_queue);
    uint64_t sst = s->worker->opts.sticky_schedule_to_start_timeout_ns;
    sticky->schedule_to_start_timeout = twe__duration_pb(a, sst ? sst : 10000000000ull);
    rq->sticky_attributes = sticky;
    rq->return_new_workflow_task = true;
  }
  if (p->heartbeat) {
    /* Local activities still run: a new task at once, in the response, to
     * carry on with them here. */
    rq->force_create_new_workflow_task = true;
    rq->return_new_workflow_task = true;
  }
  twe__wfp_request_init(p, SVC "RespondWorkflowTaskCompleted", &rq->base,
               &temporal__api__workflowservice__v1__respond_workflow_task_completed_response__descriptor,
               &p->arenas[1 - p->cur], CALL_TIMEOUT_NS, on_responded);
  p->state = P_RESPONDING;
  int rc = twe__grpc_channel_start(s->channel, &p->req);
  if (rc < 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "the completion could not be encoded: %s", twe_strerror(rc));
    twe__wfp_respond_failed(p, rc == TWE_ELIMIT ? TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_GRPC_MESSAGE_TOO_LARGE
                                       : CAUSE_UNHANDLED,
                   msg);
  }
}

static void on_responded(twe_grpc_request_t *req) {
  wf_poller_t *p = req->data;
  struct twe__wf_side *w = p->side;
  bool failed_task = p->outcome.status < 0;
  if (req->status.code != TWE_GRPC_OK) {
    /* NOT_FOUND: the task timed out or the run closed meanwhile; anything
     * else: the server did not take our answer. Either way the cached run
     * may be ahead of the history now: drop it. */
    char what[64];
    snprintf(what, sizeof what, "%s", failed_task ? "RespondWorkflowTaskFailed"
                                                  : "RespondWorkflowTaskCompleted");
    TWE__TASK_LOG(w, TWE_LOG_WARN, p->task, "%s: %s: %s; the cached run is dropped", what,
                  twe__grpc_code_name(req->status.code), req->status.message);
    twe__arena_reset(&p->arenas[1 - p->cur]);
    twe__wfp_task_finish(p, true);
    twe__wfp_next_poll(p);
    return;
  }
  if (failed_task) {
    twe__wfp_task_finish(p, true);
    twe__wfp_next_poll(p);
    return;
  }
  twe__count(&w->s->counters.workflow_tasks_completed, 1);
  if (p->close_metric >= 0) {
    size_t l = wf_label(p);
    twe__m_add(w->s->metrics, (twe__metric_t)p->close_metric, l, 1);
    if (p->run_start_ns > 0) {
      int64_t now = twe__wall_ns();
      if (now > p->run_start_ns)
        twe__m_observe(w->s->metrics, TWE_M_WORKFLOW_ENDTOEND_LATENCY, l,
                       (uint64_t)(now - p->run_start_ns));
    }
  }
  Temporal__Api__Workflowservice__V1__RespondWorkflowTaskCompletedResponse *resp =
      (void *)req->response;
  /* reset_history_event_id: the server dropped a speculative task (an
   * update rejected, nothing else): the cached run went past the history.
   * The next task replays it. */
  bool closes = p->outcome.closes_workflow || (resp && resp->reset_history_event_id > 0);
  twe__wfp_task_finish(p, closes);
  /* The task's arena is free now; the answer (and the next task in it)
   * lives in the other one, which becomes the current one. */
  p->cur = 1 - p->cur;
  /* Even when stopping: the task is ours now; dropping it would leave it
   * to time out. The draining shard waits for it. */
  if (resp && resp->workflow_task && resp->workflow_task->task_token.len) {
    take_task(p, resp->workflow_task);
    twe__wfp_process_task(p);
    return;
  }
  twe__arena_reset(task_arena(p));
  twe__wfp_next_poll(p);
}

/* --- applying a task to its run ----------------------------------------- */

/* Appends p to the list head..tail (linked by next_ready). */
static void list_append(wf_poller_t **head, wf_poller_t **tail, wf_poller_t *p) {
  p->next_ready = NULL;
  if (*tail) (*tail)->next_ready = p;
  else *head = p;
  *tail = p;
}

/* The task's events are all here: queue it for twe__wf_side_run. */
void twe__wfp_apply_and_respond(wf_poller_t *p, twe_event_pb_t *const *events, size_t n) {
  p->apply_events = events;
  p->apply_n = n;
  twe__wfp_make_ready(p);
}

void twe__wfp_make_ready(wf_poller_t *p) {
  p->state = P_READY;
  list_append(&p->side->ready_head, &p->side->ready_tail, p);
}


/* Runs the task's events through its run (workflow code runs here) and
 * answers, or, when the watchdog ends its slice first, puts it in the
 * sliced list for a later round. On the shard thread, from
 * twe__wf_side_run only. */
static void apply_now(wf_poller_t *p) {
  struct twe__wf_side *w = p->side;
  twe_wshard_t *s = w->s;
  twe_event_pb_t *const *events = p->apply_events;
  size_t n = p->apply_n;
  if (p->task->query) {
    twe__wfp_query_now(p);
    return;
  }
  bool resume = p->sliced || p->local_wait;
  if (!resume) {
    memset(&p->outcome, 0, sizeof p->outcome);
    /* The events must run up to this task's WORKFLOW_TASK_STARTED: anything
     * shorter would answer a task the code has not seen. */
    if (!n || events[n - 1]->event_id != p->task->started_event_id) {
      char msg[200];
      snprintf(msg, sizeof msg,
               "the history gathered for the task ends at event %" PRId64
               ", not at its WORKFLOW_TASK_STARTED (event %" PRId64 ")",
               n ? events[n - 1]->event_id : (int64_t)0, p->task->started_event_id);
      twe__wfp_respond_failed(p, CAUSE_UNHANDLED, msg);
      return;
    }
  }
  twe__watch_task_begin(s->watch, task_workflow_type(p->task), task_run_id(p->task), &p->wtask);
  if (!resume) twe__run_set_messages(p->entry->run, p->task->messages, p->task->n_messages);
  int rc = resume ? twe__run_resume(p->entry->run, &p->outcome)
                  : twe__run_apply(p->entry->run, events, n, task_arena(p), &p->outcome);
  p->local_wait = false;
  /* s->watch again: the thread may be another one than at the begin (a
   * fiber switched out at a slice's end resumes wherever the shard runs). */
  twe__watch_task_end(s->watch, &p->wtask);
  if (rc == TWE__RUN_SLICED) {
    twe__count(&s->counters.workflow_task_slices, 1);
    p->sliced = true;
    p->state = P_SLICED;
    list_append(&w->sliced_head, &w->sliced_tail, p);
    return;
  }
  p->sliced = false;
  if (rc == TWE__RUN_WAITING) {
    twe__wfp_wait_locals(p);
    return;
  }
  twe_worker_t *wk = s->worker;
  if (rc < 0) {
    if (rc == TWE_ENONDETERMINISM) twe__count(&s->counters.nondeterminism_errors, 1);
    if (rc == TWE_EPREEMPTED)
      twe__offenders_record(wk->offenders, task_run_id(p->task), task_workflow_type(p->task),
                            twe__watch_preempt_reason(s->watch) == TWE__WATCH_CPU
                                ? TWE__OFFENCE_CPU
                                : TWE__OFFENCE_BLOCKED,
                            NULL, twe__mono_ns());
    const char *msg = p->outcome.message[0] ? p->outcome.message : twe_strerror(rc);
    Temporal__Api__Enums__V1__WorkflowTaskFailedCause cause = p->outcome.cause;
    if (!cause)
      cause = CAUSE_UNHANDLED;
    char copy[sizeof p->outcome.message];
    snprintf(copy, sizeof copy, "%s", msg);
    twe__wfp_respond_failed(p, cause, copy);
    return;
  }
  twe__offenders_forget(wk->offenders, task_run_id(p->task));
  twe__timer_stop(&p->hb_timer);
  if (!p->outcome.closes_workflow) twe__wfp_dispatch_locals(p);
  if (p->task->n_queries) {
    /* Queries that came with the task, answered from the state the task
     * left: under the watchdog too (their handlers are workflow code). */
    twe__watch_task_begin(s->watch, task_workflow_type(p->task), task_run_id(p->task), NULL);
    rc = twe__query_answer_task_queries(p->entry->run, p->task, task_arena(p), &p->query_results,
                                        &p->n_query_results);
    twe__watch_task_end(s->watch, NULL);
    if (rc < 0) {
      char msg[sizeof p->outcome.message];
      snprintf(msg, sizeof msg, "answering the task's queries: %s", twe_strerror(rc));
      twe__wfp_respond_failed(p, CAUSE_UNHANDLED, msg);
      return;
    }
  }
  twe__wfp_respond_completed(p);
}

/* Removes p from the list head..tail (linked by next_ready); false if it
 * is not in it. */
static bool list_remove(wf_poller_t **head, wf_poller_t **tail, wf_poller_t *p) {
  wf_poller_t *prev = NULL;
  for (wf_poller_t *q = *head; q; prev = q, q = q->next_ready) {
    if (q != p) continue;
    if (prev) prev->next_ready = q->next_ready;
    else *head = q->next_ready;
    if (*tail == q) *tail = prev;
    q->next_ready = NULL;
    return true;
  }
  return false;
}

/* The server re-issued a task of a run whose earlier task is still here,
 * waiting for its next slice or its turn (not in a call): that one timed
 * out at the server and is dead. It is dropped with its run (the new task
 * replays), and its poller polls again at once, so that one run never
 * holds two pollers. A task that had run slices was still running when the
 * server gave up on it: that costs it like a CPU preemption (a smaller
 * budget next time), or a long task would be re-run in slices forever.
 * Returns whether it dropped one. */
static bool supersede(struct twe__wf_side *w, cached_run_t *e, const wft_pb_t *t) {
  wf_poller_t *old = NULL;
  for (unsigned i = 0; i < w->n_pollers && !old; i++)
    if (w->pollers[i].entry == e && w->pollers[i].task != t) old = &w->pollers[i];
  if (!old || (old->state != P_READY && old->state != P_SLICED) || e->parked) return false;
  if (!list_remove(&w->ready_head, &w->ready_tail, old) &&
      !list_remove(&w->sliced_head, &w->sliced_tail, old))
    return false;
  if (old->sliced) {
    TWE__TASK_LOG(w, TWE_LOG_WARN, t,
                  "the server re-issued its workflow task (attempt %d) while attempt %d was "
                  "still running here after %.2f s of CPU in slices; that one is dropped, and "
                  "the next runs with a smaller CPU budget",
                  t->attempt, old->task->attempt, (double)old->wtask.cpu_ns / 1e9);
    twe__offenders_record(w->s->worker->offenders, task_run_id(old->task),
                          task_workflow_type(old->task), TWE__OFFENCE_CPU, NULL, twe__mono_ns());
  }
  old->sliced = false;
  twe__wfp_task_finish(old, true);
  twe__wfp_next_poll(old);
  return true;
}

void twe__wfp_process_task(wf_poller_t *p) {
  struct twe__wf_side *w = p->side;
  wft_pb_t *t = p->task;
  memset(&p->outcome, 0, sizeof p->outcome);
  if (t->query) {
    twe__wfp_query_task(p);
    return;
  }
  const char *run_id = task_run_id(t);
  Temporal__Api__History__V1__History *h = t->history;
  size_t n = h ? h->n_events : 0;
  int64_t first_id = n ? h->events[0]->event_id : 0;

  twe_worker_t *wk = w->s->worker;
  twe__offender_verdict_t verdict;
  if (twe__offenders_check(wk->offenders, run_id, wk->cpu_budget_ns, twe__mono_ns(), &verdict)) {
    if (verdict.hold) {
      /* Before any of its code runs, and before the cache is touched: a
       * held run was evicted when it was stopped. */
      twe__count(&w->s->counters.workflow_tasks_held, 1);
      cached_run_t *held = twe__run_cache_find(&w->cache, run_id);
      if (held && !held->busy) twe__run_cache_evict(&w->cache, held);
      twe__wfp_respond_failed(p, CAUSE_UNHANDLED, verdict.message);
      return;
    }
    p->wtask.cpu_budget_ns = verdict.cpu_budget_ns;
  }

  cached_run_t *e = twe__run_cache_find(&w->cache, run_id);
  if (e && !e->busy) {
    int64_t next = twe__run_next_event_id(e->run);
    /* Usable when the run stopped exactly where this task's history picks
     * up: its last task is the one the server counts as the previous, and
     * the events given cover the rest. */
    if (twe__run_last_started_event_id(e->run) == t->previous_started_event_id && n &&
        first_id <= next && h->events[n - 1]->event_id >= next) {
      twe__count(&w->s->counters.cache_hits, 1);
      twe__m_add(w->s->metrics, TWE_M_STICKY_CACHE_HIT, 0, 1);
      e->busy = true;
      twe__run_cache_touch(&w->cache, e);
      p->entry = e;
      size_t skip = (size_t)(next - first_id);
      if (t->next_page_token.len) {
        /* More pages follow: gather them, then apply from `next` on. */
        Temporal__Api__History__V1__History rest = *h;
        rest.events = h->events + skip;
        rest.n_events = n - skip;
        if (twe__wfp_events_append(p, &rest) < 0) {
          twe__wfp_respond_failed(p, CAUSE_UNHANDLED,
                         "out of memory gathering the history");
          return;
        }
        p->page_token = t->next_page_token;
        twe__wfp_history_fetch(p);
        return;
      }
      twe__wfp_apply_and_respond(p, h->events + skip, n - skip);
      return;
    }
    /* Stale: the server moved on without us (the task went to another
     * worker, or a completion of ours was lost). Replay from scratch. */
    twe__run_cache_evict(&w->cache, e);
    e = NULL;
  } else if (e && supersede(w, e, t)) {
    e = NULL; /* the stale task is gone, and its run with it: replay */
    if (twe__offenders_check(wk->offenders, run_id, wk->cpu_budget_ns, twe__mono_ns(), &verdict))
      p->wtask.cpu_budget_ns = verdict.cpu_budget_ns; /* the offence it just recorded */
  } else if (e) {
    /* A task of this run is still in flight here, in the middle of a call
     * (history, respond): the server re-issued it after a timeout. Wait for
     * ours to end (it will fail as stale), then take this one against the
     * evicted or updated cache. */
    if (!e->parked) {
      e->parked = p;
      p->state = P_PARKED;
      return;
    }
    TWE__TASK_LOG(w, TWE_LOG_WARN, p->task,
                  "a third task at once for the run; leaving it to time out");
    twe__wfp_task_finish(p, false);
    twe__wfp_next_poll(p);
    return;
  }

  twe_run_t *run = NULL;
  int rc = twe__run_create(&w->env, task_workflow_id(t), run_id, &run);
  if (rc == 0 && !(p->entry = twe__run_cache_insert(&w->cache, run))) {
    twe__run_destroy(run);
    rc = -ENOMEM;
  }
  if (rc < 0) {
    twe__wfp_respond_failed(p, CAUSE_UNHANDLED,
                   "out of memory creating the run");
    return;
  }
  /* A run with earlier tasks is a replay from the full history: a miss. */
  if (t->previous_started_event_id > 0) {
    twe__count(&w->s->counters.cache_misses, 1);
    twe__m_add(w->s->metrics, TWE_M_STICKY_CACHE_MISS, 0, 1);
    p->replaying_run = true;
  }
  if (first_id == 1 && !t->next_page_token.len) {
    twe__wfp_apply_and_respond(p, h->events, n);
    return;
  }
  if (first_id == 1) {
    /* The first page came with the task; fetch the rest. */
    if (twe__wfp_events_append(p, h) < 0) {
      twe__wfp_respond_failed(p, CAUSE_UNHANDLED,
                     "out of memory gathering the history");
      return;
    }
    p->page_token = t->next_page_token;
  }
  twe__wfp_history_fetch(p);
}

/* --- polling ------------------------------------------------------------- */

static void on_poll(twe_grpc_request_t *req);

static void on_retry_timer(twe_timer_t *timer) {
  wf_poller_t *p = timer->data;
  twe__wfp_next_poll(p);
}

static void poll_start(wf_poller_t *p) {
  struct twe__wf_side *w = p->side;
  twe_wshard_t *s = w->s;
  twe_arena_t *a = task_arena(p);
  twe__arena_reset(a);
  Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueRequest *rq =
      twe__arena_alloc(a, sizeof *rq);
  if (!rq) {
    p->state = P_WAIT_RETRY;
    twe__timer_start(&p->retry_timer, 1000000000ull);
    return;
  }
  temporal__api__workflowservice__v1__poll_workflow_task_queue_request__init(rq);
  rq->namespace_ = (char *)s->worker->namespace_name;
  rq->task_queue = p->sticky ? task_queue_pb(a, s->sticky_queue, true, s->worker->task_queue)
                             : task_queue_pb(a, s->worker->task_queue, false, NULL);
  rq->identity = s->worker->identity;
  twe__wfp_request_init(p, SVC "PollWorkflowTaskQueue", &rq->base,
               &temporal__api__workflowservice__v1__poll_workflow_task_queue_response__descriptor,
               a, POLL_TIMEOUT_NS, on_poll);
  p->req.retry = &twe__retry_policy_poll;
  p->state = P_POLLING;
  if (!rq->task_queue || twe__grpc_channel_start(s->channel, &p->req) < 0) {
    p->state = P_WAIT_RETRY;
    twe__timer_start(&p->retry_timer, 1000000000ull);
  }
}

static void on_poll(twe_grpc_request_t *req) {
  wf_poller_t *p = req->data;
  struct twe__wf_side *w = p->side;
  /* Polls failing for a while are logged (engine/shard_health.c). */
  if (req->status.code != TWE_GRPC_CANCELLED || !w->stopping)
    twe__health_poll(w->s, p->sticky ? "PollWorkflowTaskQueue (sticky)" : "PollWorkflowTaskQueue",
                     req->status.code, req->status.message);
  if (req->status.code != TWE_GRPC_OK) {
    if (w->stopping) {
      p->state = P_IDLE;
      return;
    }
    p->state = P_WAIT_RETRY;
    twe__timer_start(&p->retry_timer, 1000000000ull);
    return;
  }
  wft_pb_t *t = (void *)req->response;
  size_t poller = p->sticky ? TWE_POLLER_WORKFLOW_STICKY : TWE_POLLER_WORKFLOW;
  if (!t || !t->task_token.len) { /* the long poll ended without a task */
    twe__m_add(w->s->metrics, TWE_M_WFT_POLL_EMPTY, poller, 1);
    twe__wfp_next_poll(p);
    return;
  }
  twe__m_add(w->s->metrics, TWE_M_WFT_POLL_SUCCEED, poller, 1);
  take_task(p, t);
  int64_t sched = twe__timestamp_ns(t->scheduled_time), start = twe__timestamp_ns(t->started_time);
  if (sched > 0 && start >= sched)
    twe__m_observe(w->s->metrics, TWE_M_WFT_SCHEDULE_TO_START_LATENCY, wf_label(p),
                   (uint64_t)(start - sched));
  twe__wfp_process_task(p);
  refill(w); /* another poller takes over the poll */
}

/* --- applying (takeover and graves: workflow_graves.c) ------------------- */

size_t twe__wf_side_run(twe_wshard_t *s, size_t budget) {
  struct twe__wf_side *w = s->wf;
  if (!w) return 0;
  size_t n = w->graves ? twe__wfp_bury(w) : 0;
  /* Parked tasks whose turn came, in the order their runs' tasks ended. */
  while (w->resume_head) {
    wf_poller_t *p = w->resume_head;
    w->resume_head = p->next_ready;
    if (!w->resume_head) w->resume_tail = NULL;
    p->next_ready = NULL;
    twe__wfp_process_task(p);
    n++;
  }
  /* Tasks whose slice ended in an earlier round go after those that became
   * ready since. */
  if (w->sliced_head) {
    if (w->ready_tail) w->ready_tail->next_ready = w->sliced_head;
    else w->ready_head = w->sliced_head;
    w->ready_tail = w->sliced_tail;
    w->sliced_head = w->sliced_tail = NULL;
  }
  /* A few tasks per round: the reactor gets its turn between them, and
   * after any slice that ended (what arrived during it goes first). */
  size_t limit = budget < 8 ? budget : 8;
  while (w->ready_head && n < limit) {
    wf_poller_t *p = w->ready_head;
    w->ready_head = p->next_ready;
    if (!w->ready_head) w->ready_tail = NULL;
    p->next_ready = NULL;
    w->applying = p;
    apply_now(p);
    w->applying = NULL;
    n++;
    if (p->state == P_SLICED) break;
  }
  return w->ready_head || w->sliced_head || w->resume_head ? budget : n;
}

/* --- shard entry points -------------------------------------------------- */

int twe__wf_side_start(twe_wshard_t *s) {
  struct twe__wf_side *w = calloc(1, sizeof *w);
  if (!w) return -ENOMEM;
  w->s = s;
  s->wf = w;
  w->cache.counters = &s->counters;
  w->cache.metrics = s->metrics;
  w->cache.shard = s;
  w->env.namespace_name = s->worker->namespace_name;
  w->env.task_queue = s->worker->task_queue;
  w->env.registry = &s->worker->registry;
  w->env.fibers = s->fibers;
  w->env.log = s->worker->opts.workflow_log;
  w->env.log_user = s->worker->opts.workflow_log_user;
  w->env.log_level = s->worker->opts.workflow_log_level;
  w->env.worker = s->worker;
  w->env.shard = (int)s->index;
  twe__arena_init(&w->shutdown_arena, 0);
  unsigned normal = s->worker->opts.workflow_pollers ? s->worker->opts.workflow_pollers : 2;
  if (normal > MAX_POLLERS - 1) normal = MAX_POLLERS - 1;
  w->want[0] = normal;
  /* Without a cache there is no sticky queue to poll. */
  w->want[1] = s->cache_capacity > 0 ? 1 : 0;
  w->n_pollers = MAX_POLLERS;
  for (unsigned i = 0; i < w->n_pollers; i++) {
    wf_poller_t *p = &w->pollers[i];
    p->side = w;
    p->state = P_IDLE;
    twe__arena_init(&p->arenas[0], 0);
    twe__arena_init(&p->arenas[1], 0);
    twe__timer_init(s->reactor, &p->retry_timer, on_retry_timer);
    p->retry_timer.data = p;
    twe__timer_init(s->reactor, &p->hb_timer, twe__wfp_on_hb_timer);
    p->hb_timer.data = p;
  }
  refill(w);
  return 0;
}

static void on_shutdown_worker(twe_grpc_request_t *req) {
  struct twe__wf_side *w = req->data;
  if (req->status.code != TWE_GRPC_OK && req->status.code != TWE_GRPC_UNIMPLEMENTED)
    twe__log(w->s->worker, TWE_LOG_WARN, (int)w->s->index, NULL, NULL, NULL,
             "ShutdownWorker: %s: %s", twe__grpc_code_name(req->status.code),
             req->status.message);
  w->shutdown_state = 2;
}

void twe__wf_side_begin_stop(twe_wshard_t *s) {
  struct twe__wf_side *w = s->wf;
  if (!w || w->stopping) return;
  w->stopping = true;
  for (unsigned i = 0; i < w->n_pollers; i++) {
    wf_poller_t *p = &w->pollers[i];
    /* A poll, and a history fetch (the task is given up: the server
     * retries it elsewhere), end now. */
    if (p->state == P_POLLING || p->state == P_HISTORY)
      twe__grpc_channel_cancel(s->channel, &p->req);
    else if (p->state == P_WAIT_RETRY) {
      twe__timer_stop(&p->retry_timer);
      p->state = P_IDLE;
    }
  }
}

bool twe__wf_side_idle(const twe_wshard_t *s) {
  struct twe__wf_side *w = s->wf;
  if (!w) return true;
  for (unsigned i = 0; i < w->n_pollers; i++)
    if (w->pollers[i].state != P_IDLE) return false;
  if (s->cache_capacity == 0) return true;
  /* Every task is answered: hand the sticky queue back so the server moves
   * its pending tasks to the normal queue at once instead of after the
   * sticky schedule-to-start timeout. */
  if (w->shutdown_state == 0) {
    Temporal__Api__Workflowservice__V1__ShutdownWorkerRequest *rq =
        twe__arena_alloc(&w->shutdown_arena, sizeof *rq);
    if (!rq) return true;
    temporal__api__workflowservice__v1__shutdown_worker_request__init(rq);
    rq->namespace_ = (char *)s->worker->namespace_name;
    rq->sticky_task_queue = (char *)s->sticky_queue;
    rq->identity = s->worker->identity;
    rq->reason = "graceful shutdown";
    twe_grpc_request_t *r = &w->shutdown_req;
    memset(r, 0, sizeof *r);
    r->path = SVC "ShutdownWorker";
    r->request = &rq->base;
    r->response_type = &temporal__api__workflowservice__v1__shutdown_worker_response__descriptor;
    r->arena = &w->shutdown_arena;
    r->timeout_ns = 5000000000ull;
    r->namespaced = true;
    r->done = on_shutdown_worker;
    r->data = w;
    w->shutdown_state = 1;
    if (twe__grpc_channel_start(s->channel, r) < 0) w->shutdown_state = 2;
  }
  return w->shutdown_state == 2;
}

void twe__wf_side_destroy(twe_wshard_t *s) {
  struct twe__wf_side *w = s->wf;
  if (!w) return;
  for (unsigned i = 0; i < w->n_pollers; i++) {
    wf_poller_t *p = &w->pollers[i];
    twe__timer_stop(&p->retry_timer);
    twe__timer_stop(&p->hb_timer);
    free(p->events);
    twe__arena_destroy(&p->arenas[0]);
    twe__arena_destroy(&p->arenas[1]);
  }
  twe__run_cache_destroy(&w->cache);
  twe__wfp_bury(w);
  if (w->graves) {
    /* Retired threads still alive may run on these runs' fibers: their
     * memory (and the shard's fiber stacks) stays for good. */
    size_t left = 0;
    for (grave_t *g = w->graves, *next; g; g = next, left++) {
      next = g->next;
      free(g);
    }
    twe__log(s->worker, TWE_LOG_WARN, (int)s->index, NULL, NULL, NULL,
             "%zu run(s) of retired threads still alive are left in memory", left);
    s->fibers_pinned = true;
  }
  twe__arena_destroy(&w->shutdown_arena);
  free(w);
  s->wf = NULL;
}
