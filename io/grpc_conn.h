/* io/grpc_conn.h — one HTTP/2 connection carrying gRPC unary calls.
 *
 * A twe_grpc_conn is an nghttp2 client session and the calls on it. It
 * touches no socket and no clock: the channel (io/grpc_channel.c) feeds it
 * the bytes that arrive (already decrypted when TLS is on), takes the bytes
 * it wants to send, and ticks it with the time. That keeps the HTTP/2 and
 * gRPC logic testable against an in-process server, and the reactor and TLS
 * code free of protocol knowledge.
 *
 * Calls complete through their callback, exactly once, with a status:
 *  - from the server's trailers (or a trailers-only answer, or a non-gRPC
 *    HTTP answer, see io/grpc_status.h);
 *  - UNAVAILABLE when the stream was refused (REFUSED_STREAM, or above the
 *    last-stream-id of a GOAWAY): the server did not process it, retry it on
 *    a new connection;
 *  - DEADLINE_EXCEEDED when its local deadline passed (the stream is reset);
 *  - CANCELLED when the caller cancelled it;
 *  - UNAVAILABLE when the connection failed (peer closed, protocol error,
 *    keepalive timeout) — with a message saying which.
 * Callbacks never run inside nghttp2: completions are queued and delivered
 * before feed/tick/fail return, so a callback may submit new calls or
 * destroy the connection's other calls, but not the connection itself.
 *
 * Thread: a connection and its calls belong to one shard thread. */
#ifndef TWE_IO_GRPC_CONN_H
#define TWE_IO_GRPC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/grpc_frame.h"
#include "io/grpc_status.h"
#include "proto/arena.h"

typedef struct twe_grpc_conn twe_grpc_conn_t;
typedef struct twe_grpc_call twe_grpc_call_t;

/* Fires once per submitted call, on the connection's thread. */
typedef void (*twe_grpc_call_done_cb)(twe_grpc_call_t *call, void *arg);

/* One header sent with every call of the connection or with one call. */
typedef struct twe_grpc_metadata {
  const char *name; /* lower-case */
  const char *value;
} twe_grpc_metadata_t;

typedef struct twe_grpc_conn_options {
  const char *authority;     /* :authority, "host:port" */
  bool tls;                  /* :scheme https (else http) */
  uint32_t stream_window;    /* bytes; 0 = 8 MiB */
  uint32_t connection_window; /* bytes; 0 = 32 MiB */
  size_t max_recv_message;   /* 0 = TWE_GRPC_DEFAULT_MAX_RECV_BYTES */
  /* Keepalive: a PING after this long without one (0 = 30 s), and the
   * connection fails if it is not answered within ping_timeout (0 = 15 s).
   * Never less than 10 s apart: servers GOAWAY clients that ping more. */
  uint64_t ping_interval_ns;
  uint64_t ping_timeout_ns;
  /* How long a PING from the server waits for its answer (0 = 50 ms,
   * UINT64_MAX = answered as it arrives): see hold_ping_ack in
   * grpc_conn.c. */
  uint64_t ping_ack_delay_ns;
  /* Sent on every call (client-name, client-version, authorization, ...);
   * copied at create. */
  const twe_grpc_metadata_t *metadata;
  size_t n_metadata;
} twe_grpc_conn_options_t;

/* A call's state. The caller owns the memory (embed it or allocate it) and
 * keeps it alive until the done callback ran. Fields above "private" are the
 * interface; the rest belongs to the connection. */
struct twe_grpc_call {
  /* In: set by the caller before submit. */
  twe_arena_t *arena;        /* request framing, response, status */
  const char *path;          /* "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo" */
  uint64_t deadline_ns;      /* absolute, the clock given to tick; 0 = none */
  const twe_grpc_metadata_t *metadata; /* per call, e.g. temporal-namespace; may be NULL */
  size_t n_metadata;
  twe_grpc_call_done_cb done;
  void *done_arg;
  /* Out: valid in the done callback. */
  twe_grpc_status_t status;
  const uint8_t *response; /* the response message when status.code is OK */
  size_t response_len;
  /* Set when the server never saw the call (REFUSED_STREAM, after GOAWAY's
   * last-stream-id, or not yet sent when the connection failed): it is safe
   * to retry whatever the method. */
  bool not_processed;

