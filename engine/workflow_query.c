/* engine/workflow_query.c — the worker side of queries: answers from the
 * run turned into query_results entries and RespondQueryTaskCompleted
 * requests (see engine/workflow_query.h), and the legacy query tasks'
 * way through a poller (engine/workflow_poller_internal.h). */
#include "engine/workflow_query.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/values.h"
#include "engine/workflow_poller_internal.h"
#include "twe/error.h"

#define RESULT(x) TEMPORAL__API__ENUMS__V1__QUERY_RESULT_TYPE__QUERY_RESULT_TYPE_##x


/* A failure for a query that failed: the message, as the SDKs send it both
 * in error_message and as an application failure. NULL when out of
 * memory. */
static twe_failure_pb_t *query_failure(twe_arena_t *a, const char *message) {
  twe_failure_pb_t *f = NULL;
  if (twe__failure_new(a, "QueryFailed", message, true, &f) < 0) return NULL;
  return f;
}

int twe__query_answer_task_queries(twe_run_t *run, const wft_pb_t *t, twe_arena_t *a,
                                   twe__query_result_entry_t ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!t->n_queries) return 0;
  twe__query_result_entry_t **entries = twe__arena_alloc(a, t->n_queries * sizeof *entries);
  if (!entries) return twe__arena_error(a);
  size_t k = 0;
  for (size_t i = 0; i < t->n_queries; i++) {
    const Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse__QueriesEntry *q =
        t->queries[i];
    if (!q || !q->key) continue;
    twe__query_result_entry_t *e = twe__arena_alloc(a, sizeof *e);
    Temporal__Api__Query__V1__WorkflowQueryResult *r = twe__arena_alloc(a, sizeof *r);
    if (!e || !r) return twe__arena_error(a);
    temporal__api__workflowservice__v1__respond_workflow_task_completed_request__query_results_entry__init(e);
    temporal__api__query__v1__workflow_query_result__init(r);
    twe_run_query_result_t res;
    int rc = q->value ? twe__run_answer_query(run, q->value->query_type, q->value->query_args, a,
                                              &res)
                      : 0;
    if (!q->value) {
      res.failed = true;
      snprintf(res.message, sizeof res.message, "the query carries no WorkflowQuery");
    }
    if (rc < 0) return rc;
    if (res.failed) {
      r->result_type = RESULT(FAILED);
      r->error_message = twe__str(a, res.message);
      r->failure = query_failure(a, res.message);
      if (!r->error_message || !r->failure) return twe__arena_error(a);
    } else {
      r->result_type = RESULT(ANSWERED);
      r->answer = res.answer;
    }
    e->key = q->key;
    e->value = r;
    entries[k++] = e;
  }
  *out = entries;
  *n = k;
  return 0;
}

Temporal__Api__Workflowservice__V1__RespondQueryTaskCompletedRequest *twe__query_answer_legacy(
    twe_run_t *run, const char *why, const wft_pb_t *t, const char *namespace_name,
    twe_arena_t *a, bool *fatal) {
  *fatal = false;
  Temporal__Api__Workflowservice__V1__RespondQueryTaskCompletedRequest *rq =
      twe__arena_alloc(a, sizeof *rq);
  if (!rq) return NULL;
  temporal__api__workflowservice__v1__respond_query_task_completed_request__init(rq);
  rq->task_token = t->task_token;
  rq->namespace_ = (char *)namespace_name;
  twe_run_query_result_t res;
  memset(&res, 0, sizeof res);
  if (!run) {
    res.failed = true;
    snprintf(res.message, sizeof res.message, "%s", why ? why : "the run is not available");
  } else if (twe__run_answer_query(run, t->query->query_type, t->query->query_args, a, &res) < 0) {
    *fatal = true;
  }
  if (res.failed) {
    rq->completed_type = RESULT(FAILED);
    rq->error_message = twe__str(a, res.message);
    rq->failure = query_failure(a, res.message);
    if (!rq->error_message || !rq->failure) return NULL;
  } else {
    rq->completed_type = RESULT(ANSWERED);
    rq->query_result = res.answer;
  }
  return rq;
}

/* --- legacy query tasks ---------------------------------------------------- */

static void on_query_responded(twe_grpc_request_t *req) {
  wf_poller_t *p = req->data;
  struct twe__wf_side *w = p->side;
  if (req->status.code != TWE_GRPC_OK)
    TWE__TASK_LOG(w, TWE_LOG_WARN, p->task, "RespondQueryTaskCompleted: %s: %s",
                  twe__grpc_code_name(req->status.code), req->status.message);
  twe__wfp_task_finish(p, false);
  twe__wfp_next_poll(p);
}

/* Sends the answer to legacy query task p: from run, or failed with why
 * (run NULL). */
