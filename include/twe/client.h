/* twe/client.h — a connection to a Temporal Service, and the client calls
 * a program needs around its workers: start a workflow, wait for its result.
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
 * environment (twe_connection_options_from_env). Returns 0, TWE_ECONFIG,
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
} twe_start_workflow_options_t;

/* Starts workflow `type` with args (sent as given: their encoding and bytes,
 * unchecked). Writes the run id (NUL-terminated) to run_id (run_id_len
 * bytes; may be NULL/0). Returns 0, or a negative code with the server's
 * message in err: -EEXIST (already running), TWE_EPROTOCOL, -ETIMEDOUT ... */
TWE_EXPORT int twe_client_start_workflow(twe_client_t *client, const char *type,
                                         const twe_start_workflow_options_t *opts,
                                         const twe_payload_t *args, size_t nargs, char *run_id,
                                         size_t run_id_len, char *err, size_t err_len);

/* The outcome of a closed workflow. Free with twe_workflow_result_free. */
typedef struct twe_workflow_result {
  /* "COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED", "CANCELED",
   * "CONTINUED_AS_NEW". */
  const char *status;
  bool has_result;
  twe_payload_t result;  /* COMPLETED: the first result payload */
  twe_error_info_t error; /* FAILED: the failure (type, message, ...) */
  void *internal_;
} twe_workflow_result_t;

/* Waits up to timeout_ns (0: forever) for the workflow to close and fills
 * *out. run_id may be NULL (the latest run). Returns 0 when COMPLETED,
 * TWE_EWORKFLOW for any other closing status (out filled: read status and
 * error), -ETIMEDOUT, or a negative code with the reason in err. */
TWE_EXPORT int twe_client_workflow_result(twe_client_t *client, const char *workflow_id,
                                          const char *run_id, uint64_t timeout_ns,
                                          twe_workflow_result_t *out, char *err,
                                          size_t err_len);
TWE_EXPORT void twe_workflow_result_free(twe_workflow_result_t *r);

#ifdef __cplusplus
}
#endif
#endif /* TWE_CLIENT_H */
