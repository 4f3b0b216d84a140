/* twe/value.h — values and errors as workflows, activities and clients see
 * them: payloads (a value with its encoding) and application errors.
 *
 * A payload is what Temporal stores for one argument or result. twe speaks
 * the standard encodings of the other SDKs:
 *   "json/plain"    JSON text (any JSON value): what the `temporal` CLI and the
 *                   Go, Java, Python and TypeScript SDKs write by default
 *   "binary/plain"  raw bytes
 *   "binary/null"   no value (data empty)
 * Payloads of other encodings (protobuf, codec-encrypted ...) are passed
 * through untouched: encoding names them and data holds their bytes.
 *
 * Memory: a twe_payload_t never owns its bytes. One handed to twe (an
 * argument, a result, heartbeat details) is copied before the call returns;
 * one twe hands out (an input, an activity result) is valid for as long as
 * the call that produced it says (usually: until the workflow run or the
 * activity ends).
 *
 * Thread: plain data; the helpers may be called from any thread. */
#ifndef TWE_VALUE_H
#define TWE_VALUE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twe/common.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct twe_payload {
  const char *encoding; /* "json/plain", "binary/plain", "binary/null", ... */
  const void *data;
  size_t len;
} twe_payload_t;

/* A json/plain payload over NUL-terminated JSON text (borrowed). */
static inline twe_payload_t twe_payload_json(const char *json_text) {
  twe_payload_t p = {"json/plain", json_text, 0};
  const char *e = json_text;
  while (e && *e) e++;
  p.len = (size_t)(e - json_text);
  return p;
}
/* A binary/plain payload over len bytes (borrowed). */
static inline twe_payload_t twe_payload_binary(const void *data, size_t len) {
  twe_payload_t p = {"binary/plain", data, len};
  return p;
}
/* binary/null: no value. */
static inline twe_payload_t twe_payload_null(void) {
  twe_payload_t p = {"binary/null", "", 0};
  return p;
}
/* Whether p is json/plain (its data is then valid JSON text; twe checked it
 * before handing it out). */
TWE_EXPORT bool twe_payload_is_json(const twe_payload_t *p);

/* An application error: what an activity or a workflow fails with, and what
 * a workflow sees when an activity failed. Strings borrowed as payloads. */
typedef struct twe_error_info {
  /* The error's type, for retry policies' non-retryable types and for
   * callers to tell errors apart ("ValueError", "InsufficientFunds").
   * For a failure twe reads back: the application type, or the kind of the
   * failure when it is not an application error ("TimeoutError",
   * "CanceledError", "TerminatedError", "ServerError"). */
  const char *type;
  const char *message;
  /* Fail at once, whatever the retry policy says. */
  bool non_retryable;
  const twe_payload_t *details;
  size_t details_count;
} twe_error_info_t;

/* A retry policy (Temporal's RetryPolicy). Zero fields take the server's
 * defaults: 1 s initial interval, coefficient 2, max interval 100 x the
 * initial one, unlimited attempts. */
typedef struct twe_retry_policy {
  uint64_t initial_interval_ns;
  double backoff_coefficient;
  uint64_t maximum_interval_ns;
  int32_t maximum_attempts; /* 0: unlimited; 1: no retries */
  const char *const *non_retryable_error_types;
  size_t non_retryable_error_types_count;
} twe_retry_policy_t;

/* A named value given when a workflow starts: a memo field (any payload;
 * type NULL) or a search attribute (type one of "Keyword", "Text", "Int",
 * "Double", "Bool", "Datetime", "KeywordList"; value JSON: "\"x\"", "3",
 * "[\"a\",\"b\"]"). */
typedef struct twe_field {
  const char *name;
  const char *type;
  twe_payload_t value;
} twe_field_t;

#ifdef __cplusplus
}
#endif
#endif /* TWE_VALUE_H */
