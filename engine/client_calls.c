/* engine/client_calls.c — the client calls beside start and result
 * (include/twe/client.h): signal, signal-with-start, query, update
 * (execute, start, result), cancel, terminate, describe, list, and a page
 * of history (also the whole of it as the CLI's JSON). Each call builds its request on the stack or in an arena of
 * its own, runs it on the client's channel (engine/client_internal.h) and
 * hands out what the caller keeps in memory it frees with the matching
 * *_free. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/client_internal.h"
#include "engine/values.h"
#include "io/grpc_status.h"
#include "proto/codec.h"
#include "proto/json_write.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/error.h"

#define WS "/temporal.api.workflowservice.v1.WorkflowService/"
#define SEC 1000000000ull
/* Calls that wait on the server (an update to complete) come back at this
 * interval at the latest, and wait again while time remains. */
#define LONG_POLL_NS (60ull * SEC)

typedef Temporal__Api__Common__V1__WorkflowExecution execution_pb_t;

static twe_arena_t *arena_new(void) {
  twe_arena_t *a = malloc(sizeof *a);
  if (a) twe__arena_init(a, 0);
  return a;
}

static void arena_free(twe_arena_t *a) {
  if (!a) return;
  twe__arena_destroy(a);
  free(a);
}

/* Runs one call; *resp is the decoded answer (in arena). Returns 0, or
 * the call's errno with "<what>: <CODE>: <message>" in err. */
static int call(twe_client_t *c, const char *method, const ProtobufCMessage *request,
                const ProtobufCMessageDescriptor *resp_type, twe_arena_t *arena,
                uint64_t timeout_ns, const char *what, int *grpc_code, const void **resp,
                char *err, size_t err_len) {
  twe_grpc_request_t req = {
      .path = method,
      .request = request,
      .response_type = resp_type,
      .arena = arena,
      .timeout_ns = timeout_ns,
      .namespaced = true,
  };
  int rc = twe__client_call(c, &req);
  if (grpc_code) *grpc_code = req.status.code;
  if (rc < 0) {
    twe__client_set_err(err, err_len, "%s: %s", what, twe_strerror(rc));
    return rc;
  }
  if (req.status.code != TWE_GRPC_OK) return twe__client_call_error(&req, what, err, err_len);
  if (resp) *resp = req.response;
  return 0;
}

static int need(bool ok, const char *what, char *err, size_t err_len) {
  if (err && err_len) err[0] = '\0';
  if (ok) return 0;
  twe__client_set_err(err, err_len, "%s: a client and the required arguments are needed", what);
  return -EINVAL;
}

static execution_pb_t execution(const char *workflow_id, const char *run_id) {
  execution_pb_t ex = TEMPORAL__API__COMMON__V1__WORKFLOW_EXECUTION__INIT;
  ex.workflow_id = (char *)workflow_id;
  ex.run_id = (char *)(run_id ? run_id : "");
  return ex;
}

static void copy(char *dst, size_t len, const char *src) {
  snprintf(dst, len, "%s", src ? src : "");
}

/* --- values ------------------------------------------------------------------------ */

void twe_client_value_free(twe_client_value_t *v) {
  if (!v) return;
  arena_free(v->internal_);
  memset(v, 0, sizeof *v);
}

/* out takes arena (for its memory) and the first of payloads, if any. */
static int take_value(twe_client_value_t *out, twe_arena_t *arena,
                      const Temporal__Api__Common__V1__Payloads *payloads) {
  out->internal_ = arena;
  out->value = twe_payload_null();
  if (payloads && payloads->n_payloads) {
    int rc = twe__value_from_payload(arena, payloads->payloads[0], &out->value);
    if (rc < 0) return rc;
    out->has_value = true;
  }
  return 0;
}

/* out takes arena and the failure (update failed or rejected). */
static int take_failure(twe_client_value_t *out, twe_arena_t *arena, const twe_failure_pb_t *f,
                        char *err, size_t err_len, const char *what) {
  out->internal_ = arena;
  int rc = twe__error_from_failure(arena, f, &out->error);
  if (rc < 0) return rc;
  twe__client_set_err(err, err_len, "%s: %s", what, out->error.message ? out->error.message : "");
  return TWE_EFAILED;
}

