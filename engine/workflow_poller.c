/* engine/workflow_poller.c — the workflow side of a shard: polls the normal
 * and the shard's sticky task queue, runs the side's rounds (the ready
 * tasks applied a few at a time), and starts, stops and tears down the side.
 * One task's life (route, gather, apply, finish) is engine/workflow_task.c;
 * its answer engine/workflow_respond.c; its history pages
 * engine/workflow_history.c; the shard's cache of runs (an LRU)
 * engine/run_cache.c.
 *
 * Each queue keeps its number of polls outstanding (normal: workflow_pollers,
 * or with poller autoscaling what engine/poll_scaler.h makes of the server's
 * decisions; sticky: STICKY_BASE_POLLS, 2) while any poller is free: a
 * poller that gets a task is replaced at once by an idle one, so a shard
 * works on up to MAX_POLLERS minus the polls tasks at once. While the sticky
 * queue has a backlog (the backlog_count_hint of its last poll), it gets up
 * to STICKY_BURST_POLLS more: with one sticky poll, each sticky task waited
 * a whole poll round trip behind the one before, so under load the runs
 * already under way queued behind one another on the sticky queue (bench
 * OneActivity: sticky schedule-to-start p50 482 ms, against 54 ms on the Go
 * SDK, which sends all its polls to the sticky queue while it has a
 * backlog). The extra polls are not replaced once the backlog is gone. The
 * backlog hint comes late (the server reports it once tasks wait in its
 * backlog), so a second sticky poll is kept out all along: with one,
 * TenSequential's later tasks waited 171 ms at p50 on a saturated dev
 * server (a task that comes while the only poll is being renewed cannot be
 * matched at once), with two 9.4 ms. While the sticky queue has a backlog,
 * the normal queue's polls that end are not renewed (see refill).
 * Tasks that arrive while others run (a long task in its slices, a burst on
 * the sticky queue) wait in the ready list rather than in the server's
 * queue for a poll to come back. The first tasks of eager starts
 * (engine/workflow_eager.c) come from the shard's inbox at the top of a
 * round and take idle pollers before any new poll does.
 *
 * Time slices: applying a task may take several slices (engine/watchdog.h).
 * A task whose slice ended waits in the side's sliced list and goes back to
 * the end of the ready list at the next round, after the tasks that became
 * ready meanwhile, so a long task delays the shard's others by one slice,
 * not by its whole run. Parked tasks whose run's other task ended go first
 * in a round (twe__wfp_resume_later), never from inside the code that ended
 * that task.
 *
 * Thread: everything here runs on the shard thread. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
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

Temporal__Api__Taskqueue__V1__TaskQueue *twe__wfp_task_queue_pb(twe_arena_t *a, const char *name,
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

/* Polls of a queue outstanding, or waiting to be retried. */
static unsigned polling(const struct twe__wf_side *w, bool sticky) {
  unsigned n = 0;
  for (unsigned i = 0; i < w->n_pollers; i++) {
    const wf_poller_t *p = &w->pollers[i];
    n += p->sticky == sticky && (p->state == P_POLLING || p->state == P_WAIT_RETRY);
  }
  return n;
}

/* Starts polls on idle pollers until want polls of a queue are out. Returns
 * false when a workflow task slot was refused (the rest wait until one is
 * free). */
static bool fill(struct twe__wf_side *w, bool sticky, unsigned want) {
  unsigned have = polling(w, sticky);
  for (unsigned i = 0; i < w->n_pollers && have < want; i++) {
    wf_poller_t *p = &w->pollers[i];
    if (p->state != P_IDLE) continue;
    twe_wshard_t *s = w->s;
    if (twe__slots_try_take_or_watch(s->worker->slots, TWE_SLOT_WORKFLOW_TASK, s->slot_watcher,
                                     &p->permit) != 0) {
      w->slot_refused = true;
      return false;
    }
    p->sticky = sticky;
    poll_start(p);
    have++;
  }
  return true;
}

