/* engine/workflow/run.c — one workflow run: applies history events, runs the
 * code on its fibers at each workflow task (replaying the tasks the history
 * already completed), hands command events and follow-ups to the state
 * machines (machine.h), and answers the task being processed. See
 * engine/workflow/run.h for the contract.
 *
 * Scheduling: fibers run from a FIFO ready queue (futures.c); a future's
 * resolution makes the fibers whose wait it ends ready, in resolution
 * order. The root fiber runs the workflow function, and its return closes
 * the workflow; signal and update handlers run on fibers of their own
 * (signals.c, machine_update.c), query handlers and update validators on
 * the run's read-only one (queries.c); pending update requests are
 * delivered when nothing else is ready, then local activity outcomes one
 * at a time (machine_local_activity.c), and a cancel request (scopes.c)
 * at the start of an activation. A live task whose code went idle while
 * its local activities run waits for them (TWE__RUN_WAITING) instead of
 * being answered. An activation runs until the queue is
 * empty and no fiber waiting on a condition finds it true any more: when
 * the queue drains after any fiber ran, each condition waiter is queued to
 * look at its predicate again.
 *
 * Slices: the watchdog may end a task's time slice (engine/watchdog.h)
 * while the fiber runs (switched out at a safe point), between fibers or
 * between events. The batch (run->batch) remembers where it stood, and
 * twe__run_resume carries on from there with the same fiber first, so the
 * code sees the same order of events and fibers as in one piece.
 *
 * Non-determinism messages (after `non-deterministic workflow "<type>" (run
 * <run id>): `) name the event and the command:
 *   history event 5 ACTIVITY_TASK_SCHEDULED (activity id "1", type "A") does
 *     not match the command the code produced: START_TIMER (timer id "1")
 *   history has event 6 ACTIVITY_TASK_SCHEDULED (...) but the code produced
 *     no command
 *   the code produced SCHEDULE_ACTIVITY_TASK (...) but the history has no
 *     matching event after event 5
 *   history event 9 ACTIVITY_TASK_COMPLETED refers to scheduled event 4,
 *     which is not an open activity of this run
 *   history event 6 ACTIVITY_TASK_COMPLETED is not valid in state SCHEDULED
 *     of the activity machine of SCHEDULE_ACTIVITY_TASK (...) (event 5) */
#include "engine/workflow/run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"
#include "engine/values.h"
#include "engine/watchdog.h"
#include "proto/codec.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "twe/error.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define CAUSE(x) \
  TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_##x
#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES

/* A run is one allocation of RUN_ALLOC bytes: the struct (about 1.1 KiB),
 * then the first block of its arena (the rest, about 1.4 KiB). A small
 * workflow parked after its first task keeps everything in it: Park (a
 * timer) uses 0.8 KiB of arena, a workflow waiting on an activity 1.0 KiB.
 * 2560 is one of jemalloc's size classes, so none of it is rounding. */
#define RUN_ALLOC 2560
#define RUN_INLINE_ARENA_MIN 512
_Static_assert(sizeof(twe_run_t) + RUN_INLINE_ARENA_MIN <= RUN_ALLOC,
               "twe_run_t outgrew RUN_ALLOC: leave the first arena block room");

/* --- failures ------------------------------------------------------------------ */

static int vfail(twe_run_t *run, int status, twe__task_cause_t cause, const char *prefix,
                 const char *fmt, va_list ap) {
  if (run->status < 0) return run->status; /* keep the first: it is the cause */
  run->status = status;
  run->cause = cause;
  char *m = twe__arena_alloc(&run->arena, TWE__RUN_MESSAGE_MAX);
  if (!m) {
    run->message = "out of memory (and for the message of the run's failure)";
    return status;
  }
  int n = snprintf(m, TWE__RUN_MESSAGE_MAX, "%s", prefix);
  if (n < 0) n = 0;
  if ((size_t)n < TWE__RUN_MESSAGE_MAX) vsnprintf(m + n, TWE__RUN_MESSAGE_MAX - (size_t)n, fmt, ap);
  run->message = m;
  return status;
}

int twe__run_fail(twe_run_t *run, int status, twe__task_cause_t cause, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vfail(run, status, cause, "", fmt, ap);
  va_end(ap);
  return rc;
}

int twe__run_nondeterminism(twe_run_t *run, const char *fmt, ...) {
  char prefix[512];
  snprintf(prefix, sizeof prefix, "non-deterministic workflow \"%s\" (run %s): ",
           run->info.workflow_type ? run->info.workflow_type : "", run->info.run_id);
  va_list ap;
  va_start(ap, fmt);
  int rc = vfail(run, TWE_ENONDETERMINISM, CAUSE(NON_DETERMINISTIC_ERROR), prefix, fmt, ap);
  va_end(ap);
  return rc;
}

