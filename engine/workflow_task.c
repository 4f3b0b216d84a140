/* engine/workflow_task.c — one workflow task's life on the shard. A poller
 * carries one task at a time:
 *
 *   taken (a poll, or the answer to the run's last completion)
 *     -> routed: a held offender is failed; the cached run, when it stopped
 *        where the task picks up; else a new run replayed from the full
 *        history; parked behind the run's other task while that one is in
 *        a call
 *     -> [HISTORY: pages gathered, engine/workflow_history.c]
 *     -> READY -> applied (workflow code runs, in slices) -> answered
 *        (engine/workflow_respond.c) -> finished: the run unpinned (cached
 *        or evicted), the task's memory freed
 *
 * and a run never sees two tasks at once (the server hands out one task per
 * run at a time; a re-issued one supersedes or parks).
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

/* The poller holds a task from here to twe__wfp_task_finish: a slot in use. */
void twe__wfp_take_task(wf_poller_t *p, wft_pb_t *t) {
  if (!p->task) twe__count(&p->side->s->counters.workflow_tasks_in_flight, 1);
  twe__slot_mark_used(&p->permit); /* already, for a task an answer brought */
  p->task = t;
  memset(&p->wtask, 0, sizeof p->wtask);
  p->wtask.sliceable = true;
  p->sliced = false;
  p->local_wait = p->heartbeat = false;
  p->taken_ns = twe__mono_ns();
  p->replaying_run = false;
  p->close_metric = -1;
}

size_t twe__wfp_wf_label(wf_poller_t *p) {
  twe_wshard_t *s = p->side->s;
  return s->metrics ? twe__m_workflow_type(s->metrics->layout, task_workflow_type(p->task)) : 0;
}