/* --- signals ------------------------------------------------------------------------ */

int twe_client_signal_workflow(twe_client_t *c, const char *workflow_id, const char *run_id,
                               const char *name, const twe_payload_t *args, size_t nargs,
                               char *err, size_t err_len) {
  int rc = need(c && workflow_id && *workflow_id && name && *name && (!nargs || args),
                "signal workflow", err, err_len);
  if (rc < 0) return rc;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__Workflowservice__V1__SignalWorkflowExecutionRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__SIGNAL_WORKFLOW_EXECUTION_REQUEST__INIT;
  execution_pb_t ex = execution(workflow_id, run_id);
  char request_id[37];
  twe__client_uuid(request_id);
  r.namespace_ = (char *)twe_client_namespace(c);
  r.workflow_execution = &ex;
  r.signal_name = (char *)name;
  r.identity = (char *)twe__client_identity(c);
  r.request_id = request_id;
  if (nargs && (rc = twe__values_to_payloads(&arena, args, nargs, &r.input)) < 0) {
    twe__client_set_err(err, err_len, "signal workflow: an argument cannot be encoded");
  } else {
    rc = call(c, WS "SignalWorkflowExecution", &r.base,
              &temporal__api__workflowservice__v1__signal_workflow_execution_response__descriptor,
              &arena, 0, "SignalWorkflowExecution", NULL, NULL, err, err_len);
  }
  twe__arena_destroy(&arena);
  return rc;
}

int twe_client_signal_with_start(twe_client_t *c, const char *type,
                                 const twe_start_workflow_options_t *opts,
                                 const twe_payload_t *args, size_t nargs, const char *signal_name,
                                 const twe_payload_t *signal_args, size_t signal_nargs,
                                 char *run_id, size_t run_id_len, char *err, size_t err_len) {
  if (run_id && run_id_len) run_id[0] = '\0';
  int rc = need(c && type && *type && opts && opts->workflow_id && *opts->workflow_id &&
                    opts->task_queue && *opts->task_queue && signal_name && *signal_name &&
                    (!nargs || args) && (!signal_nargs || signal_args),
                "signal with start", err, err_len);
  if (rc < 0) return rc;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__Workflowservice__V1__SignalWithStartWorkflowExecutionRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__SIGNAL_WITH_START_WORKFLOW_EXECUTION_REQUEST__INIT;
  Temporal__Api__Common__V1__WorkflowType wt = TEMPORAL__API__COMMON__V1__WORKFLOW_TYPE__INIT;
  Temporal__Api__Taskqueue__V1__TaskQueue tq = TEMPORAL__API__TASKQUEUE__V1__TASK_QUEUE__INIT;
  char request_id[37];
  twe__client_uuid(request_id);
  wt.name = (char *)type;
  tq.name = (char *)opts->task_queue;
  tq.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  r.namespace_ = (char *)twe_client_namespace(c);
  r.workflow_id = (char *)opts->workflow_id;
  r.workflow_type = &wt;
  r.task_queue = &tq;
  r.identity = (char *)twe__client_identity(c);
  r.request_id = request_id;
  r.signal_name = (char *)signal_name;
  r.workflow_execution_timeout = twe__duration_pb(&arena, opts->execution_timeout_ns);
  r.workflow_run_timeout = twe__duration_pb(&arena, opts->run_timeout_ns);
  r.workflow_task_timeout = twe__duration_pb(&arena, opts->task_timeout_ns);
  if ((nargs && twe__values_to_payloads(&arena, args, nargs, &r.input) < 0) ||
      (signal_nargs &&
       twe__values_to_payloads(&arena, signal_args, signal_nargs, &r.signal_input) < 0) ||
      twe__memo_pb(&arena, opts->memo, opts->memo_count, &r.memo) < 0 ||
      twe__search_attributes_pb(&arena, opts->search_attributes, opts->search_attributes_count,
                                &r.search_attributes) < 0) {
    twe__client_set_err(err, err_len,
                        "signal with start: an argument, memo field or search attribute cannot "
                        "be encoded");
    rc = -EINVAL;
  } else {
    const Temporal__Api__Workflowservice__V1__SignalWithStartWorkflowExecutionResponse *resp =
        NULL;
    rc = call(c, WS "SignalWithStartWorkflowExecution", &r.base,
              &temporal__api__workflowservice__v1__signal_with_start_workflow_execution_response__descriptor,
              &arena, 0, "SignalWithStartWorkflowExecution", NULL, (const void **)&resp, err,
              err_len);
    if (rc == 0 && run_id && run_id_len) copy(run_id, run_id_len, resp->run_id);
  }
  twe__arena_destroy(&arena);
  return rc;
}

