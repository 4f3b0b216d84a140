/* io/grpc_channel.c — requests with retries over self-healing connections.
 *
 * Pieces per connection (struct twe__grpc_link): a TCP connect (io/tcp.h), a reactor
 * socket, an optional TLS engine, and a twe_grpc_conn. Bytes flow
 *   socket -> [TLS feed/read] -> grpc_conn_feed
 *   grpc_conn_pending -> [TLS write -> TLS output] -> socket send
 * with one receive and one send in flight per socket. The channel keeps one
 * "current" link for new calls; a link told to go away (GOAWAY) or past its
 * maximum age is retired: it finishes its calls, then closes.
 *
 * A link takes calls as soon as its transport is ready, but it counts as a
 * connection made (the channel up, connects_succeeded) only once the
 * server's SETTINGS arrived: a stopped server's kernel, or a proxy in front
 * of a missing one, accepts TCP connections that nothing answers. Without
 * that answer within connect_timeout the link fails as a connect attempt
 * and the channel tries again. */
#define _GNU_SOURCE /* strdup, strndup */
#include "io/grpc_channel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/tcp.h"
#include "io/tls.h"
#include "proto/codec.h"
#include "twe/error.h"

#define MS 1000000ull
#define SEC (1000 * MS)
#define DEFAULT_TIMEOUT (10 * SEC)
#define DEFAULT_CONNECT_TIMEOUT (10 * SEC)
/* The server closes connections after ~5 minutes (max connection age, with
 * jitter) and gives 70 s of grace; moving on a little earlier means new
 * calls never race a GOAWAY. */
#define MAX_CONNECTION_AGE (4 * 60 * SEC)
#define RECV_BUFFER 65536
#define SEND_CHUNK 262144
#define RECONNECT_INITIAL (100 * MS)
#define RECONNECT_MAX (5 * SEC)

enum link_state { LINK_CONNECTING, LINK_HANDSHAKING, LINK_READY, LINK_RETIRED, LINK_CLOSING };
enum request_state { REQ_IDLE, REQ_WAITING, REQ_IN_CALL, REQ_BACKOFF, REQ_DONE };

struct twe__grpc_link {
  twe_grpc_channel_t *ch; /* NULL once the channel is gone: the link only frees itself */
  twe_reactor_t *reactor;
  enum link_state state;
  twe_tcp_connect_t *connect; /* while connecting */
  twe_sock_t sock;
  bool sock_open;
  twe_tls_t *tls;
  twe_grpc_conn_t *grpc;
  uint64_t created_ns;
  bool answered; /* the server's SETTINGS arrived */
  twe_timer_t tick_timer; /* grpc deadlines and keepalive; also the maximum age */
  uint64_t tick_due_ns;   /* when tick_timer fires; UINT64_MAX when it is not active */
  uint8_t recv_buf[RECV_BUFFER];
  uint8_t plain_buf[RECV_BUFFER]; /* decrypted bytes, with TLS */
  uint8_t *send_buf;              /* copy of plaintext being sent (no TLS) */
  size_t send_cap;
  size_t send_len; /* bytes of the send in flight; 0 when none */
  struct twe__grpc_link *next; /* the channel's list */
};

struct twe_grpc_channel {
  twe_reactor_t *reactor;
  twe_resolver_t *resolver;
  char *address, *host;
  uint16_t port;
  char *namespace_name;
  char *authorization; /* "Bearer <key>" or NULL */
  char *client_version;
  bool tls;
  twe_tls_config_t *tls_config;
  uint64_t connect_timeout_ns;
  uint64_t keepalive_interval_ns, keepalive_timeout_ns; /* 0: the connection's defaults */
  size_t max_recv;
  twe_grpc_metadata_t conn_md[3];
  size_t n_conn_md;

