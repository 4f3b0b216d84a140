/* io/grpc_channel.h — gRPC calls to one Temporal frontend, over connections
 * the channel opens, keeps alive and replaces.
 *
 * A channel owns at most one connection taking new calls (plus older ones
 * draining after GOAWAY or at their maximum age) and runs on one reactor:
 * address resolution and TCP connect (io/tcp.h), TLS (io/tls.h) when
 * enabled, HTTP/2 and gRPC (io/grpc_conn.h). A request is one logical call:
 * the channel encodes it, sends it when a connection is ready, retries it
 * per its retry policy while its overall deadline allows, and decodes the
 * response with the descriptor the caller named — so any WorkflowService
 * method can be called without per-method code.
 *
 * Connection failures never fail a request directly: its attempt ends with
 * UNAVAILABLE and the retry policy decides. The channel reconnects with
 * exponential backoff and jitter; requests wait for it until their deadline.
 *
 * Thread: the reactor's owner thread, for everything here. */
#ifndef TWE_IO_GRPC_CHANNEL_H
#define TWE_IO_GRPC_CHANNEL_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/grpc_conn.h"
#include "io/grpc_retry.h"
#include "io/grpc_status.h"
#include "io/reactor.h"
#include "proto/arena.h"
#include "twe/connection.h"

typedef struct twe_grpc_channel twe_grpc_channel_t;
typedef struct twe_grpc_request twe_grpc_request_t;

/* Fires once per started request, on the reactor thread, never inside
 * twe__grpc_channel_start. */
typedef void (*twe_grpc_request_cb)(twe_grpc_request_t *req);

/* The caller's memory, valid until the callback ran. */
struct twe_grpc_request {
  /* In. */
  const char *path;                 /* "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo" */
  const ProtobufCMessage *request;  /* encoded at start; may be freed after start returns */
  const ProtobufCMessageDescriptor *response_type;
  twe_arena_t *arena;               /* response, status, request bytes */
  uint64_t timeout_ns;              /* all attempts together; 0 = 10 s */
  /* Each attempt's own limit (0: the overall deadline). An attempt that
   * runs past it ends DEADLINE_EXCEEDED and is tried again, while the
   * overall deadline allows, whatever the retry policy says of that code:
   * one hung attempt does not use up the whole request. */
  uint64_t attempt_timeout_ns;
  const twe_rpc_retry_policy_t *retry;  /* NULL = twe__retry_policy_call */
  bool namespaced;                  /* send temporal-namespace */
  twe_grpc_request_cb done;
  void *data; /* the caller's */
  /* Out, in the callback. */
  twe_grpc_status_t status;
  ProtobufCMessage *response; /* decoded, in arena, when status.code is OK */
  int attempts;
  /* private */
  twe_grpc_channel_t *channel;
  twe_grpc_call_t call;
  uint8_t *bytes; /* the encoded request */
  size_t len;
  uint64_t deadline_ns;
  uint64_t started_ns;
  twe_timer_t timer; /* backoff before a retry, or the deadline while waiting */
  int state;
  bool cancelled;
  struct twe__grpc_link *link;              /* the connection of the attempt in flight */
  twe_grpc_request_t *prev, *next;           /* waiting for a connection */
  twe_grpc_request_t *live_prev, *live_next; /* every live request of the channel */
  twe_grpc_metadata_t call_md[1];
};

/* Called for every request that ends (before its own callback), on the
 * reactor thread: metrics. */
typedef void (*twe_grpc_observe_fn)(void *data, const twe_grpc_request_t *req,
                                    uint64_t latency_ns);

/* The channel's connection went down (up false, why says how) or came up,
 * on the reactor thread: for the owner's log. Fires on changes only. */
typedef void (*twe_grpc_state_fn)(void *data, bool up, const char *why);

/* Counters, for tests, `twe ping` and metrics. */
typedef struct twe_grpc_channel_stats {
  uint64_t connects_started;
  uint64_t connects_succeeded;
  uint64_t connects_failed;
  uint64_t goaways;        /* connections the server told to go away */
  uint64_t retries;        /* attempts after the first */
  size_t requests_live;    /* started, callback not yet run */
  size_t connections_open; /* current plus draining, connecting included */
  /* PINGs the server sent, and the answers sent (each 50 ms later: see
   * hold_ping_ack in io/grpc_conn.c), over every connection so far. */
  uint64_t pings_received;
  uint64_t pings_answered;
  /* A connection is up: the server answered on it (its HTTP/2 SETTINGS),
   * and none failed since (what the state callback last said). */
  bool up;
  /* Why the last connection attempt or connection failed, or "". */
  char last_error[256];
} twe_grpc_channel_stats_t;

/* Creates a channel for opts (copied). It connects on the first request.
 * Returns 0, TWE_ECONFIG (message in err: bad address, TLS files), or
 * -ENOMEM. */
int twe__grpc_channel_create(twe_reactor_t *reactor, const twe_connection_options_t *opts,
                             twe_grpc_channel_t **out, char *err, size_t err_len);

/* Completes every live request with CANCELLED ("channel closed") before it
 * returns, starts closing the connections and frees the channel. Sockets
 * finish closing in later reactor iterations (or in twe__reactor_destroy's
 * drain): keep running the reactor, or destroy it, afterwards. */
void twe__grpc_channel_destroy(twe_grpc_channel_t *ch);

/* Starts a request. Returns 0 (the callback will fire once), TWE_EENCODE /
 * TWE_ELIMIT / -ENOMEM (it will not). */
int twe__grpc_channel_start(twe_grpc_channel_t *ch, twe_grpc_request_t *req);

/* Cancels a live request: its callback fires with CANCELLED before this
 * returns. No-op once completed. */
void twe__grpc_channel_cancel(twe_grpc_channel_t *ch, twe_grpc_request_t *req);

/* Closes the connections that have no call in flight (the next request
 * connects again). For a channel whose reactor does not run between
 * requests (a client's): an idle connection there would not notice the
 * server closing it, and its socket would stay in CLOSE-WAIT. Sockets
 * finish closing in later reactor iterations. */
void twe__grpc_channel_close_idle(twe_grpc_channel_t *ch);

/* Starts req and runs the reactor until its callback ran (req->done may be
 * NULL here). For tools, tests and start-up checks, never for a shard's
 * normal work, and never from inside a callback. Returns as start. */
int twe__grpc_channel_call_blocking(twe_grpc_channel_t *ch, twe_grpc_request_t *req);

void twe__grpc_channel_stats(const twe_grpc_channel_t *ch, twe_grpc_channel_stats_t *out);
/* fn(data, ...) hears of the connection going down and coming up. */
void twe__grpc_channel_on_state(twe_grpc_channel_t *ch, twe_grpc_state_fn fn, void *data);
/* fn(data, ...) sees every request that ends from now on (NULL: none). */
void twe__grpc_channel_observe(twe_grpc_channel_t *ch, twe_grpc_observe_fn fn, void *data);

/* "host:port" of the server, as configured. */
const char *twe__grpc_channel_address(const twe_grpc_channel_t *ch);

#endif /* TWE_IO_GRPC_CHANNEL_H */