void twe__run_log(twe_run_t *run, twe_log_level_t level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  twe__logv(run->env.worker, level, run->env.worker ? run->env.shard : -1, run->info.workflow_type,
            run->info.workflow_id, run->info.run_id, fmt, ap);
  va_end(ap);
}

int twe__run_oom(twe_run_t *run) {
  int status = twe__arena_error(&run->arena);
  return twe__run_fail(run, status, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                       "workflow run %s: out of memory (%s)", run->info.run_id,
                       twe_strerror(status));
}

/* --- memory ------------------------------------------------------------------------ */

void *twe__run_copy_msg(twe_run_t *run, const ProtobufCMessage *msg) {
  /* Through the wire format: one generic deep copy for every message type,
   * and the copy's bytes all land in the run's arena. */
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t small[512];
  uint8_t *buf = len <= sizeof small ? small : malloc(len);
  if (!buf) return NULL;
  protobuf_c_message_pack(msg, buf);
  ProtobufCMessage *out = NULL;
  int rc = twe__proto_decode(msg->descriptor, &run->arena, buf, len, &out);
  if (buf != small) free(buf);
  return rc < 0 ? NULL : out;
}

static char *run_strdup(twe_run_t *run, const char *s) {
  return twe__str(&run->arena, s);
}

/* --- commands --------------------------------------------------------------------- */

/* The complete, fail, cancel or continue-as-new command, once the workflow
 * function returned (in that order of precedence: a failure set wins). */
static int close_command(twe_run_t *run) {
  twe__signals_report_unhandled(run);
  if (run->failure) return twe__fail_workflow_command(run);
  if (run->end_canceled) return twe__cancel_workflow_command(run);
  if (run->continue_as_new) return twe__continue_as_new_command(run);
  return twe__complete_workflow_command(run);
}

/* The workflow fails before its code runs: an input is not valid JSON. */
static int input_failure_command(twe_run_t *run) {
  if (twe__failure_new(&run->arena, "twe.InvalidArgument", run->input_error, true,
                       &run->failure) < 0)
    return twe__run_oom(run);
  return close_command(run);
}

/* --- fibers ------------------------------------------------------------------------------ */

twe_run_t *twe__run_of(twe_workflow_t *wf, const char *fn) {
  if (!wf || wf->magic != TWE__WORKFLOW_MAGIC) {
    fprintf(stderr, "twe: %s: %p is not a twe_workflow_t\n", fn, (void *)wf);
    abort();
  }
  twe_run_t *run = wf->run;
  if (!run->current || twe__fiber_current() != run->current->fiber) {
    fprintf(stderr,
            "twe: %s called outside the code of workflow \"%s\" (run %s): workflow calls "
            "must come from the workflow function, on its fiber, while the run is active\n",
            fn, run->info.workflow_type ? run->info.workflow_type : "", run->info.run_id);
    abort();
  }
  return run;
}

static void fiber_main(void *arg) {
  twe__wfiber_t *w = arg;
  /* From here to the return, the watchdog may abandon this fiber at any
   * safe instruction (engine/watchdog.h). */
  twe__watch_user_enter();
  w->body(w);
  twe__watch_user_leave();
}

int twe__run_fiber_init(twe_run_t *run, twe__wfiber_t *w, void (*body)(twe__wfiber_t *w),
                        void *arg, const char *label) {
  memset(w, 0, sizeof *w);
  w->run = run;
  w->body = body;
  w->body_arg = arg;
  w->label = label;
  w->scope = &run->root_scope;
  int rc = twe__fiber_create(run->env.fibers, fiber_main, w, &w->fiber);
  if (rc < 0)
    return twe__run_fail(run, rc, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                         "workflow run %s: cannot create a fiber: %s", run->info.run_id,
                         twe_strerror(rc));
  return 0;
}

int twe__run_spawn(twe_run_t *run, void (*body)(twe__wfiber_t *w), void *arg, const char *label) {
  twe__wfiber_t *w = twe__arena_alloc(&run->arena, sizeof *w);
  if (!w) return twe__run_oom(run);
  int rc = twe__run_fiber_init(run, w, body, arg, label);
  if (rc < 0) return rc;
  /* Creation order: wake() and the condition rechecks go by it. */
  if (run->all_fibers_tail)
    run->all_fibers_tail->next_all = w;
  else
    run->all_fibers = w;
  run->all_fibers_tail = w;
  twe__run_ready_push(run, w);
  return 0;
}

static void root_body(twe__wfiber_t *w) {
  twe_run_t *run = w->run;
  run->registered->fn(&run->wf, run->registered->user);
}

