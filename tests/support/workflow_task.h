/* tests/support/workflow_task.h — integration tests that play the workflow
 * worker themselves: poll one workflow task and answer it with commands,
 * through a twe client's raw WorkflowService calls (twe__client_call).
 *
 * Include after <cmocka.h>: failures are cmocka assertions. Everything the
 * calls return lives in the arena given. Thread: the test's. */
#ifndef TWE_TESTS_SUPPORT_WORKFLOW_TASK_H
#define TWE_TESTS_SUPPORT_WORKFLOW_TASK_H
#include "engine/client_internal.h"
#include "io/grpc_retry.h"
#include "io/grpc_status.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

typedef Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse test_wf_task_t;

/* Polls the normal queue `queue` until a task comes (at most `polls` long
 * polls; then the test fails). */
static inline const test_wf_task_t *test_poll_workflow_task(twe_client_t *client,
                                                            const char *queue, int polls,
                                                            twe_arena_t *arena) {
  Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueRequest p =
      TEMPORAL__API__WORKFLOWSERVICE__V1__POLL_WORKFLOW_TASK_QUEUE_REQUEST__INIT;
  Temporal__Api__Taskqueue__V1__TaskQueue tq = TEMPORAL__API__TASKQUEUE__V1__TASK_QUEUE__INIT;
  tq.name = (char *)queue;
  tq.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  p.namespace_ = (char *)twe_client_namespace(client);
  p.task_queue = &tq;
  p.identity = (char *)twe__client_identity(client);
  for (int i = 0; i < polls; i++) {
    twe_grpc_request_t req = {
      .path = "/temporal.api.workflowservice.v1.WorkflowService/PollWorkflowTaskQueue",
      .request = &p.base,
      .response_type =
          &temporal__api__workflowservice__v1__poll_workflow_task_queue_response__descriptor,
      .arena = arena,
      .timeout_ns = 70000000000ull,
      .retry = &twe__retry_policy_poll,
      .namespaced = true,
    };
    assert_int_equal(twe__client_call(client, &req), 0);
    assert_int_equal(req.status.code, TWE_GRPC_OK);
    const test_wf_task_t *t = (const void *)req.response;
    if (t->task_token.len) return t;
  }
  fail_msg("no workflow task on %s", queue);
  return NULL;
}

/* Completes task t with commands cmds[0..n). */
static inline void test_respond_workflow_task(twe_client_t *client, const test_wf_task_t *t,
                                              Temporal__Api__Command__V1__Command **cmds,
                                              size_t n, twe_arena_t *arena) {
  Temporal__Api__Workflowservice__V1__RespondWorkflowTaskCompletedRequest c =
      TEMPORAL__API__WORKFLOWSERVICE__V1__RESPOND_WORKFLOW_TASK_COMPLETED_REQUEST__INIT;
  c.task_token = t->task_token;
  c.namespace_ = (char *)twe_client_namespace(client);
  c.identity = (char *)twe__client_identity(client);
  c.n_commands = n;
  c.commands = cmds;
  twe_grpc_request_t req = {
    .path = "/temporal.api.workflowservice.v1.WorkflowService/RespondWorkflowTaskCompleted",
    .request = &c.base,
    .response_type =
        &temporal__api__workflowservice__v1__respond_workflow_task_completed_response__descriptor,
    .arena = arena,
    .namespaced = true,
  };
  assert_int_equal(twe__client_call(client, &req), 0);
  if (req.status.code) fprintf(stderr, "respond: %s\n", req.status.message);
  assert_int_equal(req.status.code, TWE_GRPC_OK);
}
#endif /* TWE_TESTS_SUPPORT_WORKFLOW_TASK_H */
