/* engine/activity_worker.c — the activity side of a shard: polls the
 * activity task queue, runs each task's code on the shard's activity pool,
 * sends its heartbeats (throttled, delivering cancellation back) and
 * answers the server with its outcome.
 *
 * Everything here runs on the shard thread, except job_run (a pool thread),
 * job_abandoned (an abandoned pool thread) and twe__act_record_heartbeat
 * (the activity's pool thread). engine/activity_internal.h says which
 * thread owns which field of an activity.
 *
 * Flow control: a poll is only in flight while it holds one of the worker's
 * activity slots (engine/worker_slots.c: fixed, or resource-based, granting
 * more while the CPU and memory have headroom) and a pool thread is free to
 * run what it brings (idle, or one the pool may still start): at most
 * min(pollers, free threads - tasks waiting). So a task taken from the
 * server starts at once and no task waits on this worker while another
 * worker could run it. The slot goes with the task and back when its code
 * returns; a poll that brings nothing gives it back. Local activities take
 * a local activity slot before they run.
 *
 * Shutdown: polls are cancelled at once; running activities get the grace
 * period, then are cancelled (their code sees twe_activity_cancelled); code
 * that ignores the cancellation for CANCEL_WAIT_NS more is no longer waited
 * for (the pool abandons its thread; the engine never waits on user code). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/activity_internal.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/values.h"
#include "io/grpc_retry.h"
#include "temporal/api/enums/v1/task_queue.pb-c.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/error.h"

#define WS "/temporal.api.workflowservice.v1.WorkflowService/"
#define MS 1000000ull
#define SEC (1000 * MS)
#define POLL_TIMEOUT_NS (70 * SEC)      /* the server answers an idle poll after ~60 s */
#define POLL_START_BACKOFF_NS (1 * SEC) /* after a poll could not start */
#define DEFAULT_POLLERS 2
#define MAX_AUTOSCALED_POLLERS 16 /* with autoscaling, unless pollers_max says */
#define DEFAULT_GRACE_NS (10 * SEC)
#define DEFAULT_HEARTBEAT_INTERVAL_NS (30 * SEC) /* without a heartbeat timeout */
#define MAX_HEARTBEAT_INTERVAL_NS (60ull * 1000000000ull)
/* After the grace period the running activities are cancelled; code that
 * still has not returned this much later is abandoned to the pool. */
#define CANCEL_WAIT_NS (5 * SEC)
#define RESPOND_ATTEMPT_NS (10 * SEC) /* one RespondActivityTask* attempt */

static void start_respond(twe_activity_t *act);
static void maybe_send_heartbeat(twe_activity_t *act);

/* --- helpers --------------------------------------------------------------- */

/* A warning in the worker's log (engine/log.h), with the shard. */
#define shard_log(s, ...)                                                                    \
  twe__log((s)->worker, TWE_LOG_WARN, (int)(s)->index, NULL, NULL, NULL, __VA_ARGS__)

static const char *str(const char *s) {
  return s ? s : "";
}

static uint64_t now_ns(const twe_wshard_t *s) {
  return twe__reactor_now(s->reactor);
}

static size_t act_label(const twe_activity_t *act) {
  const twe__metrics_t *m = act->side->s->metrics;
  return m ? twe__m_activity_type(m->layout, act->info.activity_type) : 0;
}

static void request_cancel(twe_activity_t *act, twe__act_cancel_t why) {
  int expected = TWE__ACT_CANCEL_NONE;
  /* Relaxed: a flag read by polling (see the field); the first reason wins. */
  atomic_compare_exchange_strong_explicit(&act->cancel, &expected, (int)why, memory_order_relaxed,
                                          memory_order_relaxed);
  twe__job_cancel(&act->job);
}

/* --- activity memory ------------------------------------------------------- */

static void on_hb_timer(twe_timer_t *t);
static void on_deadline_timer(twe_timer_t *t);

static twe_activity_t *activity_new(struct twe__act_side *side, twe_arena_t *arena) {
  twe_activity_t *act = calloc(1, sizeof *act);
  if (!act) return NULL;
  if (pthread_mutex_init(&act->mu, NULL) != 0) {
    free(act);
    return NULL;
  }
  act->side = side;
  act->arena = arena;
  twe__arena_init(&act->out_arena, 0);
  twe__arena_init(&act->hb_arena, 0);
  twe__timer_init(side->s->reactor, &act->hb_timer, on_hb_timer);
  act->hb_timer.data = act;
  twe__timer_init(side->s->reactor, &act->deadline_timer, on_deadline_timer);
  act->deadline_timer.data = act;
  act->next = side->live;
  if (side->live) side->live->prev = act;
  side->live = act;
  return act;
}

/* Frees what the activity owns. Thread: whoever owns it last (the shard, or
 * after a detach the pool thread whose callback came last). */
static void activity_free_memory(twe_activity_t *act) {
  if (act->arena) {
    twe__arena_destroy(act->arena);
    free(act->arena);
  }
  twe__json_release(act->json_keep);
  twe__arena_destroy(&act->out_arena);
  twe__arena_destroy(&act->hb_arena);
  free(act->hb_pending);
  free(act->hb_latest);
  pthread_mutex_destroy(&act->mu);
  free(act);
}

static void activity_unlink(struct twe__act_side *side, twe_activity_t *act) {
  if (act->prev)
    act->prev->next = act->next;
  else if (side->live == act)
    side->live = act->next;
  if (act->next) act->next->prev = act->prev;
  act->prev = act->next = NULL;
}