static int start_code(twe_run_t *run) {
  run->code_started = true;
  if (run->input_error) return input_failure_command(run);
  int rc = twe__run_spawn(run, root_body, NULL, "workflow function");
  if (rc == 0) run->all_fibers_tail->root = true;
  return rc;
}

static void fiber_finished(twe_run_t *run, twe__wfiber_t *w) {
  twe__fiber_destroy(w->fiber);
  w->fiber = NULL;
  twe__wfiber_t *prev = NULL;
  for (twe__wfiber_t **p = &run->all_fibers; *p; prev = *p, p = &(*p)->next_all)
    if (*p == w) {
      *p = w->next_all;
      if (run->all_fibers_tail == w) run->all_fibers_tail = prev;
      break;
    }
}

/* --- activations -------------------------------------------------------------------- */

/* Commands of an earlier task that no history event paired with. */
static int check_no_extra_commands(twe_run_t *run) {
  if (!run->pending_head) return 0;
  char cmd[256];
  twe__command_describe(run->pending_head->pb, cmd, sizeof cmd);
  return twe__run_nondeterminism(
      run, "the code produced %s but the history has no matching event after event %" PRId64, cmd,
      run->match_point_event_id);
}

/* The watchdog stopped the task (engine/watchdog.h): the task fails with
 * its message, and the run must go. */
static int preempted(twe_run_t *run, twe__watched_t *watch) {
  char msg[TWE__RUN_MESSAGE_MAX];
  twe__watch_preempt_message(watch, msg, sizeof msg);
  return twe__run_fail(run, TWE_EPREEMPTED, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE), "%s", msg);
}

/* The ready queue is empty: queues every fiber waiting on a condition to
 * look at its predicate again, if any fiber ran since the last time (one
 * whose look found its predicate false and changed nothing does not
 * count). Returns whether it queued any. */
static bool recheck_conditions(twe_run_t *run) {
  if (!run->cond_changed) return false;
  run->cond_changed = false;
  bool any = false;
  for (twe__wfiber_t *w = run->all_fibers; w; w = w->next_all) {
    if (w->wait_mode != TWE__WAIT_CONDITION || w->in_ready) continue;
    w->wait_mode = TWE__WAIT_NONE;
    w->rechecking = true;
    twe__run_ready_push(run, w);
    any = true;
  }
  return any;
}

/* Nothing else is ready: local activity outcomes, one at a time, until
 * one makes a fiber ready (or a condition true). The fiber, or NULL. */
static twe__wfiber_t *deliver_local(twe_run_t *run) {
  twe__wfiber_t *w = NULL;
  while (!w && twe__locals_deliver(run) > 0) {
    run->cond_changed = true;
    if (!(w = twe__run_ready_pop(run)) && recheck_conditions(run)) w = twe__run_ready_pop(run);
  }
  return w;
}

/* Runs ready fibers (and condition rechecks, update requests, local
 * activity outcomes) until every one is blocked or finished, or the slice
 * ends (TWE__RUN_SLICED: the fiber that was running goes back to the front
 * of the queue, so it runs first when the activation resumes). A live task
 * whose code is idle while local activities are still running is not over:
 * TWE__RUN_WAITING. */
static int activation_run(twe_run_t *run) {
  twe__wfiber_t *w;
  /* Re-read after each fiber: a fiber switched out at a slice's end may be
   * resumed by another thread (a replacement after a retirement). */
  twe__watched_t *watch = twe__watch_self();
  while (run->status == 0 && !run->closed &&
         ((w = twe__run_ready_pop(run)) ||
          (recheck_conditions(run) && (w = twe__run_ready_pop(run))) ||
          (twe__updates_deliver(run) > 0 && (w = twe__run_ready_pop(run))) ||
          (w = deliver_local(run)))) {
    if (twe__watch_preempt_due(watch)) return preempted(run, watch);
    if (twe__watch_yield_due(watch)) {
      twe__run_ready_push_front(run, w);
      return TWE__RUN_SLICED;
    }
    run->current = w;
    int more = twe__fiber_resume(w->fiber);
    run->current = NULL;
    watch = twe__watch_self();
    if (more == TWE_FIBER_ABANDONED) {
      /* The fiber is gone mid-function; the run's state is whatever the
       * code left. The run is dropped after this task fails. */
      fiber_finished(run, w);
      return preempted(run, watch);
    }
    if (more && twe__watch_take_sliced(watch)) {
      twe__run_ready_push_front(run, w);
      return TWE__RUN_SLICED;
    }
    if (!w->recheck_idle) run->cond_changed = true;
    w->rechecking = w->recheck_idle = false;
    if (more) continue;
    bool root = w->root;
    fiber_finished(run, w);
    if (root && run->status == 0) close_command(run);
  }
  if (run->status == 0 && !run->replaying && !run->closed && run->locals_in_flight)
    return TWE__RUN_WAITING;
  return run->status;
}

