/* engine/workflow_history.c — gathering a workflow task's history: the
 * pages after the one the task came with (GetWorkflowExecutionHistory),
 * until the task's WORKFLOW_TASK_STARTED event (a legacy query's: the
 * whole history), then applying it (twe__wfp_apply_and_respond). Pages
 * that do not move on (no new events, the same token again, a history
 * longer than any server keeps) fail the task saying why, rather than be
 * fetched forever; a stop cancels a fetch in flight
 * (twe__wf_side_begin_stop).
 *
 * A long history is not held whole: while more pages follow, the events
 * gathered up to the last WORKFLOW_TASK_SCHEDULED are replayed (a part;
 * every replayed task's look-ahead ends at such an event, so the part
 * holds all of it), and the pages that held only those are freed before
 * the next one is fetched. A task holds about a page's events at a time.
 *
 * Thread: the shard's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/log.h"
#include "engine/workflow_poller_internal.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

/* The most events a task's history may have: far above the server's own
 * limit (51,200 events by default), so only a server that lies reaches it. */
#define HISTORY_MAX_EVENTS 1000000
#define STR_(x) #x
#define STR(x) STR_(x)

int twe__wfp_events_append(wf_poller_t *p, Temporal__Api__History__V1__History *h) {
  if (!h) return 0;
  if (p->n_events + h->n_events > p->cap_events) {
    size_t cap = p->cap_events ? p->cap_events : 64;
    while (cap < p->n_events + h->n_events) cap *= 2;
    twe_event_pb_t **e = realloc(p->events, cap * sizeof *e);
    if (!e) return -ENOMEM;
    p->events = e;
    p->cap_events = cap;
  }
  for (size_t i = 0; i < h->n_events; i++) p->events[p->n_events++] = h->events[i];
  return 0;
}

/* Where a part of the events gathered may end: before the last
 * WORKFLOW_TASK_SCHEDULED that came in the newest pages (those in
 * page_arenas[page_fill], past the `carried` ones), so that the pages of
 * the part can be freed once it is applied; 0 for none. */
static size_t part_end(const wf_poller_t *p) {
  size_t from = p->carried > 1 ? p->carried : 1;
  for (size_t k = p->n_events; k-- > from;)
    if ((int)p->events[k]->event_type ==
        TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)
      return k;
  return 0;
}

void twe__wfp_history_part_applied(wf_poller_t *p) {
  struct twe__wf_side *w = p->side;
  size_t done = p->apply_n;
  memmove(p->events, p->events + done, (p->n_events - done) * sizeof *p->events);
  p->n_events -= done;
  p->apply_events = NULL;
  p->apply_n = 0;
  p->partial = false;
  /* What is left came in the newest pages (or with the task): the other
   * arena held applied events only. New pages go there now. */
  twe__arena_reset(&p->page_arenas[1 - p->page_fill]);
  p->page_fill = 1 - p->page_fill;
  p->carried = p->n_events;
  if (w->stopping) { /* given up: the server retries the task elsewhere */
    twe__wfp_task_finish(p, true);
    twe__wfp_next_poll(p);
    return;
  }
  twe__wfp_history_fetch(p);
}

