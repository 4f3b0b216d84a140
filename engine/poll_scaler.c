/* engine/poll_scaler.c — the poll count of engine/poll_scaler.h. */
#include "engine/poll_scaler.h"

#include "io/grpc_status.h"

static void set_target(twe__poll_scaler_t *s, int64_t want) {
  if (want < (int64_t)s->min) want = s->min;
  if (want > (int64_t)s->max) want = s->max;
  if ((unsigned)want > s->target) s->ups++;
  if ((unsigned)want < s->target) s->downs++;
  s->target = (unsigned)want;
}

void twe__poll_scaler_init(twe__poll_scaler_t *s, bool autoscale, unsigned initial, unsigned min,
                           unsigned max) {
  *s = (twe__poll_scaler_t){.autoscale = autoscale, .min = min ? min : 1, .max = max};
  if (s->max < s->min) s->max = s->min;
  s->target = s->min;
  set_target(s, initial);
  s->ups = s->downs = 0;
}

void twe__poll_scaler_task(twe__poll_scaler_t *s, bool has_decision, int32_t delta) {
  if (!s->autoscale || !has_decision) return;
  s->saw_decision = true;
  if (delta) set_target(s, (int64_t)s->target + delta);
}

void twe__poll_scaler_empty(twe__poll_scaler_t *s) {
  /* Without a decision ever, the server may not scale at all: keep what
   * was configured rather than dwindle to min. */
  if (s->autoscale && s->saw_decision) set_target(s, (int64_t)s->target - 1);
}

void twe__poll_scaler_failed(twe__poll_scaler_t *s, int code) {
  if (s->autoscale && code == TWE_GRPC_RESOURCE_EXHAUSTED) set_target(s, s->target / 2);
}
