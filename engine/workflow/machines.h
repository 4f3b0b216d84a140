/* engine/workflow/machines.h — the state machines that pair a workflow's commands
 * with the history events they cause.
 *
 * Every command the code produces (schedule an activity, start a timer,
 * complete the workflow ...) gets a machine. The machine waits in the run's
 * pending queue until the history shows the command's event (its
 * "initiating" event: ACTIVITY_TASK_SCHEDULED, TIMER_STARTED, ...), then is
 * found by that event's id by the events that follow (ACTIVITY_TASK_STARTED,
 * _COMPLETED, TIMER_FIRED, ...) until it is resolved.
 *
 * The machines are table-driven: one row per kind (its command type, its
 * initiating event, how to compare their key attributes and describe them)
 * and a transition table per kind {state, event type -> next state, action}.
 * A new kind (child workflow, signal/cancel external, marker, update,
 * continue-as-new, search attributes, cancel timer/activity) is a new
 * enumerator, a row and a transition table; run.c does not change.
 *
 * Thread: the run's shard thread. */
#ifndef TWE_ENGINE_MACHINES_H
#define TWE_ENGINE_MACHINES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "engine/workflow/run.h"
#include "twe/workflow.h"

typedef enum twe__mkind {
  TWE__MK_ACTIVITY,
  TWE__MK_TIMER,
  TWE__MK_COMPLETE_WORKFLOW,
  TWE__MK_FAIL_WORKFLOW,
  TWE__MK_COUNT
} twe__mkind_t;

typedef enum twe__mstate {
  TWE__MS_CREATED,      /* the code produced the command; no event yet */
  TWE__MS_COMMAND_SENT, /* the command went out in a task's answer */
  TWE__MS_INITIATED,    /* its event is in the history (scheduled / started) */
  TWE__MS_STARTED,      /* activity: a worker picked it up */
  TWE__MS_RESOLVED,     /* final: the future has its outcome */
  TWE__MS_COUNT
} twe__mstate_t;

typedef struct twe__machine {
  twe__mkind_t kind;
  twe__mstate_t state;
  twe_command_pb_t *command;  /* in the run arena */
  twe_future_t *future;       /* NULL for commands nobody waits on */
  int64_t initiated_event_id; /* its initiating event; 0 until matched */
  /* The command's id (activity, timer) is twe's own sequence number, not
   * one the code chose: replay then does not compare it (see same_key in
   * machines.c). */
  bool id_generated;
  struct twe__machine *next_pending;
} twe__machine_t;

/* What a history event is to the run. */
typedef enum twe__event_role {
  TWE__EVENT_UNKNOWN,          /* a type this engine does not know */
  TWE__EVENT_WORKFLOW_STARTED, /* WORKFLOW_EXECUTION_STARTED */
  TWE__EVENT_TASK,             /* WORKFLOW_TASK_* bookkeeping */
  TWE__EVENT_COMMAND,          /* recorded from a command: pairs with the oldest pending one */
  TWE__EVENT_FOLLOW_UP,        /* refers to an open machine by an earlier event id */
  TWE__EVENT_JOB,              /* would wake the code (signal, cancel, update): not supported yet */
  TWE__EVENT_INFO,             /* changes nothing the code sees */
} twe__event_role_t;

typedef struct twe__event_class {
  twe__event_role_t role;
  twe__mkind_t kind;    /* FOLLOW_UP: the kind of machine it refers to */
  int64_t ref_event_id; /* FOLLOW_UP: the scheduled / started event id */
  const char *ref_name; /* FOLLOW_UP: "scheduled" or "started" */
  const char *feature;  /* JOB: what is missing ("signals are not supported yet") */
  bool malformed;       /* the attributes the run reads are missing */
} twe__event_class_t;

void twe__event_classify(const twe_event_pb_t *e, twe__event_class_t *out);

/* "ACTIVITY_TASK_SCHEDULED", "START_TIMER" (the enum names without their
 * EVENT_TYPE_ / COMMAND_TYPE_ prefix); "EVENT_TYPE_<n>" style for unknown
 * numbers. Static strings, or buf. */
const char *twe__event_type_name(int type);
const char *twe__command_type_name(int type);
const char *twe__mkind_name(twe__mkind_t kind);
const char *twe__mstate_name(twe__mstate_t state);

/* For messages: `ACTIVITY_TASK_SCHEDULED (activity id "1", type "Greet")`,
 * `START_TIMER (timer id "1")`, `COMPLETE_WORKFLOW_EXECUTION`. */
void twe__event_describe(const twe_event_pb_t *e, char *buf, size_t len);
void twe__command_describe(const twe_command_pb_t *c, char *buf, size_t len);

/* The kind's command type (what twe__run_add_command is given). */
int twe__mkind_command_type(twe__mkind_t kind);

/* Pairs the command event e with m, the oldest pending machine: checks e is
 * m's initiating event with the same key attributes, then applies it.
 * Returns 0, or TWE_ENONDETERMINISM / a fatal status recorded in run. */
int twe__machine_match(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e);
/* Applies a follow-up event to m by its kind's transition table. Returns 0,
 * or TWE_ENONDETERMINISM (the event is not valid in m's state) / a fatal
 * status, recorded in run. */
int twe__machine_apply(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e);
/* m's command went out in a task's answer. */
void twe__machine_sent(twe__machine_t *m);

#endif /* TWE_ENGINE_MACHINES_H */
