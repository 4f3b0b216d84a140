/* engine/workflow/machine_fail_workflow.c — the machine of a workflow that
 * fails: its FAIL_WORKFLOW_EXECUTION command (with the failure
 * twe_workflow_fail set, or the input check's), built when the workflow
 * function returns, and the WORKFLOW_EXECUTION_FAILED event recorded for it.
 *
 *   CREATED --SENT--> COMMAND_SENT --WORKFLOW_EXECUTION_FAILED--> FAILED
 *   CREATED --WORKFLOW_EXECUTION_FAILED--> FAILED   (replay)
 *
 * One per run, so it has no key: matched by its event type alone. */
#include <string.h>

#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES

enum { CREATED, COMMAND_SENT, FAILED, N_STATES };
static const char *const state_names[N_STATES] = {"CREATED", "COMMAND_SENT", "FAILED"};

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, COMMAND_SENT, NULL},
    {CREATED, EV(WORKFLOW_EXECUTION_FAILED), FAILED, NULL},
    {COMMAND_SENT, EV(WORKFLOW_EXECUTION_FAILED), FAILED, NULL},
};
TWE__MKIND_HITS(hits, rows);

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)m, (void)c, (void)e;
  return true;
}

const twe__mkind_t twe__mk_fail_workflow = {
    .name = "fail workflow",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .same_key = same_key,
    .hits = hits,
};

int twe__fail_workflow_command(twe_run_t *run) {
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__FailWorkflowExecutionCommandAttributes *f =
      twe__arena_alloc(a, sizeof *f);
  twe__machine_t *m = twe__machine_new(run, &twe__mk_fail_workflow, sizeof *m);
  if (!c || !f || !m) return twe__run_oom(run);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__fail_workflow_execution_command_attributes__init(f);
  f->failure = run->failure;
  c->command_type = TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION;
  c->attributes_case = CATTR(FAIL_WORKFLOW_EXECUTION);
  c->fail_workflow_execution_command_attributes = f;
  if (twe__machine_command(run, m, c) < 0) return twe__run_oom(run);
  run->closed = true;
  return 0;
}