  struct twe__grpc_link *links;   /* every link not yet freed */
  struct twe__grpc_link *current; /* takes new calls (once READY); NULL when none */
  twe_grpc_request_t *waiting_head, *waiting_tail;
  twe_grpc_request_t *live; /* every started request not yet finished */
  int reconnect_attempt;
  twe_timer_t reconnect_timer;
  uint32_t rng;
  bool destroying;
  /* Callbacks may destroy the channel. Entry points from the reactor (and
   * cancel) count themselves here; a destroy inside them only marks it
   * pending, and the outermost entry point finishes it on the way out. */
  int depth;
  bool destroy_pending;
  twe_grpc_channel_stats_t stats;
  twe_grpc_observe_fn observe;
  void *observe_data;
  /* Whether a connection is up, and who hears when that changes. */
  bool up;
  twe_grpc_state_fn on_state;
  void *state_data;
};

static void set_up(twe_grpc_channel_t *ch, bool up, const char *why) {
  if (ch->up == up) return;
  ch->up = up;
  if (ch->on_state) ch->on_state(ch->state_data, up, why);
}

void twe__grpc_channel_on_state(twe_grpc_channel_t *ch, twe_grpc_state_fn fn, void *data) {
  ch->on_state = fn;
  ch->state_data = data;
}

static void link_fail(struct twe__grpc_link *l, const char *why);
static void link_close(struct twe__grpc_link *l, const char *why, bool is_error);
static void link_retire(struct twe__grpc_link *l);
static void link_flush(struct twe__grpc_link *l);
static void link_tick(struct twe__grpc_link *l);
static void channel_connect(twe_grpc_channel_t *ch);
static void request_attempt(twe_grpc_channel_t *ch, twe_grpc_request_t *req);

static uint32_t next_random(twe_grpc_channel_t *ch) {
  /* xorshift32: for jitter only. */
  uint32_t x = ch->rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return ch->rng = x;
}

static void set_last_error(twe_grpc_channel_t *ch, const char *why) {
  snprintf(ch->stats.last_error, sizeof ch->stats.last_error, "%s", why);
}

static void destroy_now(twe_grpc_channel_t *ch);

static void enter(twe_grpc_channel_t *ch) {
  if (ch) ch->depth++;
}

/* Leaves an entry point; the channel may be gone afterwards. */
static void leave(twe_grpc_channel_t *ch) {
  if (ch && --ch->depth == 0 && ch->destroy_pending) destroy_now(ch);
}

/* now + delta without wrapping around (a huge timeout means "no limit"). */
static uint64_t saturating_add(uint64_t now, uint64_t delta) {
  return delta > UINT64_MAX - now ? UINT64_MAX : now + delta;
}

/* --- requests ------------------------------------------------------------- */

/* (Re)arms the link's tick timer to fire at due_ns on the loop's clock. */
static void link_arm_tick(struct twe__grpc_link *l, uint64_t due_ns) {
  uint64_t now = twe__reactor_now(l->reactor);
  if (twe__timer_start(&l->tick_timer, due_ns > now ? due_ns - now : 0) == 0)
    l->tick_due_ns = due_ns;
}

static void link_disarm_tick(struct twe__grpc_link *l) {
  twe__timer_stop(&l->tick_timer);
  l->tick_due_ns = UINT64_MAX;
}

static void waiting_push(twe_grpc_channel_t *ch, twe_grpc_request_t *req) {
  req->prev = ch->waiting_tail;
  req->next = NULL;
  if (ch->waiting_tail)
    ch->waiting_tail->next = req;
  else
    ch->waiting_head = req;
  ch->waiting_tail = req;
}

static void waiting_remove(twe_grpc_channel_t *ch, twe_grpc_request_t *req) {
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
  if (req->state == REQ_WAITING) waiting_remove(ch, req);
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
  enter(ch);
  if (req->state == REQ_BACKOFF) {
    request_attempt(ch, req);
  } else if (req->state == REQ_WAITING) {
    char msg[360];
    snprintf(msg, sizeof msg, "deadline exceeded waiting for a connection to %s%s%s", ch->address,
             ch->stats.last_error[0] ? " (last error: " : "", ch->stats.last_error);
    if (ch->stats.last_error[0]) strncat(msg, ")", sizeof msg - strlen(msg) - 1);
    request_finish_local(ch, req, TWE_GRPC_DEADLINE_EXCEEDED, msg);
  }
  leave(ch);
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
  bool attempt_timed_out = call->status.code == TWE_GRPC_DEADLINE_EXCEEDED &&
                           req->call.deadline_ns < req->deadline_ns;
  bool retry = call->not_processed || attempt_timed_out
                   ? under
                   : twe__retry_should(policy, call->status.code, call->status.message,
                                       req->attempts);
  if (retry) {
    uint64_t now = twe__reactor_now(ch->reactor);
    uint64_t wait = twe__retry_backoff_ns(policy, call->status.code, req->attempts, next_random(ch));
    if (now + wait < req->deadline_ns && twe__timer_start(&req->timer, wait) == 0) {
      req->state = REQ_BACKOFF;
      ch->stats.retries++;
      return;
    }
  }
  request_finish(ch, req);
}

