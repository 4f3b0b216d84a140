/* twe/client.h — a connection to a Temporal Service, and the client calls
 * a program needs around its workers: start a workflow and wait for its
 * result; signal, query, update, cancel or terminate it; describe and list
 * workflows; fetch a history.
 *
 * A client holds the connection options (copied) and one gRPC channel for
 * its own calls. Workers created from a client open their own connections
 * (one per shard) with the same options.
 *
 * Thread: any; calls may be made from several threads at once (they take
 * turns on the client's connection). A call blocks its caller until done;
 * twe_client_workflow_result holds the client for its whole long poll, so
 * a program waiting on many workflows at once opens one client per waiting
 * thread.
 * Not from workflow code (use activities). */
#ifndef TWE_CLIENT_H
#define TWE_CLIENT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twe/common.h"
#include "twe/connection.h"
#include "twe/value.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct twe_client twe_client_t;

/* Connects (checks the server with GetSystemInfo and the namespace with
 * DescribeNamespace) and returns the client in *out. opts NULL: from the
 * temporal.toml profile and the environment (twe_connection_options_load).
 * While the server cannot be reached it tries again for
 * opts->wait_for_server_ns (a line on stderr per attempt). The checks'
 * connection is closed once they passed: the next call connects (nothing
 * would read an idle connection between calls). Returns 0, TWE_ECONFIG,
 * a negative errno, or -ECONNREFUSED / -ETIMEDOUT / -ENOENT (no such
 * namespace) with the reason in err (err_len bytes, may be 0). */
TWE_EXPORT int twe_client_connect(const twe_connection_options_t *opts, twe_client_t **out,
                                  char *err, size_t err_len);
/* Closes the connection and frees the client. Workers created from it must
 * be destroyed first. NULL is a no-op. */
TWE_EXPORT void twe_client_close(twe_client_t *client);
/* The namespace the client works in. */
TWE_EXPORT const char *twe_client_namespace(const twe_client_t *client);

typedef struct twe_start_workflow_options {
  const char *workflow_id; /* required */
  const char *task_queue;  /* required */
  uint64_t execution_timeout_ns, run_timeout_ns, task_timeout_ns; /* 0: server default */
  /* Memo fields and search attributes (may be NULL/0; see twe_field_t). */
  const twe_field_t *memo;
  size_t memo_count;
  const twe_field_t *search_attributes;
  size_t search_attributes_count;
  /* Eager start: when a worker created from this client polls task_queue
   * and has a workflow task slot free, the server is asked to hand the
   * run's first workflow task back in the start's answer, and that worker
   * runs it at once (no trip through the task queue). The server decides
   * (its system.enableEagerWorkflowStart, on in the CLI's dev server 1.29):
   * when it does not grant it, the task goes through the queue as usual.
   * Off by default, as in the SDKs. */
  bool request_eager_start;
} twe_start_workflow_options_t;

/* Starts workflow `type` with args (sent as given: their encoding and bytes,
 * unchecked). Writes the run id (NUL-terminated) to run_id (run_id_len
 * bytes; may be NULL/0). Returns 0, or a negative code with the server's
 * message in err: -EEXIST (already running), TWE_EPROTOCOL, -ETIMEDOUT ... */
TWE_EXPORT int twe_client_start_workflow(twe_client_t *client, const char *type,
                                         const twe_start_workflow_options_t *opts,
                                         const twe_payload_t *args, size_t nargs, char *run_id,
                                         size_t run_id_len, char *err, size_t err_len);

/* A workflow execution's status (the values of Temporal's
 * WorkflowExecutionStatus). */
typedef enum twe_workflow_status {
  TWE_WORKFLOW_STATUS_UNKNOWN = 0,
  TWE_WORKFLOW_STATUS_RUNNING = 1,
  TWE_WORKFLOW_STATUS_COMPLETED = 2,
  TWE_WORKFLOW_STATUS_FAILED = 3,
  TWE_WORKFLOW_STATUS_CANCELED = 4,
  TWE_WORKFLOW_STATUS_TERMINATED = 5,
  TWE_WORKFLOW_STATUS_CONTINUED_AS_NEW = 6,
  TWE_WORKFLOW_STATUS_TIMED_OUT = 7,
} twe_workflow_status_t;
/* "RUNNING", "COMPLETED", ... ("UNKNOWN" for anything else). */
TWE_EXPORT const char *twe_workflow_status_name(twe_workflow_status_t status);