/* --- queries ------------------------------------------------------------------------ */

int twe_client_query_workflow(twe_client_t *c, const char *workflow_id, const char *run_id,
                              const char *query_type, const twe_payload_t *args, size_t nargs,
                              twe_client_value_t *out, char *err, size_t err_len) {
  if (out) memset(out, 0, sizeof *out);
  int rc = need(c && workflow_id && *workflow_id && query_type && *query_type && out &&
                    (!nargs || args),
                "query workflow", err, err_len);
  if (rc < 0) return rc;
  twe_arena_t *arena = arena_new();
  if (!arena) return -ENOMEM;
  Temporal__Api__Workflowservice__V1__QueryWorkflowRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__QUERY_WORKFLOW_REQUEST__INIT;
  Temporal__Api__Query__V1__WorkflowQuery q = TEMPORAL__API__QUERY__V1__WORKFLOW_QUERY__INIT;
  execution_pb_t ex = execution(workflow_id, run_id);
  q.query_type = (char *)query_type;
  r.namespace_ = (char *)twe_client_namespace(c);
  r.execution = &ex;
  r.query = &q;
  if (nargs && (rc = twe__values_to_payloads(arena, args, nargs, &q.query_args)) < 0) {
    twe__client_set_err(err, err_len, "query workflow: an argument cannot be encoded");
    arena_free(arena);
    return rc;
  }
  const Temporal__Api__Workflowservice__V1__QueryWorkflowResponse *resp = NULL;
  int code = 0;
  rc = call(c, WS "QueryWorkflow", &r.base,
            &temporal__api__workflowservice__v1__query_workflow_response__descriptor, arena, 0,
            "QueryWorkflow", &code, (const void **)&resp, err, err_len);
  if (rc < 0) {
    /* The worker answered that the query failed: the server says so as
     * INVALID_ARGUMENT with the handler's message. */
    if (code == TWE_GRPC_INVALID_ARGUMENT) {
      const char *msg = strstr(err ? err : "", "INVALID_ARGUMENT: ");
      out->internal_ = arena;
      out->error.type = "QueryFailed";
      out->error.message = twe__str(arena, msg ? msg + strlen("INVALID_ARGUMENT: ") : err);
      return TWE_EFAILED;
    }
    arena_free(arena);
    return rc;
  }
  if (resp->query_rejected) {
    twe__client_set_err(err, err_len, "query workflow: rejected (the workflow's status is %d)",
                        (int)resp->query_rejected->status);
    arena_free(arena);
    return -EPERM;
  }
  rc = take_value(out, arena, resp->query_result);
  if (rc < 0) twe_client_value_free(out);
  return rc;
}

/* --- updates ------------------------------------------------------------------------ */

/* Fills out from an update's outcome (NULL: not done yet). Returns 0,
 * TWE_EFAILED, 1 when there is no outcome yet, or -ENOMEM. */
static int take_outcome(twe_client_value_t *out, twe_arena_t *arena,
                        const Temporal__Api__Update__V1__Outcome *o, char *err, size_t err_len) {
  if (!o || o->value_case == TEMPORAL__API__UPDATE__V1__OUTCOME__VALUE__NOT_SET) return 1;
  if (o->value_case == TEMPORAL__API__UPDATE__V1__OUTCOME__VALUE_FAILURE)
    return take_failure(out, arena, o->failure, err, err_len, "update");
  return take_value(out, arena, o->success);
}