static void request_attempt(twe_grpc_channel_t *ch, twe_grpc_request_t *req) {
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
    channel_connect(ch);
    return;
  }
  twe__timer_stop(&req->timer);
  memset(&req->call, 0, sizeof req->call);
  req->call.arena = req->arena;
  req->call.path = req->path;
  req->call.deadline_ns = req->deadline_ns;
  if (req->attempt_timeout_ns && saturating_add(now, req->attempt_timeout_ns) < req->deadline_ns)
    req->call.deadline_ns = saturating_add(now, req->attempt_timeout_ns);
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
      link_fail(l, why);
    else
      link_retire(l);
    request_attempt(ch, req);
    return;
  }
  if (rc < 0) {
    req->link = NULL;
    request_finish_local(ch, req, TWE_GRPC_RESOURCE_EXHAUSTED, twe_strerror(rc));
    return;
  }
  /* The tick timer must fire by this call's deadline; a full tick (a scan
   * of every call) is not needed for that. */
  if (req->call.deadline_ns < l->tick_due_ns) link_arm_tick(l, req->call.deadline_ns);
  link_flush(l);
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
  req->deadline_ns = saturating_add(twe__reactor_now(ch->reactor),
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
  enter(ch);
  for (struct twe__grpc_link *l = ch->links, *next; l; l = next) {
    next = l->next;
    /* Control frames still queued (a SETTINGS or PING acknowledgement)
     * do not keep it. */
    if (l->connect || l->state == LINK_CLOSING || !l->grpc ||
        twe__grpc_conn_live_calls(l->grpc) != 0)
      continue;
    link_retire(l);
    link_close(l, "idle connection closed", false);
  }
  leave(ch);
}

void twe__grpc_channel_cancel(twe_grpc_channel_t *ch, twe_grpc_request_t *req) {
  enter(ch);
  switch (req->state) {
    case REQ_IN_CALL: {
      /* The connection completes the call at once and on_call_done sees
       * the flag: a cancelled request is never retried. The RST_STREAM
       * goes out now (a cancelled poll must not be handed a task), and a
       * retired link whose last call this was closes. */
      struct twe__grpc_link *l = req->link;
      req->cancelled = true;
      twe__grpc_conn_cancel(l->grpc, &req->call);
      link_tick(l);
      break;
    }
    case REQ_WAITING:
    case REQ_BACKOFF:
      request_finish_local(ch, req, TWE_GRPC_CANCELLED, "request cancelled by the caller");
      break;
    default:
      break;
  }
  leave(ch);
}

/* --- links: one connection each --------------------------------------------- */

static void link_unlink(twe_grpc_channel_t *ch, struct twe__grpc_link *l) {
  if (l->grpc) {
    uint64_t received, answered;
    twe__grpc_conn_ping_counts(l->grpc, &received, &answered);
    ch->stats.pings_received += received;
    ch->stats.pings_answered += answered;
  }
  for (struct twe__grpc_link **p = &ch->links; *p; p = &(*p)->next)
    if (*p == l) {
      *p = l->next;
      break;
    }
  ch->stats.connections_open--;
}

static void link_free(struct twe__grpc_link *l) {
  if (l->ch) link_unlink(l->ch, l);
  link_disarm_tick(l);
  twe__grpc_conn_destroy(l->grpc);
  twe__tls_destroy(l->tls);
  free(l->send_buf);
  free(l);
}

static void on_sock_closed(twe_sock_t *sock) {
  link_free(sock->data);
}