/* The shard is done with the activity (its respond finished). */
static void activity_free(twe_activity_t *act) {
  struct twe__act_side *side = act->side;
  twe__slot_release(&act->permit, TWE_SLOT_SHUTDOWN); /* if still held */
  twe__timer_stop(&act->hb_timer);
  twe__timer_stop(&act->deadline_timer);
  activity_unlink(side, act);
  activity_free_memory(act);
}

/* --- heartbeats -------------------------------------------------------------- */

/* Pool thread. */
int twe__act_record_heartbeat(twe_activity_t *act, twe__act_details_t *d) {
  twe__act_details_t *old;
  if (act->info.is_local) { /* no server attempt to heartbeat to */
    free(d);
    return twe_activity_cancelled(act) ? TWE_ECANCELED_ACTIVITY : 0;
  }
  pthread_mutex_lock(&act->mu);
  if (act->detached) {
    pthread_mutex_unlock(&act->mu);
    free(d);
    return TWE_ECANCELED_ACTIVITY;
  }
  old = act->hb_pending;
  act->hb_pending = d;
  if (!act->hb_queued) {
    /* Lock order: the activity's mu, then the side's wake_mu. The side
     * cannot go away meanwhile: destroy sets detached under mu first. */
    struct twe__act_side *side = act->side;
    act->hb_queued = true;
    pthread_mutex_lock(&side->wake_mu);
    act->wake_next = side->wake_list;
    side->wake_list = act;
    pthread_mutex_unlock(&side->wake_mu);
    twe__wake_send(&side->wake); /* never blocks */
  }
  pthread_mutex_unlock(&act->mu);
  free(old);
  return twe_activity_cancelled(act) ? TWE_ECANCELED_ACTIVITY : 0;
}

/* Takes the details a pool thread left (if any) as the latest. */
static void take_pending_details(twe_activity_t *act) {
  pthread_mutex_lock(&act->mu);
  twe__act_details_t *d = act->hb_pending;
  act->hb_pending = NULL;
  pthread_mutex_unlock(&act->mu);
  if (d) {
    free(act->hb_latest);
    act->hb_latest = d;
    act->hb_dirty = true;
  }
}

/* The wake callback: activities with new details. */
static void on_heartbeat_wake(twe_wake_t *wake) {
  struct twe__act_side *side = wake->data;
  pthread_mutex_lock(&side->wake_mu);
  twe_activity_t *list = side->wake_list;
  side->wake_list = NULL;
  pthread_mutex_unlock(&side->wake_mu);
  while (list) {
    twe_activity_t *act = list;
    /* Read the link before clearing hb_queued: once cleared, the pool
     * thread may push the activity again (and rewrite wake_next). */
    pthread_mutex_lock(&act->mu);
    list = act->wake_next;
    act->wake_next = NULL;
    act->hb_queued = false;
    pthread_mutex_unlock(&act->mu);
    take_pending_details(act);
    maybe_send_heartbeat(act);
  }
}

/* Removes a finished activity from the wake list (its code has returned,
 * so nothing pushes it again). */
static void wake_list_remove(struct twe__act_side *side, twe_activity_t *act) {
  pthread_mutex_lock(&act->mu);
  if (act->hb_queued) {
    pthread_mutex_lock(&side->wake_mu);
    for (twe_activity_t **p = &side->wake_list; *p; p = &(*p)->wake_next) {
      if (*p == act) {
        *p = act->wake_next;
        break;
      }
    }
    pthread_mutex_unlock(&side->wake_mu);
    act->hb_queued = false;
    act->wake_next = NULL;
  }
  pthread_mutex_unlock(&act->mu);
}

static void on_heartbeat_done(twe_grpc_request_t *req) {
  twe_activity_t *act = req->data;
  struct twe__act_side *side = act->side;
  act->hb_in_flight = false;
  side->heartbeats_in_flight--;
  if (act->finished) return; /* the completion superseded it */
  const twe_grpc_status_t *st = &req->status;
  if (st->code == TWE_GRPC_OK) {
    const Temporal__Api__Workflowservice__V1__RecordActivityTaskHeartbeatResponse *resp =
        (const void *)req->response;
    if (resp && resp->cancel_requested) request_cancel(act, TWE__ACT_CANCEL_SERVER);
  } else if (st->code == TWE_GRPC_NOT_FOUND) {
    /* The attempt timed out, or the workflow is gone: nobody wants the
     * result any more. */
    request_cancel(act, TWE__ACT_CANCEL_SERVER);
  } else if (!(st->code == TWE_GRPC_CANCELLED && (side->stopping || side->destroying))) {
    shard_log(side->s, "activity %s (%s): RecordActivityTaskHeartbeat: %s: %s",
              act->info.activity_id, act->info.activity_type, twe__grpc_code_name(st->code),
              str(st->message));
  }
  if (!side->destroying) maybe_send_heartbeat(act);
}