/* Begins the activation of a WORKFLOW_TASK_STARTED and runs it. */
static int activate(twe_run_t *run, const twe_event_pb_t *started, bool replaying) {
  int rc = check_no_extra_commands(run);
  if (rc < 0) return rc;
  run->now_ns = twe__timestamp_ns(started->event_time);
  run->replaying = replaying;
  /* Messages of an earlier activation went out with its answer, or were
   * replayed (their originals went out long ago). */
  run->messages_head = run->messages_tail = NULL;
  run->n_messages = 0;
  if (!replaying && run->n_live_messages) {
    rc = twe__updates_take_messages(run, run->live_messages, run->n_live_messages);
    run->live_messages = NULL;
    run->n_live_messages = 0;
    if (rc < 0) return rc;
  }
  if (run->closed) return 0; /* nothing runs after the workflow's end */
  if (!run->code_started && (rc = start_code(run)) < 0) return rc;
  /* A cancel request seen since the last activation: its job. */
  if ((rc = twe__scope_apply_cancel_request(run)) < 0) return rc;
  if (!replaying && (rc = twe__locals_execute_waiting(run)) < 0) return rc;
  run->cond_changed = true;
  return activation_run(run);
}

/* --- events ------------------------------------------------------------------------ */

static void log_ignored_once(twe_run_t *run, const twe_event_pb_t *e, const char *why) {
  run->ignored_events++;
  if (run->ignored_logged) return;
  run->ignored_logged = true;
  twe__run_log(run, TWE_LOG_WARN, "ignoring %s (%s)", twe__event_type_name((int)e->event_type),
               why);
}

static int on_workflow_started(twe_run_t *run, const twe_event_pb_t *e) {
  const Temporal__Api__History__V1__WorkflowExecutionStartedEventAttributes *a =
      e->workflow_execution_started_event_attributes;
  twe_workflow_info_t *info = &run->info;
  info->workflow_type = run_strdup(run, a->workflow_type ? a->workflow_type->name : "");
  info->task_queue = run_strdup(
      run, a->task_queue && a->task_queue->name && *a->task_queue->name ? a->task_queue->name
                                                                        : run->env.task_queue);
  if (!info->workflow_type || !info->task_queue) return twe__run_oom(run);
  info->attempt = a->attempt > 0 ? a->attempt : 1;
  info->start_time_ns = twe__timestamp_ns(e->event_time);
  info->execution_timeout_ns = (uint64_t)twe__duration_ns(a->workflow_execution_timeout);
  info->run_timeout_ns = (uint64_t)twe__duration_ns(a->workflow_run_timeout);
  info->task_timeout_ns = (uint64_t)twe__duration_ns(a->workflow_task_timeout);
  info->continued_from_run_id =
      run_strdup(run, a->continued_execution_run_id ? a->continued_execution_run_id : "");
  info->first_execution_run_id = run_strdup(
      run, a->first_execution_run_id && *a->first_execution_run_id ? a->first_execution_run_id
                                                                   : info->run_id);
  if (!info->continued_from_run_id || !info->first_execution_run_id) return twe__run_oom(run);
  const Temporal__Api__Common__V1__WorkflowExecution *parent = a->parent_workflow_execution;
  info->parent_namespace = run_strdup(run, a->parent_workflow_namespace);
  info->parent_workflow_id = run_strdup(run, parent ? parent->workflow_id : NULL);
  info->parent_run_id = run_strdup(run, parent ? parent->run_id : NULL);
  info->cron_schedule = run_strdup(run, a->cron_schedule);
  if ((a->memo && !(run->memo = twe__run_copy_msg(run, &a->memo->base))) ||
      (a->search_attributes &&
       twe__search_attributes_note(run, twe__run_copy_msg(run, &a->search_attributes->base)) < 0))
    return twe__run_oom(run);
  if (!info->parent_namespace || !info->parent_workflow_id || !info->parent_run_id ||
      !info->cron_schedule)
    return twe__run_oom(run);

  /* Randomness is seeded from the first run of the chain: stable across
   * replays, resets and workers. FNV-1a into splitmix64 into xoshiro256**. */
  const char *seed = a->original_execution_run_id && *a->original_execution_run_id
                         ? a->original_execution_run_id
                         : info->run_id;
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char *p = (const unsigned char *)seed; *p; p++)
    h = (h ^ *p) * 0x100000001b3ull;
  for (int i = 0; i < 4; i++) {
    uint64_t z = (h += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    run->rng[i] = z ^ (z >> 31);
  }

  run->registered = twe__registry_workflow(run->env.registry, info->workflow_type);
  if (!run->registered) {
    char names[512];
    twe__registry_workflow_names(run->env.registry, names, sizeof names);
    return twe__run_fail(run, TWE_ENOTREGISTERED, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                         "workflow type \"%s\" is not registered on this worker (registered: %s)",
                         info->workflow_type, *names ? names : "none");
  }

  if (a->input && a->input->n_payloads) {
    twe_payloads_pb_t *input = twe__run_copy_msg(run, &a->input->base);
    run->args = input ? twe__arena_alloc(&run->arena, input->n_payloads * sizeof *run->args)
                      : NULL;
    if (!run->args) return twe__run_oom(run);
    for (size_t i = 0; i < input->n_payloads; i++) {
      if (twe__value_from_payload(&run->arena, input->payloads[i], &run->args[i]) < 0)
        return twe__run_oom(run);
      char why[256];
      if (!run->input_error && twe__value_check(input->payloads[i], why, sizeof why) < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "workflow input %zu is not valid JSON: %s", i + 1, why);
        if (!(run->input_error = run_strdup(run, msg))) return twe__run_oom(run);
      }
    }
    run->nargs = input->n_payloads;
  }
  run->started_seen = true;
  return 0;
}