static void on_reconnect_timer(twe_timer_t *t) {
  twe_grpc_channel_t *ch = t->data;
  enter(ch);
  if (ch->waiting_head) channel_connect(ch);
  leave(ch);
}

/* After a failed connection: try again later, backing off (x1.6 from
 * 100 ms up to 5 s, +-20%), if anything is waiting. */
static void schedule_reconnect(twe_grpc_channel_t *ch) {
  if (ch->destroying || twe__timer_active(&ch->reconnect_timer)) return;
  double wait = (double)RECONNECT_INITIAL;
  for (int i = 0; i < ch->reconnect_attempt && wait < (double)RECONNECT_MAX; i++) wait *= 1.6;
  if (wait > (double)RECONNECT_MAX) wait = (double)RECONNECT_MAX;
  wait *= 0.8 + 0.4 * ((double)next_random(ch) / 4294967295.0);
  ch->reconnect_attempt++;
  twe__timer_start(&ch->reconnect_timer, (uint64_t)wait);
}

/* The link stops taking new calls; it closes once its calls are done. */
static void link_retire(struct twe__grpc_link *l) {
  twe_grpc_channel_t *ch = l->ch;
  if (l->state == LINK_RETIRED || l->state == LINK_CLOSING) return;
  l->state = LINK_RETIRED;
  if (ch && ch->current == l) {
    ch->current = NULL;
    if (ch->waiting_head) channel_connect(ch);
  }
}

static void link_close_if_idle(struct twe__grpc_link *l) {
  if (l->state == LINK_RETIRED && twe__grpc_conn_live_calls(l->grpc) == 0 && l->send_len == 0)
    link_close(l, "connection retired", false);
}

/* Closes the link; its live calls end UNAVAILABLE with why. is_error:
 * why is the channel's latest error (a retired link closing is not). */
static void link_close(struct twe__grpc_link *l, const char *why, bool is_error) {
  if (l->state == LINK_CLOSING) return;
  twe_grpc_channel_t *ch = l->ch;
  l->state = LINK_CLOSING;
  link_disarm_tick(l);
  if (ch) {
    if (is_error) set_last_error(ch, why);
    if (ch->current == l) ch->current = NULL;
    if (is_error && !ch->current && !ch->destroying) set_up(ch, false, why);
    if (!ch->destroying && ch->waiting_head && !ch->current) schedule_reconnect(ch);
  }
  /* Its calls end UNAVAILABLE now; their requests back off and retry
   * (their callbacks run here: nothing below may touch the channel). */
  if (l->grpc) twe__grpc_conn_fail(l->grpc, why);
  if (l->connect) {
    twe__tcp_connect_cancel(l->connect); /* on_connected frees the link */
  } else if (l->sock_open) {
    l->sock_open = false;
    twe__sock_close(&l->sock, on_sock_closed);
  } else {
    link_free(l);
  }
}

static void link_fail(struct twe__grpc_link *l, const char *why) {
  link_close(l, why, true);
}

static void on_tick_timer(twe_timer_t *t) {
  struct twe__grpc_link *l = t->data;
  twe_grpc_channel_t *ch = l->ch;
  l->tick_due_ns = UINT64_MAX;
  enter(ch);
  if (ch && l->grpc && !l->answered && l->state != LINK_CLOSING &&
      twe__reactor_now(l->reactor) >= saturating_add(l->created_ns, ch->connect_timeout_ns)) {
    char msg[240];
    snprintf(msg, sizeof msg,
             "HTTP/2 handshake with %s timed out after %llu ms (the connection was accepted, "
             "but no SETTINGS came from the server)",
             ch->address, (unsigned long long)(ch->connect_timeout_ns / 1000000));
    ch->stats.connects_failed++;
    link_fail(l, msg);
  } else if (l->state == LINK_HANDSHAKING) {
    char msg[200];
    snprintf(msg, sizeof msg, "TLS handshake with %s timed out after %llu ms",
             ch ? ch->address : "the server",
             (unsigned long long)((ch ? ch->connect_timeout_ns : 0) / 1000000));
    link_fail(l, msg);
  } else {
    link_tick(l);
  }
  leave(ch);
}

