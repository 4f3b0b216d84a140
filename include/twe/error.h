/* twe/error.h — the one table of error codes.
 *
 * Every twe function that can fail returns an int: >= 0 is success, a
 * negative value is either a negative errno (-ENOMEM, -ETIMEDOUT, ...) or one
 * of the TWE_E* codes below. The two ranges never overlap. gRPC statuses and
 * Temporal failures are not errors in this sense: they are data, reported in
 * the results of the calls that produce them.
 *
 * Thread: everything declared here may be called from any thread. */
#ifndef TWE_ERROR_H
#define TWE_ERROR_H

#include "twe/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Codes start far above the largest errno so a negative errno is never
 * mistaken for one of them. Append only; the numbers are ABI. */
#define TWE_ERRNO_BASE 10000
typedef enum twe_errcode {
  /* Bytes that should hold a protobuf message do not decode as that message. */
  TWE_EDECODE = -(TWE_ERRNO_BASE + 1),
  /* A configured size limit would be exceeded (message size, arena budget). */
  TWE_ELIMIT = -(TWE_ERRNO_BASE + 2),
  /* A payload's metadata "encoding" is missing, unknown, or not the one the
   * caller asked to read it as. */
  TWE_EENCODING = -(TWE_ERRNO_BASE + 3),
  /* A payload that claims json/plain does not hold valid JSON. */
  TWE_EJSON = -(TWE_ERRNO_BASE + 4),
  /* A message could not be encoded (unset required parts, size overflow). */
  TWE_EENCODE = -(TWE_ERRNO_BASE + 5),
  /* The peer broke the HTTP/2 or gRPC protocol (bad framing, a compressed
   * message we did not ask for, a second message on a unary call). */
  TWE_EPROTOCOL = -(TWE_ERRNO_BASE + 6),
  /* A TLS handshake or TLS record failed (untrusted or expired certificate,
   * name mismatch, no ALPN h2, alert from the peer, garbage bytes). */
  TWE_ETLS = -(TWE_ERRNO_BASE + 7),
  /* A configuration option or file is missing, unreadable or invalid. */
  TWE_ECONFIG = -(TWE_ERRNO_BASE + 8),
  /* A host name does not resolve to any address (getaddrinfo: EAI_NONAME,
   * EAI_NODATA): permanent until DNS or /etc/hosts change. */
  TWE_ENOHOST = -(TWE_ERRNO_BASE + 9),
  /* Name resolution itself failed (getaddrinfo: EAI_AGAIN, EAI_FAIL, ...):
   * the resolver was unreachable or broken; may work later. */
  TWE_ERESOLVE = -(TWE_ERRNO_BASE + 10),
  /* What a workflow waited for failed (an activity failed or timed out):
   * the failure is data, read it with twe_future_error. */
  TWE_EFAILED = -(TWE_ERRNO_BASE + 11),
  /* No workflow or activity of that type is registered. */
  TWE_ENOTREGISTERED = -(TWE_ERRNO_BASE + 12),
  /* Replayed workflow code made different calls than its history records
   * (NON_DETERMINISTIC_ERROR). */
  TWE_ENONDETERMINISM = -(TWE_ERRNO_BASE + 13),
  /* The activity was cancelled (seen in a heartbeat response) or the worker
   * is stopping: the activity should return soon. */
  TWE_ECANCELED_ACTIVITY = -(TWE_ERRNO_BASE + 14),
  /* A workflow ended without completing: failed, timed out, terminated,
   * cancelled or continued as new (a client reading its result). */
  TWE_EWORKFLOW = -(TWE_ERRNO_BASE + 15),
  /* The watchdog preempted a workflow task over its CPU or blocked budget. */
  TWE_EPREEMPTED = -(TWE_ERRNO_BASE + 16),
  /* A worker's stop ran past its deadline with a thread stuck in workflow
   * code, or a shard lost its thread (the watchdog's hard cap). */
  TWE_ESTUCK = -(TWE_ERRNO_BASE + 17),
} twe_errcode_t;

/* A one-line English description of err, for any negative twe return value:
 * a TWE_E* code or a negative errno. Returns a static string (never NULL);
 * unknown values give "unknown error". */
TWE_EXPORT const char *twe_strerror(int err);

/* The symbolic name of err ("TWE_EDECODE", "ENOMEM"), for structured logs.
 * Returns a static string (never NULL); unknown values give "EUNKNOWN". */
TWE_EXPORT const char *twe_err_name(int err);

#ifdef __cplusplus
}
#endif

#endif /* TWE_ERROR_H */
