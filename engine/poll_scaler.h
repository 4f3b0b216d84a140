/* engine/poll_scaler.h — how many polls a shard keeps on one task queue:
 * a fixed count, or autoscaling as the SDKs' PollerBehaviorAutoscaling:
 * the server's PollerScalingDecision in a poll's answer moves the target by
 * its delta; with autoscaling on and a decision seen once, a poll that
 * comes back empty takes one away (the queue has more polls than tasks);
 * RESOURCE_EXHAUSTED halves it (the server asks for fewer calls). Always
 * between min and max; fixed, it stays where it started.
 *
 * Thread: one shard's (each shard has its own per queue). */
#ifndef TWE_ENGINE_POLL_SCALER_H
#define TWE_ENGINE_POLL_SCALER_H
#include <stdbool.h>
#include <stdint.h>

typedef struct twe__poll_scaler {
  bool autoscale;
  bool saw_decision; /* the server has sent a decision on this queue */
  unsigned min, max, target;
  uint64_t ups, downs; /* changes made, for stats */
} twe__poll_scaler_t;

/* initial is clamped to [min, max]; min at least 1. */
void twe__poll_scaler_init(twe__poll_scaler_t *s, bool autoscale, unsigned initial, unsigned min,
                           unsigned max);
/* A poll brought a task; delta is its PollerScalingDecision's suggestion
 * (has_decision false: none came). */
void twe__poll_scaler_task(twe__poll_scaler_t *s, bool has_decision, int32_t delta);
/* A poll came back empty (the long poll ended without a task). */
void twe__poll_scaler_empty(twe__poll_scaler_t *s);
/* A poll failed with a gRPC status code. */
void twe__poll_scaler_failed(twe__poll_scaler_t *s, int code);

#endif /* TWE_ENGINE_POLL_SCALER_H */