static void send_heartbeat(twe_activity_t *act) {
  struct twe__act_side *side = act->side;
  twe_wshard_t *s = side->s;
  twe__arena_reset(&act->hb_arena);
  Temporal__Api__Workflowservice__V1__RecordActivityTaskHeartbeatRequest m =
      TEMPORAL__API__WORKFLOWSERVICE__V1__RECORD_ACTIVITY_TASK_HEARTBEAT_REQUEST__INIT;
  m.task_token = act->task_token;
  m.identity = s->worker->identity;
  m.namespace_ = (char *)s->worker->namespace_name;
  const twe__act_details_t *d = act->hb_latest;
  if (d && d->n && twe__values_to_payloads(&act->hb_arena, d->items, d->n, &m.details) < 0) {
    shard_log(s, "activity %s: heartbeat details dropped: out of memory", act->info.activity_id);
    act->hb_dirty = false;
    return;
  }
  act->hb_req = (twe_grpc_request_t){
    .path = WS "RecordActivityTaskHeartbeat",
    .request = &m.base,
    .response_type =
        &temporal__api__workflowservice__v1__record_activity_task_heartbeat_response__descriptor,
    .arena = &act->hb_arena,
    .namespaced = true,
    .done = on_heartbeat_done,
    .data = act,
  };
  int rc = twe__grpc_channel_start(s->channel, &act->hb_req);
  act->hb_dirty = false;
  if (rc < 0) {
    if (rc != -ESHUTDOWN)
      shard_log(s, "activity %s: RecordActivityTaskHeartbeat: %s", act->info.activity_id,
                twe_strerror(rc));
    return;
  }
  act->hb_in_flight = true;
  act->hb_ever_sent = true;
  act->hb_last_sent_ns = now_ns(s);
  side->heartbeats_in_flight++;
  twe__count(&s->counters.heartbeats_sent, 1);
}

/* Sends the latest details now if the throttle allows, else arms the
 * trailing send. The first heartbeat goes at once. */
static void maybe_send_heartbeat(twe_activity_t *act) {
  struct twe__act_side *side = act->side;
  if (act->finished || act->hb_in_flight || !act->hb_dirty || side->destroying || !side->s->channel)
    return;
  /* 0.8 x the heartbeat timeout, at most 60 s: a long timeout must not
   * delay the cancellation the next heartbeat response may carry. */
  uint64_t interval = act->info.heartbeat_timeout_ns ? act->info.heartbeat_timeout_ns / 5 * 4
                                                     : DEFAULT_HEARTBEAT_INTERVAL_NS;
  if (interval > MAX_HEARTBEAT_INTERVAL_NS) interval = MAX_HEARTBEAT_INTERVAL_NS;
  uint64_t now = now_ns(side->s);
  if (act->hb_ever_sent && now < act->hb_last_sent_ns + interval) {
    if (!twe__timer_active(&act->hb_timer))
      twe__timer_start(&act->hb_timer, act->hb_last_sent_ns + interval - now);
    return;
  }
  twe__timer_stop(&act->hb_timer);
  send_heartbeat(act);
}

static void on_deadline_timer(twe_timer_t *t) {
  twe_activity_t *act = t->data;
  if (act->running && !act->finished) {
    act->deadline_hit = true;
    request_cancel(act, TWE__ACT_CANCEL_SERVER);
  }
}

static void on_hb_timer(twe_timer_t *t) {
  maybe_send_heartbeat(t->data);
}

/* --- responds -------------------------------------------------------------------- */

static void on_respond_done(twe_grpc_request_t *req) {
  twe_activity_t *act = req->data;
  struct twe__act_side *side = act->side;
  const twe_grpc_status_t *st = &req->status;
  act->resp_in_flight = false;
  side->responding--;
  if (st->code == TWE_GRPC_NOT_FOUND) {
    shard_log(side->s,
              "activity %s (%s): %s: NOT_FOUND (it timed out or was already done): "
              "outcome dropped",
              act->info.activity_id, act->info.activity_type, act->resp_what);
  } else if (st->code != TWE_GRPC_OK) {
    const char *why = side->stopping && st->code == TWE_GRPC_CANCELLED
                          ? "the worker stopped before the server took it"
                          : "the attempt's start-to-close has passed, or the server refused it";
    shard_log(side->s,
              "activity %s (%s): %s: %s: %s; the outcome is dropped after %d attempt(s) over "
              "%.1f s (%s): the server retries or times out the activity",
              act->info.activity_id, act->info.activity_type, act->resp_what,
              twe__grpc_code_name(st->code), str(st->message), req->attempts,
              (double)(twe__reactor_now(side->s->reactor) - req->started_ns) / 1e9, why);
  }
  activity_free(act);
}

/* Payloads for the latest heartbeat details, or NULL. */
static int latest_details(twe_activity_t *act, twe_payloads_pb_t **out) {
  *out = NULL;
  const twe__act_details_t *d = act->hb_latest;
  if (!d || !d->n) return 0;
  return twe__values_to_payloads(act->arena, d->items, d->n, out);
}

/* Builds and sends the outcome of a finished attempt (shard thread; the
 * job, if any, is back). The request is built in the activity's arena. */
