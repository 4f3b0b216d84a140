/* engine/workflow_respond.c — a workflow task's answer: its completion
 * (commands, messages, query answers, the sticky queue to come back on) or
 * its failure, and what the server's reply means: a next task in it goes
 * straight back to engine/workflow_task.c; a refusal drops the cached run.
 *
 * An answer is tried again, each attempt 5 s at most, for as long as it can
 * still matter: until the task's workflow task timeout has passed since it
 * was taken (the server then times the task out and hands it out again).
 * A retry of a completion the server did take (its reply was lost) gets
 * NOT_FOUND: the cached run is dropped and the next task replays it.
 *
 * Eager activities: a completion asks the server to hand back the
 * activities it schedules on this worker's task queue, one per pool thread
 * the activity side can promise; the answer's activity tasks run at once
 * (twe__act_eager_take) and unused promises go back.
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

/* --- answering ----------------------------------------------------------- */

static void on_responded(twe_grpc_request_t *req);

#define RESPOND_ATTEMPT_NS (5ull * 1000000000ull)
#define DEFAULT_TASK_TIMEOUT_NS (10ull * 1000000000ull)

/* How long the answer to p's task can still matter: its workflow task
 * timeout (the run's; 10 s when unknown) less the time since the task was
 * taken here (this clock, not the server's), and at least one attempt. */
static uint64_t answer_matters_ns(const wf_poller_t *p) {
  uint64_t timeout = p->entry && p->entry->run ? twe__run_task_timeout_ns(p->entry->run) : 0;
  if (!timeout) timeout = DEFAULT_TASK_TIMEOUT_NS;
  int64_t left = (int64_t)timeout - (twe__mono_ns() - p->taken_ns);
  return left > (int64_t)RESPOND_ATTEMPT_NS ? (uint64_t)left : RESPOND_ATTEMPT_NS;
}

/* The answer's request: retried while it matters (see above). */
static void respond_request_init(wf_poller_t *p, const char *method, const ProtobufCMessage *msg,
                                 const ProtobufCMessageDescriptor *resp_type, twe_arena_t *arena,
                                 uint64_t matters_ns) {
  twe__wfp_request_init(p, method, msg, resp_type, arena, matters_ns, on_responded);
  p->req.attempt_timeout_ns = RESPOND_ATTEMPT_NS;
  p->req.retry = &twe__retry_policy_respond;
}

/* RespondWorkflowTaskFailed: the run is dropped (its state is unusable)
 * and the server retries the task, on any worker, from the full history. */
void twe__wfp_respond_failed(wf_poller_t *p, Temporal__Api__Enums__V1__WorkflowTaskFailedCause cause,
                           const char *message) {
  struct twe__wf_side *w = p->side;
  uint64_t matters_ns = answer_matters_ns(p); /* before the run is dropped */
  twe__count(&w->s->counters.workflow_tasks_failed, 1);
  twe__m_add(w->s->metrics, TWE_M_WFT_EXECUTION_FAILED, twe__wfp_wf_label(p), 1);
  twe__wfp_task_latency(p);
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
  respond_request_init(p, SVC "RespondWorkflowTaskFailed", &rq->base,
                       &temporal__api__workflowservice__v1__respond_workflow_task_failed_response__descriptor,
                       a, matters_ns);
  p->state = P_RESPONDING;
  p->outcome.status = -1;
  if (twe__grpc_channel_start(w->s->channel, &p->req) < 0) {
    twe__wfp_task_finish(p, true);
    twe__wfp_next_poll(p);
  }
}

/* Eager activities: each ScheduleActivityTask of the completion for this
 * worker's task queue asks the server to hand the activity back in the
 * answer, while the activity side has a pool thread to promise it. */
static void ask_eager_activities(wf_poller_t *p) {
  twe_wshard_t *s = p->side->s;
  if (p->side->stopping || s->worker->opts.disable_eager_activities) return;
  for (size_t i = 0; i < p->outcome.n_commands; i++) {
    Temporal__Api__Command__V1__Command *c = p->outcome.commands[i];
    if (c->command_type !=
            TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK ||
        c->attributes_case !=
            TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_SCHEDULE_ACTIVITY_TASK_COMMAND_ATTRIBUTES)
      continue;
    Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *a =
        c->schedule_activity_task_command_attributes;
    const char *q = a && a->task_queue ? a->task_queue->name : NULL;
    if (!a || (q && *q && strcmp(q, s->worker->task_queue) != 0)) continue;
    if (!twe__act_eager_reserve(s)) break;
    a->request_eager_execution = true;
    p->eager_promised++;
  }
}

/* The completion's answer came (or the call ended): activities it carries
 * run here; promises it did not use go back. */
static void settle_eager(wf_poller_t *p, const twe_grpc_request_t *req) {
  twe_wshard_t *s = p->side->s;
  unsigned promised = p->eager_promised;
  p->eager_promised = 0;
  Temporal__Api__Workflowservice__V1__RespondWorkflowTaskCompletedResponse *resp =
      req->status.code == TWE_GRPC_OK && p->outcome.status >= 0 ? (void *)req->response : NULL;
  size_t n = resp ? resp->n_activity_tasks : 0;
  for (size_t i = 0; i < n; i++) twe__act_eager_take(s, &resp->activity_tasks[i]->base);
  if (promised > n) twe__act_eager_release(s, promised - (unsigned)n);
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
  twe__wfp_task_latency(p);
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
    sticky->worker_task_queue = twe__wfp_task_queue_pb(a, s->sticky_queue, true, s->worker->task_queue);
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
  ask_eager_activities(p);
  respond_request_init(p, SVC "RespondWorkflowTaskCompleted", &rq->base,
                       &temporal__api__workflowservice__v1__respond_workflow_task_completed_response__descriptor,
                       &p->arenas[1 - p->cur], answer_matters_ns(p));
  p->state = P_RESPONDING;
  int rc = twe__grpc_channel_start(s->channel, &p->req);
  if (rc < 0) {
    twe__act_eager_release(s, p->eager_promised);
    p->eager_promised = 0;
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
  settle_eager(p, req);
  if (req->status.code != TWE_GRPC_OK) {
    /* NOT_FOUND: the task timed out, the run closed meanwhile, or an
     * earlier attempt of ours was taken; anything else: the server did not
     * take our answer while it mattered. Either way the cached run may be
     * ahead of the history now: drop it. */
    TWE__TASK_LOG(w, TWE_LOG_WARN, p->task,
                  "%s: %s: %s (after %d attempt(s)); the answer is dropped, and the cached run "
                  "with it",
                  failed_task ? "RespondWorkflowTaskFailed" : "RespondWorkflowTaskCompleted",
                  twe__grpc_code_name(req->status.code), req->status.message, req->attempts);
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
    size_t l = twe__wfp_wf_label(p);
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
    twe__wfp_take_task(p, resp->workflow_task);
    twe__wfp_process_task(p);
    return;
  }
  twe__arena_reset(task_arena(p));
  twe__wfp_next_poll(p);
}
