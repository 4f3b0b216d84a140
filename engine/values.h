/* engine/values.h — conversions between the public values of twe/value.h
 * (payloads, application errors, retry policies) and their Temporal
 * protobuf messages.
 *
 * Everything built here lives in the arena given; strings read out of
 * protobufs are NUL-terminated copies in that arena.
 *
 * Thread: the arena's owner. */
#ifndef TWE_ENGINE_VALUES_H
#define TWE_ENGINE_VALUES_H
#include <stddef.h>
#include "proto/arena.h"
#include "proto/payload.h"
#include "temporal/api/common/v1/message.pb-c.h"
#include "temporal/api/failure/v1/message.pb-c.h"
#include "twe/value.h"

typedef Temporal__Api__Failure__V1__Failure twe_failure_pb_t;

/* A Payload with p's encoding (metadata "encoding") and a copy of its data.
 * Returns 0, -EINVAL (p NULL or no encoding), TWE_ELIMIT / -ENOMEM. */
int twe__value_to_payload(twe_arena_t *arena, const twe_payload_t *p, twe_payload_pb_t **out);
/* A Payloads list of n values (n may be 0: an empty list). */
int twe__values_to_payloads(twe_arena_t *arena, const twe_payload_t *values, size_t n,
                            twe_payloads_pb_t **out);
/* Reads pb into *out: encoding is a NUL-terminated copy in arena ("" when
 * missing), data points into pb. Returns 0 or -ENOMEM. */
int twe__value_from_payload(twe_arena_t *arena, const twe_payload_pb_t *pb, twe_payload_t *out);
/* Checks a payload handed to user code: json/plain must be valid JSON.
 * Returns 0, or TWE_EJSON with jansson's reason ("line 1 column 2: ...") in
 * why. */
int twe__value_check(const twe_payload_pb_t *pb, char *why, size_t why_len);

/* A Failure with ApplicationFailureInfo{type, non_retryable, details} and
 * source "twe". */
int twe__failure_from_error(twe_arena_t *arena, const twe_error_info_t *err,
                            twe_failure_pb_t **out);
/* A Failure carrying only a message and an application type (for errors
 * the engine itself raises). */
int twe__failure_new(twe_arena_t *arena, const char *type, const char *message,
                     bool non_retryable, twe_failure_pb_t **out);
/* Reads a failure as an error: the innermost meaningful cause (an activity
 * failure's cause), type = application type or the failure kind
 * ("TimeoutError", "CanceledError", "TerminatedError", "ServerError",
 * "ActivityError"), message, non_retryable, details. Strings in arena. */
int twe__error_from_failure(twe_arena_t *arena, const twe_failure_pb_t *f,
                            twe_error_info_t *out);

/* A RetryPolicy message for policy. */
int twe__retry_policy_to_pb(twe_arena_t *arena, const twe_retry_policy_t *policy,
                            Temporal__Api__Common__V1__RetryPolicy **out);
/* SearchAttributes for fields[0..n): each value's JSON with its type in
 * the payload's "type" metadata, as the server indexes them. -EINVAL for
 * a type that is not a search attribute type or a value that is not JSON.
 * n == 0 gives NULL. */
int twe__search_attributes_pb(twe_arena_t *arena, const twe_field_t *fields, size_t n,
                              Temporal__Api__Common__V1__SearchAttributes **out);
/* A Memo for fields[0..n) (their payloads as given; types ignored). n == 0
 * gives NULL. */
int twe__memo_pb(twe_arena_t *arena, const twe_field_t *fields, size_t n,
                 Temporal__Api__Common__V1__Memo **out);

/* A google.protobuf.Duration / Timestamp for ns (NULL when ns == 0 for
 * durations: unset). */
Google__Protobuf__Duration *twe__duration_pb(twe_arena_t *arena, uint64_t ns);
int64_t twe__duration_ns(const Google__Protobuf__Duration *d);
int64_t twe__timestamp_ns(const Google__Protobuf__Timestamp *t);
/* A NUL-terminated arena copy of a protobuf string that may be NULL
 * (gives ""). */
char *twe__str(twe_arena_t *arena, const char *s);

#endif /* TWE_ENGINE_VALUES_H */