int twe_client_update_result(twe_client_t *c, const char *workflow_id, const char *run_id,
                             const char *update_id, uint64_t timeout_ns, twe_client_value_t *out,
                             char *err, size_t err_len) {
  if (out) memset(out, 0, sizeof *out);
  int rc = need(c && workflow_id && *workflow_id && update_id && *update_id && out,
                "update result", err, err_len);
  if (rc < 0) return rc;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t start = (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
    if (timeout_ns && now - start >= timeout_ns) {
      twe__client_set_err(err, err_len, "update %s did not complete within %.1f s", update_id,
                          (double)timeout_ns / 1e9);
      return -ETIMEDOUT;
    }
    uint64_t left = timeout_ns ? timeout_ns - (now - start) : LONG_POLL_NS;
    twe_arena_t *arena = arena_new();
    if (!arena) return -ENOMEM;
    Temporal__Api__Workflowservice__V1__PollWorkflowExecutionUpdateRequest r =
        TEMPORAL__API__WORKFLOWSERVICE__V1__POLL_WORKFLOW_EXECUTION_UPDATE_REQUEST__INIT;
    Temporal__Api__Update__V1__UpdateRef ref = TEMPORAL__API__UPDATE__V1__UPDATE_REF__INIT;
    Temporal__Api__Update__V1__WaitPolicy wp = TEMPORAL__API__UPDATE__V1__WAIT_POLICY__INIT;
    execution_pb_t ex = execution(workflow_id, run_id);
    ref.workflow_execution = &ex;
    ref.update_id = (char *)update_id;
    wp.lifecycle_stage =
        TEMPORAL__API__ENUMS__V1__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED;
    r.namespace_ = (char *)twe_client_namespace(c);
    r.update_ref = &ref;
    r.identity = (char *)twe__client_identity(c);
    r.wait_policy = &wp;
    const Temporal__Api__Workflowservice__V1__PollWorkflowExecutionUpdateResponse *resp = NULL;
    int code = 0;
    rc = call(c, WS "PollWorkflowExecutionUpdate", &r.base,
              &temporal__api__workflowservice__v1__poll_workflow_execution_update_response__descriptor,
              arena, left < LONG_POLL_NS ? left : LONG_POLL_NS, "PollWorkflowExecutionUpdate",
              &code, (const void **)&resp, err, err_len);
    if (rc < 0 && code == TWE_GRPC_DEADLINE_EXCEEDED) {
      arena_free(arena);
      continue; /* the loop checks the time */
    }
    if (rc < 0) {
      arena_free(arena);
      return rc;
    }
    rc = take_outcome(out, arena, resp->outcome, err, err_len);
    if (rc != 1) {
      if (rc < 0 && rc != TWE_EFAILED) twe_client_value_free(out);
      return rc;
    }
    arena_free(arena); /* not done yet: wait again */
  }
}

int twe_client_update_workflow(twe_client_t *c, const char *workflow_id, const char *run_id,
                               const char *name, const char *update_id,
                               const twe_payload_t *args, size_t nargs, twe_update_wait_t wait,
                               twe_client_value_t *out, char *id_out, size_t id_len, char *err,
                               size_t err_len) {
  if (out) memset(out, 0, sizeof *out);
  if (id_out && id_len) id_out[0] = '\0';
  int rc = need(c && workflow_id && *workflow_id && name && *name && out && (!nargs || args) &&
                    (wait == TWE_UPDATE_WAIT_ACCEPTED || wait == TWE_UPDATE_WAIT_COMPLETED),
                "update workflow", err, err_len);
  if (rc < 0) return rc;
  char generated[37];
  if (!update_id || !*update_id) {
    twe__client_uuid(generated);
    update_id = generated;
  }
  if (id_out && id_len) copy(id_out, id_len, update_id);
  twe_arena_t *arena = arena_new();
  if (!arena) return -ENOMEM;
  Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__UPDATE_WORKFLOW_EXECUTION_REQUEST__INIT;
  Temporal__Api__Update__V1__Request req = TEMPORAL__API__UPDATE__V1__REQUEST__INIT;
  Temporal__Api__Update__V1__Meta meta = TEMPORAL__API__UPDATE__V1__META__INIT;
  Temporal__Api__Update__V1__Input in = TEMPORAL__API__UPDATE__V1__INPUT__INIT;
  Temporal__Api__Update__V1__WaitPolicy wp = TEMPORAL__API__UPDATE__V1__WAIT_POLICY__INIT;
  execution_pb_t ex = execution(workflow_id, run_id);
  meta.update_id = (char *)update_id;
  meta.identity = (char *)twe__client_identity(c);
  in.name = (char *)name;
  req.meta = &meta;
  req.input = &in;
  wp.lifecycle_stage = (Temporal__Api__Enums__V1__UpdateWorkflowExecutionLifecycleStage)wait;
  r.namespace_ = (char *)twe_client_namespace(c);
  r.workflow_execution = &ex;
  r.request = &req;
  r.wait_policy = &wp;
  if (nargs && (rc = twe__values_to_payloads(arena, args, nargs, &in.args)) < 0) {
    twe__client_set_err(err, err_len, "update workflow: an argument cannot be encoded");
    arena_free(arena);
    return rc;
  }
  const Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionResponse *resp = NULL;
  rc = call(c, WS "UpdateWorkflowExecution", &r.base,
            &temporal__api__workflowservice__v1__update_workflow_execution_response__descriptor,
            arena, LONG_POLL_NS, "UpdateWorkflowExecution", NULL, (const void **)&resp, err,
            err_len);
  if (rc < 0) {
    arena_free(arena);
    return rc;
  }
  rc = take_outcome(out, arena, resp->outcome, err, err_len);
  if (rc != 1) {
    if (rc < 0 && rc != TWE_EFAILED) twe_client_value_free(out);
    return rc;
  }
  /* No outcome yet: accepted (what was asked for), or the server's wait
   * ended before the handler did. */
  arena_free(arena);
  if (wait == TWE_UPDATE_WAIT_ACCEPTED) return 0;
  return twe_client_update_result(c, workflow_id, run_id, update_id, 0, out, err, err_len);
}