static int on_command_event(twe_run_t *run, const twe_event_pb_t *e) {
  int rc = twe__machine_record(run, e);
  if (rc == 0) run->match_point_event_id = e->event_id;
  return rc;
}

/* Fills *out with the answer to the task whose WORKFLOW_TASK_STARTED was
 * the batch's last event. */
static int answer(twe_run_t *run, twe_arena_t *out_arena, twe_run_outcome_t *out) {
  twe_command_pb_t **cmds;
  size_t n;
  int rc = twe__machine_send_all(run, out_arena, &cmds, &n);
  if (rc < 0) return rc;
  if (run->n_messages) {
    out->messages = twe__arena_alloc(out_arena, run->n_messages * sizeof *out->messages);
    if (!out->messages)
      return twe__run_fail(run, twe__arena_error(out_arena),
                           CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                           "workflow run %s: out of memory for the task's answer",
                           run->info.run_id);
    size_t k = 0;
    for (twe__message_t *m = run->messages_head; m; m = m->next) out->messages[k++] = m->pb;
    out->n_messages = k;
  }
  out->commands = cmds;
  out->n_commands = n;
  out->closes_workflow = run->closed;
  return 0;
}

static bool closes_execution(int type) {
  return type == EV(WORKFLOW_EXECUTION_COMPLETED) || type == EV(WORKFLOW_EXECUTION_FAILED) ||
         type == EV(WORKFLOW_EXECUTION_TIMED_OUT) || type == EV(WORKFLOW_EXECUTION_TERMINATED) ||
         type == EV(WORKFLOW_EXECUTION_CANCELED) || type == EV(WORKFLOW_EXECUTION_CONTINUED_AS_NEW);
}

