/* io/grpc_channel_internal.h — what the channel's two files share: the
 * channel, its links (one connection each), and the calls between them.
 * io/grpc_channel.c keeps the requests (attempts, retries, deadlines) and
 * the channel's life; io/grpc_link.c keeps the links (connect, TLS, the
 * bytes in and out, the connection's clock, reconnecting).
 *
 * Private to io/: nothing outside includes it. Thread: the reactor's. */
#ifndef TWE_IO_GRPC_CHANNEL_INTERNAL_H
#define TWE_IO_GRPC_CHANNEL_INTERNAL_H

#include "io/grpc_channel.h"
#include "io/tcp.h"
#include "io/tls.h"

#define TWE__GRPC_MS 1000000ull
#define TWE__GRPC_SEC (1000 * TWE__GRPC_MS)
#define TWE__GRPC_RECV_BUFFER 65536

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
  bool answered;          /* the server's SETTINGS arrived */
  twe_timer_t tick_timer; /* grpc deadlines and keepalive; also the maximum age */
  uint64_t tick_due_ns;   /* when tick_timer fires; UINT64_MAX when it is not active */
  uint8_t recv_buf[TWE__GRPC_RECV_BUFFER];
  uint8_t plain_buf[TWE__GRPC_RECV_BUFFER]; /* decrypted bytes, with TLS */
  uint8_t *send_buf;                        /* copy of plaintext being sent (no TLS) */
  size_t send_cap;
  size_t send_len;             /* bytes of the send in flight; 0 when none */
  twe_prepare_t flush_prep;    /* queued: a flush before the loop waits */
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

/* now + delta without wrapping around (a huge timeout means "no limit"). */
static inline uint64_t twe__grpc_add_ns(uint64_t now, uint64_t delta) {
  return delta > UINT64_MAX - now ? UINT64_MAX : now + delta;
}

/* --- io/grpc_channel.c ---------------------------------------------------- */

/* Entry points from the reactor (and cancel) bracket their work with these:
 * a destroy inside a callback only marks it pending, and the outermost
 * leave finishes it. ch may be NULL (a link whose channel is gone). */
void twe__grpc_channel_enter(twe_grpc_channel_t *ch);
void twe__grpc_channel_leave(twe_grpc_channel_t *ch);
/* Whether a connection is up; tells the state callback when that changes. */
void twe__grpc_channel_set_up(twe_grpc_channel_t *ch, bool up, const char *why);
/* Keeps why as the channel's latest error (stats.last_error). */
void twe__grpc_channel_set_error(twe_grpc_channel_t *ch, const char *why);
/* xorshift32, for jitter only. */
uint32_t twe__grpc_channel_random(twe_grpc_channel_t *ch);
/* Takes a request off the list of those waiting for a connection. */
void twe__grpc_channel_unwait(twe_grpc_channel_t *ch, twe_grpc_request_t *req);
/* Sends the request's next attempt on the current link, or has it wait
 * for one (starting a connect); finishes it past its deadline. */
void twe__grpc_request_attempt(twe_grpc_channel_t *ch, twe_grpc_request_t *req);

/* --- io/grpc_link.c ------------------------------------------------------- */

/* Opens a new current link, unless there is one or a reconnect is pending. */
void twe__grpc_channel_connect(twe_grpc_channel_t *ch);
/* After a failed connection: try again later, backing off, if anything is
 * waiting. */
void twe__grpc_channel_schedule_reconnect(twe_grpc_channel_t *ch);
/* The link stops taking new calls; it closes once its calls are done. */
void twe__grpc_link_retire(struct twe__grpc_link *l);
/* Closes the link; its live calls end UNAVAILABLE with why. is_error: why
 * is the channel's latest error (a retired link closing is not). */
void twe__grpc_link_close(struct twe__grpc_link *l, const char *why, bool is_error);
void twe__grpc_link_fail(struct twe__grpc_link *l, const char *why);
/* Sends what is ready, one send in flight at a time. */
void twe__grpc_link_flush(struct twe__grpc_link *l);
/* Flushes before the loop next waits (a prepare handle), so that what a
 * stretch of work adds goes in one send: used when a request starts and
 * after bytes arrive. While it is queued, a send's end does not flush
 * either. */
void twe__grpc_link_flush_soon(struct twe__grpc_link *l);
/* Runs the connection's clock: deadlines, keepalive, maximum age. */
void twe__grpc_link_tick(struct twe__grpc_link *l);
/* (Re)arms the link's tick timer to fire at due_ns on the loop's clock. */
void twe__grpc_link_arm_tick(struct twe__grpc_link *l, uint64_t due_ns);

#endif
