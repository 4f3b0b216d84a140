/* io/grpc_status.h — the outcome of a gRPC call as data.
 *
 * A call ends with a status: a code, a message and, from Temporal, details
 * (trailer grpc-status-details-bin: base64 of google.rpc.Status whose
 * details[0] is an Any holding a temporal.api.errordetails.v1.*Failure).
 * Statuses also come from places other than trailers: a non-200 HTTP answer,
 * a wrong content-type, RST_STREAM, GOAWAY. This file turns all of them into
 * one twe_grpc_status_t, and says which codes are worth retrying.
 *
 * Thread: the owner shard of the call; the functions keep no state. */
#ifndef TWE_IO_GRPC_STATUS_H
#define TWE_IO_GRPC_STATUS_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "google/rpc/status.pb-c.h"
#include "proto/arena.h"

typedef enum twe_grpc_code {
  TWE_GRPC_OK = 0,
  TWE_GRPC_CANCELLED = 1,
  TWE_GRPC_UNKNOWN = 2,
  TWE_GRPC_INVALID_ARGUMENT = 3,
  TWE_GRPC_DEADLINE_EXCEEDED = 4,
  TWE_GRPC_NOT_FOUND = 5,
  TWE_GRPC_ALREADY_EXISTS = 6,
  TWE_GRPC_PERMISSION_DENIED = 7,
  TWE_GRPC_RESOURCE_EXHAUSTED = 8,
  TWE_GRPC_FAILED_PRECONDITION = 9,
  TWE_GRPC_ABORTED = 10,
  TWE_GRPC_OUT_OF_RANGE = 11,
  TWE_GRPC_UNIMPLEMENTED = 12,
  TWE_GRPC_INTERNAL = 13,
  TWE_GRPC_UNAVAILABLE = 14,
  TWE_GRPC_DATA_LOSS = 15,
  TWE_GRPC_UNAUTHENTICATED = 16,
} twe_grpc_code_t;

/* The code's name ("UNAVAILABLE"); "UNKNOWN_CODE" for values outside 0..16. */
const char *twe__grpc_code_name(int code);

typedef struct twe_grpc_status {
  int code;            /* twe_grpc_code_t */
  const char *message; /* percent-decoded grpc-message, or a synthesized one; never NULL */
  /* Decoded grpc-status-details-bin, or NULL when absent or undecodable. */
  Google__Rpc__Status *rpc_status;
  /* details[0] decoded with its registered type (e.g. the descriptor of
   * temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure), or
   * NULL/NULL when there are no details or the type is unknown. */
  const ProtobufCMessageDescriptor *detail_type;
  ProtobufCMessage *detail;
  /* Why the details could not be read (bad base64, garbage protobuf,
   * unknown Any type), or NULL. The code and message stay valid. */
  const char *details_error;
} twe_grpc_status_t;

/* The response headers and trailers a status is made from, as received.
 * Values point into the HTTP/2 layer's buffers (or the arena) and need not
 * be NUL-terminated. A NULL value means the header was absent. */
typedef struct twe_grpc_response_meta {
  int http_status; /* :status, 0 if missing */
  const char *content_type;
  size_t content_type_len;
  const char *grpc_status;
  size_t grpc_status_len;
  const char *grpc_message;
  size_t grpc_message_len;
  const char *details_bin;
  size_t details_bin_len;
} twe_grpc_response_meta_t;

/* Builds the call's status from what arrived, all allocations in arena:
 * - HTTP status other than 200: the gRPC spec's mapping (401 UNAUTHENTICATED,
 *   403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE,
 *   400 INTERNAL, else UNKNOWN), message naming the HTTP status;
 * - content-type not application/grpc[+proto|;...]: UNKNOWN;
 * - no grpc-status: INTERNAL "missing grpc-status"; non-numeric: UNKNOWN;
 * - otherwise the trailers' code, decoded message and details.
 * Returns 0, or TWE_ELIMIT / -ENOMEM when the arena is exhausted. */
int twe__grpc_status_from_meta(const twe_grpc_response_meta_t *meta, twe_arena_t *arena,
                               twe_grpc_status_t *out);

/* A status made up locally (deadline, cancel, connection loss). message is
 * copied into arena. Returns 0 or TWE_ELIMIT / -ENOMEM. */
int twe__grpc_status_local(int code, const char *message, twe_arena_t *arena,
                           twe_grpc_status_t *out);

/* The gRPC code for an RST_STREAM error code: REFUSED_STREAM -> UNAVAILABLE
 * (safe to retry: the server did not process it), CANCEL -> CANCELLED,
 * ENHANCE_YOUR_CALM -> RESOURCE_EXHAUSTED, anything else -> INTERNAL. */
int twe__grpc_code_from_rst_stream(uint32_t h2_error_code);

/* Decodes grpc-message percent-encoding into arena (NUL-terminated). A
 * malformed escape is kept as-is rather than losing the message. */
char *twe__grpc_percent_decode(const char *s, size_t len, twe_arena_t *arena);

/* Decodes base64 (standard alphabet, padding optional, as in gRPC binary
 * headers) into arena. Returns the byte count, or TWE_EDECODE for invalid
 * input, or TWE_ELIMIT / -ENOMEM. */
int twe__grpc_base64_decode(const char *s, size_t len, twe_arena_t *arena, uint8_t **out);

#endif /* TWE_IO_GRPC_STATUS_H */
