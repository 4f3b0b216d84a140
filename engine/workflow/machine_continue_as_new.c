/* engine/workflow/machine_continue_as_new.c — the machine of a run that
 * continues as new (twe_workflow_continue_as_new): its
 * CONTINUE_AS_NEW_WORKFLOW_EXECUTION command, built when the workflow
 * function returns, and the WORKFLOW_EXECUTION_CONTINUED_AS_NEW event
 * recorded for it; and the call that asks for it.
 *
 *   CREATED --SENT--> COMMAND_SENT --WORKFLOW_EXECUTION_CONTINUED_AS_NEW-->
 *     CONTINUED
 *   CREATED --WORKFLOW_EXECUTION_CONTINUED_AS_NEW--> CONTINUED   (replay)
 *
 * One per run, matched by its event type; the new run's type must match
 * (a changed type is a different program). */
#include <errno.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES

enum { CREATED, COMMAND_SENT, CONTINUED, N_STATES };
static const char *const state_names[N_STATES] = {"CREATED", "COMMAND_SENT", "CONTINUED"};

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, COMMAND_SENT, NULL},
    {CREATED, EV(WORKFLOW_EXECUTION_CONTINUED_AS_NEW), CONTINUED, NULL},
    {COMMAND_SENT, EV(WORKFLOW_EXECUTION_CONTINUED_AS_NEW), CONTINUED, NULL},
};
TWE__MKIND_HITS(hits, rows);

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)m;
  const Temporal__Api__History__V1__WorkflowExecutionContinuedAsNewEventAttributes *a =
      e->workflow_execution_continued_as_new_event_attributes;
  const Temporal__Api__Common__V1__WorkflowType *want =
      c->continue_as_new_workflow_execution_command_attributes->workflow_type;
  return !a->workflow_type || !want ||
         strcmp(a->workflow_type->name ? a->workflow_type->name : "",
                want->name ? want->name : "") == 0;
}

const twe__mkind_t twe__mk_continue_as_new = {
    .name = "continue as new",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .same_key = same_key,
    .hits = hits,
};

int twe__continue_as_new_command(twe_run_t *run) {
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  twe__machine_t *m = twe__machine_new(run, &twe__mk_continue_as_new, sizeof *m);
  if (!c || !m) return twe__run_oom(run);
  temporal__api__command__v1__command__init(c);
  c->command_type =
      TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION;
  c->attributes_case = CATTR(CONTINUE_AS_NEW_WORKFLOW_EXECUTION);
  c->continue_as_new_workflow_execution_command_attributes = run->continue_as_new;
  if (twe__machine_command(run, m, c) < 0) return twe__run_oom(run);
  run->closed = true;
  return 0;
}

/* The run's search attributes as the code sees them now (the newest
 * value of each), or NULL when it has none. */
static int current_search_attributes(twe_run_t *run,
                                     Temporal__Api__Common__V1__SearchAttributes **out) {
  *out = NULL;
  size_t n = 0;
  for (const struct twe__sa_set *set = run->search_attributes; set; set = set->next)
    n += set->sa->n_indexed_fields;
  if (!n) return 0;
  Temporal__Api__Common__V1__SearchAttributes *sa = twe__arena_alloc(&run->arena, sizeof *sa);
  Temporal__Api__Common__V1__SearchAttributes__IndexedFieldsEntry **fs =
      twe__arena_alloc(&run->arena, n * sizeof *fs);
  if (!sa || !fs) return twe__arena_error(&run->arena);
  temporal__api__common__v1__search_attributes__init(sa);
  size_t k = 0;
  for (const struct twe__sa_set *set = run->search_attributes; set; set = set->next)
    for (size_t i = 0; i < set->sa->n_indexed_fields; i++) {
      Temporal__Api__Common__V1__SearchAttributes__IndexedFieldsEntry *f =
          set->sa->indexed_fields[i];
      bool newer = false; /* a later set (earlier in the list) has it */
      for (size_t j = 0; j < k && !newer; j++) newer = twe__str_eq(fs[j]->key, f->key);
      if (!newer) fs[k++] = f;
    }
  sa->n_indexed_fields = k;
  sa->indexed_fields = fs;
  *out = sa;
  return 0;
}

int twe_workflow_continue_as_new(twe_workflow_t *wf, const twe_continue_as_new_options_t *opts,
                                 const twe_payload_t *args, size_t nargs) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (nargs && !args) return -EINVAL;
  twe_arena_t *a = &run->arena;
  Temporal__Api__Command__V1__ContinueAsNewWorkflowExecutionCommandAttributes *can =
      twe__arena_alloc(a, sizeof *can);
  Temporal__Api__Common__V1__WorkflowType *wt = twe__arena_alloc(a, sizeof *wt);
  Temporal__Api__Taskqueue__V1__TaskQueue *tq = twe__arena_alloc(a, sizeof *tq);
  if (!can || !wt || !tq) return twe__arena_error(a);
  temporal__api__command__v1__continue_as_new_workflow_execution_command_attributes__init(can);
  temporal__api__common__v1__workflow_type__init(wt);
  temporal__api__taskqueue__v1__task_queue__init(tq);
  wt->name = twe__str(a, opts && opts->workflow_type ? opts->workflow_type
                                                    : run->info.workflow_type);
  tq->name = twe__str(a, opts && opts->task_queue ? opts->task_queue : run->info.task_queue);
  tq->kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  if (!wt->name || !tq->name) return twe__arena_error(a);
  can->workflow_type = wt;
  can->task_queue = tq;
  if (nargs && (rc = twe__values_to_payloads(a, args, nargs, &can->input)) < 0) return rc;
  if (opts && opts->run_timeout_ns &&
      !(can->workflow_run_timeout = twe__duration_pb(a, opts->run_timeout_ns)))
    return twe__arena_error(a);
  if (opts && opts->task_timeout_ns &&
      !(can->workflow_task_timeout = twe__duration_pb(a, opts->task_timeout_ns)))
    return twe__arena_error(a);
  /* Memo and search attributes: the ones given, or this run's (as the
   * Python and TypeScript SDKs carry them over). */
  if (opts && opts->memo_count) {
    if ((rc = twe__memo_pb(a, opts->memo, opts->memo_count, &can->memo)) < 0) return rc;
  } else {
    can->memo = run->memo;
  }
  if (opts && opts->search_attributes_count) {
    if ((rc = twe__search_attributes_pb(a, opts->search_attributes,
                                        opts->search_attributes_count, &can->search_attributes)) <
        0)
      return rc;
  } else if ((rc = current_search_attributes(run, &can->search_attributes)) < 0) {
    return rc;
  }
  run->continue_as_new = can;
  return 0;
}
