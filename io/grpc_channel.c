/* io/grpc_channel.c — requests with retries over self-healing connections.
 *
 * A request is encoded once and sent as attempts on the channel's current
 * link (io/grpc_link.c: one connection each); an attempt that fails is
 * retried per its policy while the request's deadline allows, and one that
 * succeeds is decoded with the descriptor the caller named. Requests with
 * no ready link wait in arrival order, and the channel connects. This file
 * also keeps the channel's life: create, destroy (from inside a callback
 * too), stats. */
#define _GNU_SOURCE /* strdup */
#include "io/grpc_channel_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "twe/error.h"

#define MS TWE__GRPC_MS
#define SEC TWE__GRPC_SEC
#define DEFAULT_TIMEOUT (10 * SEC)
#define DEFAULT_CONNECT_TIMEOUT (10 * SEC)

void twe__grpc_channel_set_up(twe_grpc_channel_t *ch, bool up, const char *why) {
  if (ch->up == up) return;
  ch->up = up;
  if (ch->on_state) ch->on_state(ch->state_data, up, why);
}

void twe__grpc_channel_on_state(twe_grpc_channel_t *ch, twe_grpc_state_fn fn, void *data) {
  ch->on_state = fn;
  ch->state_data = data;
}

uint32_t twe__grpc_channel_random(twe_grpc_channel_t *ch) {
  /* xorshift32: for jitter only. */
  uint32_t x = ch->rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return ch->rng = x;
}

void twe__grpc_channel_set_error(twe_grpc_channel_t *ch, const char *why) {
  snprintf(ch->stats.last_error, sizeof ch->stats.last_error, "%s", why);
}

static void destroy_now(twe_grpc_channel_t *ch);

void twe__grpc_channel_enter(twe_grpc_channel_t *ch) {
  if (ch) ch->depth++;
}

/* Leaves an entry point; the channel may be gone afterwards. */
void twe__grpc_channel_leave(twe_grpc_channel_t *ch) {
  if (ch && --ch->depth == 0 && ch->destroy_pending) destroy_now(ch);
}

/* --- requests ------------------------------------------------------------- */

static void waiting_push(twe_grpc_channel_t *ch, twe_grpc_request_t *req) {
  req->prev = ch->waiting_tail;
  req->next = NULL;
  if (ch->waiting_tail)
    ch->waiting_tail->next = req;
  else
    ch->waiting_head = req;
  ch->waiting_tail = req;
}

void twe__grpc_channel_unwait(twe_grpc_channel_t *ch, twe_grpc_request_t *req) {
  if (req->prev)
    req->prev->next = req->next;
  else
    ch->waiting_head = req->next;
  if (req->next)
    req->next->prev = req->prev;
  else
    ch->waiting_tail = req->prev;
  req->prev = req->next = NULL;
}

static void request_finish(twe_grpc_channel_t *ch, twe_grpc_request_t *req) {
  if (req->state == REQ_WAITING) twe__grpc_channel_unwait(ch, req);
  twe__timer_stop(&req->timer);
  req->state = REQ_DONE;
  req->link = NULL;
  if (req->live_prev)
    req->live_prev->live_next = req->live_next;
  else
    ch->live = req->live_next;
  if (req->live_next) req->live_next->live_prev = req->live_prev;
  ch->stats.requests_live--;
  if (ch->observe)
    ch->observe(ch->observe_data, req, twe__reactor_now(ch->reactor) - req->started_ns);
  req->done(req);
}

void twe__grpc_channel_observe(twe_grpc_channel_t *ch, twe_grpc_observe_fn fn, void *data) {
  ch->observe = fn;
  ch->observe_data = data;
}

static void request_finish_local(twe_grpc_channel_t *ch, twe_grpc_request_t *req, int code,
                                 const char *message) {
  if (twe__grpc_status_local(code, message, req->arena, &req->status) < 0) {
    memset(&req->status, 0, sizeof req->status);
    req->status.code = code;
    req->status.message = "(status message dropped: request arena exhausted)";
  }
  req->response = NULL;
  request_finish(ch, req);
}