static int apply_event(twe_run_t *run, twe_event_pb_t *const *events, size_t i, size_t n,
                       bool *answered) {
  const twe_event_pb_t *e = events[i];
  int type = (int)e->event_type;
  if (e->event_id != run->next_event_id)
    return twe__run_fail(run, TWE_EDECODE, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                         "history of run %s is not contiguous: expected event %" PRId64
                         ", got event %" PRId64 " %s",
                         run->info.run_id, run->next_event_id, e->event_id,
                         twe__event_type_name(type));
  run->next_event_id++;
  if (run->answered_last_task) {
    run->answered_last_task = false;
    /* The code already ran for that task and moved on; it cannot be
     * rewound. The worker should have seen previous_started_event_id. */
    if (type == EV(WORKFLOW_TASK_FAILED) || type == EV(WORKFLOW_TASK_TIMED_OUT))
      return twe__run_fail(run, -ESTALE, CAUSE(RESET_STICKY_TASK_QUEUE),
                           "workflow run %s: the task started by event %" PRId64
                           " was answered by this worker but event %" PRId64
                           " is %s: the cached run is stale, replay it from the full history",
                           run->info.run_id, run->last_started_event_id, e->event_id,
                           twe__event_type_name(type));
  }
  twe__event_class_t c;
  twe__machine_classify(e, &c);
  if (!run->started_seen && type != EV(WORKFLOW_EXECUTION_STARTED))
    return twe__run_fail(run, TWE_EDECODE, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                         "history of run %s must begin with WORKFLOW_EXECUTION_STARTED, not "
                         "event %" PRId64 " %s",
                         run->info.run_id, e->event_id, twe__event_type_name(type));
  if (c.malformed || (type == EV(WORKFLOW_EXECUTION_STARTED) &&
                      (e->attributes_case != HATTR(WORKFLOW_EXECUTION_STARTED) ||
                       !e->workflow_execution_started_event_attributes)))
    return twe__run_fail(run, TWE_EDECODE, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                         "history of run %s: event %" PRId64 " %s lacks its attributes",
                         run->info.run_id, e->event_id, twe__event_type_name(type));
  if (c.role == TWE__EVENT_COMMAND) return on_command_event(run, e);
  if (c.role == TWE__EVENT_FOLLOW_UP) return twe__machine_follow_up(run, e, &c);
  switch (type) {
    case EV(WORKFLOW_EXECUTION_STARTED):
      if (run->started_seen)
        return twe__run_fail(run, TWE_EDECODE, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                             "history of run %s: a second WORKFLOW_EXECUTION_STARTED "
                             "(event %" PRId64 ")",
                             run->info.run_id, e->event_id);
      return on_workflow_started(run, e);
    case EV(WORKFLOW_TASK_SCHEDULED):
    case EV(WORKFLOW_TASK_FAILED):
    case EV(WORKFLOW_TASK_TIMED_OUT):
      return 0;
    case EV(WORKFLOW_TASK_COMPLETED):
      run->last_completed_event_id = e->event_id;
      run->match_point_event_id = e->event_id;
      return 0;
    case EV(WORKFLOW_TASK_STARTED):
      run->last_started_event_id = e->event_id;
      if (e->attributes_case == HATTR(WORKFLOW_TASK_STARTED) &&
          e->workflow_task_started_event_attributes) {
        run->history_size_bytes = e->workflow_task_started_event_attributes->history_size_bytes;
        run->suggest_continue_as_new =
            e->workflow_task_started_event_attributes->suggest_continue_as_new;
      }
      if (i + 1 == n) { /* the task being processed */
        run->task_patches = NULL; /* live: every patch is new code */
        run->task_versions = NULL;
        run->task_mutables = NULL;
        /* TWE__RUN_SLICED: batch_go finishes it the same way once the
         * activation is over. */
        int rc = activate(run, e, false);
        if (rc == 0) {
          *answered = true;
          run->answered_last_task = true;
        }
        return rc;
      }
      /* A task the history shows completed ran this code before: replay
       * it. One that failed or timed out (or never finished: the workflow
       * was terminated meanwhile) left no trace: skip it. */
      if ((int)events[i + 1]->event_type == EV(WORKFLOW_TASK_COMPLETED)) {
        /* The updates that task took came as messages: the history has
         * them in the UPDATE_ACCEPTED events after its completion. */
        int rc = twe__updates_lookahead(run, events, i + 2, n);
        if (rc == 0) rc = twe__patches_lookahead(run, events, i + 2, n);
        if (rc == 0) rc = twe__side_effects_lookahead(run, events, i + 2, n);
        if (rc == 0) rc = twe__locals_lookahead(run, events, i + 2, n);
        if (rc == 0) rc = twe__versions_lookahead(run, events, i + 2, n);
        if (rc == 0) rc = twe__mutables_lookahead(run, events, i + 2, n);
        return rc < 0 ? rc : activate(run, e, true);
      }
      return 0;

    case EV(WORKFLOW_EXECUTION_SIGNALED):
      if (e->attributes_case != HATTR(WORKFLOW_EXECUTION_SIGNALED) ||
          !e->workflow_execution_signaled_event_attributes)
        return twe__run_fail(run, TWE_EDECODE, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                             "history of run %s: event %" PRId64 " %s lacks its attributes",
                             run->info.run_id, e->event_id, twe__event_type_name(type));
      return twe__signals_on_event(run, e);
    case EV(WORKFLOW_EXECUTION_CANCEL_REQUESTED):
      twe__scope_cancel_requested(run);
      return 0;
    case EV(WORKFLOW_EXECUTION_UPDATE_ADMITTED):
      log_ignored_once(run, e, "update-with-start (UPDATE_ADMITTED) is not supported yet");
      return 0;
    case EV(WORKFLOW_EXECUTION_UPDATE_REJECTED): /* written by old servers only */
      return 0;
    /* Results of commands the code cannot send yet (Nexus): nothing can
     * be waiting for them. */
    case EV(NEXUS_OPERATION_STARTED):
    case EV(NEXUS_OPERATION_COMPLETED):
    case EV(NEXUS_OPERATION_FAILED):
    case EV(NEXUS_OPERATION_CANCELED):
    case EV(NEXUS_OPERATION_TIMED_OUT):
    case EV(NEXUS_OPERATION_CANCEL_REQUEST_COMPLETED):
    case EV(NEXUS_OPERATION_CANCEL_REQUEST_FAILED):
      log_ignored_once(run, e, "Nexus operations are not supported yet");
      return 0;

    /* Nothing the code sees changes. */
    case EV(WORKFLOW_EXECUTION_TERMINATED):
    case EV(WORKFLOW_EXECUTION_TIMED_OUT):
    case EV(WORKFLOW_PROPERTIES_MODIFIED_EXTERNALLY):
    case EV(ACTIVITY_PROPERTIES_MODIFIED_EXTERNALLY):
    case EV(WORKFLOW_EXECUTION_OPTIONS_UPDATED):
    case EV(WORKFLOW_EXECUTION_PAUSED):
    case EV(WORKFLOW_EXECUTION_UNPAUSED):
      return 0;
    default:
      /* An event this engine does not know may change what the code
       * would do: the task fails rather than guess, unless the server
       * says a worker may pass it by. */
      if (e->worker_may_ignore) {
        log_ignored_once(run, e, "an event type this engine does not know, marked "
                                 "worker_may_ignore");
        return 0;
      }
      return twe__run_fail(run, TWE_EDECODE, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                           "history of run %s: event %" PRId64 " has type %s (%d), which this "
                           "engine does not know, and it is not marked worker_may_ignore: the "
                           "workflow task fails rather than guess what it means",
                           run->info.run_id, e->event_id, twe__event_type_name(type), type);
  }
}