/* --- cancel, terminate ------------------------------------------------------------------ */

int twe_client_cancel_workflow(twe_client_t *c, const char *workflow_id, const char *run_id,
                               const char *reason, char *err, size_t err_len) {
  int rc = need(c && workflow_id && *workflow_id, "cancel workflow", err, err_len);
  if (rc < 0) return rc;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__Workflowservice__V1__RequestCancelWorkflowExecutionRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__REQUEST_CANCEL_WORKFLOW_EXECUTION_REQUEST__INIT;
  execution_pb_t ex = execution(workflow_id, run_id);
  char request_id[37];
  twe__client_uuid(request_id);
  r.namespace_ = (char *)twe_client_namespace(c);
  r.workflow_execution = &ex;
  r.identity = (char *)twe__client_identity(c);
  r.request_id = request_id;
  r.reason = (char *)(reason ? reason : "");
  rc = call(c, WS "RequestCancelWorkflowExecution", &r.base,
            &temporal__api__workflowservice__v1__request_cancel_workflow_execution_response__descriptor,
            &arena, 0, "RequestCancelWorkflowExecution", NULL, NULL, err, err_len);
  twe__arena_destroy(&arena);
  return rc;
}

int twe_client_terminate_workflow(twe_client_t *c, const char *workflow_id, const char *run_id,
                                  const char *reason, char *err, size_t err_len) {
  int rc = need(c && workflow_id && *workflow_id, "terminate workflow", err, err_len);
  if (rc < 0) return rc;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__Workflowservice__V1__TerminateWorkflowExecutionRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__TERMINATE_WORKFLOW_EXECUTION_REQUEST__INIT;
  execution_pb_t ex = execution(workflow_id, run_id);
  r.namespace_ = (char *)twe_client_namespace(c);
  r.workflow_execution = &ex;
  r.identity = (char *)twe__client_identity(c);
  r.reason = (char *)(reason ? reason : "");
  rc = call(c, WS "TerminateWorkflowExecution", &r.base,
            &temporal__api__workflowservice__v1__terminate_workflow_execution_response__descriptor,
            &arena, 0, "TerminateWorkflowExecution", NULL, NULL, err, err_len);
  twe__arena_destroy(&arena);
  return rc;
}

/* --- describe, list --------------------------------------------------------------------- */