/* Runs the connection's clock: deadlines, keepalive, maximum age. */
static void link_tick(struct twe__grpc_link *l) {
  if (l->state == LINK_CLOSING || !l->grpc) return;
  uint64_t now = twe__reactor_now(l->reactor);
  uint64_t next = twe__grpc_conn_tick(l->grpc, now);
  if (twe__grpc_conn_error(l->grpc)) {
    link_fail(l, twe__grpc_conn_error(l->grpc));
    return;
  }
  uint64_t retire_at = l->created_ns + MAX_CONNECTION_AGE;
  if (l->state == LINK_READY && now >= retire_at) link_retire(l);
  if (l->state == LINK_READY && retire_at < next) next = retire_at;
  /* on_tick_timer fails a link the server has not answered by then. */
  if (!l->answered && l->ch) {
    uint64_t answer_by = saturating_add(l->created_ns, l->ch->connect_timeout_ns);
    if (answer_by < next) next = answer_by;
  }
  link_flush(l);
  if (l->state == LINK_CLOSING) return;
  link_close_if_idle(l);
  if (l->state == LINK_CLOSING) return;
  if (next != UINT64_MAX)
    link_arm_tick(l, next);
  else
    link_disarm_tick(l);
}

static void sent_done(struct twe__grpc_link *l, int status) {
  size_t sent = l->send_len;
  l->send_len = 0;
  if (l->state == LINK_CLOSING) return;
  if (status < 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "send to %s failed: %s", l->ch ? l->ch->address : "server",
             strerror(-status));
    link_fail(l, msg);
    return;
  }
  if (l->tls) twe__tls_output_consume(l->tls, sent);
  link_flush(l);
  if (l->state != LINK_CLOSING) link_close_if_idle(l);
}

static void on_sent(twe_sock_t *sock, int status) {
  struct twe__grpc_link *l = sock->data;
  twe_grpc_channel_t *ch = l->ch;
  enter(ch);
  sent_done(l, status);
  leave(ch);
}

/* Sends what is ready, one send in flight at a time. */
static void link_flush(struct twe__grpc_link *l) {
  if (l->state == LINK_CLOSING || l->send_len || !l->sock_open) return;
  const uint8_t *data;
  size_t len;
  if (l->tls) {
    /* Move HTTP/2 output into TLS, but not without bound: stop while a
     * good amount of ciphertext is already queued. */
    while (l->grpc && twe__tls_output_pending(l->tls) < SEND_CHUNK) {
      if (twe__grpc_conn_pending(l->grpc, SEND_CHUNK, &data, &len) < 0) {
        link_fail(l, twe__grpc_conn_error(l->grpc));
        return;
      }
      if (len == 0) break;
      int rc = twe__tls_write(l->tls, data, len);
      if (rc < 0) {
        link_fail(l, twe__tls_last_error(l->tls)[0] ? twe__tls_last_error(l->tls) : twe_strerror(rc));
        return;
      }
      twe__grpc_conn_consume(l->grpc, len);
    }
    struct iovec iov;
    if (twe__tls_output_iov(l->tls, &iov, 1) == 1) {
      l->send_len = iov.iov_len;
      if (twe__sock_send(&l->sock, iov.iov_base, iov.iov_len, on_sent) < 0) {
        l->send_len = 0;
        link_fail(l, "socket send could not start");
      }
    }
    return;
  }
  if (!l->grpc) return;
  if (twe__grpc_conn_pending(l->grpc, SEND_CHUNK, &data, &len) < 0) {
    link_fail(l, twe__grpc_conn_error(l->grpc));
    return;
  }
  if (len == 0) return;
  /* The kernel owns the buffer until on_sent; the connection's own buffer
   * may move before then, so send a copy. */
  if (len > l->send_cap) {
    uint8_t *grown = realloc(l->send_buf, len);
    if (!grown) {
      link_fail(l, "out of memory for the send buffer");
      return;
    }
    l->send_buf = grown;
    l->send_cap = len;
  }
  memcpy(l->send_buf, data, len);
  twe__grpc_conn_consume(l->grpc, len);
  l->send_len = len;
  if (twe__sock_send(&l->sock, l->send_buf, len, on_sent) < 0) {
    l->send_len = 0;
    link_fail(l, "socket send could not start");
  }
}

