/* engine/workflow/machines.c — the command/event state machines of a workflow run:
 * the kind table, the transition tables, the classification of history
 * events, and the descriptions non-determinism messages are made of. See
 * engine/workflow/machines.h. */
#include "engine/workflow/machines.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine/workflow/run_internal.h"
#include "temporal/api/enums/v1/command_type.pb-c.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "twe/error.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define CMD(x) TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_##x
#define ATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES

/* --- names ------------------------------------------------------------------ */

static const char *enum_name(const ProtobufCEnumDescriptor *desc, int value, const char *prefix) {
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
  if (!v) return NULL;
  size_t n = strlen(prefix);
  return strncmp(v->name, prefix, n) == 0 ? v->name + n : v->name;
}

const char *twe__event_type_name(int type) {
  const char *s = enum_name(&temporal__api__enums__v1__event_type__descriptor, type, "EVENT_TYPE_");
  return s ? s : "UNKNOWN_EVENT_TYPE";
}

const char *twe__command_type_name(int type) {
  const char *s =
      enum_name(&temporal__api__enums__v1__command_type__descriptor, type, "COMMAND_TYPE_");
  return s ? s : "UNKNOWN_COMMAND_TYPE";
}

const char *twe__mstate_name(twe__mstate_t state) {
  static const char *const names[TWE__MS_COUNT] = {"CREATED", "COMMAND_SENT", "INITIATED",
                                                   "STARTED", "RESOLVED"};
  return (unsigned)state < TWE__MS_COUNT ? names[state] : "?";
}

/* --- key attributes and descriptions ---------------------------------------- */