/* Applies the batch from where it stands; see twe__run_apply. */
static int batch_go(twe_run_t *run, twe_run_outcome_t *out) {
  memset(out, 0, sizeof *out);
  struct twe__run_batch *b = &run->batch;
  int sliced = 0;
  if (run->status == 0 && b->in_activation) {
    int rc = activation_run(run);
    if (rc == TWE__RUN_SLICED || rc == TWE__RUN_WAITING) {
      sliced = rc;
    } else {
      b->in_activation = false;
      if (rc == 0 && b->i + 1 == b->n) { /* the task being processed */
        b->answered = true;
        run->answered_last_task = true;
      }
      b->i++;
    }
  }
  twe__watched_t *watch = twe__watch_self();
  while (!sliced && run->status == 0 && b->i < b->n) {
    /* Between events: a safe point to end a long replay's slice. */
    if (b->i > 0 && twe__watch_yield_due(watch)) {
      sliced = 1;
      break;
    }
    int rc = apply_event(run, b->events, b->i, b->n, &b->answered);
    if (rc == TWE__RUN_SLICED || rc == TWE__RUN_WAITING) {
      b->in_activation = true;
      sliced = rc;
      break;
    }
    b->i++;
  }
  if (sliced && run->status == 0) {
    out->status = sliced;
    return sliced;
  }
  bool answered = b->answered;
  twe_event_pb_t *const *events = b->events;
  size_t n = b->n;
  twe_arena_t *out_arena = b->out_arena;
  memset(b, 0, sizeof *b);
  if (run->status == 0) {
    /* A closed execution's history is complete: a command no event paired
     * with is one the code produced and the original run did not. */
    if (!answered && n && closes_execution((int)events[n - 1]->event_type))
      check_no_extra_commands(run);
    if (run->status == 0 && answered) answer(run, out_arena, out);
  }
  out->status = run->status;
  if (run->status < 0) {
    out->cause = run->cause;
    snprintf(out->message, sizeof out->message, "%s", run->message);
    out->commands = NULL;
    out->n_commands = 0;
    out->messages = NULL;
    out->n_messages = 0;
    out->closes_workflow = false;
    return out->status;
  }
  out->replay_only = !answered;
  return 0;
}

int twe__run_apply(twe_run_t *run, twe_event_pb_t *const *events, size_t n,
                   twe_arena_t *out_arena, twe_run_outcome_t *out) {
  twe__run_unstow(run);
  memset(&run->batch, 0, sizeof run->batch);
  run->batch.events = events;
  run->batch.n = n;
  run->batch.out_arena = out_arena;
  run->batch.active = true;
  /* Unusable since an earlier failure: batch_go repeats it. */
  return batch_go(run, out);
}

int twe__run_resume(twe_run_t *run, twe_run_outcome_t *out) {
  twe__run_unstow(run);
  if (!run->batch.active)
    twe__run_fail(run, -EINVAL, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                  "workflow run %s: resumed with no batch under way", run->info.run_id);
  return batch_go(run, out);
}

int twe__run_answer_now(twe_run_t *run, twe_run_outcome_t *out) {
  twe__run_unstow(run);
  struct twe__run_batch *b = &run->batch;
  if (!b->active || !b->in_activation || b->i + 1 != b->n)
    twe__run_fail(run, -EINVAL, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
                  "workflow run %s: answered early with no task waiting on local activities",
                  run->info.run_id);
  /* The activation stops here; what it still waits for comes in a later
   * task's (twe__locals_deliver). */
  b->in_activation = false;
  b->answered = true;
  run->answered_last_task = true;
  b->i = b->n;
  return batch_go(run, out);
}