static void on_request_timer(twe_timer_t *t) {
  twe_grpc_request_t *req = t->data;
  twe_grpc_channel_t *ch = req->channel;
  twe__grpc_channel_enter(ch);
  if (req->state == REQ_BACKOFF) {
    twe__grpc_request_attempt(ch, req);
  } else if (req->state == REQ_WAITING) {
    char msg[360];
    snprintf(msg, sizeof msg, "deadline exceeded waiting for a connection to %s%s%s", ch->address,
             ch->stats.last_error[0] ? " (last error: " : "", ch->stats.last_error);
    if (ch->stats.last_error[0]) strncat(msg, ")", sizeof msg - strlen(msg) - 1);
    request_finish_local(ch, req, TWE_GRPC_DEADLINE_EXCEEDED, msg);
  }
  twe__grpc_channel_leave(ch);
}

/* One attempt ended on a connection: decode, retry or finish. */
static void on_call_done(twe_grpc_call_t *call, void *arg) {
  twe_grpc_request_t *req = arg;
  twe_grpc_channel_t *ch = req->channel;
  req->link = NULL;
  req->status = call->status;
  if (req->cancelled || ch->destroying) {
    request_finish_local(ch, req, TWE_GRPC_CANCELLED,
                         ch->destroying ? "channel closed" : "request cancelled by the caller");
    return;
  }
  if (call->status.code == TWE_GRPC_OK) {
    int rc = twe__proto_decode(req->response_type, req->arena, call->response, call->response_len,
                               &req->response);
    if (rc < 0) {
      char msg[200];
      snprintf(msg, sizeof msg, "response is not a valid %s: %s", req->response_type->name,
               twe_strerror(rc));
      request_finish_local(ch, req, TWE_GRPC_INTERNAL, msg);
      return;
    }
    request_finish(ch, req);
    return;
  }
  const twe_rpc_retry_policy_t *policy = req->retry ? req->retry : &twe__retry_policy_call;
  /* A call the server never saw is always safe to try again. */
  bool under = policy->max_attempts == 0 || req->attempts < policy->max_attempts;
  /* An attempt that ran out its own time limit, before the overall one. */
  bool attempt_timed_out =
      call->status.code == TWE_GRPC_DEADLINE_EXCEEDED && req->call.deadline_ns < req->deadline_ns;
  bool retry =
      call->not_processed || attempt_timed_out
          ? under
          : twe__retry_should(policy, call->status.code, call->status.message, req->attempts);
  if (retry) {
    uint64_t now = twe__reactor_now(ch->reactor);
    uint64_t wait = twe__retry_backoff_ns(policy, call->status.code, req->attempts,
                                          twe__grpc_channel_random(ch));
    if (now + wait < req->deadline_ns && twe__timer_start(&req->timer, wait) == 0) {
      req->state = REQ_BACKOFF;
      ch->stats.retries++;
      return;
    }
  }
  request_finish(ch, req);
}