static bool str_eq(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

static const char *activity_type_of(const Temporal__Api__Common__V1__ActivityType *t) {
  return t && t->name ? t->name : "";
}

/* A command's or event's attributes, or NULL when the oneof holds another
 * (or no) member: never read a union member blindly. */
static const Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *
cmd_activity(const twe_command_pb_t *c) {
  return c->attributes_case == CATTR(SCHEDULE_ACTIVITY_TASK)
             ? c->schedule_activity_task_command_attributes
             : NULL;
}
static const Temporal__Api__Command__V1__StartTimerCommandAttributes *cmd_timer(
    const twe_command_pb_t *c) {
  return c->attributes_case == CATTR(START_TIMER) ? c->start_timer_command_attributes : NULL;
}
static const Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes *ev_activity(
    const twe_event_pb_t *e) {
  return e->attributes_case == ATTR(ACTIVITY_TASK_SCHEDULED)
             ? e->activity_task_scheduled_event_attributes
             : NULL;
}
static const Temporal__Api__History__V1__TimerStartedEventAttributes *ev_timer(
    const twe_event_pb_t *e) {
  return e->attributes_case == ATTR(TIMER_STARTED) ? e->timer_started_event_attributes : NULL;
}

/* Whether a command and the event recorded for it carry the same key. An
 * id twe generated is only a position (its sequence number), and commands
 * are already matched to events in order, so it is not compared: that adds
 * no check, and lets a history recorded by another SDK replay (the Go SDK
 * numbers ids by the event id it expects, sdk-core by a sequence per
 * command type). An id the code chose must match. */
static bool activity_same_key(const twe__machine_t *m, const twe_event_pb_t *e) {
  const Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *a =
      cmd_activity(m->command);
  const Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes *b = ev_activity(e);
  return a && b && (m->id_generated || str_eq(a->activity_id, b->activity_id)) &&
         str_eq(activity_type_of(a->activity_type), activity_type_of(b->activity_type));
}

static bool timer_same_key(const twe__machine_t *m, const twe_event_pb_t *e) {
  const Temporal__Api__Command__V1__StartTimerCommandAttributes *a = cmd_timer(m->command);
  const Temporal__Api__History__V1__TimerStartedEventAttributes *b = ev_timer(e);
  return a && b && (m->id_generated || str_eq(a->timer_id, b->timer_id));
}

/* Closing the workflow has no key: one per run, matched by type alone. */
static bool no_key(const twe__machine_t *m, const twe_event_pb_t *e) {
  (void)m, (void)e;
  return true;
}

void twe__command_describe(const twe_command_pb_t *c, char *buf, size_t len) {
  const char *name = twe__command_type_name((int)c->command_type);
  const Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *a = cmd_activity(c);
  const Temporal__Api__Command__V1__StartTimerCommandAttributes *t = cmd_timer(c);
  if (a)
    snprintf(buf, len, "%s (activity id \"%s\", type \"%s\")", name,
             a->activity_id ? a->activity_id : "", activity_type_of(a->activity_type));
  else if (t)
    snprintf(buf, len, "%s (timer id \"%s\")", name, t->timer_id ? t->timer_id : "");
  else
    snprintf(buf, len, "%s", name);
}

void twe__event_describe(const twe_event_pb_t *e, char *buf, size_t len) {
  const char *name = twe__event_type_name((int)e->event_type);
  const Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes *a = ev_activity(e);
  const Temporal__Api__History__V1__TimerStartedEventAttributes *t = ev_timer(e);
  if (a) {
    snprintf(buf, len, "%s (activity id \"%s\", type \"%s\")", name,
             a->activity_id ? a->activity_id : "", activity_type_of(a->activity_type));
  } else if (t) {
    snprintf(buf, len, "%s (timer id \"%s\")", name, t->timer_id ? t->timer_id : "");
  } else if (e->attributes_case == ATTR(MARKER_RECORDED) && e->marker_recorded_event_attributes) {
    const char *m = e->marker_recorded_event_attributes->marker_name;
    snprintf(buf, len, "%s (marker \"%s\")", name, m ? m : "");
  } else if (e->attributes_case == ATTR(START_CHILD_WORKFLOW_EXECUTION_INITIATED) &&
             e->start_child_workflow_execution_initiated_event_attributes) {
    const Temporal__Api__History__V1__StartChildWorkflowExecutionInitiatedEventAttributes *s =
        e->start_child_workflow_execution_initiated_event_attributes;
    snprintf(buf, len, "%s (workflow id \"%s\", type \"%s\")", name,
             s->workflow_id ? s->workflow_id : "",
             s->workflow_type && s->workflow_type->name ? s->workflow_type->name : "");
  } else if (e->attributes_case == ATTR(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED) &&
             e->signal_external_workflow_execution_initiated_event_attributes) {
    const char *s = e->signal_external_workflow_execution_initiated_event_attributes->signal_name;
    snprintf(buf, len, "%s (signal \"%s\")", name, s ? s : "");
  } else {
    snprintf(buf, len, "%s", name);
  }
}

/* --- actions ------------------------------------------------------------------ */

typedef int (*maction_fn)(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e);

/* The command's event is in the history: follow-ups will name its id. */
static int act_initiated(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e) {
  m->initiated_event_id = e->event_id;
  return twe__run_index_machine(run, e->event_id, m);
}

static int act_activity_completed(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e) {
  twe__run_unindex_machine(run, m->initiated_event_id);
  const Temporal__Api__History__V1__ActivityTaskCompletedEventAttributes *a =
      e->activity_task_completed_event_attributes;
  /* The code is promised that json/plain values are JSON. A bad result is
   * the activity's fault; the workflow sees it as the activity failing, the
   * same way on every replay. */
  if (a->result && a->result->n_payloads) {
    char why[256], msg[512];
    if (twe__value_check(a->result->payloads[0], why, sizeof why) < 0) {
      const Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *s =
          cmd_activity(m->command);
      snprintf(msg, sizeof msg, "activity \"%s\" returned a result that is not valid JSON: %s",
               s ? activity_type_of(s->activity_type) : "", why);
      return twe__run_resolve_error(run, m->future, "twe.InvalidArgument", msg);
    }
  }
  return twe__run_resolve_ok(run, m->future, a->result);
}

static int resolve_failure(twe_run_t *run, twe__machine_t *m, const twe_failure_pb_t *f,
                           const char *fallback_type, const char *fallback_message) {
  twe__run_unindex_machine(run, m->initiated_event_id);
  if (f) return twe__run_resolve_failed(run, m->future, f);
  return twe__run_resolve_error(run, m->future, fallback_type, fallback_message);
}

static int act_activity_failed(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e) {
  return resolve_failure(run, m, e->activity_task_failed_event_attributes->failure, "Error",
                         "activity failed");
}

static int act_activity_timed_out(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e) {
  return resolve_failure(run, m, e->activity_task_timed_out_event_attributes->failure,
                         "TimeoutError", "activity timed out");
}

static int act_activity_canceled(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e) {
  (void)e;
  return resolve_failure(run, m, NULL, "CanceledError", "activity canceled");
}

static int act_timer_fired(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e) {
  (void)e;
  twe__run_unindex_machine(run, m->initiated_event_id);
  return twe__run_resolve_ok(run, m->future, NULL);
}

/* --- the tables ------------------------------------------------------------ */

typedef struct mtransition {
  twe__mstate_t from;
  int event_type;
  twe__mstate_t to;
  maction_fn action; /* NULL: only the state changes */
} mtransition_t;

/* A command's event may arrive while the command waits to be sent (replay:
 * the history already has it) or after it was sent (the live task). */
#define FROM_CREATED_OR_SENT(ev, to, action) \
  {TWE__MS_CREATED, ev, to, action}, { TWE__MS_COMMAND_SENT, ev, to, action }

static const mtransition_t activity_transitions[] = {
    FROM_CREATED_OR_SENT(EV(ACTIVITY_TASK_SCHEDULED), TWE__MS_INITIATED, act_initiated),
    {TWE__MS_INITIATED, EV(ACTIVITY_TASK_STARTED), TWE__MS_STARTED, NULL},
    /* The server writes STARTED only when the last attempt ends, just before
     * COMPLETED/FAILED; a timeout or a cancellation may come without it. */
    {TWE__MS_STARTED, EV(ACTIVITY_TASK_COMPLETED), TWE__MS_RESOLVED, act_activity_completed},
    {TWE__MS_STARTED, EV(ACTIVITY_TASK_FAILED), TWE__MS_RESOLVED, act_activity_failed},
    {TWE__MS_INITIATED, EV(ACTIVITY_TASK_TIMED_OUT), TWE__MS_RESOLVED, act_activity_timed_out},
    {TWE__MS_STARTED, EV(ACTIVITY_TASK_TIMED_OUT), TWE__MS_RESOLVED, act_activity_timed_out},
    {TWE__MS_INITIATED, EV(ACTIVITY_TASK_CANCELED), TWE__MS_RESOLVED, act_activity_canceled},
    {TWE__MS_STARTED, EV(ACTIVITY_TASK_CANCELED), TWE__MS_RESOLVED, act_activity_canceled},
};

static const mtransition_t timer_transitions[] = {
    FROM_CREATED_OR_SENT(EV(TIMER_STARTED), TWE__MS_INITIATED, act_initiated),
    {TWE__MS_INITIATED, EV(TIMER_FIRED), TWE__MS_RESOLVED, act_timer_fired},
};

static const mtransition_t complete_transitions[] = {
    FROM_CREATED_OR_SENT(EV(WORKFLOW_EXECUTION_COMPLETED), TWE__MS_RESOLVED, NULL),
};

static const mtransition_t fail_transitions[] = {
    FROM_CREATED_OR_SENT(EV(WORKFLOW_EXECUTION_FAILED), TWE__MS_RESOLVED, NULL),
};

typedef struct mkind_desc {
  const char *name;
  int command_type;
  int initiating_event;
  bool (*same_key)(const twe__machine_t *m, const twe_event_pb_t *e);
  const mtransition_t *transitions;
  size_t n_transitions;
} mkind_desc_t;

#define TRANSITIONS(t) t, sizeof t / sizeof t[0]
static const mkind_desc_t kinds[TWE__MK_COUNT] = {
    [TWE__MK_ACTIVITY] = {"activity", CMD(SCHEDULE_ACTIVITY_TASK), EV(ACTIVITY_TASK_SCHEDULED),
                          activity_same_key, TRANSITIONS(activity_transitions)},
    [TWE__MK_TIMER] = {"timer", CMD(START_TIMER), EV(TIMER_STARTED), timer_same_key,
                       TRANSITIONS(timer_transitions)},
    [TWE__MK_COMPLETE_WORKFLOW] = {"complete workflow", CMD(COMPLETE_WORKFLOW_EXECUTION),
                                   EV(WORKFLOW_EXECUTION_COMPLETED), no_key,
                                   TRANSITIONS(complete_transitions)},
    [TWE__MK_FAIL_WORKFLOW] = {"fail workflow", CMD(FAIL_WORKFLOW_EXECUTION),
                               EV(WORKFLOW_EXECUTION_FAILED), no_key,
                               TRANSITIONS(fail_transitions)},
};

const char *twe__mkind_name(twe__mkind_t kind) {
  return (unsigned)kind < TWE__MK_COUNT ? kinds[kind].name : "?";
}

int twe__mkind_command_type(twe__mkind_t kind) {
  return kinds[kind].command_type;
}

/* --- event classification ---------------------------------------------------- */

static void follow_up(twe__event_class_t *out, twe__mkind_t kind, const void *attrs,
                      int64_t ref, const char *ref_name) {
  out->role = TWE__EVENT_FOLLOW_UP;
  out->kind = kind;
  out->malformed = attrs == NULL;
  out->ref_event_id = ref;
  out->ref_name = ref_name;
}

#define REF(attrs, field) ((attrs) ? (attrs)->field : 0)
#define IF_CASE(e, c, member) ((e)->attributes_case == ATTR(c) ? (e)->member : NULL)

void twe__event_classify(const twe_event_pb_t *e, twe__event_class_t *out) {
  memset(out, 0, sizeof *out);
  switch ((int)e->event_type) {
    case EV(WORKFLOW_EXECUTION_STARTED):
      out->role = TWE__EVENT_WORKFLOW_STARTED;
      out->malformed = !IF_CASE(e, WORKFLOW_EXECUTION_STARTED,
                                workflow_execution_started_event_attributes);
      break;
    case EV(WORKFLOW_TASK_SCHEDULED):
    case EV(WORKFLOW_TASK_STARTED):
    case EV(WORKFLOW_TASK_COMPLETED):
    case EV(WORKFLOW_TASK_FAILED):
    case EV(WORKFLOW_TASK_TIMED_OUT):
      out->role = TWE__EVENT_TASK;
      break;

    /* Events written from commands, in the order the commands were sent. */
    case EV(ACTIVITY_TASK_SCHEDULED):
      out->role = TWE__EVENT_COMMAND;
      out->malformed = !ev_activity(e);
      break;
    case EV(TIMER_STARTED):
      out->role = TWE__EVENT_COMMAND;
      out->malformed = !ev_timer(e);
      break;
    case EV(WORKFLOW_EXECUTION_COMPLETED):
    case EV(WORKFLOW_EXECUTION_FAILED):
      out->role = TWE__EVENT_COMMAND;
      break;
    /* Also command events; the code cannot produce their commands yet, so
     * one in the history never pairs: non-determinism, as it must be. */
    case EV(ACTIVITY_TASK_CANCEL_REQUESTED):
    case EV(TIMER_CANCELED):
    case EV(MARKER_RECORDED):
    case EV(START_CHILD_WORKFLOW_EXECUTION_INITIATED):
    case EV(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED):
    case EV(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED):
    case EV(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES):
    case EV(WORKFLOW_PROPERTIES_MODIFIED):
    case EV(WORKFLOW_EXECUTION_CANCELED):
    case EV(WORKFLOW_EXECUTION_CONTINUED_AS_NEW):
    case EV(NEXUS_OPERATION_SCHEDULED):
    case EV(NEXUS_OPERATION_CANCEL_REQUESTED):
      out->role = TWE__EVENT_COMMAND;
      break;

    case EV(ACTIVITY_TASK_STARTED): {
      const Temporal__Api__History__V1__ActivityTaskStartedEventAttributes *a =
          IF_CASE(e, ACTIVITY_TASK_STARTED, activity_task_started_event_attributes);
      follow_up(out, TWE__MK_ACTIVITY, a, REF(a, scheduled_event_id), "scheduled");
      break;
    }
    case EV(ACTIVITY_TASK_COMPLETED): {
      const Temporal__Api__History__V1__ActivityTaskCompletedEventAttributes *a =
          IF_CASE(e, ACTIVITY_TASK_COMPLETED, activity_task_completed_event_attributes);
      follow_up(out, TWE__MK_ACTIVITY, a, REF(a, scheduled_event_id), "scheduled");
      break;
    }
    case EV(ACTIVITY_TASK_FAILED): {
      const Temporal__Api__History__V1__ActivityTaskFailedEventAttributes *a =
          IF_CASE(e, ACTIVITY_TASK_FAILED, activity_task_failed_event_attributes);
      follow_up(out, TWE__MK_ACTIVITY, a, REF(a, scheduled_event_id), "scheduled");
      break;
    }
    case EV(ACTIVITY_TASK_TIMED_OUT): {
      const Temporal__Api__History__V1__ActivityTaskTimedOutEventAttributes *a =
          IF_CASE(e, ACTIVITY_TASK_TIMED_OUT, activity_task_timed_out_event_attributes);
      follow_up(out, TWE__MK_ACTIVITY, a, REF(a, scheduled_event_id), "scheduled");
      break;
    }
    case EV(ACTIVITY_TASK_CANCELED): {
      const Temporal__Api__History__V1__ActivityTaskCanceledEventAttributes *a =
          IF_CASE(e, ACTIVITY_TASK_CANCELED, activity_task_canceled_event_attributes);
      follow_up(out, TWE__MK_ACTIVITY, a, REF(a, scheduled_event_id), "scheduled");
      break;
    }
    case EV(TIMER_FIRED): {
      const Temporal__Api__History__V1__TimerFiredEventAttributes *a =
          IF_CASE(e, TIMER_FIRED, timer_fired_event_attributes);
      follow_up(out, TWE__MK_TIMER, a, REF(a, started_event_id), "started");
      break;
    }

    case EV(WORKFLOW_EXECUTION_SIGNALED):
      out->role = TWE__EVENT_JOB;
      out->feature = "signals are not supported yet";
      break;
    case EV(WORKFLOW_EXECUTION_CANCEL_REQUESTED):
      out->role = TWE__EVENT_JOB;
      out->feature = "workflow cancellation is not supported yet";
      break;
    case EV(WORKFLOW_EXECUTION_UPDATE_ADMITTED):
    case EV(WORKFLOW_EXECUTION_UPDATE_ACCEPTED):
    case EV(WORKFLOW_EXECUTION_UPDATE_REJECTED):
    case EV(WORKFLOW_EXECUTION_UPDATE_COMPLETED):
      out->role = TWE__EVENT_JOB;
      out->feature = "updates are not supported yet";
      break;
    /* Results of commands the code cannot send yet (children, external
     * signals and cancellations, Nexus): nothing can be waiting for them. */
    case EV(START_CHILD_WORKFLOW_EXECUTION_FAILED):
    case EV(CHILD_WORKFLOW_EXECUTION_STARTED):
    case EV(CHILD_WORKFLOW_EXECUTION_COMPLETED):
    case EV(CHILD_WORKFLOW_EXECUTION_FAILED):
    case EV(CHILD_WORKFLOW_EXECUTION_CANCELED):
    case EV(CHILD_WORKFLOW_EXECUTION_TIMED_OUT):
    case EV(CHILD_WORKFLOW_EXECUTION_TERMINATED):
    case EV(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED):
    case EV(EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED):
    case EV(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED):
    case EV(EXTERNAL_WORKFLOW_EXECUTION_SIGNALED):
    case EV(NEXUS_OPERATION_STARTED):
    case EV(NEXUS_OPERATION_COMPLETED):
    case EV(NEXUS_OPERATION_FAILED):
    case EV(NEXUS_OPERATION_CANCELED):
    case EV(NEXUS_OPERATION_TIMED_OUT):
    case EV(NEXUS_OPERATION_CANCEL_REQUEST_COMPLETED):
    case EV(NEXUS_OPERATION_CANCEL_REQUEST_FAILED):
      out->role = TWE__EVENT_JOB;
      out->feature = "child workflows, external signals and Nexus are not supported yet";
      break;

    case EV(WORKFLOW_EXECUTION_TERMINATED):
    case EV(WORKFLOW_EXECUTION_TIMED_OUT):
    case EV(WORKFLOW_PROPERTIES_MODIFIED_EXTERNALLY):
    case EV(ACTIVITY_PROPERTIES_MODIFIED_EXTERNALLY):
    case EV(WORKFLOW_EXECUTION_OPTIONS_UPDATED):
    case EV(WORKFLOW_EXECUTION_PAUSED):
    case EV(WORKFLOW_EXECUTION_UNPAUSED):
      out->role = TWE__EVENT_INFO;
      break;
    default:
      out->role = e->worker_may_ignore ? TWE__EVENT_INFO : TWE__EVENT_UNKNOWN;
      break;
  }
}

/* --- applying events ------------------------------------------------------------ */

static int transition(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e) {
  const mkind_desc_t *k = &kinds[m->kind];
  for (size_t i = 0; i < k->n_transitions; i++) {
    const mtransition_t *t = &k->transitions[i];
    if (t->from != m->state || t->event_type != (int)e->event_type) continue;
    m->state = t->to;
    return t->action ? t->action(run, m, e) : 0;
  }
  char cmd[256];
  twe__command_describe(m->command, cmd, sizeof cmd);
  return twe__run_nondeterminism(
      run,
      "history event %" PRId64 " %s is not valid in state %s of the %s machine of %s "
      "(event %" PRId64 ")",
      e->event_id, twe__event_type_name((int)e->event_type), twe__mstate_name(m->state), k->name,
      cmd, m->initiated_event_id);
}

int twe__machine_match(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e) {
  const mkind_desc_t *k = &kinds[m->kind];
  if ((int)e->event_type != k->initiating_event || !k->same_key(m, e)) {
    char ev[256], cmd[256];
    twe__event_describe(e, ev, sizeof ev);
    twe__command_describe(m->command, cmd, sizeof cmd);
    return twe__run_nondeterminism(
        run, "history event %" PRId64 " %s does not match the command the code produced: %s",
        e->event_id, ev, cmd);
  }
  return transition(run, m, e);
}

int twe__machine_apply(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e) {
  return transition(run, m, e);
}

void twe__machine_sent(twe__machine_t *m) {
  if (m->state == TWE__MS_CREATED) m->state = TWE__MS_COMMAND_SENT;
}