/* The task is answered (completed or failed): how long it took here. */
void twe__wfp_task_latency(wf_poller_t *p) {
  twe_wshard_t *s = p->side->s;
  uint64_t ns = (uint64_t)(twe__mono_ns() - p->taken_ns);
  size_t l = twe__wfp_wf_label(p);
  twe__m_observe(s->metrics, TWE_M_WFT_EXECUTION_LATENCY, l, ns);
  if (p->replaying_run) twe__m_observe(s->metrics, TWE_M_WFT_REPLAY_LATENCY, l, ns);
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
    /* Without a cache, a run whose local activities still run stays until
     * they are back (the next task, which a heartbeat asked for, takes
     * their results). */
    if (evict || (w->s->cache_capacity == 0 &&
                  !(p->entry->run && twe__run_locals_in_flight(p->entry->run))))
      twe__run_cache_evict(&w->cache, p->entry);
    else
      twe__run_cache_idle(&w->cache, p->entry, twe__mono_ns());
    p->entry = NULL;
    twe__run_cache_trim(&w->cache, w->s->cache_capacity, w->s->cache_max_bytes);
  }
  free(p->events);
  p->events = NULL;
  p->n_events = p->cap_events = 0;
  twe__arena_reset(&p->page_arenas[0]);
  twe__arena_reset(&p->page_arenas[1]);
  p->page_fill = 0;
  p->carried = 0;
  p->partial = false;
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
void twe__wfp_apply_now(wf_poller_t *p) {
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
     * shorter would answer a task the code has not seen. (A part of a long
     * history is replayed only; the task's end comes in a later part.) */
    if (!p->partial && (!n || events[n - 1]->event_id != p->task->started_event_id)) {
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
  if (!resume && !p->partial)
    twe__run_set_messages(p->entry->run, p->task->messages, p->task->n_messages);
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
  if (p->partial) {
    twe__wfp_history_part_applied(p);
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


/* Where a task goes next: route_task decides, twe__wfp_process_task does
 * it, in one place. */
enum task_route {
  ROUTE_QUERY, /* a legacy query task (engine/workflow_query.c) */
  ROUTE_APPLY, /* its events are all here: queue it to apply */
  ROUTE_FETCH, /* more history first (engine/workflow_history.c) */
  ROUTE_PARK,  /* the run's other task is in a call: wait for it to end */
  ROUTE_DROP,  /* a third task at once for the run: left to time out */
  ROUTE_FAIL,  /* answered as failed, with why */
};

typedef struct task_route_s {
  enum task_route route;
  twe_event_pb_t *const *events; /* ROUTE_APPLY */
  size_t n;
  char why[sizeof ((twe__offender_verdict_t *)0)->message]; /* ROUTE_FAIL */
} task_route_t;

static void route_fail(task_route_t *r, const char *why) {
  r->route = ROUTE_FAIL;
  snprintf(r->why, sizeof r->why, "%s", why);
}

/* The run picks up `skip` events into the task's history (a cache hit
 * where the cached run stopped; a new run at 0): those events are applied,
 * or, when more pages follow, gathered and the rest fetched. */
static void route_from(wf_poller_t *p, const Temporal__Api__History__V1__History *h,
                         size_t skip, task_route_t *r) {
  const wft_pb_t *t = p->task;
  if (!t->next_page_token.len) {
    r->route = ROUTE_APPLY;
    r->events = h->events + skip;
    r->n = h->n_events - skip;
    return;
  }
  /* More pages follow: gather them, then apply from `skip` on. */
  Temporal__Api__History__V1__History rest = *h;
  rest.events = h->events + skip;
  rest.n_events = h->n_events - skip;
  if (twe__wfp_events_append(p, &rest) < 0) {
    route_fail(r, "out of memory gathering the history");
    return;
  }
  p->page_token = t->next_page_token;
  r->route = ROUTE_FETCH;
}

/* A run of its own for the task, replayed from its first event: the task's
 * history when it starts there and is complete, else fetched page by page
 * (the task's first page kept when it has one). */
static void route_new_run(wf_poller_t *p, task_route_t *r) {
  struct twe__wf_side *w = p->side;
  const wft_pb_t *t = p->task;
  Temporal__Api__History__V1__History *h = t->history;
  int64_t first_id = h && h->n_events ? h->events[0]->event_id : 0;
  twe_run_t *run = NULL;
  int rc = twe__run_create(&w->env, task_workflow_id(t), task_run_id(t), &run);
  if (rc == 0 && !(p->entry = twe__run_cache_insert(&w->cache, run))) {
    twe__run_destroy(run);
    rc = -ENOMEM;
  }
  if (rc < 0) {
    route_fail(r, "out of memory creating the run");
    return;
  }
  /* A run with earlier tasks is a replay from the full history: a miss. */
  if (t->previous_started_event_id > 0) {
    twe__count(&w->s->counters.cache_misses, 1);
    twe__m_add(w->s->metrics, TWE_M_STICKY_CACHE_MISS, 0, 1);
    p->replaying_run = true;
  }
  /* The history from its first event came with the task (whole, or its
   * first page); else every page is fetched. */
  if (first_id == 1) route_from(p, h, 0, r);
  else r->route = ROUTE_FETCH;
}

/* Decides where task p->task goes, taking the cache entry it needs. */
static void route_task(wf_poller_t *p, task_route_t *r) {
  struct twe__wf_side *w = p->side;
  const wft_pb_t *t = p->task;
  if (t->query) {
    r->route = ROUTE_QUERY;
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
      route_fail(r, verdict.message);
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
      route_from(p, h, (size_t)(next - first_id), r);
      return;
    }
    /* Stale: the server moved on without us (the task went to another
     * worker, or a completion of ours was lost). Replay from scratch. */
    twe__run_cache_evict(&w->cache, e);
  } else if (e && supersede(w, e, t)) {
    /* The stale task is gone, and its run with it: replay, with the
     * offence it just recorded. */
    if (twe__offenders_check(wk->offenders, run_id, wk->cpu_budget_ns, twe__mono_ns(), &verdict))
      p->wtask.cpu_budget_ns = verdict.cpu_budget_ns;
  } else if (e) {
    /* A task of this run is still in flight here, in the middle of a call
     * (history, respond): the server re-issued it after a timeout. Wait for
     * ours to end (it will fail as stale), then take this one against the
     * evicted or updated cache. */
    if (!e->parked) {
      e->parked = p;
      r->route = ROUTE_PARK;
      return;
    }
    TWE__TASK_LOG(w, TWE_LOG_WARN, t, "a third task at once for the run; leaving it to time out");
    r->route = ROUTE_DROP;
    return;
  }
  route_new_run(p, r);
}

/* Takes p->task from the top: routes it (route_task), then does what the
 * route says. */
void twe__wfp_process_task(wf_poller_t *p) {
  task_route_t r = {.route = ROUTE_FAIL};
  memset(&p->outcome, 0, sizeof p->outcome);
  route_task(p, &r);
  switch (r.route) {
    case ROUTE_QUERY:
      twe__wfp_query_task(p);
      break;
    case ROUTE_APPLY:
      twe__wfp_apply_and_respond(p, r.events, r.n);
      break;
    case ROUTE_FETCH:
      twe__wfp_history_fetch(p);
      break;
    case ROUTE_PARK:
      p->state = P_PARKED;
      break;
    case ROUTE_DROP:
      twe__wfp_task_finish(p, false);
      twe__wfp_next_poll(p);
      break;
    case ROUTE_FAIL:
      twe__wfp_respond_failed(p, CAUSE_UNHANDLED, r.why);
      break;
  }
}