  /* private */
  struct twe__grpc_stream *stream; /* the connection's record; NULL once completed */
  uint8_t *request; /* prefix + message, in arena */
  size_t request_len;
  size_t request_sent;
  twe_grpc_frame_reader_t reader;
  twe_grpc_response_meta_t meta;
  int local_code; /* a status decided here (reader failure, deadline, cancel); -1 if none */
  const char *local_message;
  bool completed; /* status decided, callback queued or run */
  bool delivered; /* callback run */
  twe_grpc_call_t *next_done; /* the connection's completion queue */
};

/* Creates a connection and queues the client preface and SETTINGS (large
 * windows) for sending. Returns 0 and *out, -ENOMEM, or TWE_EPROTOCOL when
 * nghttp2 refuses the settings. Thread: the owning shard. */
int twe__grpc_conn_create(const twe_grpc_conn_options_t *options, uint64_t now_ns,
                          twe_grpc_conn_t **out);

/* Fails every live call with UNAVAILABLE ("connection closed"), delivering
 * their callbacks, then frees the connection. */
void twe__grpc_conn_destroy(twe_grpc_conn_t *conn);

/* Starts a unary call: message is the serialised request (copied, framed,
 * into call->arena); now_ns turns call->deadline_ns into grpc-timeout.
 * Returns 0 (the callback will fire once), -ENOMEM / TWE_ELIMIT, or
 * -ENOTCONN when the connection is failed or draining (the callback will not
 * fire). */
int twe__grpc_conn_submit(twe_grpc_conn_t *conn, twe_grpc_call_t *call, const uint8_t *message,
                          size_t len, uint64_t now_ns);

/* Cancels a call: resets its stream; its callback fires with CANCELLED
 * before this returns, even when called from another call's callback. A
 * call whose callback already ran is left alone; one that had completed
 * but whose callback was still queued gets it now, with its own status. */
void twe__grpc_conn_cancel(twe_grpc_conn_t *conn, twe_grpc_call_t *call);

/* Hands the connection len received bytes. Returns 0, or TWE_EPROTOCOL when
 * they break HTTP/2 — the connection has then failed (see fail) and every
 * live call completed. */
int twe__grpc_conn_feed(twe_grpc_conn_t *conn, const uint8_t *data, size_t len);

/* Serialises what nghttp2 wants to send, up to about max_bytes, into an
 * internal buffer. *data and *len stay valid until the next pending/consume
 * call. *len 0 means nothing to send. Returns 0 or TWE_EPROTOCOL / -ENOMEM
 * (connection failed). */
int twe__grpc_conn_pending(twe_grpc_conn_t *conn, size_t max_bytes, const uint8_t **data,
                           size_t *len);

/* Marks n bytes of the pending output as written to the transport. */
void twe__grpc_conn_consume(twe_grpc_conn_t *conn, size_t n);

/* Time passes: expires call deadlines (DEADLINE_EXCEEDED), sends keepalive
 * PINGs and fails the connection when one goes unanswered, answers the
 * server's PING once its delay is up. Returns the next time (same clock) it
 * wants to be ticked, or UINT64_MAX. */
uint64_t twe__grpc_conn_tick(twe_grpc_conn_t *conn, uint64_t now_ns);

/* True when fed bytes brought something that needs the clock: a PING from
 * the server whose answer is not yet timed. Tick before waiting. */
bool twe__grpc_conn_wants_tick(const twe_grpc_conn_t *conn);

/* PINGs the server sent, and the answers queued for it so far. */
void twe__grpc_conn_ping_counts(const twe_grpc_conn_t *conn, uint64_t *received,
                                uint64_t *answered);

/* The transport is gone or broken: every live call completes with
 * UNAVAILABLE and message (copied). Later submits return -ENOTCONN. */
void twe__grpc_conn_fail(twe_grpc_conn_t *conn, const char *message);

/* True once the server's SETTINGS frame arrived: the server itself
 * answered. Until then the connection is only a TCP (and TLS) connection
 * that something accepted — the kernel does for a server that is stopped,
 * a proxy may for one that is gone. */
bool twe__grpc_conn_answered(const twe_grpc_conn_t *conn);

/* True once the peer sent GOAWAY or the connection failed: submit no more
 * calls here; live calls below the last-stream-id still finish. */
bool twe__grpc_conn_draining(const twe_grpc_conn_t *conn);

/* Calls submitted and not yet completed. */
size_t twe__grpc_conn_live_calls(const twe_grpc_conn_t *conn);

/* Why the connection failed, or NULL while it has not. */
const char *twe__grpc_conn_error(const twe_grpc_conn_t *conn);

#endif /* TWE_IO_GRPC_CONN_H */
