/* io/grpc_retry.c — retry classification and backoff. */
#include "io/grpc_retry.h"

#include <string.h>

#include "io/grpc_status.h"

#define MS 1000000ull

const twe_rpc_retry_policy_t twe__retry_policy_call = {
  .initial_interval_ns = 100 * MS,
  .backoff_coefficient = 1.7,
  .jitter = 0.2,
  .max_interval_ns = 5000 * MS,
  .max_attempts = 10,
  .exhausted_initial_interval_ns = 1000 * MS,
  .exhausted_max_interval_ns = 10000 * MS,
};

const twe_rpc_retry_policy_t twe__retry_policy_respond = {
  .initial_interval_ns = 100 * MS,
  .backoff_coefficient = 1.7,
  .jitter = 0.2,
  .max_interval_ns = 10000 * MS,
  .max_attempts = 0,
  .exhausted_initial_interval_ns = 1000 * MS,
  .exhausted_max_interval_ns = 10000 * MS,
};

const twe_rpc_retry_policy_t twe__retry_policy_poll = {
  .initial_interval_ns = 200 * MS,
  .backoff_coefficient = 2.0,
  .jitter = 0.2,
  .max_interval_ns = 10000 * MS,
  .max_attempts = 0,
  .exhausted_initial_interval_ns = 1000 * MS,
  .exhausted_max_interval_ns = 10000 * MS,
};

bool twe__retry_should(const twe_rpc_retry_policy_t *policy, int grpc_code, const char *message,
                       int attempt) {
  if (policy->max_attempts > 0 && attempt >= policy->max_attempts) return false;
  switch (grpc_code) {
    case TWE_GRPC_RESOURCE_EXHAUSTED:
      /* The server's "grpc: received message larger than max" / "message
       * larger than max": retrying sends the same bytes again. */
      return !(message && strstr(message, "larger than max"));
    case TWE_GRPC_UNAVAILABLE:
    case TWE_GRPC_INTERNAL:
    case TWE_GRPC_UNKNOWN:
    case TWE_GRPC_ABORTED:
    case TWE_GRPC_OUT_OF_RANGE:
    case TWE_GRPC_DATA_LOSS:
      return true;
    default:
      return false;
  }
}

uint64_t twe__retry_backoff_ns(const twe_rpc_retry_policy_t *policy, int grpc_code, int attempt,
                               uint32_t random32) {
  bool exhausted = grpc_code == TWE_GRPC_RESOURCE_EXHAUSTED;
  double interval = (double)(exhausted ? policy->exhausted_initial_interval_ns
                                       : policy->initial_interval_ns);
  double cap = (double)(exhausted ? policy->exhausted_max_interval_ns : policy->max_interval_ns);
  double coefficient = exhausted ? 2.0 : policy->backoff_coefficient;
  for (int i = 1; i < attempt && interval < cap; i++) interval *= coefficient;
  if (interval > cap) interval = cap;
  /* Uniform in [1 - jitter, 1 + jitter] x interval, still capped. */
  double unit = (double)random32 / 4294967295.0;
  interval *= 1.0 + policy->jitter * (2.0 * unit - 1.0);
  if (interval > cap) interval = cap;
  if (interval < 0) interval = 0;
  return (uint64_t)interval;
}
