/* engine/client_internal.h — the client's insides that tests and tools may
 * use: any WorkflowService call through a client's connection.
 *
 * The public client API (twe/client.h) covers what a program around its
 * workers needs; tests and tools also want calls it does not wrap
 * (TerminateWorkflowExecution, DescribeWorkflowExecution, a full
 * GetWorkflowExecutionHistory ...). twe__client_call sends any of them on
 * the client's own channel, taking turns with the other client calls.
 *
 * Thread: any (calls are serialised by the client's mutex). */
#ifndef TWE_ENGINE_CLIENT_INTERNAL_H
#define TWE_ENGINE_CLIENT_INTERNAL_H
#include "io/grpc_channel.h"
#include "twe/client.h"

/* Runs req on the client's channel and returns when its outcome is in
 * req->status / req->response (decoded into req->arena, which the caller
 * owns). req->done may be NULL; if set it runs before this returns, on the
 * calling thread, with the client's lock held (it must not call the client).
 * Set req->namespaced for namespaced calls (the request's namespace field is
 * the caller's to fill: twe_client_namespace). Returns 0 (look at
 * req->status.code), or TWE_EENCODE / TWE_ELIMIT / -ENOMEM / -ESHUTDOWN when
 * the request could not be started. */
int twe__client_call(twe_client_t *client, twe_grpc_request_t *req);

/* twe_client_connect without the checks: copies the options, creates the
 * reactor and the channel, makes no call (the channel connects on its first
 * request). For tests without a server, and tools that check the server
 * their own way. Returns 0, TWE_ECONFIG (reason in err), -ENOMEM. */
int twe__client_create_unchecked(const twe_connection_options_t *opts, twe_client_t **out,
                                 char *err, size_t err_len);

/* The client's identity ("<pid>@<hostname>" unless configured); also
 * declared in engine/worker_internal.h. */
const char *twe__client_identity(const twe_client_t *client);

/* Maps a gRPC status code to the errno the client API returns for it
 * (NOT_FOUND -> -ENOENT, ALREADY_EXISTS -> -EEXIST, DEADLINE_EXCEEDED ->
 * -ETIMEDOUT, ...; OK -> 0). Thread: any. */
int twe__client_errno_from_grpc(int grpc_code);

/* Helpers of the client calls (client.c, client_calls.c): err = printf
 * (when err_len > 0); "<what>: <CODE>: <message>" for a failed call,
 * returning its errno; a version 4 UUID (request ids). */
void twe__client_set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int twe__client_call_error(const twe_grpc_request_t *req, const char *what, char *err,
                           size_t err_len);
void twe__client_uuid(char out[37]);

#endif /* TWE_ENGINE_CLIENT_INTERNAL_H */
