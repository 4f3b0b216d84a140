/* twe/activity.h — the API activity code calls.
 *
 * An activity function runs on a thread of its shard's activity pool, never
 * on a shard thread, so it may block (I/O, sleeps, CPU work). It ends by
 * returning: completed with the result set by twe_activity_complete
 * (binary/null if never called), or failed with twe_activity_fail. The
 * server retries a failed activity per its retry policy unless the error is
 * non-retryable.
 *
 * Long activities heartbeat: twe_activity_heartbeat records progress
 * (details the next attempt can read with twe_activity_heartbeat_details)
 * and tells the activity when it was cancelled. Heartbeats are throttled
 * (sent at most every 0.8 x the heartbeat timeout, 30 s without one), so
 * calling it often costs nothing.
 *
 * Memory: what twe hands out (arguments, info, details) is valid until the
 * function returns.
 *
 * Thread: every function here may be called only by the activity function,
 * on the pool thread that runs it (twe_activity_cancelled: any thread). */
#ifndef TWE_ACTIVITY_H
#define TWE_ACTIVITY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twe/common.h"
#include "twe/value.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct twe_activity twe_activity_t;

/* An activity type's code. user: the pointer given at registration. */
typedef void (*twe_activity_fn)(twe_activity_t *act, void *user);

typedef struct twe_activity_info {
  const char *namespace_name;
  const char *activity_id;
  const char *activity_type;
  const char *task_queue;
  const char *workflow_id;
  const char *workflow_run_id;
  const char *workflow_type;
  int32_t attempt;                /* 1 for the first attempt */
  uint64_t heartbeat_timeout_ns;  /* 0: none */
  uint64_t start_to_close_timeout_ns;
  int64_t scheduled_time_ns;      /* Unix ns */
  int64_t started_time_ns;        /* Unix ns */
  /* A local activity (twe_workflow_start_local_activity): it cannot
   * heartbeat to the server (twe_activity_heartbeat only reports a
   * cancellation) and has no previous attempt's details. */
  bool is_local;
} twe_activity_info_t;

TWE_EXPORT const twe_activity_info_t *twe_activity_info(twe_activity_t *act);
TWE_EXPORT size_t twe_activity_arg_count(twe_activity_t *act);
/* Packs a json/plain payload with jansson's json_pack format into *out,
 * its text the attempt's (freed when it ends); unpacks one with
 * json_unpack's format, what it hands out valid until the attempt ends.
 * As twe_workflow_pack / _unpack / _unpack_arg (include/twe/workflow.h):
 * 0, TWE_EJSON with the reason in *err (may be NULL; a non-retryable
 * twe.InvalidArgument ready for twe_activity_fail), -ERANGE, -ENOMEM. */
TWE_EXPORT int twe_activity_pack(twe_activity_t *act, twe_payload_t *out, twe_error_info_t *err,
                                 const char *fmt, ...);
TWE_EXPORT int twe_activity_unpack(twe_activity_t *act, const twe_payload_t *p,
                                   twe_error_info_t *err, const char *fmt, ...);
TWE_EXPORT int twe_activity_unpack_arg(twe_activity_t *act, size_t i, twe_error_info_t *err,
                                       const char *fmt, ...);

/* Argument i in *out; JSON arguments are checked valid before the function
 * runs (invalid JSON fails the attempt, non-retryable). Returns 0 or -ERANGE. */
TWE_EXPORT int twe_activity_arg(twe_activity_t *act, size_t i, twe_payload_t *out);

/* Details the last heartbeat of a previous attempt recorded: count, and
 * detail i. Returns 0 or -ERANGE. */
TWE_EXPORT size_t twe_activity_heartbeat_details_count(twe_activity_t *act);
TWE_EXPORT int twe_activity_heartbeat_details(twe_activity_t *act, size_t i,
                                              twe_payload_t *out);

/* Records progress (details copied; may be NULL/0). Never blocks on the
 * network. Returns 0, or TWE_ECANCELED_ACTIVITY once the activity was
 * cancelled (by the server, or the worker stopping): return soon. */
TWE_EXPORT int twe_activity_heartbeat(twe_activity_t *act, const twe_payload_t *details,
                                      size_t n);
/* Whether the activity was asked to stop. Thread: any. */
TWE_EXPORT bool twe_activity_cancelled(twe_activity_t *act);

/* Sets the result (copied). Returns 0 or -ENOMEM. */
TWE_EXPORT int twe_activity_complete(twe_activity_t *act, const twe_payload_t *result);
/* Makes the attempt fail with err (copied) when the function returns.
 * Returns 0 or -ENOMEM. */
TWE_EXPORT int twe_activity_fail(twe_activity_t *act, const twe_error_info_t *err);

#ifdef __cplusplus
}
#endif
#endif /* TWE_ACTIVITY_H */