void twe__wfp_query_respond(wf_poller_t *p, twe_run_t *run, const char *why) {
  struct twe__wf_side *w = p->side;
  bool fatal = false;
  Temporal__Api__Workflowservice__V1__RespondQueryTaskCompletedRequest *rq =
      twe__query_answer_legacy(run, why, p->task, w->s->worker->namespace_name, task_arena(p),
                               &fatal);
  if (p->entry) {
    /* The cached run is free again (its state did not change), unless the
     * watchdog stopped the handler in it. */
    wf_poller_t *parked = p->entry->parked;
    p->entry->parked = NULL;
    if (fatal) twe__run_cache_evict(&w->cache, p->entry);
    else twe__run_cache_idle(&w->cache, p->entry, twe__mono_ns());
    p->entry = NULL;
    if (parked) twe__wfp_resume_later(w, parked);
  }
  if (!rq) {
    twe__wfp_task_finish(p, false);
    twe__wfp_next_poll(p);
    return;
  }
  twe__wfp_request_init(p, SVC "RespondQueryTaskCompleted", &rq->base,
               &temporal__api__workflowservice__v1__respond_query_task_completed_response__descriptor,
               task_arena(p), CALL_TIMEOUT_NS, on_query_responded);
  p->state = P_RESPONDING;
  if (twe__grpc_channel_start(w->s->channel, &p->req) < 0) {
    twe__wfp_task_finish(p, false);
    twe__wfp_next_poll(p);
  }
}

/* A legacy query's turn in the ready list (twe__wf_side_run): replays the
 * history into the query's own run if it has one, then answers. */
void twe__wfp_query_now(wf_poller_t *p) {
  twe_wshard_t *s = p->side->s;
  twe_run_t *run = p->qrun ? p->qrun : p->entry->run;
  char why[sizeof p->outcome.message + 80];
  const char *failed = NULL;
  /* One piece (no slices) under the watchdog: the replay and the handler
   * are workflow code. */
  twe__watch_task_begin(s->watch, task_workflow_type(p->task), task_run_id(p->task), NULL);
  if (p->qrun && p->apply_n) {
    int rc = twe__run_apply(p->qrun, p->apply_events, p->apply_n, task_arena(p), &p->outcome);
    if (rc < 0) {
      snprintf(why, sizeof why, "the history could not be replayed to answer the query: %s",
               p->outcome.message[0] ? p->outcome.message : twe_strerror(rc));
      failed = why;
      run = NULL;
    }
  }
  twe__watch_task_end(s->watch, NULL);
  twe__watch_task_begin(s->watch, task_workflow_type(p->task), task_run_id(p->task), NULL);
  twe__wfp_query_respond(p, run, failed);
  twe__watch_task_end(s->watch, NULL);
}

/* A legacy query task (a poll response with `query`, answered with
 * RespondQueryTaskCompleted): from the cached run when it is here, free and
 * current, else from a run of its own replayed from the full history (a run
 * not in the cache, a closed workflow, a copy left behind on this shard
 * while the workflow went on elsewhere). */
void twe__wfp_query_task(wf_poller_t *p) {
  struct twe__wf_side *w = p->side;
  wft_pb_t *t = p->task;
  const char *run_id = task_run_id(t);
  cached_run_t *e = twe__run_cache_find(&w->cache, run_id);
  /* A cached run behind the workflow (its later tasks went to another
   * shard or worker, and its copy here was not asked since) would answer
   * from the past: only a run that stopped where the server says the
   * workflow is (previous_started_event_id; 0: the server did not say)
   * answers from the cache; otherwise the task's history is replayed. */
  bool current = e && e->run &&
                 (t->previous_started_event_id <= 0 ||
                  twe__run_last_started_event_id(e->run) == t->previous_started_event_id);
  if (e && !e->busy && e->run && current) {
    twe__count(&w->s->counters.cache_hits, 1);
    e->busy = true;
    twe__run_cache_touch(&w->cache, e);
    p->entry = e;
    twe__wfp_apply_and_respond(p, NULL, 0);
    return;
  }
  if (twe__run_create(&w->env, task_workflow_id(t), run_id, &p->qrun) < 0) {
    twe__wfp_query_respond(p, NULL, "out of memory creating a run to answer the query");
    return;
  }
  Temporal__Api__History__V1__History *h = t->history;
  size_t n = h ? h->n_events : 0;
  if (n && h->events[0]->event_id == 1) {
    if (!t->next_page_token.len) {
      twe__wfp_apply_and_respond(p, h->events, n);
      return;
    }
    if (twe__wfp_events_append(p, h) < 0) {
      twe__wfp_query_respond(p, NULL, "out of memory gathering the history to answer the query");
      return;
    }
    p->page_token = t->next_page_token;
  }
  twe__wfp_history_fetch(p);
}
