/* engine/workflow/machine.h — what every state machine of a workflow run
 * shares: the kind table, the rows, the commands a machine sends, the
 * index that finds a machine by its initiating event, and the
 * classification and description of history events.
 *
 * Each thing the code starts (an activity, a timer, the workflow's end ...)
 * is a machine of one kind. A kind lives in one file, machine_<kind>.c: its
 * states, its rows, its per-kind data (a struct whose first member is
 * twe__machine_t), the workflow API call that creates it and the builder of
 * its commands. run.c does not change when a kind is added.
 *
 * Rows are {from, input, to, action}. An input is a history event type (> 0:
 * the event recorded for one of the machine's commands, or a follow-up that
 * names the machine's initiating event) or something the run or the code
 * does (< 0: TWE__IN_*). The action runs before the state changes and may
 * pick another destination by writing *to. An input no row takes is
 * non-determinism (an event) or a bug in the kind (a code input), reported
 * with the machine's kind, state and command.
 *
 * Commands: a machine queues its commands (twe__machine_command) on the
 * run's pending queue (a machine may have more than one there: an update's
 * acceptance and completion), where they wait, in the order the code produced
 * them, for the history event recorded for them (a kind with claims set
 * pairs by key, in any order). A command not sent yet can
 * be dropped (twe__machine_drop_command: cancelled before it went out).
 * Command events pair with the oldest pending command; a kind's same_key
 * then compares the attributes that identify it.
 *
 * Row coverage: built with TWE_MACHINE_COVERAGE (the test build), each row
 * counts how often it was taken, and twe__machine_rows_unreached lists the
 * rows no input reached.
 *
 * Thread: the run's shard thread. */
#ifndef TWE_ENGINE_WORKFLOW_MACHINE_H
#define TWE_ENGINE_WORKFLOW_MACHINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "engine/values.h"
#include "engine/workflow/run.h"
#include "proto/payload.h"

typedef struct twe__machine twe__machine_t;
typedef struct twe__command twe__command_t;
typedef struct twe__mkind twe__mkind_t;

/* Inputs that are not history events. */
enum {
  TWE__IN_SENT = -1,   /* the machine's command went out in a task's answer */
  TWE__IN_CANCEL = -2, /* the code cancels what the machine started */
  TWE__IN_ACCEPT = -3,   /* an update passed its validator (or was replayed) */
  TWE__IN_REJECT = -4,   /* an update failed its validator, or has no handler */
  TWE__IN_COMPLETE = -5, /* an update's handler returned */
  TWE__IN_RESULT = -6,   /* a local activity's outcome: the worker's, or a replayed marker's */
  TWE__IN_EXECUTE = -7,  /* a local activity replay left waiting: the task is live, run it */
};

/* An action: e is the event (NULL for TWE__IN_* inputs); *to holds the
 * row's destination and may be changed. Returns 0 or a fatal status
 * recorded in run (twe__run_fail). */
typedef int (*twe__maction_fn)(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e,
                               int *to);

/* Whether two strings are equal, NULL counting as "" (key comparisons of
 * commands and events, whose strings protobuf-c may leave NULL). */
static inline bool twe__str_eq(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The common action of a command's initiating event (ACTIVITY_TASK_SCHEDULED,
 * TIMER_STARTED): remembers its id and indexes m under it, so follow-ups
 * find m. */
int twe__machine_act_initiated(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e,
                               int *to);

typedef struct twe__mrow {
  int from;
  int input; /* an event type, or TWE__IN_* */
  int to;
  twe__maction_fn action; /* NULL: only the state changes */
} twe__mrow_t;

/* An event that refers to an open machine of the kind by an earlier event
 * id (ACTIVITY_TASK_STARTED names its scheduled event, TIMER_FIRED its
 * started event). */
typedef struct twe__mfollow_up {
  int event_type;
  int attributes_case; /* the oneof member the event must carry */
  int64_t (*ref)(const twe_event_pb_t *e);
  const char *ref_name; /* "scheduled", "started" */
} twe__mfollow_up_t;

