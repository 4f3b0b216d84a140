/* io/grpc_link.c — the channel's connections, one link each.
 *
 * Pieces per link: a TCP connect (io/tcp.h), a reactor socket, an optional
 * TLS engine, and a twe_grpc_conn. Bytes flow
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
#include "io/grpc_channel_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "twe/error.h"

#define MS TWE__GRPC_MS
#define SEC TWE__GRPC_SEC
/* The server closes connections after ~5 minutes (max connection age, with
 * jitter) and gives 70 s of grace; moving on a little earlier means new
 * calls never race a GOAWAY. */
#define MAX_CONNECTION_AGE (4 * 60 * SEC)
#define SEND_CHUNK 262144
#define RECONNECT_INITIAL (100 * MS)
#define RECONNECT_MAX (5 * SEC)

/* (Re)arms the link's tick timer to fire at due_ns on the loop's clock. */
void twe__grpc_link_arm_tick(struct twe__grpc_link *l, uint64_t due_ns) {
  uint64_t now = twe__reactor_now(l->reactor);
  if (twe__timer_start(&l->tick_timer, due_ns > now ? due_ns - now : 0) == 0)
    l->tick_due_ns = due_ns;
}

static void link_disarm_tick(struct twe__grpc_link *l) {
  twe__timer_stop(&l->tick_timer);
  l->tick_due_ns = UINT64_MAX;
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
  twe__prepare_cancel(l->reactor, &l->flush_prep);
  twe__grpc_conn_destroy(l->grpc);
  twe__tls_destroy(l->tls);
  free(l->send_buf);
  free(l);
}

static void on_sock_closed(twe_sock_t *sock) {
  link_free(sock->data);
}

/* After a failed connection: try again later, backing off (x1.6 from
 * 100 ms up to 5 s, +-20%), if anything is waiting. */
void twe__grpc_channel_schedule_reconnect(twe_grpc_channel_t *ch) {
  if (ch->destroying || twe__timer_active(&ch->reconnect_timer)) return;
  double wait = (double)RECONNECT_INITIAL;
  for (int i = 0; i < ch->reconnect_attempt && wait < (double)RECONNECT_MAX; i++) wait *= 1.6;
  if (wait > (double)RECONNECT_MAX) wait = (double)RECONNECT_MAX;
  wait *= 0.8 + 0.4 * ((double)twe__grpc_channel_random(ch) / 4294967295.0);
  ch->reconnect_attempt++;
  twe__timer_start(&ch->reconnect_timer, (uint64_t)wait);
}

/* The link stops taking new calls; it closes once its calls are done. */
void twe__grpc_link_retire(struct twe__grpc_link *l) {
  twe_grpc_channel_t *ch = l->ch;
  if (l->state == LINK_RETIRED || l->state == LINK_CLOSING) return;
  l->state = LINK_RETIRED;
  if (ch && ch->current == l) {
    ch->current = NULL;
    if (ch->waiting_head) twe__grpc_channel_connect(ch);
  }
}

static void link_close_if_idle(struct twe__grpc_link *l) {
  if (l->state == LINK_RETIRED && twe__grpc_conn_live_calls(l->grpc) == 0 && l->send_len == 0 &&
      !l->flush_prep.queued)
    twe__grpc_link_close(l, "connection retired", false);
}

/* Closes the link; its live calls end UNAVAILABLE with why. is_error:
 * why is the channel's latest error (a retired link closing is not). */
