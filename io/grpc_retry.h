/* io/grpc_retry.h — when and how soon a failed gRPC call is tried again.
 *
 * Temporal's SDKs agree on the shape (PROTOCOL.md): ordinary calls back off
 * from 100 ms by x1.7 with 20% jitter up to 5 s, about 10 attempts; long
 * polls retry forever from 200 ms by x2 up to 10 s; RESOURCE_EXHAUSTED waits
 * longer (1 s by x2 up to 10 s); NOT_FOUND is never retried (the task or
 * workflow is gone), nor is "message larger than max" (it will not shrink).
 *
 * Thread: any; policies are immutable values, the functions pure. */
#ifndef TWE_IO_GRPC_RETRY_H
#define TWE_IO_GRPC_RETRY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct twe_rpc_retry_policy {
  uint64_t initial_interval_ns;
  double backoff_coefficient;
  double jitter; /* +-fraction of the interval, e.g. 0.2 */
  uint64_t max_interval_ns;
  int max_attempts; /* including the first; 0 = retry forever */
  /* RESOURCE_EXHAUSTED backs off on its own, slower schedule. */
  uint64_t exhausted_initial_interval_ns;
  uint64_t exhausted_max_interval_ns;
} twe_rpc_retry_policy_t;

/* For ordinary calls (RespondWorkflowTaskCompleted, DescribeNamespace, ...). */
extern const twe_rpc_retry_policy_t twe__retry_policy_call;
/* For long polls (PollWorkflowTaskQueue, PollActivityTaskQueue). */
extern const twe_rpc_retry_policy_t twe__retry_policy_poll;
/* For an outcome worth delivering as long as its deadline allows (an
 * activity's result): the call policy's schedule up to 10 s apart, no
 * limit on attempts. */
extern const twe_rpc_retry_policy_t twe__retry_policy_respond;

/* Whether a call that ended with code (and status message, may be NULL)
 * after `attempt` attempts (1 = the first) should be tried again. Retryable:
 * UNAVAILABLE, INTERNAL, UNKNOWN, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE,
 * DATA_LOSS; DEADLINE_EXCEEDED only when the caller's overall deadline
 * allows (the caller checks that). */
bool twe__retry_should(const twe_rpc_retry_policy_t *policy, int grpc_code, const char *message,
                       int attempt);

/* How long to wait before attempt `attempt + 1`, given random32 (any 32-bit
 * random value; the caller owns the generator, so tests are deterministic). */
uint64_t twe__retry_backoff_ns(const twe_rpc_retry_policy_t *policy, int grpc_code, int attempt,
                               uint32_t random32);

#endif /* TWE_IO_GRPC_RETRY_H */