struct twe__mkind {
  const char *name; /* "activity", "timer" */
  const char *const *states;
  int n_states;
  const twe__mrow_t *rows;
  size_t n_rows;
  const twe__mfollow_up_t *follow_ups;
  size_t n_follow_ups;
  /* Whether event e, recorded for command c of m (the event type already
   * checked), carries the same key attributes (activity id and type, timer
   * id). */
  bool (*same_key)(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e);
  /* The code cancels what m started (twe_future_cancel): a no-op once it
   * is over. NULL: the kind cannot be cancelled. Returns 0 or a fatal
   * status. */
  int (*cancel)(twe_run_t *run, twe__machine_t *m);
  /* What a fiber waiting on m waits for, for __stack_trace: "activity Greet
   * (id 3)", "timer 2 (30.000 s)". NULL: the kind's name. */
  void (*describe)(const twe__machine_t *m, char *buf, size_t len);
  /* Set for kinds whose commands' events may stand anywhere among the
   * task's other command events (a local activity's marker lands where its
   * result came in): whether e is one of them. Such an event pairs with
   * the first pending command of the kind with the same key; other events
   * pass over the kind's pending commands. NULL: events pair in order. */
  bool (*claims)(const twe_event_pb_t *e);
  /* Whether e, a command event of this kind that pairs with no pending
   * command, may be skipped: the code no longer produces it on purpose (a
   * deprecated patch's marker). NULL: never. */
  bool (*skippable)(const twe_event_pb_t *e);
  unsigned *hits; /* per row, counted with TWE_MACHINE_COVERAGE */
};

/* A kind's rows and their hit counters. */
#define TWE__MKIND_ROWS(rows) rows, sizeof rows / sizeof rows[0]
#define TWE__MKIND_HITS(var, rows) static unsigned var[sizeof rows / sizeof rows[0]]

/* The common part of every machine; per-kind data embeds it first. */
struct twe__machine {
  const twe__mkind_t *kind;
  int state;
  /* The command that created the machine: what messages describe it by. */
  twe_command_pb_t *origin;
  /* Its command waiting for its event (queued, or sent), else NULL. */
  twe__command_t *command;
  int64_t initiated_event_id; /* its initiating event; 0 until recorded */
  /* The command's id (activity, timer) is twe's own sequence number, not
   * one the code chose: replay does not compare it (see same_key). */
  bool id_generated;
  /* The cancellation scope it was started in (kinds with a cancel), and
   * the next machine of that scope. */
  twe_scope_t *scope;
  twe__machine_t *scope_next;
};

/* A command on the run's pending queue. */
struct twe__command {
  twe_command_pb_t *pb; /* in the run arena */
  twe__machine_t *machine;
  bool sent;
  twe__command_t *prev, *next;
};

/* The kinds, for the classification of events and the coverage report. */
extern const twe__mkind_t twe__mk_activity;
extern const twe__mkind_t twe__mk_timer;
extern const twe__mkind_t twe__mk_complete_workflow;
extern const twe__mkind_t twe__mk_fail_workflow;
extern const twe__mkind_t twe__mk_update;
extern const twe__mkind_t twe__mk_cancel_workflow;
extern const twe__mkind_t twe__mk_continue_as_new;
extern const twe__mkind_t twe__mk_upsert_search_attributes;
extern const twe__mkind_t twe__mk_patch;
extern const twe__mkind_t twe__mk_signal_external;
extern const twe__mkind_t twe__mk_cancel_external;
extern const twe__mkind_t twe__mk_side_effect;
extern const twe__mkind_t twe__mk_child;
extern const twe__mkind_t twe__mk_local_activity;
extern const twe__mkind_t twe__mk_version;
extern const twe__mkind_t twe__mk_mutable_side_effect;

/* A RECORD_MARKER command named name (a static string) with details
 * keys[i] -> values[i] (i < n; keys static, values in the run arena) and
 * failure (may be NULL), in the run arena, in *out. Returns 0 or the
 * arena's error. */
int twe__marker_command_new(twe_run_t *run, const char *name, const char *const *keys,
                            twe_payloads_pb_t *const *values, size_t n, twe_failure_pb_t *failure,
                            twe_command_pb_t **out);
/* Payloads of one json/plain payload holding text (copied), in the run
 * arena. Returns 0 or the arena's error. */
int twe__json_payloads_new(twe_run_t *run, const char *text, twe_payloads_pb_t **out);
/* The first payload's bytes of marker detail key of event e (a
 * MARKER_RECORDED), or NULL. */
const ProtobufCBinaryData *twe__marker_detail(const twe_event_pb_t *e, const char *key);