int twe__run_check_replayed(twe_run_t *run, twe_run_outcome_t *out) {
  twe__run_unstow(run);
  /* The replayer hands over a whole history: every command the code
   * produced in a completed task must have found its event by now. */
  if (run->status == 0) check_no_extra_commands(run);
  out->status = run->status;
  if (run->status < 0) {
    out->cause = run->cause;
    snprintf(out->message, sizeof out->message, "%s", run->message);
  }
  return run->status;
}

/* --- life cycle and accessors --------------------------------------------------------- */

int twe__run_create(const twe_run_env_t *env, const char *workflow_id, const char *run_id,
                    twe_run_t **out) {
  /* The arena's first block follows the struct, aligned as arena memory. */
  size_t at = (sizeof(twe_run_t) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
  unsigned char *mem = malloc(RUN_ALLOC);
  if (!mem) return -ENOMEM;
  twe_run_t *run = (twe_run_t *)(void *)mem;
  memset(run, 0, sizeof *run);
  twe__arena_init_inline(&run->arena, 0, mem + at, RUN_ALLOC - at);
  run->env = *env;
  run->wf.magic = TWE__WORKFLOW_MAGIC;
  run->wf.run = run;
  run->next_event_id = 1;
  run->info.namespace_name = run_strdup(run, env->namespace_name);
  run->info.workflow_id = run_strdup(run, workflow_id);
  run->info.run_id = run_strdup(run, run_id);
  run->info.workflow_type = "";
  run->info.continued_from_run_id = "";
  run->info.parent_namespace = run->info.parent_workflow_id = run->info.parent_run_id = "";
  run->info.cron_schedule = "";
  run->info.first_execution_run_id = run->info.run_id;
  run->info.task_queue = run_strdup(run, env->task_queue);
  run->root_scope.run = run;
  if (!run->info.namespace_name || !run->info.workflow_id || !run->info.run_id ||
      !run->info.task_queue) {
    twe__arena_destroy(&run->arena);
    free(run);
    return -ENOMEM;
  }
  *out = run;
  return 0;
}

void twe__run_destroy(twe_run_t *run) {
  if (!run) return;
  /* Suspended fibers are abandoned: nothing on their stacks runs again;
   * stowed ones are not even put back. */
  for (twe__wfiber_t *w = run->all_fibers; w; w = w->next_all) {
    if (w->stowed) twe__fiber_destroy_stowed(w->fiber, w->stowed);
    else if (w->fiber) twe__fiber_destroy(w->fiber);
  }
  twe__json_release(run->json_keep);
  twe__arena_destroy(&run->arena);
  free(run);
}

void twe__run_set_messages(twe_run_t *run, Temporal__Api__Protocol__V1__Message *const *msgs,
                           size_t n) {
  run->live_messages = msgs;
  run->n_live_messages = n;
}

int64_t twe__run_start_time_ns(const twe_run_t *run) {
  return run->info.start_time_ns;
}

uint64_t twe__run_task_timeout_ns(const twe_run_t *run) {
  return run->info.task_timeout_ns;
}

int64_t twe__run_next_event_id(const twe_run_t *run) {
  return run->next_event_id;
}

int64_t twe__run_last_started_event_id(const twe_run_t *run) {
  return run->last_started_event_id;
}

const char *twe__run_workflow_type(const twe_run_t *run) {
  return run->info.workflow_type;
}

const char *twe__run_id(const twe_run_t *run) {
  return run->info.run_id;
}

uint64_t twe__run_ignored_events(const twe_run_t *run) {
  return run->ignored_events;
}

size_t twe__run_memory(const twe_run_t *run) {
  size_t bytes = RUN_ALLOC + run->arena.reserved_bytes;
  for (const twe__wfiber_t *w = run->all_fibers; w; w = w->next_all) {
    if (w->stowed) bytes += twe__fiber_stowed_bytes(w->stowed);
    else if (w->fiber) bytes += twe__fiber_resident_bytes(w->fiber);
  }
  return bytes;
}

bool twe__run_stowed(const twe_run_t *run) {
  return run->stowed;
}

bool twe__run_stow(twe_run_t *run) {
  if (run->batch.active || run->current || run->in_query || run->locals_in_flight ||
      run->local_req_head)
    return run->stowed;
  for (twe__wfiber_t *w = run->all_fibers; w; w = w->next_all) {
    if (!w->fiber || w->stowed) continue;
    if (twe__fiber_stow(w->fiber, &w->stowed) == 0) run->stowed = true;
    else w->stowed = NULL;
  }
  return run->stowed;
}

void twe__run_unstow(twe_run_t *run) {
  if (!run->stowed) return;
  for (twe__wfiber_t *w = run->all_fibers; w; w = w->next_all)
    if (w->stowed) {
      twe__fiber_unstow(w->fiber, w->stowed);
      w->stowed = NULL;
    }
  run->stowed = false;
}