static void start_respond(twe_activity_t *act) {
  struct twe__act_side *side = act->side;
  twe_wshard_t *s = side->s;
  twe_arena_t *a = act->arena;
  char *identity = s->worker->identity;
  char *ns = (char *)s->worker->namespace_name;
  int rc = 0;
  Temporal__Api__Workflowservice__V1__RespondActivityTaskCompletedRequest done =
      TEMPORAL__API__WORKFLOWSERVICE__V1__RESPOND_ACTIVITY_TASK_COMPLETED_REQUEST__INIT;
  Temporal__Api__Workflowservice__V1__RespondActivityTaskFailedRequest failed =
      TEMPORAL__API__WORKFLOWSERVICE__V1__RESPOND_ACTIVITY_TASK_FAILED_REQUEST__INIT;
  Temporal__Api__Workflowservice__V1__RespondActivityTaskCanceledRequest canceled =
      TEMPORAL__API__WORKFLOWSERVICE__V1__RESPOND_ACTIVITY_TASK_CANCELED_REQUEST__INIT;
  /* The outcome matters until the attempt's own deadline (its
   * start-to-close; the server times it out then): until then a server
   * that does not answer is tried again, each attempt 10 s at most. */
  uint64_t matters_ns = RESPOND_ATTEMPT_NS;
  if (act->info.start_to_close_timeout_ns && act->info.started_time_ns > 0) {
    int64_t left = act->info.started_time_ns + (int64_t)act->info.start_to_close_timeout_ns -
                   twe__wall_ns();
    if (left > (int64_t)matters_ns) matters_ns = (uint64_t)left;
  }
  act->resp_req = (twe_grpc_request_t){
    .arena = a,
    .namespaced = true,
    .done = on_respond_done,
    .data = act,
    .timeout_ns = matters_ns,
    .attempt_timeout_ns = RESPOND_ATTEMPT_NS,
    .retry = &twe__retry_policy_respond,
  };
  twe_grpc_request_t *req = &act->resp_req;
  int cancel = atomic_load_explicit(&act->cancel, memory_order_relaxed);

  if (!act->engine_fail_type && act->outcome == TWE__ACT_NONE && cancel == TWE__ACT_CANCEL_WORKER) {
    /* Cancelled because this worker stops, not because anyone asked: fail
     * the attempt retryably so that the server retries it elsewhere. */
    act->engine_fail_type = "twe.WorkerStopping";
    act->engine_fail_message = "activity cancelled: the worker is stopping";
    act->engine_fail_non_retryable = false;
  }
  if (act->engine_fail_type || act->outcome == TWE__ACT_FAILED) {
    failed.task_token = act->task_token;
    failed.identity = identity;
    failed.namespace_ = ns;
    rc = act->engine_fail_type
             ? twe__failure_new(a, act->engine_fail_type, act->engine_fail_message,
                                act->engine_fail_non_retryable, &failed.failure)
             : twe__failure_from_error(a, &act->error, &failed.failure);
    if (rc == 0) rc = latest_details(act, &failed.last_heartbeat_details);
    req->path = WS "RespondActivityTaskFailed";
    req->request = &failed.base;
    req->response_type =
        &temporal__api__workflowservice__v1__respond_activity_task_failed_response__descriptor;
    act->resp_what = "RespondActivityTaskFailed";
    twe__count(&s->counters.activities_failed, 1);
    twe__m_add(s->metrics, TWE_M_ACTIVITY_EXECUTION_FAILED, act_label(act), 1);
  } else if (act->outcome == TWE__ACT_NONE && cancel == TWE__ACT_CANCEL_SERVER) {
    canceled.task_token = act->task_token;
    canceled.identity = identity;
    canceled.namespace_ = ns;
    rc = latest_details(act, &canceled.details);
    req->path = WS "RespondActivityTaskCanceled";
    req->request = &canceled.base;
    req->response_type =
        &temporal__api__workflowservice__v1__respond_activity_task_canceled_response__descriptor;
    act->resp_what = "RespondActivityTaskCanceled";
    twe__count(&s->counters.activities_failed, 1);
    twe__m_add(s->metrics, TWE_M_ACTIVITY_EXECUTION_CANCELLED, act_label(act), 1);
  } else {
    twe_payload_t null = twe_payload_null();
    const twe_payload_t *result = act->outcome == TWE__ACT_COMPLETED ? &act->result : &null;
    done.task_token = act->task_token;
    done.identity = identity;
    done.namespace_ = ns;
    rc = twe__values_to_payloads(a, result, 1, &done.result);
    req->path = WS "RespondActivityTaskCompleted";
    req->request = &done.base;
    req->response_type =
        &temporal__api__workflowservice__v1__respond_activity_task_completed_response__descriptor;
    act->resp_what = "RespondActivityTaskCompleted";
    twe__count(&s->counters.activities_completed, 1);
    int64_t now = twe__wall_ns();
    if (act->info.scheduled_time_ns > 0 && now > act->info.scheduled_time_ns)
      twe__m_observe(s->metrics, TWE_M_ACTIVITY_SUCCEED_ENDTOEND_LATENCY, act_label(act),
                     (uint64_t)(now - act->info.scheduled_time_ns));
  }
  if (rc == 0) rc = s->channel ? twe__grpc_channel_start(s->channel, req) : -ESHUTDOWN;
  if (rc < 0) {
    if (rc != -ESHUTDOWN)
      shard_log(s, "activity %s (%s): %s could not be sent: %s", act->info.activity_id,
                act->info.activity_type, act->resp_what, twe_strerror(rc));
    activity_free(act);
    return;
  }
  act->resp_in_flight = true;
  side->responding++;
}

/* A local activity's attempt ended: its outcome goes to its run (or
 * nowhere, once the shard forgot it). */
static void local_done(twe_activity_t *act) {
  if (act->local) twe__local_attempt_done(act);
  else activity_free(act);
}