static void describe_from(const Temporal__Api__Workflow__V1__WorkflowExecutionInfo *info,
                          twe_workflow_description_t *out) {
  memset(out, 0, sizeof *out);
  if (!info) return;
  if (info->execution) {
    copy(out->workflow_id, sizeof out->workflow_id, info->execution->workflow_id);
    copy(out->run_id, sizeof out->run_id, info->execution->run_id);
  }
  copy(out->type, sizeof out->type, info->type ? info->type->name : NULL);
  copy(out->task_queue, sizeof out->task_queue, info->task_queue);
  out->status = (twe_workflow_status_t)info->status;
  if ((unsigned)out->status > TWE_WORKFLOW_STATUS_TIMED_OUT)
    out->status = TWE_WORKFLOW_STATUS_UNKNOWN;
  out->start_time_ns = twe__timestamp_ns(info->start_time);
  out->close_time_ns = twe__timestamp_ns(info->close_time);
  out->history_length = info->history_length;
}

int twe_client_describe_workflow(twe_client_t *c, const char *workflow_id, const char *run_id,
                                 twe_workflow_description_t *out, char *err, size_t err_len) {
  if (out) memset(out, 0, sizeof *out);
  int rc = need(c && workflow_id && *workflow_id && out, "describe workflow", err, err_len);
  if (rc < 0) return rc;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__Workflowservice__V1__DescribeWorkflowExecutionRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__DESCRIBE_WORKFLOW_EXECUTION_REQUEST__INIT;
  execution_pb_t ex = execution(workflow_id, run_id);
  r.namespace_ = (char *)twe_client_namespace(c);
  r.execution = &ex;
  const Temporal__Api__Workflowservice__V1__DescribeWorkflowExecutionResponse *resp = NULL;
  rc = call(c, WS "DescribeWorkflowExecution", &r.base,
            &temporal__api__workflowservice__v1__describe_workflow_execution_response__descriptor,
            &arena, 0, "DescribeWorkflowExecution", NULL, (const void **)&resp, err, err_len);
  if (rc == 0) describe_from(resp->workflow_execution_info, out);
  twe__arena_destroy(&arena);
  return rc;
}

void twe_workflow_list_free(twe_workflow_list_t *list) {
  if (!list) return;
  free(list->items);
  arena_free(list->internal_);
  memset(list, 0, sizeof *list);
}

int twe_client_list_workflows(twe_client_t *c, const char *query, int page_size,
                              const uint8_t *page_token, size_t page_token_len,
                              twe_workflow_list_t *out, char *err, size_t err_len) {
  if (out) memset(out, 0, sizeof *out);
  int rc = need(c && out && page_size >= 0, "list workflows", err, err_len);
  if (rc < 0) return rc;
  twe_arena_t *arena = arena_new();
  if (!arena) return -ENOMEM;
  Temporal__Api__Workflowservice__V1__ListWorkflowExecutionsRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__LIST_WORKFLOW_EXECUTIONS_REQUEST__INIT;
  r.namespace_ = (char *)twe_client_namespace(c);
  r.page_size = page_size;
  r.query = (char *)(query ? query : "");
  r.next_page_token.data = (uint8_t *)page_token;
  r.next_page_token.len = page_token ? page_token_len : 0;
  const Temporal__Api__Workflowservice__V1__ListWorkflowExecutionsResponse *resp = NULL;
  rc = call(c, WS "ListWorkflowExecutions", &r.base,
            &temporal__api__workflowservice__v1__list_workflow_executions_response__descriptor,
            arena, 0, "ListWorkflowExecutions", NULL, (const void **)&resp, err, err_len);
  if (rc < 0) {
    arena_free(arena);
    return rc;
  }
  if (resp->n_executions) {
    out->items = calloc(resp->n_executions, sizeof *out->items);
    if (!out->items) {
      arena_free(arena);
      return -ENOMEM;
    }
    for (size_t i = 0; i < resp->n_executions; i++) describe_from(resp->executions[i], &out->items[i]);
  }
  out->n = resp->n_executions;
  out->next_page_token = resp->next_page_token.len ? resp->next_page_token.data : NULL;
  out->next_page_token_len = resp->next_page_token.len;
  out->internal_ = arena;
  return 0;
}

/* --- history ------------------------------------------------------------------------------ */

void twe_history_page_free(twe_history_page_t *page) {
  if (!page) return;
  arena_free(page->internal_);
  memset(page, 0, sizeof *page);
}