static void on_history_page(twe_grpc_request_t *req) {
  wf_poller_t *p = req->data;
  struct twe__wf_side *w = p->side;
  if (req->status.code != TWE_GRPC_OK) {
    if (req->status.code != TWE_GRPC_CANCELLED || !w->stopping)
      TWE__TASK_LOG(w, TWE_LOG_WARN, p->task, "GetWorkflowExecutionHistory: %s: %s",
                    twe__grpc_code_name(req->status.code), req->status.message);
    if (p->task->query) {
      char why[300];
      snprintf(why, sizeof why, "the history could not be fetched to answer the query: %s",
               twe__grpc_code_name(req->status.code));
      twe__wfp_query_respond(p, NULL, why);
      return;
    }
    /* Without the history the task cannot be processed; the server times it
     * out and retries. Not reported as failed: it is not the code's fault. */
    twe__wfp_task_finish(p, true);
    twe__wfp_next_poll(p);
    return;
  }
  Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *resp =
      (void *)req->response;
  twe__shard_counters_t *c = &w->s->counters;
  twe__count(&c->history_pages_fetched, 1);
  int64_t before = p->n_events ? p->events[p->n_events - 1]->event_id : 0;
  if (twe__wfp_events_append(p, resp->history) < 0) {
    twe__wfp_respond_failed(p, CAUSE_UNHANDLED,
                   "out of memory gathering the history");
    return;
  }
  int64_t after = p->n_events ? p->events[p->n_events - 1]->event_id : 0;
  if (p->n_events > atomic_load_explicit(&c->history_events_held_max, memory_order_relaxed))
    atomic_store_explicit(&c->history_events_held_max, p->n_events, memory_order_relaxed);
  if (resp->next_page_token.len) {
    /* The pages end where the task's events do (a legacy query's: where
     * the history does). A server whose pages do not move on is not
     * followed forever: the task fails, saying why. */
    const ProtobufCBinaryData *tok = &resp->next_page_token;
    const char *why = NULL;
    if (!p->task->query && after >= p->task->started_event_id) {
      /* Every event the task needs is here: the rest is not fetched. */
    } else if (after <= before) {
      why = "a page with no new events came with another next_page_token";
    } else if (tok->len == p->page_token.len &&
               memcmp(tok->data, p->page_token.data, tok->len) == 0) {
      why = "the same next_page_token came back";
    } else if (after > HISTORY_MAX_EVENTS) {
      why = "the history has more events than a worker takes (" STR(HISTORY_MAX_EVENTS) ")";
    }
    if (why) {
      char msg[400];
      snprintf(msg, sizeof msg,
               "GetWorkflowExecutionHistory: %s (%zu events gathered, the task's last is %" PRId64
               "); the history is not fetched further",
               why, p->n_events, p->task->started_event_id);
      if (p->task->query) twe__wfp_query_respond(p, NULL, msg);
      else twe__wfp_respond_failed(p, CAUSE_UNHANDLED, msg);
      return;
    }
    if (p->task->query || after < p->task->started_event_id) {
      p->page_token = *tok;
      /* Replay what can be replayed now, then fetch on (a legacy query's
       * run is replayed whole, elsewhere). */
      size_t cut = p->task->query ? 0 : part_end(p);
      if (cut) {
        p->partial = true;
        twe__wfp_apply_and_respond(p, p->events, cut);
        return;
      }
      twe__wfp_history_fetch(p);
      return;
    }
  }
  /* A speculative task's own events (an update's task: not persisted until
   * it completes) are not in the fetched history: they come with the task. */
  Temporal__Api__History__V1__History *own = p->task->history;
  int64_t last = p->n_events ? p->events[p->n_events - 1]->event_id : 0;
  if (own && last < p->task->started_event_id) {
    size_t k = 0;
    while (k < own->n_events && own->events[k]->event_id <= last) k++;
    if (k < own->n_events && own->events[k]->event_id == last + 1) {
      Temporal__Api__History__V1__History rest = *own;
      rest.events = own->events + k;
      rest.n_events = own->n_events - k;
      if (twe__wfp_events_append(p, &rest) < 0) {
        twe__wfp_respond_failed(p, CAUSE_UNHANDLED, "out of memory gathering the history");
        return;
      }
    }
  }
  if (p->task->query) { /* a legacy query: the whole history */
    twe__wfp_apply_and_respond(p, p->events, p->n_events);
    return;
  }
  /* The full history may run past the task's started event (events that
   * arrived since); the run must stop at the task's WORKFLOW_TASK_STARTED. */
  size_t n = p->n_events;
  while (n && p->events[n - 1]->event_id > p->task->started_event_id) n--;
  twe__wfp_apply_and_respond(p, p->events, n);
}

void twe__wfp_history_fetch(wf_poller_t *p) {
  struct twe__wf_side *w = p->side;
  twe_arena_t *a = &p->page_arenas[p->page_fill];
  Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryRequest *rq =
      twe__arena_alloc(a, sizeof *rq);
  Temporal__Api__Common__V1__WorkflowExecution *ex = twe__arena_alloc(a, sizeof *ex);
  if (!rq || !ex) {
    twe__wfp_respond_failed(p, CAUSE_UNHANDLED,
                   "out of memory fetching the history");
    return;
  }
  temporal__api__workflowservice__v1__get_workflow_execution_history_request__init(rq);
  temporal__api__common__v1__workflow_execution__init(ex);
  ex->workflow_id = (char *)task_workflow_id(p->task);
  ex->run_id = (char *)task_run_id(p->task);
  rq->namespace_ = (char *)w->s->worker->namespace_name;
  rq->execution = ex;
  rq->next_page_token = p->page_token;
  twe__wfp_request_init(p, SVC "GetWorkflowExecutionHistory", &rq->base,
               &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor,
               a, CALL_TIMEOUT_NS, on_history_page);
  p->state = P_HISTORY;
  if (twe__grpc_channel_start(w->s->channel, &p->req) < 0) {
    twe__wfp_task_finish(p, true);
    twe__wfp_next_poll(p);
  }
}