/* A new machine of kind in state 0, size bytes (its per-kind struct) from
 * the run arena, zeroed. NULL when out of memory. */
void *twe__machine_new(twe_run_t *run, const twe__mkind_t *kind, size_t size);
/* Queues pb (in the run arena) as m's command, after every pending one; the
 * first command queued becomes m's origin. Returns 0 or the arena's error
 * (-ENOMEM, TWE_ELIMIT), which the caller decides about. */
int twe__machine_command(twe_run_t *run, twe__machine_t *m, twe_command_pb_t *pb);
/* Takes m's command off the queue before it was sent. */
void twe__machine_drop_command(twe_run_t *run, twe__machine_t *m);
/* Feeds input (and e, for an event) to m by its kind's rows. Returns 0, or
 * a status recorded in run: TWE_ENONDETERMINISM for an event no row takes
 * in m's state, -EPROTO for a code input none takes, or an action's. */
int twe__machine_input(twe_run_t *run, twe__machine_t *m, int input, const twe_event_pb_t *e);
/* Pairs command event e with the oldest pending command (of an unordered
 * kind, see claims: its first with the same key): the event must be the
 * one recorded for that command, with the same key; then feeds it to the
 * command's machine. Returns 0, or TWE_ENONDETERMINISM / a fatal status
 * recorded in run. */
int twe__machine_record(twe_run_t *run, const twe_event_pb_t *e);
/* Marks every pending command sent (TWE__IN_SENT to each machine) and
 * hands out their protobufs, oldest first, in cmds[0..*n) (cmds from
 * out_arena). Returns 0 or a fatal status. */
int twe__machine_send_all(twe_run_t *run, twe_arena_t *out_arena, twe_command_pb_t ***cmds,
                          size_t *n);

/* Indexes m under its initiating event id, so follow-up events find it. */
int twe__machine_index(twe_run_t *run, int64_t event_id, twe__machine_t *m);
void twe__machine_unindex(twe_run_t *run, int64_t event_id);
twe__machine_t *twe__machine_find(const twe_run_t *run, int64_t event_id);

/* What a history event is to the machines. */
typedef enum twe__event_role {
  TWE__EVENT_OTHER,     /* not a machine's (run.c decides) */
  TWE__EVENT_COMMAND,   /* recorded from a command: pairs with the oldest pending one */
  TWE__EVENT_FOLLOW_UP, /* refers to an open machine by an earlier event id */
} twe__event_role_t;

typedef struct twe__event_class {
  twe__event_role_t role;
  const twe__mkind_t *kind; /* FOLLOW_UP: the kind of machine it refers to */
  int64_t ref_event_id;     /* FOLLOW_UP: the scheduled / started event id */
  const char *ref_name;     /* FOLLOW_UP: "scheduled" or "started" */
  bool malformed;           /* the attributes the machines read are missing */
} twe__event_class_t;

void twe__machine_classify(const twe_event_pb_t *e, twe__event_class_t *out);
/* Feeds follow-up e (classified as c) to the machine it names. Returns 0 or
 * a status recorded in run (TWE_ENONDETERMINISM when no open machine of
 * that kind has that event id). */
int twe__machine_follow_up(twe_run_t *run, const twe_event_pb_t *e, const twe__event_class_t *c);

/* "ACTIVITY_TASK_SCHEDULED", "START_TIMER" (the enum names without their
 * EVENT_TYPE_ / COMMAND_TYPE_ prefix). Static strings. */
const char *twe__event_type_name(int type);
const char *twe__command_type_name(int type);
/* For messages: `ACTIVITY_TASK_SCHEDULED (activity id "1", type "Greet")`,
 * `START_TIMER (timer id "1")`, `COMPLETE_WORKFLOW_EXECUTION`. */
void twe__event_describe(const twe_event_pb_t *e, char *buf, size_t len);
void twe__command_describe(const twe_command_pb_t *c, char *buf, size_t len);

/* Prints each row that no input reached ("timer: STARTED --CANCEL-->
 * CANCEL_CREATED") of the kinds named in kinds[0..n) (n 0: every kind) to
 * out; returns how many, or -ENOTSUP when built without
 * TWE_MACHINE_COVERAGE (or -EINVAL for a name no kind has). */
int twe__machine_rows_unreached(FILE *out, const char *const *kinds, size_t n);

#endif /* TWE_ENGINE_WORKFLOW_MACHINE_H */