void twe__grpc_link_close(struct twe__grpc_link *l, const char *why, bool is_error) {
  if (l->state == LINK_CLOSING) return;
  twe_grpc_channel_t *ch = l->ch;
  l->state = LINK_CLOSING;
  link_disarm_tick(l);
  if (ch) {
    if (is_error) twe__grpc_channel_set_error(ch, why);
    if (ch->current == l) ch->current = NULL;
    if (is_error && !ch->current && !ch->destroying) twe__grpc_channel_set_up(ch, false, why);
    if (!ch->destroying && ch->waiting_head && !ch->current)
      twe__grpc_channel_schedule_reconnect(ch);
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

void twe__grpc_link_fail(struct twe__grpc_link *l, const char *why) {
  twe__grpc_link_close(l, why, true);
}

static void on_tick_timer(twe_timer_t *t) {
  struct twe__grpc_link *l = t->data;
  twe_grpc_channel_t *ch = l->ch;
  l->tick_due_ns = UINT64_MAX;
  twe__grpc_channel_enter(ch);
  if (ch && l->grpc && !l->answered && l->state != LINK_CLOSING &&
      twe__reactor_now(l->reactor) >= twe__grpc_add_ns(l->created_ns, ch->connect_timeout_ns)) {
    char msg[240];
    snprintf(msg, sizeof msg,
             "HTTP/2 handshake with %s timed out after %llu ms (the connection was accepted, "
             "but no SETTINGS came from the server)",
             ch->address, (unsigned long long)(ch->connect_timeout_ns / 1000000));
    ch->stats.connects_failed++;
    twe__grpc_link_fail(l, msg);
  } else if (l->state == LINK_HANDSHAKING) {
    char msg[200];
    snprintf(msg, sizeof msg, "TLS handshake with %s timed out after %llu ms",
             ch ? ch->address : "the server",
             (unsigned long long)((ch ? ch->connect_timeout_ns : 0) / 1000000));
    twe__grpc_link_fail(l, msg);
  } else {
    twe__grpc_link_tick(l);
  }
  twe__grpc_channel_leave(ch);
}

/* Runs the connection's clock: deadlines, keepalive, maximum age. */
void twe__grpc_link_tick(struct twe__grpc_link *l) {
  if (l->state == LINK_CLOSING || !l->grpc) return;
  uint64_t now = twe__reactor_now(l->reactor);
  uint64_t next = twe__grpc_conn_tick(l->grpc, now);
  if (twe__grpc_conn_error(l->grpc)) {
    twe__grpc_link_fail(l, twe__grpc_conn_error(l->grpc));
    return;
  }
  uint64_t retire_at = l->created_ns + MAX_CONNECTION_AGE;
  if (l->state == LINK_READY && now >= retire_at) twe__grpc_link_retire(l);
  if (l->state == LINK_READY && retire_at < next) next = retire_at;
  /* on_tick_timer fails a link the server has not answered by then. */
  if (!l->answered && l->ch) {
    uint64_t answer_by = twe__grpc_add_ns(l->created_ns, l->ch->connect_timeout_ns);
    if (answer_by < next) next = answer_by;
  }
  twe__grpc_link_flush(l);
  if (l->state == LINK_CLOSING) return;
  link_close_if_idle(l);
  if (l->state == LINK_CLOSING) return;
  if (next != UINT64_MAX)
    twe__grpc_link_arm_tick(l, next);
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
    twe__grpc_link_fail(l, msg);
    return;
  }
  if (l->tls) twe__tls_output_consume(l->tls, sent);
  /* What came meanwhile goes now, unless a flush is queued before the loop
   * waits: then it goes with what the rest of this stretch adds. */
  if (!l->flush_prep.queued) twe__grpc_link_flush(l);
  if (l->state != LINK_CLOSING) link_close_if_idle(l);
}

static void on_sent(twe_sock_t *sock, int status) {
  struct twe__grpc_link *l = sock->data;
  twe_grpc_channel_t *ch = l->ch;
  twe__grpc_channel_enter(ch);
  sent_done(l, status);
  twe__grpc_channel_leave(ch);
}

/* Sends what is ready, one send in flight at a time. */
void twe__grpc_link_flush(struct twe__grpc_link *l) {
  if (l->state == LINK_CLOSING || l->send_len || !l->sock_open) return;
  const uint8_t *data;
  size_t len;
  if (l->tls) {
    /* Move HTTP/2 output into TLS, but not without bound: stop while a
     * good amount of ciphertext is already queued. */
    while (l->grpc && twe__tls_output_pending(l->tls) < SEND_CHUNK) {
      if (twe__grpc_conn_pending(l->grpc, SEND_CHUNK, &data, &len) < 0) {
        twe__grpc_link_fail(l, twe__grpc_conn_error(l->grpc));
        return;
      }
      if (len == 0) break;
      int rc = twe__tls_write(l->tls, data, len);
      if (rc < 0) {
        twe__grpc_link_fail(
            l, twe__tls_last_error(l->tls)[0] ? twe__tls_last_error(l->tls) : twe_strerror(rc));
        return;
      }
      twe__grpc_conn_consume(l->grpc, len);
    }
    struct iovec iov;
    if (twe__tls_output_iov(l->tls, &iov, 1) == 1) {
      l->send_len = iov.iov_len;
      if (twe__sock_send(&l->sock, iov.iov_base, iov.iov_len, on_sent) < 0) {
        l->send_len = 0;
        twe__grpc_link_fail(l, "socket send could not start");
      }
    }
    return;
  }
  if (!l->grpc) return;
  if (twe__grpc_conn_pending(l->grpc, SEND_CHUNK, &data, &len) < 0) {
    twe__grpc_link_fail(l, twe__grpc_conn_error(l->grpc));
    return;
  }
  if (len == 0) return;
  /* The kernel owns the buffer until on_sent; the connection's own buffer
   * may move before then, so send a copy. */
  if (len > l->send_cap) {
    uint8_t *grown = realloc(l->send_buf, len);
    if (!grown) {
      twe__grpc_link_fail(l, "out of memory for the send buffer");
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
    twe__grpc_link_fail(l, "socket send could not start");
  }
}

/* The queued flush (twe__grpc_link_flush_soon); a retired link whose last
 * bytes it sent may close once they are out. */
static void on_flush_prep(twe_prepare_t *p) {
  struct twe__grpc_link *l = p->data;
  twe_grpc_channel_t *ch = l->ch;
  twe__grpc_channel_enter(ch);
  twe__grpc_link_flush(l);
  if (l->state != LINK_CLOSING) link_close_if_idle(l);
  twe__grpc_channel_leave(ch);
}

void twe__grpc_link_flush_soon(struct twe__grpc_link *l) {
  if (l->state == LINK_CLOSING || !l->sock_open) return;
  l->flush_prep.data = l;
  twe__prepare_queue(l->reactor, &l->flush_prep, on_flush_prep);
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
    twe__grpc_link_fail(l, "could not create the HTTP/2 session");
    return;
  }
  link_disarm_tick(l); /* the handshake deadline, with TLS */
  l->state = LINK_READY;
  l->created_ns = now;
  /* Everyone waiting goes out now, in arrival order (the server reads
   * them after its SETTINGS; link_answered says the connection is up). */
  while (ch->waiting_head && l->state == LINK_READY) {
    twe_grpc_request_t *req = ch->waiting_head;
    twe__grpc_channel_unwait(ch, req);
    req->state = REQ_BACKOFF;
    twe__grpc_request_attempt(ch, req);
  }
  twe__grpc_link_tick(l);
}

/* The server answered on the link (its SETTINGS): the connection is made. */
static void link_answered(struct twe__grpc_link *l) {
  twe_grpc_channel_t *ch = l->ch;
  l->answered = true;
  ch->stats.connects_succeeded++;
  ch->reconnect_attempt = 0;
  twe__grpc_channel_set_up(ch, true, NULL);
}

static void link_received(struct twe__grpc_link *l, const uint8_t *data, size_t len) {
  if (!l->tls) {
    if (twe__grpc_conn_feed(l->grpc, data, len) < 0)
      twe__grpc_link_fail(l, twe__grpc_conn_error(l->grpc));
    return;
  }
  if (twe__tls_feed(l->tls, data, len) < 0) {
    twe__grpc_link_fail(l, "out of memory for TLS input");
    return;
  }
  if (l->state == LINK_HANDSHAKING) {
    int rc = twe__tls_handshake(l->tls);
    if (rc < 0) {
      twe__grpc_link_fail(l, twe__tls_last_error(l->tls));
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
      twe__grpc_link_fail(l, "the server closed the TLS connection");
      return;
    }
    if (n < 0) {
      twe__grpc_link_fail(
          l, twe__tls_last_error(l->tls)[0] ? twe__tls_last_error(l->tls) : twe_strerror(n));
      return;
    }
    if (twe__grpc_conn_feed(l->grpc, l->plain_buf, (size_t)n) < 0) {
      twe__grpc_link_fail(l, twe__grpc_conn_error(l->grpc));
      return;
    }
  }
}

static void on_recv(twe_sock_t *sock, int n);

static void link_recv(struct twe__grpc_link *l) {
  if (twe__sock_recv(&l->sock, l->recv_buf, sizeof l->recv_buf, on_recv) < 0)
    twe__grpc_link_fail(l, "socket receive could not start");
}

static void recv_done(struct twe__grpc_link *l, int n) {
  if (l->state == LINK_CLOSING) return;
  if (n <= 0) {
    char msg[200];
    if (n == 0)
      snprintf(msg, sizeof msg, "%s closed the connection", l->ch->address);
    else
      snprintf(msg, sizeof msg, "receive from %s failed: %s", l->ch->address, strerror(-n));
    twe__grpc_link_fail(l, msg);
    return;
  }
  link_received(l, l->recv_buf, (size_t)n);
  if (l->state == LINK_CLOSING) return;
  if (!l->answered && l->grpc && twe__grpc_conn_answered(l->grpc)) link_answered(l);
  if (l->grpc && twe__grpc_conn_draining(l->grpc) && l->state == LINK_READY) {
    l->ch->stats.goaways++;
    twe__grpc_link_retire(l);
  }
  /* A held PING answer gets its due time (and the timer) now. */
  if (l->grpc && twe__grpc_conn_wants_tick(l->grpc))
    twe__grpc_link_tick(l);
  else
    twe__grpc_link_flush_soon(l);
  if (l->state == LINK_CLOSING) return;
  link_close_if_idle(l);
  if (l->state == LINK_CLOSING) return;
  link_recv(l);
}

static void on_recv(twe_sock_t *sock, int n) {
  struct twe__grpc_link *l = sock->data;
  twe_grpc_channel_t *ch = l->ch;
  twe__grpc_channel_enter(ch);
  recv_done(l, n);
  twe__grpc_channel_leave(ch);
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
    twe__grpc_link_fail(l, msg);
    return;
  }
  int rc = twe__sock_init(ch->reactor, &l->sock, fd);
  if (rc < 0) {
    close(fd);
    twe__grpc_link_fail(l, "could not register the socket with the reactor");
    return;
  }
  l->sock.data = l;
  l->sock_open = true;
  if (ch->tls) {
    rc = twe__tls_create(&l->tls, ch->tls_config, ch->host);
    if (rc < 0) {
      twe__grpc_link_fail(l, "could not start TLS (bad server name?)");
      return;
    }
    l->state = LINK_HANDSHAKING;
    /* connect_timeout covers the handshake too: a peer that accepts TCP and
     * never answers must not hold the channel. */
    twe__grpc_link_arm_tick(
        l, twe__grpc_add_ns(twe__reactor_now(ch->reactor), ch->connect_timeout_ns));
    if (twe__tls_handshake(l->tls) < 0) { /* queues the ClientHello */
      twe__grpc_link_fail(l, twe__tls_last_error(l->tls));
      return;
    }
    twe__grpc_link_flush(l);
  } else {
    link_ready(l);
  }
  if (l->state != LINK_CLOSING) link_recv(l);
}

static void on_connected(void *data, int status, int fd, const char *detail) {
  struct twe__grpc_link *l = data;
  twe_grpc_channel_t *ch = l->ch;
  twe__grpc_channel_enter(ch);
  connected(l, status, fd, detail);
  twe__grpc_channel_leave(ch);
}

void twe__grpc_channel_connect(twe_grpc_channel_t *ch) {
  if (ch->current || ch->destroying || twe__timer_active(&ch->reconnect_timer)) return;
  struct twe__grpc_link *l = calloc(1, sizeof *l);
  if (!l) {
    twe__grpc_channel_set_error(ch, "out of memory for a connection");
    twe__grpc_channel_schedule_reconnect(ch);
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
    twe__grpc_link_fail(l, msg);
  }
}