static void link_ready(struct twe__grpc_link *l) {
  twe_grpc_channel_t *ch = l->ch;
  twe_grpc_conn_options_t o = {
    .authority = ch->address,
    .tls = ch->tls,
    .max_recv_message = ch->max_recv,
    .ping_interval_ns = ch->keepalive_interval_ns,
    .ping_timeout_ns = ch->keepalive_timeout_ns,
    .metadata = ch->conn_md,
    .n_metadata = ch->n_conn_md,
  };
  uint64_t now = twe__reactor_now(ch->reactor);
  int rc = twe__grpc_conn_create(&o, now, &l->grpc);
  if (rc < 0) {
    link_fail(l, "could not create the HTTP/2 session");
    return;
  }
  link_disarm_tick(l); /* the handshake deadline, with TLS */
  l->state = LINK_READY;
  l->created_ns = now;
  /* Everyone waiting goes out now, in arrival order (the server reads
   * them after its SETTINGS; link_answered says the connection is up). */
  while (ch->waiting_head && l->state == LINK_READY) {
    twe_grpc_request_t *req = ch->waiting_head;
    waiting_remove(ch, req);
    req->state = REQ_BACKOFF;
    request_attempt(ch, req);
  }
  link_tick(l);
}

/* The server answered on the link (its SETTINGS): the connection is made. */
static void link_answered(struct twe__grpc_link *l) {
  twe_grpc_channel_t *ch = l->ch;
  l->answered = true;
  ch->stats.connects_succeeded++;
  ch->reconnect_attempt = 0;
  set_up(ch, true, NULL);
}

static void link_received(struct twe__grpc_link *l, const uint8_t *data, size_t len) {
  if (!l->tls) {
    if (twe__grpc_conn_feed(l->grpc, data, len) < 0) link_fail(l, twe__grpc_conn_error(l->grpc));
    return;
  }
  if (twe__tls_feed(l->tls, data, len) < 0) {
    link_fail(l, "out of memory for TLS input");
    return;
  }
  if (l->state == LINK_HANDSHAKING) {
    int rc = twe__tls_handshake(l->tls);
    if (rc < 0) {
      link_fail(l, twe__tls_last_error(l->tls));
      return;
    }
    if (rc == 0) return;
    link_ready(l);
    if (l->state == LINK_CLOSING) return;
  }
  for (;;) {
    int n = twe__tls_read(l->tls, l->plain_buf, sizeof l->plain_buf);
    if (n == -EAGAIN) return;
    if (n == 0) {
      link_fail(l, "the server closed the TLS connection");
      return;
    }
    if (n < 0) {
      link_fail(l, twe__tls_last_error(l->tls)[0] ? twe__tls_last_error(l->tls) : twe_strerror(n));
      return;
    }
    if (twe__grpc_conn_feed(l->grpc, l->plain_buf, (size_t)n) < 0) {
      link_fail(l, twe__grpc_conn_error(l->grpc));
      return;
    }
  }
}

static void on_recv(twe_sock_t *sock, int n);

static void link_recv(struct twe__grpc_link *l) {
  if (twe__sock_recv(&l->sock, l->recv_buf, sizeof l->recv_buf, on_recv) < 0)
    link_fail(l, "socket receive could not start");
}

static void recv_done(struct twe__grpc_link *l, int n) {
  if (l->state == LINK_CLOSING) return;
  if (n <= 0) {
    char msg[200];
    if (n == 0)
      snprintf(msg, sizeof msg, "%s closed the connection", l->ch->address);
    else
      snprintf(msg, sizeof msg, "receive from %s failed: %s", l->ch->address, strerror(-n));
    link_fail(l, msg);
    return;
  }
  link_received(l, l->recv_buf, (size_t)n);
  if (l->state == LINK_CLOSING) return;
  if (!l->answered && l->grpc && twe__grpc_conn_answered(l->grpc)) link_answered(l);
  if (l->grpc && twe__grpc_conn_draining(l->grpc) && l->state == LINK_READY) {
    l->ch->stats.goaways++;
    link_retire(l);
  }
  /* A held PING answer gets its due time (and the timer) now. */
  if (l->grpc && twe__grpc_conn_wants_tick(l->grpc))
    link_tick(l);
  else
    link_flush(l);
  if (l->state == LINK_CLOSING) return;
  link_close_if_idle(l);
  if (l->state == LINK_CLOSING) return;
  link_recv(l);
}