void twe__grpc_request_attempt(twe_grpc_channel_t *ch, twe_grpc_request_t *req) {
  uint64_t now = twe__reactor_now(ch->reactor);
  if (now >= req->deadline_ns) {
    /* The last attempt's status, if there was one, says more. */
    if (req->attempts > 0)
      request_finish(ch, req);
    else
      request_finish_local(ch, req, TWE_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
    return;
  }
  struct twe__grpc_link *l = ch->current;
  if (!l || l->state != LINK_READY) {
    if (twe__timer_start(&req->timer, req->deadline_ns - now) < 0) {
      request_finish_local(ch, req, TWE_GRPC_RESOURCE_EXHAUSTED, "out of memory for a timer");
      return;
    }
    req->state = REQ_WAITING;
    waiting_push(ch, req);
    twe__grpc_channel_connect(ch);
    return;
  }
  twe__timer_stop(&req->timer);
  memset(&req->call, 0, sizeof req->call);
  req->call.arena = req->arena;
  req->call.path = req->path;
  req->call.deadline_ns = req->deadline_ns;
  if (req->attempt_timeout_ns && twe__grpc_add_ns(now, req->attempt_timeout_ns) < req->deadline_ns)
    req->call.deadline_ns = twe__grpc_add_ns(now, req->attempt_timeout_ns);
  req->call.metadata = req->namespaced ? req->call_md : NULL;
  req->call.n_metadata = req->namespaced ? 1 : 0;
  req->call.done = on_call_done;
  req->call.done_arg = req;
  req->attempts++;
  req->state = REQ_IN_CALL;
  req->link = l;
  int rc = twe__grpc_conn_submit(l->grpc, &req->call, req->bytes, req->len, now);
  if (rc == -ENOTCONN) {
    /* The connection failed or was told to go away since it was last
     * looked at (its bytes still draining): the server never saw this
     * attempt. Let the link go, and wait for the next one. */
    req->attempts--;
    req->link = NULL;
    req->state = REQ_BACKOFF;
    const char *why = twe__grpc_conn_error(l->grpc);
    if (why)
      twe__grpc_link_fail(l, why);
    else
      twe__grpc_link_retire(l);
    twe__grpc_request_attempt(ch, req);
    return;
  }
  if (rc < 0) {
    req->link = NULL;
    request_finish_local(ch, req, TWE_GRPC_RESOURCE_EXHAUSTED, twe_strerror(rc));
    return;
  }
  /* The tick timer must fire by this call's deadline; a full tick (a scan
   * of every call) is not needed for that. */
  if (req->call.deadline_ns < l->tick_due_ns) twe__grpc_link_arm_tick(l, req->call.deadline_ns);
  twe__grpc_link_flush_soon(l);
}

int twe__grpc_channel_start(twe_grpc_channel_t *ch, twe_grpc_request_t *req) {
  if (ch->destroying || ch->destroy_pending) return -ESHUTDOWN;
  int rc = twe__proto_encode(req->request, req->arena, &req->bytes, &req->len);
  if (rc < 0) return rc;
  req->channel = ch;
  req->attempts = 0;
  req->cancelled = false;
  req->response = NULL;
  req->link = NULL;
  req->prev = req->next = NULL;
  memset(&req->status, 0, sizeof req->status);
  req->call_md[0].name = "temporal-namespace";
  req->call_md[0].value = ch->namespace_name;
  req->started_ns = twe__reactor_now(ch->reactor);
  req->deadline_ns = twe__grpc_add_ns(twe__reactor_now(ch->reactor),
                                      req->timeout_ns ? req->timeout_ns : DEFAULT_TIMEOUT);
  twe__timer_init(ch->reactor, &req->timer, on_request_timer);
  req->timer.data = req;
  req->live_prev = NULL;
  req->live_next = ch->live;
  if (ch->live) ch->live->live_prev = req;
  ch->live = req;
  ch->stats.requests_live++;
  /* Never call back from inside start: the first attempt runs from a
   * zero-delay timer in the next iteration. */
  req->state = REQ_BACKOFF;
  if (twe__timer_start(&req->timer, 0) < 0) {
    req->state = REQ_IDLE;
    ch->live = req->live_next;
    if (ch->live) ch->live->live_prev = NULL;
    ch->stats.requests_live--;
    return -ENOMEM;
  }
  return 0;
}

void twe__grpc_channel_close_idle(twe_grpc_channel_t *ch) {
  twe__grpc_channel_enter(ch);
  for (struct twe__grpc_link *l = ch->links, *next; l; l = next) {
    next = l->next;
    /* Control frames still queued (a SETTINGS or PING acknowledgement)
     * do not keep it. */
    if (l->connect || l->state == LINK_CLOSING || !l->grpc ||
        twe__grpc_conn_live_calls(l->grpc) != 0)
      continue;
    twe__grpc_link_retire(l);
    twe__grpc_link_close(l, "idle connection closed", false);
  }
  twe__grpc_channel_leave(ch);
}

void twe__grpc_channel_cancel(twe_grpc_channel_t *ch, twe_grpc_request_t *req) {
  twe__grpc_channel_enter(ch);
  switch (req->state) {
    case REQ_IN_CALL: {
      /* The connection completes the call at once and on_call_done sees
       * the flag: a cancelled request is never retried. The RST_STREAM
       * goes out now (a cancelled poll must not be handed a task), and a
       * retired link whose last call this was closes. */
      struct twe__grpc_link *l = req->link;
      req->cancelled = true;
      twe__grpc_conn_cancel(l->grpc, &req->call);
      twe__grpc_link_tick(l);
      break;
    }
    case REQ_WAITING:
    case REQ_BACKOFF:
      request_finish_local(ch, req, TWE_GRPC_CANCELLED, "request cancelled by the caller");
      break;
    default:
      break;
  }
  twe__grpc_channel_leave(ch);
}

/* --- the channel ----------------------------------------------------------- */

static void on_reconnect_timer(twe_timer_t *t) {
  twe_grpc_channel_t *ch = t->data;
  twe__grpc_channel_enter(ch);
  if (ch->waiting_head) twe__grpc_channel_connect(ch);
  twe__grpc_channel_leave(ch);
}

int twe__grpc_channel_create(twe_reactor_t *reactor, const twe_connection_options_t *opts,
                             twe_grpc_channel_t **out, char *err, size_t err_len) {
  twe_grpc_channel_t *ch = calloc(1, sizeof *ch);
  if (!ch) return -ENOMEM;
  ch->reactor = reactor;
  ch->address = strdup(opts->address ? opts->address : "localhost:7233");
  ch->namespace_name = strdup(opts->namespace_name ? opts->namespace_name : "default");
  ch->client_version = strdup(twe_version());
  if (!ch->address || !ch->namespace_name || !ch->client_version) goto nomem;
  if (twe__tcp_split_address(ch->address, &ch->host, &ch->port) < 0) {
    if (err_len) snprintf(err, err_len, "address '%s' is not host:port", ch->address);
    twe__grpc_channel_destroy(ch);
    return TWE_ECONFIG;
  }
  ch->tls = opts->tls;
  ch->connect_timeout_ns =
      opts->connect_timeout_ns ? opts->connect_timeout_ns : DEFAULT_CONNECT_TIMEOUT;
  ch->max_recv = opts->max_recv_message_bytes;
  ch->keepalive_interval_ns = opts->keepalive_interval_ns;
  ch->keepalive_timeout_ns = opts->keepalive_timeout_ns;
  ch->rng = (uint32_t)(uintptr_t)ch ^ (uint32_t)twe__reactor_now(reactor) ^ 0x9e3779b9u;
  if (!ch->rng) ch->rng = 1;
  /* The server checks versions only for client names it knows; ours is
   * our own (PROTOCOL.md). */
  ch->conn_md[ch->n_conn_md++] = (twe_grpc_metadata_t){"client-name", "temporal-c"};
  ch->conn_md[ch->n_conn_md++] = (twe_grpc_metadata_t){"client-version", ch->client_version};
  if (opts->api_key) {
    if (!opts->tls) {
      if (err_len) snprintf(err, err_len, "an API key is only sent over TLS: enable TLS");
      twe__grpc_channel_destroy(ch);
      return TWE_ECONFIG;
    }
    size_t n = strlen(opts->api_key) + sizeof "Bearer ";
    ch->authorization = malloc(n);
    if (!ch->authorization) goto nomem;
    snprintf(ch->authorization, n, "Bearer %s", opts->api_key);
    ch->conn_md[ch->n_conn_md++] = (twe_grpc_metadata_t){"authorization", ch->authorization};
  }
  if (opts->tls) {
    twe_tls_options_t t = {
        .ca_file = opts->tls_ca_path,
        .ca_pem = opts->tls_ca_pem,
        .cert_file = opts->tls_cert_path,
        .cert_pem = opts->tls_cert_pem,
        .key_file = opts->tls_key_path,
        .key_pem = opts->tls_key_pem,
        .server_name = opts->tls_server_name,
        .disable_host_verification = opts->tls_disable_host_verification,
    };
    int rc = twe__tls_config_create(&ch->tls_config, &t, err, err_len);
    if (rc < 0) {
      twe__grpc_channel_destroy(ch);
      return rc;
    }
  }
  int rc = twe__resolver_create(reactor, &ch->resolver);
  if (rc < 0) {
    if (err_len) snprintf(err, err_len, "could not start the resolver thread: %s", strerror(-rc));
    twe__grpc_channel_destroy(ch);
    return rc;
  }
  twe__timer_init(reactor, &ch->reconnect_timer, on_reconnect_timer);
  ch->reconnect_timer.data = ch;
  *out = ch;
  return 0;

nomem:
  twe__grpc_channel_destroy(ch);
  return -ENOMEM;
}

void twe__grpc_channel_destroy(twe_grpc_channel_t *ch) {
  if (!ch) return;
  if (ch->depth > 0) {
    /* Called from a callback: the entry point that ran it finishes. */
    ch->destroy_pending = true;
    return;
  }
  destroy_now(ch);
}

static void destroy_now(twe_grpc_channel_t *ch) {
  ch->destroying = true;
  ch->depth++; /* callbacks run below must not start another destroy */
  if (ch->reactor && ch->reconnect_timer.reactor) twe__timer_stop(&ch->reconnect_timer);
  while (ch->live) {
    twe_grpc_request_t *req = ch->live;
    if (req->state == REQ_IN_CALL) {
      req->cancelled = true;
      twe__grpc_conn_cancel(req->link->grpc, &req->call);
    } else {
      request_finish_local(ch, req, TWE_GRPC_CANCELLED, "channel closed");
    }
  }
  /* The links finish closing on their own, after the channel is gone. */
  while (ch->links) {
    struct twe__grpc_link *l = ch->links;
    ch->links = l->next;
    l->ch = NULL;
    twe__grpc_link_fail(l, "channel closed");
  }
  twe__resolver_destroy(ch->resolver);
  twe__tls_config_destroy(ch->tls_config);
  free(ch->address);
  free(ch->host);
  free(ch->namespace_name);
  free(ch->client_version);
  free(ch->authorization);
  free(ch);
}

static void on_blocking_done(twe_grpc_request_t *req) {
  *(bool *)req->data = true;
}

int twe__grpc_channel_call_blocking(twe_grpc_channel_t *ch, twe_grpc_request_t *req) {
  bool done = false;
  twe_grpc_request_cb user_done = req->done;
  void *user_data = req->data;
  req->done = on_blocking_done;
  req->data = &done;
  int rc = twe__grpc_channel_start(ch, req);
  while (rc == 0 && !done) {
    int n = twe__reactor_run_once(ch->reactor, -1);
    if (n < 0) {
      twe__grpc_channel_cancel(ch, req);
      break;
    }
  }
  req->done = user_done;
  req->data = user_data;
  if (rc == 0 && user_done) user_done(req);
  return rc;
}

void twe__grpc_channel_stats(const twe_grpc_channel_t *ch, twe_grpc_channel_stats_t *out) {
  *out = ch->stats;
  out->up = ch->up;
  for (const struct twe__grpc_link *l = ch->links; l; l = l->next) {
    if (!l->grpc) continue;
    uint64_t received, answered;
    twe__grpc_conn_ping_counts(l->grpc, &received, &answered);
    out->pings_received += received;
    out->pings_answered += answered;
  }
}

const char *twe__grpc_channel_address(const twe_grpc_channel_t *ch) {
  return ch->address;
}