/* The outcome of a closed workflow. Free with twe_workflow_result_free. */
typedef struct twe_workflow_result {
  twe_workflow_status_t status; /* UNKNOWN when the wait failed */
  /* The run that closed, when known: the caller's run id, or the last of a
   * followed continue-as-new chain ("" when waiting on the latest run). */
  char run_id[64];
  bool has_result;
  twe_payload_t result;  /* COMPLETED: the first result payload */
  twe_error_info_t error; /* FAILED: the failure (type, message, ...) */
  void *internal_;
} twe_workflow_result_t;

/* Waits up to timeout_ns (0: forever) for the workflow to close and fills
 * *out. run_id NULL: the latest run, following continue-as-new to the run
 * that ends the chain (as the SDKs' result calls do); a run_id: that run
 * only (its CONTINUED_AS_NEW is an outcome). Returns 0 when COMPLETED,
 * TWE_EWORKFLOW for any other closing status (out filled: read status and
 * error), -ETIMEDOUT, or a negative code with the reason in err. */
TWE_EXPORT int twe_client_workflow_result(twe_client_t *client, const char *workflow_id,
                                          const char *run_id, uint64_t timeout_ns,
                                          twe_workflow_result_t *out, char *err,
                                          size_t err_len);
TWE_EXPORT void twe_workflow_result_free(twe_workflow_result_t *r);

/* --- messages to a workflow (engine/client_calls.c) ------------------------ */

/* Sends signal `name` with args to the workflow (run_id NULL: the latest
 * run). Returns 0, or a negative code with the server's message in err
 * (-ENOENT: no such running workflow). */
TWE_EXPORT int twe_client_signal_workflow(twe_client_t *client, const char *workflow_id,
                                          const char *run_id, const char *name,
                                          const twe_payload_t *args, size_t nargs, char *err,
                                          size_t err_len);
/* Signals the workflow, starting it first (type, opts, args) if it is not
 * running; the signal is in its history before its first task. Writes the
 * run id like twe_client_start_workflow. Returns 0 or a negative code. */
TWE_EXPORT int twe_client_signal_with_start(twe_client_t *client, const char *type,
                                            const twe_start_workflow_options_t *opts,
                                            const twe_payload_t *args, size_t nargs,
                                            const char *signal_name,
                                            const twe_payload_t *signal_args,
                                            size_t signal_nargs, char *run_id,
                                            size_t run_id_len, char *err, size_t err_len);

/* What a query or an update answered. Free with twe_client_value_free. */
typedef struct twe_client_value {
  bool has_value;
  twe_payload_t value;    /* when has_value */
  twe_error_info_t error; /* when the call returned TWE_EFAILED */
  void *internal_;
} twe_client_value_t;
TWE_EXPORT void twe_client_value_free(twe_client_value_t *v);

/* Queries the workflow (run_id NULL: the latest run). Returns 0 with the
 * answer in out->value, TWE_EFAILED when the query failed (the handler's
 * message in out->error.message; unknown types too), or another negative
 * code with the reason in err. */
TWE_EXPORT int twe_client_query_workflow(twe_client_t *client, const char *workflow_id,
                                         const char *run_id, const char *query_type,
                                         const twe_payload_t *args, size_t nargs,
                                         twe_client_value_t *out, char *err, size_t err_len);

/* How long twe_client_update_workflow waits (Temporal's lifecycle stages). */
typedef enum twe_update_wait {
  TWE_UPDATE_WAIT_ACCEPTED = 2,  /* accepted (or rejected) */
  TWE_UPDATE_WAIT_COMPLETED = 3, /* its handler returned */
} twe_update_wait_t;

/* Sends update `name` with args. update_id NULL: a new UUID; the id used is
 * written to id_out (id_len bytes, may be NULL/0): the same id sent again
 * returns the first outcome. Returns 0 (COMPLETED: the result in
 * out->value; ACCEPTED: accepted, out empty, read the outcome later with
 * twe_client_update_result), TWE_EFAILED (rejected by its validator or
 * unknown, or its handler failed: out->error), or a negative code. */
TWE_EXPORT int twe_client_update_workflow(twe_client_t *client, const char *workflow_id,
                                          const char *run_id, const char *name,
                                          const char *update_id, const twe_payload_t *args,
                                          size_t nargs, twe_update_wait_t wait,
                                          twe_client_value_t *out, char *id_out, size_t id_len,
                                          char *err, size_t err_len);