static void on_recv(twe_sock_t *sock, int n) {
  struct twe__grpc_link *l = sock->data;
  twe_grpc_channel_t *ch = l->ch;
  enter(ch);
  recv_done(l, n);
  leave(ch);
}

static void connected(struct twe__grpc_link *l, int status, int fd, const char *detail) {
  l->connect = NULL;
  twe_grpc_channel_t *ch = l->ch;
  if (l->state == LINK_CLOSING || !ch) {
    if (fd >= 0) close(fd);
    link_free(l);
    return;
  }
  if (status < 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "connect to %s failed: %s", ch->address,
             detail && detail[0] ? detail : twe_strerror(status));
    ch->stats.connects_failed++;
    link_fail(l, msg);
    return;
  }
  int rc = twe__sock_init(ch->reactor, &l->sock, fd);
  if (rc < 0) {
    close(fd);
    link_fail(l, "could not register the socket with the reactor");
    return;
  }
  l->sock.data = l;
  l->sock_open = true;
  if (ch->tls) {
    rc = twe__tls_create(&l->tls, ch->tls_config, ch->host);
    if (rc < 0) {
      link_fail(l, "could not start TLS (bad server name?)");
      return;
    }
    l->state = LINK_HANDSHAKING;
    /* connect_timeout covers the handshake too: a peer that accepts TCP and
     * never answers must not hold the channel. */
    link_arm_tick(l, saturating_add(twe__reactor_now(ch->reactor), ch->connect_timeout_ns));
    if (twe__tls_handshake(l->tls) < 0) { /* queues the ClientHello */
      link_fail(l, twe__tls_last_error(l->tls));
      return;
    }
    link_flush(l);
  } else {
    link_ready(l);
  }
  if (l->state != LINK_CLOSING) link_recv(l);
}

static void on_connected(void *data, int status, int fd, const char *detail) {
  struct twe__grpc_link *l = data;
  twe_grpc_channel_t *ch = l->ch;
  enter(ch);
  connected(l, status, fd, detail);
  leave(ch);
}

static void channel_connect(twe_grpc_channel_t *ch) {
  if (ch->current || ch->destroying || twe__timer_active(&ch->reconnect_timer)) return;
  struct twe__grpc_link *l = calloc(1, sizeof *l);
  if (!l) {
    set_last_error(ch, "out of memory for a connection");
    schedule_reconnect(ch);
    return;
  }
  l->ch = ch;
  l->reactor = ch->reactor;
  l->state = LINK_CONNECTING;
  twe__timer_init(ch->reactor, &l->tick_timer, on_tick_timer);
  l->tick_timer.data = l;
  l->tick_due_ns = UINT64_MAX;
  l->next = ch->links;
  ch->links = l;
  ch->current = l;
  ch->stats.connections_open++;
  ch->stats.connects_started++;
  int rc = twe__tcp_connect_host(ch->reactor, ch->resolver, ch->host, ch->port,
                                 ch->connect_timeout_ns, on_connected, l, &l->connect);
  if (rc < 0) {
    l->connect = NULL;
    char msg[160];
    snprintf(msg, sizeof msg, "connect to %s could not start: %s", ch->address, twe_strerror(rc));
    link_fail(l, msg);
  }
}

/* --- the channel ----------------------------------------------------------- */

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
  ch->connect_timeout_ns = opts->connect_timeout_ns ? opts->connect_timeout_ns : DEFAULT_CONNECT_TIMEOUT;
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
      .ca_file = opts->tls_ca_path, .ca_pem = opts->tls_ca_pem,
      .cert_file = opts->tls_cert_path, .cert_pem = opts->tls_cert_pem,
      .key_file = opts->tls_key_path, .key_pem = opts->tls_key_pem,
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
    link_fail(l, "channel closed");
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