/* Whether the sticky queue has a backlog that a sticky task reported
 * within STICKY_BACKLOG_FRESH_NS; if so, *left_ns: how much longer. */
static bool sticky_backlog_fresh(const struct twe__wf_side *w, int64_t *left_ns) {
  if (!w->want[1] || w->sticky_backlog <= 0 || !w->sticky_backlog_ns) return false;
  int64_t age = twe__mono_ns() - w->sticky_backlog_ns;
  *left_ns = STICKY_BACKLOG_FRESH_NS - age;
  return *left_ns > 0;
}

/* Starts polls, each with a workflow task slot: the sticky queue's first
 * (its tasks have a short schedule-to-start), then the normal queue's, then
 * the sticky queue's others (its second, and extra ones while it has a
 * backlog). While the sticky queue has a backlog, the normal queue's polls
 * that end are not renewed: runs under way finish before new ones start,
 * as the Go SDK does. Otherwise, at saturation, every workflow waiting in
 * the server is started at once and they share the worker and the server,
 * each slower: TenSequential's e2e p99 was 5.2-5.9 s against 3.6-5.0 with
 * the hold (cells by hand, 100 in flight). The backlog counts only while
 * sticky tasks keep reporting it: a hint left above 0 once the queue had
 * drained kept a new workflow waiting 20 s in one such cell. */
static void refill(struct twe__wf_side *w) {
  /* Eager starts' tasks waiting for a poller get the next idle one
   * (twe__wfp_eager_adopt, next round), not a poll. */
  if (w->stopping || w->eager_head) return;
  w->slot_refused = false;
  int64_t left_ns = 0;
  bool sticky_first = sticky_backlog_fresh(w, &left_ns);
  if (!fill(w, true, w->want[1] ? 1 : 0)) return;
  if (sticky_first) {
    if (!w->normal_held && polling(w, false) < w->want[0]) {
      w->normal_held = true;
      twe__count(&w->s->counters.normal_polls_held, 1);
    }
    if (!twe__timer_active(&w->backlog_timer))
      twe__timer_start(&w->backlog_timer, (uint64_t)left_ns);
  } else {
    w->normal_held = false;
    if (!fill(w, false, w->want[0])) return;
  }
  unsigned sticky = w->want[1];
  if (sticky && w->sticky_backlog > 0)
    sticky += w->sticky_backlog < STICKY_BURST_POLLS ? (unsigned)w->sticky_backlog
                                                     : STICKY_BURST_POLLS;
  if (sticky > 1) fill(w, true, sticky);
}

/* The sticky queue's backlog was last reported STICKY_BACKLOG_FRESH_NS ago
 * (or later: refill looks again and re-arms). */
static void on_backlog_timer(twe_timer_t *timer) {
  refill(timer->data);
}

/* p is done with its task (or its poll came back empty): it polls again
 * if a queue needs it, else it waits for the next poll to end. */
void twe__wfp_next_poll(wf_poller_t *p) {
  p->state = P_IDLE;
  twe__slot_release(&p->permit, TWE_SLOT_COMPLETED); /* if held */
  refill(p->side);
}

/* --- polling ------------------------------------------------------------- */

static void on_poll(twe_grpc_request_t *req);

static void on_retry_timer(twe_timer_t *timer) {
  wf_poller_t *p = timer->data;
  twe__wfp_next_poll(p);
}

/* The poll could not start (out of memory, the channel refused it): its
 * slot goes back and the poller tries again in a second. */
static void poll_not_started(wf_poller_t *p) {
  twe__slot_release(&p->permit, TWE_SLOT_UNUSED);
  p->state = P_WAIT_RETRY;
  twe__timer_start(&p->retry_timer, 1000000000ull);
}