/* Waits up to timeout_ns (0: forever) for update update_id to complete.
 * Returns as twe_client_update_workflow with TWE_UPDATE_WAIT_COMPLETED, or
 * -ETIMEDOUT. */
TWE_EXPORT int twe_client_update_result(twe_client_t *client, const char *workflow_id,
                                        const char *run_id, const char *update_id,
                                        uint64_t timeout_ns, twe_client_value_t *out, char *err,
                                        size_t err_len);

/* Asks the workflow to cancel (RequestCancelWorkflowExecution), or ends it
 * at once (TerminateWorkflowExecution). reason may be NULL. Return 0 or a
 * negative code (-ENOENT: not running). */
TWE_EXPORT int twe_client_cancel_workflow(twe_client_t *client, const char *workflow_id,
                                          const char *run_id, const char *reason, char *err,
                                          size_t err_len);
TWE_EXPORT int twe_client_terminate_workflow(twe_client_t *client, const char *workflow_id,
                                             const char *run_id, const char *reason, char *err,
                                             size_t err_len);

/* --- looking at workflows ----------------------------------------------------- */

typedef struct twe_workflow_description {
  char workflow_id[256];
  char run_id[64];
  char type[256];
  char task_queue[256];
  twe_workflow_status_t status;
  int64_t start_time_ns, close_time_ns; /* Unix ns; close 0 while running */
  int64_t history_length;                /* events */
} twe_workflow_description_t;

/* Describes the workflow (run_id NULL: the latest run). Returns 0 or a
 * negative code (-ENOENT). */
TWE_EXPORT int twe_client_describe_workflow(twe_client_t *client, const char *workflow_id,
                                            const char *run_id,
                                            twe_workflow_description_t *out, char *err,
                                            size_t err_len);

/* One page of a visibility list. Free with twe_workflow_list_free. */
typedef struct twe_workflow_list {
  twe_workflow_description_t *items;
  size_t n;
  /* Pass to the next call; len 0: this was the last page. */
  const uint8_t *next_page_token;
  size_t next_page_token_len;
  void *internal_;
} twe_workflow_list_t;
/* Lists workflows matching a visibility query (e.g. "WorkflowType='X' AND
 * ExecutionStatus='Running'"; NULL or "": all), page_size at most per page
 * (0: the server's default), from page_token (NULL/0: the first page).
 * Returns 0 or a negative code (-EINVAL: a bad query, the server's message
 * in err). */
TWE_EXPORT int twe_client_list_workflows(twe_client_t *client, const char *query,
                                         int page_size, const uint8_t *page_token,
                                         size_t page_token_len, twe_workflow_list_t *out,
                                         char *err, size_t err_len);
TWE_EXPORT void twe_workflow_list_free(twe_workflow_list_t *list);

/* One page of a workflow's history: the events as an encoded
 * temporal.api.history.v1.History message. Free with
 * twe_history_page_free. */
typedef struct twe_history_page {
  const uint8_t *data;
  size_t len;
  size_t n_events;
  int64_t first_event_id, last_event_id; /* 0 when the page is empty */
  const uint8_t *next_page_token; /* len 0: the last page */
  size_t next_page_token_len;
  void *internal_;
} twe_history_page_t;
/* Fetches a page of the history (run_id NULL: the latest run) from
 * page_token (NULL/0: the first). Returns 0 or a negative code. */
TWE_EXPORT int twe_client_fetch_history(twe_client_t *client, const char *workflow_id,
                                        const char *run_id, const uint8_t *page_token,
                                        size_t page_token_len, twe_history_page_t *out,
                                        char *err, size_t err_len);
TWE_EXPORT void twe_history_page_free(twe_history_page_t *page);
/* The whole history (every page) as the JSON `temporal workflow show
 * --output json` writes ({"events": [...]}, proto3 JSON), which the CLI,
 * the Web UI, other SDKs' replayers and twe_worker_replay_json read. *json
 * is malloc'd: free() it. Returns 0 or a negative code. */
TWE_EXPORT int twe_client_history_json(twe_client_t *client, const char *workflow_id,
                                       const char *run_id, char **json, char *err,
                                       size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* TWE_CLIENT_H */