/* Fails an attempt without running it (unknown type, bad input, stopping). */
static void engine_fail(twe_activity_t *act, const char *type, bool non_retryable, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
static void engine_fail(twe_activity_t *act, const char *type, bool non_retryable, const char *fmt,
                        ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char *m = twe__arena_strndup(act->arena, msg, strlen(msg));
  act->engine_fail_type = type;
  act->engine_fail_message = m ? m : "activity failed (message dropped: out of memory)";
  act->engine_fail_non_retryable = non_retryable;
  act->finished = true;
  twe__slot_release(&act->permit, TWE_SLOT_FAILED); /* it never ran */
  if (act->info.is_local) {
    local_done(act);
    return;
  }
  start_respond(act);
}

/* --- running on the pool ------------------------------------------------------- */

/* Pool thread. */
static void job_run(twe_job_t *job) {
  twe_activity_t *act = job->arg;
  act->reg->fn(act, act->reg->user);
}

/* After a detach, the pool's last word about the job frees the activity
 * (done on the shard thread, or abandoned on the pool thread: only one of
 * them fires). Returns whether it was detached (and is now freed). */
static bool release_if_detached(twe_activity_t *act) {
  pthread_mutex_lock(&act->mu);
  bool detached = act->detached;
  act->job_returned = true;
  pthread_mutex_unlock(&act->mu);
  if (detached) activity_free_memory(act);
  return detached;
}

/* Abandoned pool thread, after the owner gave up on it (the side may be
 * gone). */
static void job_abandoned(twe_job_t *job) {
  /* Not detached: the side still lists it and frees it at destroy, where
   * it sees job_returned. */
  release_if_detached(job->arg);
}

/* Shard thread: the code returned (status 0) or never ran (-ECANCELED). */
static void job_done(twe_job_t *job, int status) {
  twe_activity_t *act = job->arg;
  if (release_if_detached(act)) return;
  /* Never ran (the pool cancelled it): not a completion. Report it as the
   * worker stopping, which the server retries elsewhere. */
  if (status == -ECANCELED) request_cancel(act, TWE__ACT_CANCEL_WORKER);
  struct twe__act_side *side = act->side;
  if (status == 0 && act->run_start_ns)
    twe__m_observe(side->s->metrics,
                   act->info.is_local ? TWE_M_LOCAL_ACTIVITY_EXECUTION_LATENCY
                                      : TWE_M_ACTIVITY_EXECUTION_LATENCY,
                   act_label(act), (uint64_t)(twe__mono_ns() - act->run_start_ns));
  act->running = false;
  side->running--;
  twe__count(&side->s->counters.activities_running, -1);
  twe__slot_release(&act->permit, status == -ECANCELED           ? TWE_SLOT_CANCELLED
                                  : act->outcome == TWE__ACT_FAILED ? TWE_SLOT_FAILED
                                                                    : TWE_SLOT_COMPLETED);
  act->finished = true;
  /* A heartbeat still pending is superseded by the outcome; its details
   * stay as the latest (a cancelled attempt reports them). */
  wake_list_remove(side, act);
  take_pending_details(act);
  twe__timer_stop(&act->hb_timer);
  twe__timer_stop(&act->deadline_timer);
  if (act->hb_in_flight && side->s->channel)
    twe__grpc_channel_cancel(side->s->channel, &act->hb_req); /* its callback runs now */
  if (act->info.is_local) {
    local_done(act);
    return;
  }
  start_respond(act);
}

/* Takes the attempt's slot if it has none yet (a local attempt; a task
 * that came without one). Returns 0, or -EAGAIN: none now (the shard is
 * told when one may be free). */
static int take_permit(twe_activity_t *act) {
  twe_wshard_t *s = act->side->s;
  if (twe__slot_held(&act->permit)) return 0;
  twe_slot_kind_t kind = act->info.is_local ? TWE_SLOT_LOCAL_ACTIVITY : TWE_SLOT_ACTIVITY;
  if (twe__slots_waiting(s->worker->slots, kind, s->slot_watcher)) return -EAGAIN;
  int rc = twe__slots_try_take_or_watch(s->worker->slots, kind, s->slot_watcher, &act->permit);
  if (rc == 0) twe__slot_mark_used(&act->permit);
  return rc;
}

static void submit(twe_activity_t *act) {
  struct twe__act_side *side = act->side;
  twe_wshard_t *s = side->s;
  int rc = take_permit(act);
  if (rc == 0) rc = twe__pool_try_submit(s->pool, &act->job);
  if (rc == 0) {
    act->run_start_ns = twe__mono_ns();
    act->running = true;
    side->running++;
    twe__count(&s->counters.activities_running, 1);
    if (act->info.start_to_close_timeout_ns)
      twe__timer_start(&act->deadline_timer, act->info.start_to_close_timeout_ns);
    return;
  }
  if (rc == -EAGAIN) {
    /* No slot now (a local attempt), or another user of the pool took the
     * thread this task was polled for. */
    act->waiting = true;
    act->wait_next = NULL;
    if (side->wait_tail)
      side->wait_tail->wait_next = act;
    else
      side->wait_head = act;
    side->wait_tail = act;
    side->waiting++;
    return;
  }
  engine_fail(act, "twe.WorkerStopping", false, "activity not started: the worker is stopping (%s)",
              twe_strerror(rc));
}

twe_activity_t *twe__act_new(struct twe__act_side *side, twe_arena_t *arena) {
  twe_activity_t *act = activity_new(side, arena);
  if (act)
    act->job = (twe_job_t){.run = job_run, .done = job_done, .abandoned = job_abandoned, .arg = act};
  return act;
}

void twe__act_submit(twe_activity_t *act) {
  submit(act);
}

void twe__act_free(twe_activity_t *act) {
  activity_free(act);
}

void twe__act_cancel(twe_activity_t *act) {
  request_cancel(act, TWE__ACT_CANCEL_SERVER);
}

static size_t submit_waiting(struct twe__act_side *side, size_t budget) {
  size_t n = 0;
  while (side->wait_head && n < budget && twe__pool_capacity(side->s->pool) > 0 &&
         take_permit(side->wait_head) == 0) {
    twe_activity_t *act = side->wait_head;
    side->wait_head = act->wait_next;
    if (!side->wait_head) side->wait_tail = NULL;
    act->wait_next = NULL;
    act->waiting = false;
    side->waiting--;
    submit(act);
    n++;
  }
  return n;
}

/* --- a task arrives ------------------------------------------------------------- */

static int read_payloads(twe_activity_t *act, const twe_payloads_pb_t *pbs, twe_payload_t **out,
                         size_t *n, const char *what) {
  *out = NULL;
  *n = 0;
  if (!pbs || !pbs->n_payloads) return 0;
  twe_payload_t *items = twe__arena_alloc(act->arena, pbs->n_payloads * sizeof *items);
  if (!items) return -ENOMEM;
  for (size_t i = 0; i < pbs->n_payloads; i++) {
    char why[256] = "";
    if (twe__value_check(pbs->payloads[i], why, sizeof why) < 0) {
      engine_fail(act, "twe.InvalidArgument", true, "activity %s %zu is not valid JSON: %s", what,
                  i + 1, why);
      return TWE_EJSON;
    }
    int rc = twe__value_from_payload(act->arena, pbs->payloads[i], &items[i]);
    if (rc < 0) return rc;
  }
  *out = items;
  *n = pbs->n_payloads;
  return 0;
}

void twe__act_on_task(struct twe__act_side *side, twe_arena_t *arena, const twe__act_task_pb_t *t,
                      twe_slot_t *permit) {
  twe_wshard_t *s = side->s;
  twe_worker_t *w = s->worker;
  twe_activity_t *act = activity_new(side, arena);
  if (!act) {
    /* Nothing to answer with: the attempt times out on the server. */
    shard_log(s, "activity task dropped: out of memory");
    twe__slot_release(permit, TWE_SLOT_FAILED);
    twe__arena_destroy(arena);
    free(arena);
    return;
  }
  twe__slot_move(&act->permit, permit);
  twe__slot_mark_used(&act->permit);
  act->task_token = t->task_token;
  twe_activity_info_t *info = &act->info;
  info->namespace_name =
      t->workflow_namespace && *t->workflow_namespace ? t->workflow_namespace : w->namespace_name;
  info->activity_id = str(t->activity_id);
  info->activity_type = t->activity_type ? str(t->activity_type->name) : "";
  info->task_queue = w->task_queue;
  info->workflow_id = t->workflow_execution ? str(t->workflow_execution->workflow_id) : "";
  info->workflow_run_id = t->workflow_execution ? str(t->workflow_execution->run_id) : "";
  info->workflow_type = t->workflow_type ? str(t->workflow_type->name) : "";
  info->attempt = t->attempt;
  int64_t hb = twe__duration_ns(t->heartbeat_timeout);
  int64_t stc = twe__duration_ns(t->start_to_close_timeout);
  info->heartbeat_timeout_ns = hb > 0 ? (uint64_t)hb : 0;
  info->start_to_close_timeout_ns = stc > 0 ? (uint64_t)stc : 0;
  info->scheduled_time_ns = twe__timestamp_ns(t->scheduled_time);
  info->started_time_ns = twe__timestamp_ns(t->started_time);
  int64_t attempt_sched = twe__timestamp_ns(t->current_attempt_scheduled_time);
  if (attempt_sched <= 0) attempt_sched = info->scheduled_time_ns;
  if (attempt_sched > 0 && info->started_time_ns >= attempt_sched && s->metrics)
    twe__m_observe(s->metrics, TWE_M_ACTIVITY_SCHEDULE_TO_START_LATENCY,
                   twe__m_activity_type(s->metrics->layout, info->activity_type),
                   (uint64_t)(info->started_time_ns - attempt_sched));

  act->reg = twe__registry_activity(&w->registry, info->activity_type);
  if (!act->reg) {
    char names[1024];
    twe__registry_activity_names(&w->registry, names, sizeof names);
    engine_fail(act, "twe.ActivityNotRegistered", false,
                "activity type \"%s\" is not registered on this worker (registered: %s)",
                info->activity_type, names[0] ? names : "none");
    return;
  }
  int rc = read_payloads(act, t->input, &act->args, &act->nargs, "input");
  if (rc == 0)
    rc = read_payloads(act, t->heartbeat_details, &act->prev_details, &act->nprev_details,
                       "heartbeat details");
  if (rc == TWE_EJSON) return; /* already failed */
  if (rc < 0) {
    engine_fail(act, "twe.WorkerError", false, "activity input could not be read: %s",
                twe_strerror(rc));
    return;
  }
  act->job = (twe_job_t){.run = job_run, .done = job_done, .abandoned = job_abandoned, .arg = act};
  submit(act);
}

/* --- polls ----------------------------------------------------------------------- */

static void on_poll_done(twe_grpc_request_t *req) {
  poll_slot_t *slot = req->data;
  struct twe__act_side *side = slot->side;
  twe_wshard_t *s = side->s;
  slot->in_flight = false;
  side->polls_in_flight--;
  const twe_grpc_status_t *st = &req->status;
  bool quiet = st->code == TWE_GRPC_CANCELLED && (side->stopping || side->destroying);
  /* Polls failing for a while are logged (engine/shard_health.c). */
  if (!quiet) twe__health_poll(s, "PollActivityTaskQueue", st->code, st->message);
  if (st->code != TWE_GRPC_OK) {
    twe__poll_scaler_failed(&side->scaler, st->code);
    if (!quiet && !side->destroying)
      twe__timer_start(&side->backoff_timer,
                       twe__health_poll_backoff_ns(++side->poll_failures, st->code));
    twe__arena_reset(slot->arena);
    twe__slot_release(&slot->permit, TWE_SLOT_UNUSED);
    return;
  }
  side->poll_failures = 0;
  const twe__act_task_pb_t *t = (const void *)req->response;
  if (!t || t->task_token.len == 0) {
    twe__poll_scaler_empty(&side->scaler);
    twe__m_add(s->metrics, TWE_M_ACTIVITY_POLL_NO_TASK, 0, 1);
    /* An idle poll ended empty: the next round polls again. */
    twe__arena_reset(slot->arena);
    twe__slot_release(&slot->permit, TWE_SLOT_UNUSED);
    return;
  }
  if (t->poller_scaling_decision) twe__count(&s->counters.poller_scaling_decisions, 1);
  twe__poll_scaler_task(&side->scaler, t->poller_scaling_decision != NULL,
                        t->poller_scaling_decision
                            ? t->poller_scaling_decision->poll_request_delta_suggestion
                            : 0);
  /* The response's arena becomes the activity's; the slot gets a fresh one
   * when it polls next. */
  twe_arena_t *arena = slot->arena;
  slot->arena = NULL;
  twe__act_on_task(side, arena, t, &slot->permit);
}

static int start_poll(struct twe__act_side *side, poll_slot_t *slot) {
  twe_wshard_t *s = side->s;
  twe_worker_t *w = s->worker;
  if (!slot->arena) {
    slot->arena = malloc(sizeof *slot->arena);
    if (!slot->arena) return -ENOMEM;
    twe__arena_init(slot->arena, 0);
  }
  twe__arena_reset(slot->arena);
  temporal__api__workflowservice__v1__poll_activity_task_queue_request__init(&slot->msg);
  temporal__api__taskqueue__v1__task_queue__init(&slot->tq);
  slot->tq.name = w->task_queue;
  slot->tq.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  slot->msg.namespace_ = (char *)w->namespace_name;
  slot->msg.task_queue = &slot->tq;
  slot->msg.identity = w->identity;
  slot->req = (twe_grpc_request_t){
    .path = WS "PollActivityTaskQueue",
    .request = &slot->msg.base,
    .response_type =
        &temporal__api__workflowservice__v1__poll_activity_task_queue_response__descriptor,
    .arena = slot->arena,
    .timeout_ns = POLL_TIMEOUT_NS,
    .retry = &twe__retry_policy_poll,
    .namespaced = true,
    .done = on_poll_done,
    .data = slot,
  };
  int rc = twe__grpc_channel_start(s->channel, &slot->req);
  if (rc < 0) return rc;
  slot->in_flight = true;
  side->polls_in_flight++;
  return 0;
}

static void on_backoff_timer(twe_timer_t *t) {
  (void)t; /* the next round polls again */
}

/* --- shutdown timers ------------------------------------------------------------ */

static void on_grace_timer(twe_timer_t *t) {
  struct twe__act_side *side = t->data;
  if (!side->cancelled_running) {
    side->cancelled_running = true;
    for (twe_activity_t *act = side->live; act; act = act->next)
      if (act->running) request_cancel(act, TWE__ACT_CANCEL_WORKER);
    if (side->running) twe__timer_start(&side->grace_timer, CANCEL_WAIT_NS);
    return;
  }
  if (side->running) {
    shard_log(side->s, "%zu activit%s still running %.0f s after being cancelled: not waited for",
              side->running, side->running == 1 ? "y is" : "ies are", (double)CANCEL_WAIT_NS / 1e9);
    side->abandon_running = true;
  }
}

/* A stop does not wait out an outcome's whole start-to-close (a server away
 * for long): after the grace period the sends still trying give up, and
 * their outcomes are dropped with a log line (the server retries or times
 * out those activities). */
static void on_respond_cutoff(twe_timer_t *t) {
  struct twe__act_side *side = t->data;
  twe_wshard_t *s = side->s;
  for (twe_activity_t *act = side->live, *next; act; act = next) {
    next = act->next;
    if (act->resp_in_flight && s->channel)
      twe__grpc_channel_cancel(s->channel, &act->resp_req); /* callback runs now */
  }
}

/* --- the side's entry points ------------------------------------------------------- */

int twe__act_side_start(twe_wshard_t *s) {
  struct twe__act_side *side = calloc(1, sizeof *side);
  if (!side) return -ENOMEM;
  const twe_worker_options_t *o = &s->worker->opts;
  side->s = s;
  unsigned pollers = o->activity_pollers ? o->activity_pollers : DEFAULT_POLLERS;
  bool scale = s->worker->poller_autoscaling;
  unsigned most = o->pollers_max ? o->pollers_max : MAX_AUTOSCALED_POLLERS;
  twe__poll_scaler_init(&side->scaler, scale, pollers, scale ? o->pollers_min : pollers,
                        scale ? most : pollers);
  side->nslots = side->scaler.max;
  side->grace_ns = o->graceful_stop_timeout_ns ? o->graceful_stop_timeout_ns : DEFAULT_GRACE_NS;
  side->slots = calloc(side->nslots, sizeof *side->slots);
  if (!side->slots || pthread_mutex_init(&side->wake_mu, NULL) != 0) {
    free(side->slots);
    free(side);
    return -ENOMEM;
  }
  for (unsigned i = 0; i < side->nslots; i++) side->slots[i].side = side;
  twe__timer_init(s->reactor, &side->backoff_timer, on_backoff_timer);
  side->backoff_timer.data = side;
  twe__timer_init(s->reactor, &side->grace_timer, on_grace_timer);
  side->grace_timer.data = side;
  twe__timer_init(s->reactor, &side->respond_cutoff, on_respond_cutoff);
  side->respond_cutoff.data = side;
  twe__wake_init(s->reactor, &side->wake, on_heartbeat_wake);
  side->wake.data = side;
  s->act = side;
  return 0;
}

size_t twe__act_side_poll(twe_wshard_t *s, size_t budget) {
  struct twe__act_side *side = s->act;
  if (!side || side->destroying) return 0;
  size_t n = submit_waiting(side, budget);
  unsigned live = twe__pool_threads(s->pool), peak = twe__pool_peak(s->pool);
  atomic_store_explicit(&s->counters.activity_threads, live, memory_order_relaxed);
  atomic_store_explicit(&s->counters.activity_threads_peak, peak, memory_order_relaxed);
  if (side->stopping || twe__timer_active(&side->backoff_timer) || !s->channel) return n;
  /* Refused a slot and not told since: the answer would be the same. */
  if (twe__slots_waiting(s->worker->slots, TWE_SLOT_ACTIVITY, s->slot_watcher)) return n;
  unsigned free_threads = twe__act_free_threads(side);
  unsigned want = side->scaler.target < free_threads ? side->scaler.target : free_threads;
  for (unsigned i = 0; i < side->nslots && side->polls_in_flight < want && n < budget; i++) {
    poll_slot_t *slot = &side->slots[i];
    if (slot->in_flight) continue;
    /* A slot first: with none free now, the shard is told when one is. */
    if (twe__slots_try_take_or_watch(s->worker->slots, TWE_SLOT_ACTIVITY, s->slot_watcher,
                                     &slot->permit) != 0)
      break;
    int rc = start_poll(side, slot);
    if (rc < 0) {
      twe__slot_release(&slot->permit, TWE_SLOT_UNUSED);
      shard_log(s, "PollActivityTaskQueue could not start: %s", twe_strerror(rc));
      twe__timer_start(&side->backoff_timer, POLL_START_BACKOFF_NS);
      break;
    }
    n++;
  }
  return n;
}

void twe__act_side_begin_stop(twe_wshard_t *s) {
  struct twe__act_side *side = s->act;
  if (!side || side->stopping) return;
  side->stopping = true;
  twe__timer_stop(&side->backoff_timer);
  for (unsigned i = 0; i < side->nslots; i++)
    if (side->slots[i].in_flight && s->channel)
      twe__grpc_channel_cancel(s->channel, &side->slots[i].req); /* callback runs now */
  /* Tasks still waiting for a thread will not get one in time: hand them
   * back for another worker. */
  while (side->wait_head) {
    twe_activity_t *act = side->wait_head;
    side->wait_head = act->wait_next;
    if (!side->wait_head) side->wait_tail = NULL;
    act->waiting = false;
    side->waiting--;
    engine_fail(act, "twe.WorkerStopping", false, "activity not started: the worker is stopping");
  }
  if (side->running) twe__timer_start(&side->grace_timer, side->grace_ns);
  twe__timer_start(&side->respond_cutoff, side->grace_ns);
}

bool twe__act_side_idle(const twe_wshard_t *s) {
  const struct twe__act_side *side = s->act;
  if (!side) return true;
  if (side->abandon_running)
    return side->polls_in_flight == 0 && side->waiting == 0 && side->responding == 0;
  return side->polls_in_flight == 0 && side->running == 0 && side->waiting == 0 &&
         side->responding == 0 && side->heartbeats_in_flight == 0;
}

void twe__act_side_destroy(twe_wshard_t *s) {
  struct twe__act_side *side = s->act;
  if (!side) return;
  side->destroying = true;
  twe__timer_stop(&side->backoff_timer);
  twe__timer_stop(&side->grace_timer);
  twe__timer_stop(&side->respond_cutoff);
  /* Calls still live (the channel was kept): their callbacks run now and
   * free what they can. */
  if (s->channel) {
    for (unsigned i = 0; i < side->nslots; i++)
      if (side->slots[i].in_flight) twe__grpc_channel_cancel(s->channel, &side->slots[i].req);
    for (twe_activity_t *act = side->live, *next; act; act = next) {
      next = act->next;
      if (act->hb_in_flight) twe__grpc_channel_cancel(s->channel, &act->hb_req);
    }
    for (twe_activity_t *act = side->live, *next; act; act = next) {
      next = act->next;
      if (act->resp_in_flight) twe__grpc_channel_cancel(s->channel, &act->resp_req); /* frees it */
    }
  }
  /* What is left: waiting tasks (freed; the server times them out) and code
   * still running on the pool (detached: the pool's last callback frees). */
  while (side->live) {
    twe_activity_t *act = side->live;
    activity_unlink(side, act);
    twe__timer_stop(&act->hb_timer);
    twe__timer_stop(&act->deadline_timer);
    /* The slots outlive no worker: give them back here, not from a pool
     * thread that may return after the worker is gone. */
    twe__slot_release(&act->permit, TWE_SLOT_SHUTDOWN);
    if (act->running) {
      request_cancel(act, TWE__ACT_CANCEL_WORKER);
      twe__count(&s->counters.activities_running, -1);
      pthread_mutex_lock(&act->mu);
      bool returned = act->job_returned;
      act->detached = true;
      pthread_mutex_unlock(&act->mu);
      if (returned) activity_free_memory(act);
    } else {
      activity_free_memory(act);
    }
  }
  /* No pool thread reaches the side any more (every activity is detached
   * or freed), so the wake handle may close. */
  twe__wake_close(&side->wake);
  twe__act_eager_release(s, side->eager_reserved);
  for (unsigned i = 0; i < side->nslots; i++) {
    twe__slot_release(&side->slots[i].permit, TWE_SLOT_SHUTDOWN);
    if (!side->slots[i].arena) continue;
    twe__arena_destroy(side->slots[i].arena);
    free(side->slots[i].arena);
  }
  free(side->slots);
  pthread_mutex_destroy(&side->wake_mu);
  free(side);
  s->act = NULL;
}