int twe_client_fetch_history(twe_client_t *c, const char *workflow_id, const char *run_id,
                             const uint8_t *page_token, size_t page_token_len,
                             twe_history_page_t *out, char *err, size_t err_len) {
  if (out) memset(out, 0, sizeof *out);
  int rc = need(c && workflow_id && *workflow_id && out, "fetch history", err, err_len);
  if (rc < 0) return rc;
  twe_arena_t *arena = arena_new();
  if (!arena) return -ENOMEM;
  Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__GET_WORKFLOW_EXECUTION_HISTORY_REQUEST__INIT;
  execution_pb_t ex = execution(workflow_id, run_id);
  r.namespace_ = (char *)twe_client_namespace(c);
  r.execution = &ex;
  r.next_page_token.data = (uint8_t *)page_token;
  r.next_page_token.len = page_token ? page_token_len : 0;
  r.skip_archival = true;
  const Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *resp = NULL;
  rc = call(c, WS "GetWorkflowExecutionHistory", &r.base,
            &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor,
            arena, 0, "GetWorkflowExecutionHistory", NULL, (const void **)&resp, err, err_len);
  if (rc < 0) {
    arena_free(arena);
    return rc;
  }
  Temporal__Api__History__V1__History empty = TEMPORAL__API__HISTORY__V1__HISTORY__INIT;
  const Temporal__Api__History__V1__History *h = resp->history ? resp->history : &empty;
  uint8_t *data;
  size_t len;
  if ((rc = twe__proto_encode(&h->base, arena, &data, &len)) < 0) {
    twe__client_set_err(err, err_len, "fetch history: %s", twe_strerror(rc));
    arena_free(arena);
    return rc;
  }
  out->data = data;
  out->len = len;
  out->n_events = h->n_events;
  if (h->n_events) {
    out->first_event_id = h->events[0]->event_id;
    out->last_event_id = h->events[h->n_events - 1]->event_id;
  }
  out->next_page_token = resp->next_page_token.len ? resp->next_page_token.data : NULL;
  out->next_page_token_len = resp->next_page_token.len;
  out->internal_ = arena;
  return 0;
}

int twe_client_history_json(twe_client_t *c, const char *workflow_id, const char *run_id,
                            char **json, char *err, size_t err_len) {
  if (json) *json = NULL;
  int rc = need(c && workflow_id && *workflow_id && json, "history json", err, err_len);
  if (rc < 0) return rc;
  json_t *events = json_array(), *doc = json_pack("{s:o}", "events", events);
  twe_arena_t *arenas[2] = {arena_new(), arena_new()};
  if (!doc || !arenas[0] || !arenas[1]) {
    rc = -ENOMEM;
    goto out;
  }
  ProtobufCBinaryData token = {0, NULL};
  for (int turn = 0, pages = 0;; turn = 1 - turn, pages++) {
    /* Two arenas in turn: the request points at the previous page's token. */
    twe__arena_reset(arenas[turn]);
    Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryRequest r =
        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_WORKFLOW_EXECUTION_HISTORY_REQUEST__INIT;
    execution_pb_t ex = execution(workflow_id, run_id);
    r.namespace_ = (char *)twe_client_namespace(c);
    r.execution = &ex;
    r.next_page_token = token;
    r.skip_archival = true;
    const Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *resp = NULL;
    rc = call(c, WS "GetWorkflowExecutionHistory", &r.base,
              &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor,
              arenas[turn], 0, "GetWorkflowExecutionHistory", NULL, (const void **)&resp, err,
              err_len);
    if (rc < 0) goto out;
    for (size_t i = 0; resp->history && i < resp->history->n_events; i++) {
      json_t *e;
      if ((rc = twe__json_from_message(&resp->history->events[i]->base, &e)) < 0 ||
          json_array_append_new(events, e) < 0) {
        rc = -ENOMEM;
        goto out;
      }
    }
    if (!resp->next_page_token.len) break;
    if (pages > 100000) { /* a token that never ends is the server's fault */
      twe__client_set_err(err, err_len, "history json: more than 100000 pages");
      rc = TWE_EPROTOCOL;
      goto out;
    }
    token = resp->next_page_token;
  }
  *json = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  rc = *json ? 0 : -ENOMEM;
out:
  json_decref(doc);
  arena_free(arenas[0]);
  arena_free(arenas[1]);
  return rc;
}