static void poll_start(wf_poller_t *p) {
  struct twe__wf_side *w = p->side;
  twe_wshard_t *s = w->s;
  twe_arena_t *a = task_arena(p);
  twe__arena_reset(a);
  Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueRequest *rq =
      twe__arena_alloc(a, sizeof *rq);
  if (!rq) {
    poll_not_started(p);
    return;
  }
  temporal__api__workflowservice__v1__poll_workflow_task_queue_request__init(rq);
  rq->namespace_ = (char *)s->worker->namespace_name;
  rq->task_queue = p->sticky ? twe__wfp_task_queue_pb(a, s->sticky_queue, true, s->worker->task_queue)
                             : twe__wfp_task_queue_pb(a, s->worker->task_queue, false, NULL);
  rq->identity = s->worker->identity;
  twe__wfp_request_init(p, SVC "PollWorkflowTaskQueue", &rq->base,
               &temporal__api__workflowservice__v1__poll_workflow_task_queue_response__descriptor,
               a, POLL_TIMEOUT_NS, on_poll);
  p->req.retry = &twe__retry_policy_poll;
  p->state = P_POLLING;
  if (!rq->task_queue || twe__grpc_channel_start(s->channel, &p->req) < 0) poll_not_started(p);
}

static void on_poll(twe_grpc_request_t *req) {
  wf_poller_t *p = req->data;
  struct twe__wf_side *w = p->side;
  /* Polls failing for a while are logged (engine/shard_health.c). */
  if (req->status.code != TWE_GRPC_CANCELLED || !w->stopping)
    twe__health_poll(w->s, p->sticky ? "PollWorkflowTaskQueue (sticky)" : "PollWorkflowTaskQueue",
                     req->status.code, req->status.message);
  if (req->status.code != TWE_GRPC_OK) {
    twe__slot_release(&p->permit, TWE_SLOT_UNUSED);
    if (w->stopping) {
      p->state = P_IDLE;
      return;
    }
    if (!p->sticky) {
      twe__poll_scaler_failed(&w->normal_scaler, req->status.code);
      w->want[0] = w->normal_scaler.target;
    }
    p->state = P_WAIT_RETRY;
    twe__timer_start(&p->retry_timer,
                     twe__health_poll_backoff_ns(++p->poll_failures, req->status.code));
    return;
  }
  p->poll_failures = 0;
  wft_pb_t *t = (void *)req->response;
  size_t poller = p->sticky ? TWE_POLLER_WORKFLOW_STICKY : TWE_POLLER_WORKFLOW;
  if (!p->sticky) {
    bool empty = !t || !t->task_token.len;
    if (t && t->poller_scaling_decision) twe__count(&w->s->counters.poller_scaling_decisions, 1);
    if (empty)
      twe__poll_scaler_empty(&w->normal_scaler);
    else
      twe__poll_scaler_task(&w->normal_scaler, t->poller_scaling_decision != NULL,
                            t->poller_scaling_decision
                                ? t->poller_scaling_decision->poll_request_delta_suggestion
                                : 0);
    w->want[0] = w->normal_scaler.target;
  }
  if (!t || !t->task_token.len) { /* the long poll ended without a task */
    if (p->sticky) w->sticky_backlog = 0;
    twe__m_add(w->s->metrics, TWE_M_WFT_POLL_EMPTY, poller, 1);
    twe__wfp_next_poll(p);
    return;
  }
  twe__m_add(w->s->metrics, TWE_M_WFT_POLL_SUCCEED, poller, 1);
  if (p->sticky) {
    w->sticky_backlog = t->backlog_count_hint;
    w->sticky_backlog_ns = t->backlog_count_hint > 0 ? twe__mono_ns() : 0;
  }
  twe__wfp_task_arrived(p, t);
}

void twe__wfp_task_arrived(wf_poller_t *p, wft_pb_t *t) {
  struct twe__wf_side *w = p->side;
  twe__wfp_take_task(p, t);
  int64_t sched = twe__timestamp_ns(t->scheduled_time), start = twe__timestamp_ns(t->started_time);
  if (sched > 0 && start >= sched)
    twe__m_observe(w->s->metrics, TWE_M_WFT_SCHEDULE_TO_START_LATENCY, twe__wfp_wf_label(p),
                   (uint64_t)(start - sched));
  twe__wfp_process_task(p);
  refill(w); /* another poller takes over the poll */
}

