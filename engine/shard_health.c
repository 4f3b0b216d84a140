/* engine/shard_health.c — how a shard is doing, for the operator: its 1 s
 * tick (alive for /healthz, connected for /readyz, the loop's lag for
 * twe_shard_loop_lag_seconds; it also has the workflow cache stow its idle
 * runs), its connection's losses and returns (logged,
 * with the time away, and counted), its calls (the request metrics, failed
 * calls counted) and its polls (failing for longer than POLLS_FAILING_NS:
 * logged once, then a summary every SUMMARY_NS, and once more when they
 * succeed again; and how long a poller waits after a failed poll, backing
 * off as the SDKs do).
 *
 * An outage may show no failed poll at all: while the connection is down,
 * calls wait for it and are retried within their deadline. The tick then
 * says, every SUMMARY_NS, that the server is still away and how the
 * attempts to reach it fail.
 *
 * Thread: the shard's. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/worker_internal.h"
#include "io/grpc_retry.h"
#include "twe/client.h"

#define TICK_NS 1000000000ll
#define POLLS_FAILING_NS (5ll * 1000000000ll)
#define SUMMARY_NS (30ll * 1000000000ll)
#define LAG_WINDOW_TICKS 60

static const char *address(const twe_wshard_t *s) {
  return twe__client_options(s->worker->client)->address;
}

/* Every second on the shard's loop. */
static void on_tick(twe_timer_t *t) {
  twe_wshard_t *s = t->data;
  int64_t now = twe__mono_ns();
  atomic_store_explicit(&s->alive_ns, now, memory_order_relaxed);
  /* How late the tick came: the time the loop was busy (or its thread
   * kept from the CPU) when it should have turned. */
  int64_t lag = s->tick_due_ns && now > s->tick_due_ns ? now - s->tick_due_ns : 0;
  if (s->ticks++ % LAG_WINDOW_TICKS == 0) s->lag_max_now_ns = 0;
  if (lag > s->lag_max_now_ns) s->lag_max_now_ns = lag;
  atomic_store_explicit(&s->loop_lag_ns, lag, memory_order_relaxed);
  atomic_store_explicit(&s->loop_lag_max_ns, s->lag_max_now_ns, memory_order_relaxed);
  twe_grpc_channel_stats_t st;
  if (s->channel) twe__grpc_channel_stats(s->channel, &st);
  /* Up once the server answered (a TCP connection a stopped server's
   * kernel accepted is not). */
  bool up = s->channel && st.up;
  atomic_store_explicit(&s->connected, up, memory_order_relaxed);
  if (s->down_since_ns && now - s->down_said_ns >= SUMMARY_NS && s->channel) {
    s->down_said_ns = now;
    twe__log(s->worker, TWE_LOG_WARN, (int)s->index, NULL, NULL, NULL,
             "still no connection to %s after %.0f s (%" PRIu64 " attempt(s) to connect failed "
             "so far; last: %s)",
             address(s), (double)(now - s->down_since_ns) / 1e9, st.connects_failed,
             st.last_error[0] ? st.last_error : "none");
  }
  if (s->polls_failing_logged && now - s->polls_failing_said_ns >= SUMMARY_NS) {
    s->polls_failing_said_ns = now;
    twe__log(s->worker, TWE_LOG_WARN, (int)s->index, NULL, NULL, NULL,
             "polls still failing after %.0f s: %" PRIu64 " failed so far; last: %s",
             (double)(now - s->polls_failing_since_ns) / 1e9, s->polls_failing_n,
             s->polls_failing_error);
  }
  twe__wf_side_tick(s, now);
  s->tick_due_ns = now + TICK_NS;
  twe__timer_start(&s->tick_timer, (uint64_t)TICK_NS);
}

/* The shard's connection went down or came back: said once each, with how
 * long it was away, and counted. */
static void on_channel_state(void *data, bool up, const char *why) {
  twe_wshard_t *s = data;
  int64_t now = twe__mono_ns();
  atomic_store_explicit(&s->connected, up, memory_order_relaxed);
  if (!up) {
    if (s->down_since_ns) return; /* still away: said already */
    s->down_since_ns = s->down_said_ns = now;
    twe__count(&s->counters.connection_losses, 1);
    twe__log(s->worker, TWE_LOG_WARN, (int)s->index, NULL, NULL, NULL,
             "lost the connection to %s (%s); calls wait and are retried while it is away",
             address(s), why && *why ? why : "closed");
  } else if (s->down_since_ns) {
    twe__count(&s->counters.reconnects, 1);
    twe__log(s->worker, TWE_LOG_INFO, (int)s->index, NULL, NULL, NULL,
             "connection to %s back after %.1f s away", address(s),
             (double)(now - s->down_since_ns) / 1e9);
    s->down_since_ns = s->down_said_ns = 0;
  }
}