/* --- applying (takeover and graves: workflow_graves.c) ------------------- */

size_t twe__wf_side_run(twe_wshard_t *s, size_t budget) {
  struct twe__wf_side *w = s->wf;
  if (!w) return 0;
  size_t n = w->graves ? twe__wfp_bury(w) : 0;
  /* Eager starts' first tasks, before this round's polls refill. */
  if (w->eager_head || atomic_load_explicit(&s->eager_in, memory_order_relaxed))
    n += twe__wfp_eager_adopt(w);
  /* Refused a slot: poll again once told one may be free. */
  if (w->slot_refused &&
      !twe__slots_waiting(s->worker->slots, TWE_SLOT_WORKFLOW_TASK, s->slot_watcher))
    refill(w);
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
    twe__wfp_apply_now(p);
    w->applying = NULL;
    n++;
    if (p->state == P_SLICED) break;
  }
  /* An eager start's task waiting while a poller is idle again (its task
   * ended after this round's adopt) is taken next round, not after a
   * wake-up. */
  bool eager_waits = false;
  for (unsigned i = 0; w->eager_head && i < w->n_pollers && !eager_waits; i++)
    eager_waits = w->pollers[i].state == P_IDLE;
  return w->ready_head || w->sliced_head || w->resume_head || eager_waits ? budget : n;
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
  w->cache.stow_after_ns = s->worker->stow_after_ns;
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
  const twe_worker_options_t *o = &s->worker->opts;
  unsigned normal = o->workflow_pollers ? o->workflow_pollers : 2;
  if (normal > MAX_POLLERS - 1) normal = MAX_POLLERS - 1;
  bool scale = s->worker->poller_autoscaling;
  unsigned most = o->pollers_max && o->pollers_max < MAX_POLLERS - 1 ? o->pollers_max
                                                                     : MAX_POLLERS - 1;
  twe__poll_scaler_init(&w->normal_scaler, scale, normal, scale ? o->pollers_min : normal,
                        scale ? most : normal);
  w->want[0] = w->normal_scaler.target;
  /* Without a cache there is no sticky queue to poll. */
  w->want[1] = s->cache_capacity > 0 ? STICKY_BASE_POLLS : 0;
  twe__timer_init(s->reactor, &w->backlog_timer, on_backlog_timer);
  w->backlog_timer.data = w;
  w->n_pollers = MAX_POLLERS;
  for (unsigned i = 0; i < w->n_pollers; i++) {
    wf_poller_t *p = &w->pollers[i];
    p->side = w;
    p->state = P_IDLE;
    twe__arena_init(&p->arenas[0], 0);
    twe__arena_init(&p->arenas[1], 0);
    twe__arena_init(&p->page_arenas[0], 0);
    twe__arena_init(&p->page_arenas[1], 0);
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
  twe__timer_stop(&w->backlog_timer);
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

void twe__wf_side_tick(twe_wshard_t *s, int64_t now_ns) {
  struct twe__wf_side *w = s->wf;
  if (w) (void)twe__run_cache_stow_idle(&w->cache, now_ns);
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
  twe__timer_stop(&w->backlog_timer);
  twe__wf_eager_drain(s);
  for (unsigned i = 0; i < w->n_pollers; i++) {
    wf_poller_t *p = &w->pollers[i];
    twe__slot_release(&p->permit, TWE_SLOT_SHUTDOWN); /* the slots outlive the shard */
    twe__timer_stop(&p->retry_timer);
    twe__timer_stop(&p->hb_timer);
    free(p->events);
    twe__arena_destroy(&p->arenas[0]);
    twe__arena_destroy(&p->arenas[1]);
    twe__arena_destroy(&p->page_arenas[0]);
    twe__arena_destroy(&p->page_arenas[1]);
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