/* A call of the shard's channel ended: the request metrics. */
static void on_call(void *data, const twe_grpc_request_t *req, uint64_t latency_ns) {
  twe_wshard_t *s = data;
  /* An answer from the server: connected (the tick notices a loss). */
  if (req->status.code == TWE_GRPC_OK)
    atomic_store_explicit(&s->connected, true, memory_order_relaxed);
  size_t op = twe__m_operation(req->path);
  bool is_long = twe__m_operation_is_long(op);
  twe__m_add(s->metrics, is_long ? TWE_M_LONG_REQUEST : TWE_M_REQUEST, op, 1);
  twe__m_observe(s->metrics, is_long ? TWE_M_LONG_REQUEST_LATENCY : TWE_M_REQUEST_LATENCY, op,
                 latency_ns);
  /* A stop cancels its own polls: not a failure of the server's. */
  if (req->status.code != TWE_GRPC_OK &&
      !(req->status.code == TWE_GRPC_CANCELLED && s->draining)) {
    twe__count(&s->counters.calls_failed, 1);
    twe__m_add(s->metrics, is_long ? TWE_M_LONG_REQUEST_FAILURE : TWE_M_REQUEST_FAILURE,
               twe__m_failure(op, req->status.code), 1);
  }
}

uint64_t twe__health_poll_backoff_ns(int failures, int code) {
  /* Jitter from the clock's low bits: enough to spread pollers apart. */
  uint32_t random32 = (uint32_t)((uint64_t)twe__mono_ns() * 2654435761u >> 7);
  return twe__retry_backoff_ns(&twe__retry_policy_poll, code, failures < 1 ? 1 : failures,
                               random32);
}

void twe__health_poll(twe_wshard_t *s, const char *what, int code, const char *message) {
  int64_t now = twe__mono_ns();
  if (code == TWE_GRPC_OK) {
    if (s->polls_failing_logged)
      twe__log(s->worker, TWE_LOG_INFO, (int)s->index, NULL, NULL, NULL,
               "polls succeed again after %.1f s of failures (%" PRIu64 " failed)",
               (double)(now - s->polls_failing_since_ns) / 1e9, s->polls_failing_n);
    s->polls_failing_since_ns = 0;
    s->polls_failing_n = 0;
    s->polls_failing_logged = false;
    return;
  }
  /* A stop cancels its own polls. */
  if (code == TWE_GRPC_CANCELLED && s->draining) return;
  twe__count(&s->counters.polls_failed, 1);
  snprintf(s->polls_failing_error, sizeof s->polls_failing_error, "%s: %s: %s", what,
           twe__grpc_code_name(code), message ? message : "");
  if (!s->polls_failing_since_ns) s->polls_failing_since_ns = now;
  s->polls_failing_n++;
  /* One failed poll is not news (the next one is retried after a pause);
   * polls failing for POLLS_FAILING_NS are. */
  if (!s->polls_failing_logged && now - s->polls_failing_since_ns >= POLLS_FAILING_NS) {
    s->polls_failing_logged = true;
    s->polls_failing_said_ns = now;
    twe__log(s->worker, TWE_LOG_WARN, (int)s->index, NULL, NULL, NULL,
             "polls have been failing for %.1f s (%" PRIu64 " failed): %s",
             (double)(now - s->polls_failing_since_ns) / 1e9, s->polls_failing_n,
             s->polls_failing_error);
  }
}

void twe__health_attach(twe_wshard_t *s) {
  twe__timer_init(s->reactor, &s->tick_timer, on_tick);
  s->tick_timer.data = s;
  s->tick_due_ns = twe__mono_ns() + TICK_NS;
  twe__timer_start(&s->tick_timer, (uint64_t)TICK_NS);
  if (s->channel) {
    twe__grpc_channel_observe(s->channel, on_call, s);
    twe__grpc_channel_on_state(s->channel, on_channel_state, s);
  }
}

void twe__health_detach(twe_wshard_t *s) {
  if (s->reactor && s->tick_timer.reactor) twe__timer_stop(&s->tick_timer);
}
