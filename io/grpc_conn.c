/* io/grpc_conn.c — gRPC unary calls on one nghttp2 client session.
 *
 * Each submitted call gets a stream record owned by the connection. nghttp2
 * holds the record (as stream user data and data source), never the call:
 * a call can complete early (deadline, cancel, connection failure) while its
 * stream is still queued or open in nghttp2, and the caller may free the call
 * and its arena right after the callback. The record then points to no call,
 * and whatever nghttp2 still does with the stream lands nowhere. Records are
 * freed when nghttp2 closes their stream, or with the connection. */
#define _GNU_SOURCE /* strdup */
#include "io/grpc_conn.h"

#include <errno.h>
#include <inttypes.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twe/error.h"

#define MS 1000000ull
#define DEFAULT_STREAM_WINDOW (8u << 20)
#define DEFAULT_CONNECTION_WINDOW (32u << 20)
#define DEFAULT_PING_INTERVAL (30000 * MS)
#define DEFAULT_PING_TIMEOUT (15000 * MS)
#define MIN_PING_INTERVAL (10000 * MS)
#define DEFAULT_PING_ACK_DELAY (50 * MS)
/* The most response metadata (headers and trailers together) a call reads,
 * counted as HTTP/2 counts a field section: name + value + 32 per field.
 * HPACK lets a server repeat a field from its dynamic table at one byte a
 * copy, so what arrives on the wire says nothing of what it decodes to.
 * gRPC's own clients take 8-16 KiB (Java, C++) to 16 MiB (Go). Also sent to
 * the server as SETTINGS_MAX_HEADER_LIST_SIZE. */
#define MAX_RESPONSE_METADATA (1u << 20)
/* Frames that cost parsing and carry nothing a call needs: WINDOW_UPDATE,
 * PRIORITY, PING, DATA with no payload that ends no stream, frame types
 * HTTP/2 does not define. A server that sends this many in a row, with no
 * headers, data or stream end between, is flooding (nghttp2 1.52 catches
 * PING and SETTINGS floods only): the connection is given up. A working
 * server sends a few per response at most. */
#define MAX_EMPTY_FRAMES_IN_A_ROW 10000

struct twe__grpc_stream {
  twe_grpc_call_t *call; /* NULL once the call completed */
  int32_t id;
  bool headers_sent; /* the server may have seen the request */
  size_t metadata_bytes; /* of the response so far, as MAX_RESPONSE_METADATA counts */
  struct twe__grpc_stream *prev, *next;
};

struct twe_grpc_conn {
  nghttp2_session *session;
  char *authority;
  bool tls;
  size_t max_recv_message;
  uint64_t ping_interval_ns, ping_timeout_ns;
  twe_grpc_metadata_t *metadata; /* copies */
  size_t n_metadata;

  struct twe__grpc_stream *streams; /* every record nghttp2 may still use */
  size_t live_calls;
  twe_grpc_call_t *done_head, *done_tail; /* completed, callback not yet run */
  bool delivering;

  uint8_t *out; /* serialised frames waiting for the transport */
  size_t out_len, out_off, out_cap;

  bool goaway;
  /* The server's SETTINGS arrived (the first frame it must send): it
   * answers, as opposed to a kernel or a proxy accepting the TCP
   * connection on behalf of a server that is not there. */
  bool peer_settings;
  /* nghttp2's last complaint about what it received, for the failure message. */
  char h2_error[128];
  /* We sent GOAWAY with an error: nghttp2 found a connection error in what
   * the server sent and ended the session. */
  bool terminated;
  uint32_t terminated_code;
  bool closing; /* inside nghttp2_session_del: callbacks must not free records */
  bool failed;
  char error[256]; /* why the connection failed, once failed */

  uint64_t last_ping_ns;
  uint64_t ping_sent_ns;
  bool ping_outstanding;
  /* The server's PING we have not answered yet (see hold_ping_ack): its
   * payload, and when the answer is due (0 until the next tick sets it). */
  uint64_t ping_ack_delay_ns;
  bool ack_held;
  uint8_t ack_payload[8];
  uint64_t ack_due_ns;
  uint64_t pings_received, ping_acks_sent;
  /* Frames in a row that carried nothing (MAX_EMPTY_FRAMES_IN_A_ROW). */
  uint32_t empty_frames;
};

/* --- completion --------------------------------------------------------- */

static void queue_done(twe_grpc_conn_t *conn, twe_grpc_call_t *call) {
  call->completed = true;
  if (call->stream) {
    call->stream->call = NULL;
    call->stream = NULL;
  }
  conn->live_calls--;
  call->next_done = NULL;
  if (conn->done_tail)
    conn->done_tail->next_done = call;
  else
    conn->done_head = call;
  conn->done_tail = call;
}

/* Takes call out of the completion queue (it must be in it). */
static void unqueue_done(twe_grpc_conn_t *conn, twe_grpc_call_t *call) {
  twe_grpc_call_t **p = &conn->done_head, *prev = NULL;
  while (*p && *p != call) {
    prev = *p;
    p = &(*p)->next_done;
  }
  if (!*p) return;
  *p = call->next_done;
  if (conn->done_tail == call) conn->done_tail = prev;
  call->next_done = NULL;
}

static void deliver_one(twe_grpc_call_t *call) {
  call->delivered = true;
  call->done(call, call->done_arg);
}

/* Runs queued callbacks. Re-entrant calls (a callback completing another
 * call) only queue; the outermost loop delivers everything. */
static void deliver_done(twe_grpc_conn_t *conn) {
  if (conn->delivering) return;
  conn->delivering = true;
  while (conn->done_head) {
    twe_grpc_call_t *call = conn->done_head;
    conn->done_head = call->next_done;
    if (!conn->done_head) conn->done_tail = NULL;
    deliver_one(call);
  }
  conn->delivering = false;
}

/* A status that needs no allocation, for when the arena is exhausted. */
static void static_status(twe_grpc_call_t *call, int code, const char *message) {
  memset(&call->status, 0, sizeof call->status);
  call->status.code = code;
  call->status.message = message;
}

static void complete_local(twe_grpc_conn_t *conn, twe_grpc_call_t *call, int code,
                           const char *message) {
  if (twe__grpc_status_local(code, message, call->arena, &call->status) < 0)
    static_status(call, code, "(status message dropped: call arena exhausted)");
  call->response = NULL;
  call->response_len = 0;
  queue_done(conn, call);
}

static const char *h2_error_name(uint32_t code) {
  return nghttp2_http2_strerror(code);
}

/* The stream closed in nghttp2: decide the call's status from what arrived. */
static void complete_from_stream(twe_grpc_conn_t *conn, twe_grpc_call_t *call, uint32_t h2_error) {
  if (call->local_code >= 0) {
    complete_local(conn, call, call->local_code, call->local_message);
    return;
  }
  if (!call->meta.grpc_status && h2_error != NGHTTP2_NO_ERROR) {
    char msg[160];
    snprintf(msg, sizeof msg, "stream reset by the server (HTTP/2 %s)", h2_error_name(h2_error));
    call->not_processed = h2_error == NGHTTP2_REFUSED_STREAM;
    complete_local(conn, call, twe__grpc_code_from_rst_stream(h2_error), msg);
    return;
  }
  if (twe__grpc_status_from_meta(&call->meta, call->arena, &call->status) < 0) {
    static_status(call, TWE_GRPC_RESOURCE_EXHAUSTED, "call arena exhausted reading the status");
    queue_done(conn, call);
    return;
  }
  if (call->status.code == TWE_GRPC_OK) {
    int rc = twe__grpc_frame_reader_finish(&call->reader, &call->response, &call->response_len);
    if (rc == 1) {
      complete_local(conn, call, TWE_GRPC_INTERNAL, "status OK but no response message");
      return;
    }
    if (rc < 0) {
      complete_local(conn, call, TWE_GRPC_INTERNAL, call->reader.error_text);
      return;
    }
  }
  queue_done(conn, call);
}

/* --- nghttp2 callbacks -------------------------------------------------- */

static twe_grpc_call_t *stream_call(nghttp2_session *session, int32_t stream_id) {
  struct twe__grpc_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
  return s ? s->call : NULL;
}

static void unlink_stream(twe_grpc_conn_t *conn, struct twe__grpc_stream *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    conn->streams = s->next;
  if (s->next) s->next->prev = s->prev;
  free(s);
}

/* Keeps a header's value (valid only during the callback) in the call's arena. */
static int keep_value(twe_grpc_call_t *call, const uint8_t *value, size_t len, const char **out,
                      size_t *out_len) {
  char *copy = twe__arena_strndup(call->arena, (const char *)value, len);
  if (!copy) return -1;
  *out = copy;
  *out_len = len;
  return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data) {
  (void)flags;
  (void)user_data;
  struct twe__grpc_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
  twe_grpc_call_t *call = s ? s->call : NULL;
  if (!call || call->local_code >= 0) return 0;
  s->metadata_bytes += namelen + valuelen + 32;
  if (s->metadata_bytes > MAX_RESPONSE_METADATA) {
    call->local_code = TWE_GRPC_RESOURCE_EXHAUSTED;
    call->local_message = "response metadata over 1 MiB (HTTP/2 header fields)";
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
  }
  twe_grpc_response_meta_t *m = &call->meta;
  int rc = 0;
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
  if (IS(":status")) {
    int status = 0;
    for (size_t i = 0; i < valuelen && i < 4; i++) {
      if (value[i] < '0' || value[i] > '9') {
        status = 0;
        break;
      }
      status = status * 10 + (value[i] - '0');
    }
    m->http_status = status;
  } else if (IS("content-type")) {
    rc = keep_value(call, value, valuelen, &m->content_type, &m->content_type_len);
  } else if (IS("grpc-status")) {
    rc = keep_value(call, value, valuelen, &m->grpc_status, &m->grpc_status_len);
  } else if (IS("grpc-message")) {
    rc = keep_value(call, value, valuelen, &m->grpc_message, &m->grpc_message_len);
  } else if (IS("grpc-status-details-bin")) {
    rc = keep_value(call, value, valuelen, &m->details_bin, &m->details_bin_len);
  }
#undef IS
  if (rc < 0) {
    call->local_code = TWE_GRPC_RESOURCE_EXHAUSTED;
    call->local_message = "call arena exhausted by response headers";
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data) {
  (void)flags;
  (void)user_data;
  twe_grpc_call_t *call = stream_call(session, stream_id);
  if (!call || call->local_code >= 0) return 0;
  int rc = twe__grpc_frame_reader_feed(&call->reader, data, len);
  if (rc < 0) {
    /* gRPC says a too-large message is RESOURCE_EXHAUSTED; bad framing is INTERNAL. */
    call->local_code = rc == TWE_ELIMIT ? TWE_GRPC_RESOURCE_EXHAUSTED : TWE_GRPC_INTERNAL;
    call->local_message = call->reader.error_text;
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
  }
  return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data) {
  twe_grpc_conn_t *conn = user_data;
  struct twe__grpc_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
  if (!s) return 0;
  if (s->call) complete_from_stream(conn, s->call, error_code);
  if (!conn->closing) unlink_stream(conn, s);
  return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
  twe_grpc_conn_t *conn = user_data;
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
    conn->terminated = true;
    conn->terminated_code = frame->goaway.error_code;
  }
  if (frame->hd.type == NGHTTP2_HEADERS) {
    struct twe__grpc_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s) s->headers_sent = true;
  }
  return 0;
}

/* A request that could not be sent (e.g. GOAWAY arrived first): the server
 * never saw it. */
static int on_frame_not_send(nghttp2_session *session, const nghttp2_frame *frame, int lib_error,
                             void *user_data) {
  twe_grpc_conn_t *conn = user_data;
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  twe_grpc_call_t *call = stream_call(session, frame->hd.stream_id);
  if (!call) return 0;
  char msg[160];
  snprintf(msg, sizeof msg, "request not sent: %s", nghttp2_strerror(lib_error));
  call->not_processed = true;
  complete_local(conn, call, TWE_GRPC_UNAVAILABLE, msg);
  return 0;
}

/* Every frame's header as it begins: floods of empty frames end here. */
static int on_begin_frame(nghttp2_session *session, const nghttp2_frame_hd *hd, void *user_data) {
  (void)session;
  twe_grpc_conn_t *conn = user_data;
  bool empty;
  switch (hd->type) {
    case NGHTTP2_DATA:
      empty = hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM);
      break;
    case NGHTTP2_HEADERS:
    case NGHTTP2_CONTINUATION:
    case NGHTTP2_RST_STREAM:
    case NGHTTP2_GOAWAY:
    case NGHTTP2_SETTINGS: /* nghttp2 polices SETTINGS floods itself */
      empty = false;
      break;
    default: /* WINDOW_UPDATE, PRIORITY, PING, PUSH_PROMISE, unknown types */
      empty = true;
      break;
  }
  if (!empty) {
    conn->empty_frames = 0;
    return 0;
  }
  if (++conn->empty_frames <= MAX_EMPTY_FRAMES_IN_A_ROW) return 0;
  snprintf(conn->h2_error, sizeof conn->h2_error,
           "flood: %u frames in a row carrying nothing (the last of type %u, %zu bytes)",
           conn->empty_frames, (unsigned)hd->type, hd->length);
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* Answers the held PING now. Returns 0, or nghttp2's error: NGHTTP2_ERR_FLOODED
 * when its queue of answers not yet sent is full (a peer that sends PINGs
 * and does not read: nghttp2 fails the session itself when it answers). */
static int send_held_ack(twe_grpc_conn_t *conn) {
  if (!conn->ack_held) return 0;
  conn->ack_held = false;
  int rv = nghttp2_submit_ping(conn->session, NGHTTP2_FLAG_ACK, conn->ack_payload);
  if (rv == 0) conn->ping_acks_sent++;
  return rv;
}

/* A PING from the server is answered ping_ack_delay later, not at once.
 * gRPC servers in Go (Temporal's among them) estimate the bandwidth with a
 * PING sent on the first DATA frame after the last such PING was answered:
 * answered at once, that is a PING for every other request a worker sends,
 * each a wake-up and a send of its own (measured: 2,516 PINGs for 5,013
 * requests; 1,780 of 5,847 receives carried nothing else). Held, they come
 * at most once per delay. The answer goes out as the delay ends, with
 * whatever else is sent then. One answer is held at a time: a second PING
 * has the first answered at once, and so does GOAWAY (a server that is
 * shutting down gracefully waits for the answer). A peer that floods PINGs
 * and does not read fails the connection as nghttp2's own answering would:
 * its queue of answers not yet sent is full (ack_failed). */
static int hold_ping_ack(twe_grpc_conn_t *conn, const uint8_t payload[8]) {
  conn->pings_received++;
  int rv = send_held_ack(conn);
  memcpy(conn->ack_payload, payload, sizeof conn->ack_payload);
  conn->ack_held = true;
  conn->ack_due_ns = 0;
  if (rv == 0 && (conn->goaway || conn->ping_ack_delay_ns == 0)) rv = send_held_ack(conn);
  return rv;
}

/* An answer could not be queued: the session is given up, saying why. */
static int ack_failed(twe_grpc_conn_t *conn, int rv) {
  snprintf(conn->h2_error, sizeof conn->h2_error, "%s", nghttp2_strerror(rv));
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
  (void)session;
  twe_grpc_conn_t *conn = user_data;
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    /* nghttp2 closes the streams above last_stream_id with REFUSED_STREAM;
     * the ones below may still finish. No new calls here. */
    conn->goaway = true;
    int rv = send_held_ack(conn);
    if (rv != 0) return ack_failed(conn, rv);
  } else if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
    conn->ping_outstanding = false;
  } else if (frame->hd.type == NGHTTP2_PING) {
    int rv = hold_ping_ack(conn, frame->ping.opaque_data);
    if (rv != 0) return ack_failed(conn, rv);
  } else if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
    conn->peer_settings = true;
  }
  return 0;
}

static int on_h2_error(nghttp2_session *session, int lib_error_code, const char *msg, size_t len,
                       void *user_data) {
  (void)session;
  (void)lib_error_code;
  twe_grpc_conn_t *conn = user_data;
  snprintf(conn->h2_error, sizeof conn->h2_error, "%.*s", (int)len, msg);
  return 0;
}

static int on_invalid_frame(nghttp2_session *session, const nghttp2_frame *frame, int lib_error_code,
                            void *user_data) {
  (void)session;
  twe_grpc_conn_t *conn = user_data;
  snprintf(conn->h2_error, sizeof conn->h2_error, "invalid %s frame on stream %d: %s",
           frame->hd.type == NGHTTP2_SETTINGS ? "SETTINGS" : "HTTP/2", frame->hd.stream_id,
           nghttp2_strerror(lib_error_code));
  return 0;
}

static ssize_t read_request(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                            size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                            void *user_data) {
  (void)session;
  (void)stream_id;
  (void)user_data;
  struct twe__grpc_stream *s = source->ptr;
  twe_grpc_call_t *call = s->call;
  if (!call) {
    /* Completed early; its bytes may be freed. End the stream: the
     * RST_STREAM queued with the completion follows. */
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  size_t left = call->request_len - call->request_sent;
  size_t n = left < length ? left : length;
  memcpy(buf, call->request + call->request_sent, n);
  call->request_sent += n;
  if (call->request_sent == call->request_len) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

/* --- lifecycle ---------------------------------------------------------- */

int twe__grpc_conn_create(const twe_grpc_conn_options_t *options, uint64_t now_ns,
                          twe_grpc_conn_t **out) {
  twe_grpc_conn_t *conn = calloc(1, sizeof *conn);
  if (!conn) return -ENOMEM;
  conn->authority = strdup(options->authority ? options->authority : "");
  conn->tls = options->tls;
  conn->max_recv_message = options->max_recv_message;
  conn->ping_interval_ns = options->ping_interval_ns ? options->ping_interval_ns : DEFAULT_PING_INTERVAL;
  if (conn->ping_interval_ns < MIN_PING_INTERVAL) conn->ping_interval_ns = MIN_PING_INTERVAL;
  conn->ping_timeout_ns = options->ping_timeout_ns ? options->ping_timeout_ns : DEFAULT_PING_TIMEOUT;
  conn->last_ping_ns = now_ns;
  conn->ping_ack_delay_ns =
      options->ping_ack_delay_ns == UINT64_MAX ? 0
      : options->ping_ack_delay_ns            ? options->ping_ack_delay_ns
                                              : DEFAULT_PING_ACK_DELAY;
  conn->metadata = calloc(options->n_metadata ? options->n_metadata : 1, sizeof *conn->metadata);
  if (!conn->authority || !conn->metadata) goto nomem;
  for (size_t i = 0; i < options->n_metadata; i++) {
    conn->metadata[i].name = strdup(options->metadata[i].name);
    conn->metadata[i].value = strdup(options->metadata[i].value);
    conn->n_metadata = i + 1;
    if (!conn->metadata[i].name || !conn->metadata[i].value) goto nomem;
  }

  nghttp2_session_callbacks *cbs;
  if (nghttp2_session_callbacks_new(&cbs) != 0) goto nomem;
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
  nghttp2_session_callbacks_set_error_callback2(cbs, on_h2_error);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
  /* PINGs are answered here (hold_ping_ack), not by nghttp2. */
  nghttp2_option *opt;
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cbs);
    goto nomem;
  }
  nghttp2_option_set_no_auto_ping_ack(opt, 1);
  int rv = nghttp2_session_client_new2(&conn->session, cbs, conn, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) goto nomem;

  uint32_t stream_window = options->stream_window ? options->stream_window : DEFAULT_STREAM_WINDOW;
  uint32_t conn_window =
      options->connection_window ? options->connection_window : DEFAULT_CONNECTION_WINDOW;
  /* Large windows: a history page of several MiB should not wait for
   * WINDOW_UPDATE round trips. No server push. A bound on response
   * metadata (see MAX_RESPONSE_METADATA). */
  nghttp2_settings_entry settings[] = {
    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window},
    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_RESPONSE_METADATA},
  };
  if (nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, settings,
                              sizeof settings / sizeof settings[0]) != 0 ||
      nghttp2_session_set_local_window_size(conn->session, NGHTTP2_FLAG_NONE, 0,
                                            (int32_t)conn_window) != 0) {
    twe__grpc_conn_destroy(conn);
    return TWE_EPROTOCOL;
  }
  *out = conn;
  return 0;

nomem:
  twe__grpc_conn_destroy(conn);
  return -ENOMEM;
}

void twe__grpc_conn_fail(twe_grpc_conn_t *conn, const char *message) {
  if (!conn->failed) {
    conn->failed = true;
    snprintf(conn->error, sizeof conn->error, "%s", message);
  }
  for (struct twe__grpc_stream *s = conn->streams; s; s = s->next) {
    if (!s->call) continue;
    s->call->not_processed = !s->headers_sent;
    char msg[256];
    snprintf(msg, sizeof msg, "connection failed: %s", message);
    complete_local(conn, s->call, TWE_GRPC_UNAVAILABLE, msg);
  }
  deliver_done(conn);
}

void twe__grpc_conn_destroy(twe_grpc_conn_t *conn) {
  if (!conn) return;
  if (conn->session) twe__grpc_conn_fail(conn, "connection closed");
  conn->closing = true;
  if (conn->session) nghttp2_session_del(conn->session);
  while (conn->streams) {
    struct twe__grpc_stream *next = conn->streams->next;
    free(conn->streams);
    conn->streams = next;
  }
  for (size_t i = 0; i < conn->n_metadata; i++) {
    free((char *)conn->metadata[i].name);
    free((char *)conn->metadata[i].value);
  }
  free(conn->metadata);
  free(conn->authority);
  free(conn->out);
  free(conn);
}

/* --- calls -------------------------------------------------------------- */

/* grpc-timeout: at most 8 digits and a unit (gRPC over HTTP/2). Once per
 * call, so digits by hand rather than snprintf. buf: at least 10 bytes. */
static void format_timeout(uint64_t ns, char *buf) {
  uint64_t ms = ns / MS + (ns % MS != 0);
  if (ms == 0) ms = 1;
  uint64_t v = ms;
  char unit = 'm';
  if (ms > 99999999) {
    v = ms / 1000 > 99999999 ? 99999999 : ms / 1000;
    unit = 'S';
  }
  char digits[8];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  size_t i = 0;
  while (n) buf[i++] = digits[--n];
  buf[i++] = unit;
  buf[i] = 0;
}

static nghttp2_nv make_nv(const char *name, const char *value) {
  nghttp2_nv nv = {(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                   NGHTTP2_NV_FLAG_NONE};
  return nv;
}

int twe__grpc_conn_submit(twe_grpc_conn_t *conn, twe_grpc_call_t *call, const uint8_t *message,
                          size_t len, uint64_t now_ns) {
  if (conn->failed || conn->goaway) return -ENOTCONN;
  twe_arena_t *arena = call->arena;
  arena->limit_hit = false;
  uint8_t *request = twe__arena_alloc(arena, TWE_GRPC_FRAME_HEADER_BYTES + len);
  size_t n_nv = 7 + conn->n_metadata + call->n_metadata;
  nghttp2_nv *nva = twe__arena_alloc(arena, n_nv * sizeof *nva);
  if (!request || !nva) return twe__arena_error(arena);
  int rc = twe__grpc_frame_header(request, len);
  if (rc < 0) return rc;
  if (len) memcpy(request + TWE_GRPC_FRAME_HEADER_BYTES, message, len);

  size_t n = 0;
  nva[n++] = make_nv(":method", "POST");
  nva[n++] = make_nv(":scheme", conn->tls ? "https" : "http");
  nva[n++] = make_nv(":path", call->path);
  nva[n++] = make_nv(":authority", conn->authority);
  nva[n++] = make_nv("content-type", "application/grpc");
  nva[n++] = make_nv("te", "trailers");
  char timeout[24];
  if (call->deadline_ns) {
    format_timeout(call->deadline_ns > now_ns ? call->deadline_ns - now_ns : 0, timeout);
    nva[n++] = make_nv("grpc-timeout", timeout);
  }
  for (size_t i = 0; i < conn->n_metadata; i++)
    nva[n++] = make_nv(conn->metadata[i].name, conn->metadata[i].value);
  for (size_t i = 0; i < call->n_metadata; i++)
    nva[n++] = make_nv(call->metadata[i].name, call->metadata[i].value);

  struct twe__grpc_stream *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  call->request = request;
  call->request_len = TWE_GRPC_FRAME_HEADER_BYTES + len;
  call->request_sent = 0;
  call->local_code = -1;
  call->local_message = NULL;
  call->completed = false;
  call->delivered = false;
  call->not_processed = false;
  call->response = NULL;
  call->response_len = 0;
  memset(&call->meta, 0, sizeof call->meta);
  memset(&call->status, 0, sizeof call->status);
  twe__grpc_frame_reader_init(&call->reader, arena, conn->max_recv_message);
  s->call = call;

  nghttp2_data_provider provider = {.source.ptr = s, .read_callback = read_request};
  int32_t id = nghttp2_submit_request(conn->session, NULL, nva, n, &provider, s);
  if (id < 0) {
    free(s);
    return id == NGHTTP2_ERR_NOMEM ? -ENOMEM : -ENOTCONN;
  }
  s->id = id;
  s->next = conn->streams;
  if (conn->streams) conn->streams->prev = s;
  conn->streams = s;
  call->stream = s;
  conn->live_calls++;
  return 0;
}

/* Completes a live call with a local status and resets its stream. */
static void abort_call(twe_grpc_conn_t *conn, twe_grpc_call_t *call, int code, const char *why) {
  int32_t id = call->stream->id;
  bool sent = call->stream->headers_sent;
  call->not_processed = !sent;
  complete_local(conn, call, code, why);
  nghttp2_submit_rst_stream(conn->session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
}

void twe__grpc_conn_cancel(twe_grpc_conn_t *conn, twe_grpc_call_t *call) {
  if (call->delivered) return;
  if (!call->completed)
    abort_call(conn, call, TWE_GRPC_CANCELLED, "call cancelled by the caller");
  /* Its callback runs now, also when cancel is called from another call's
   * callback (the queue is then being delivered by an outer frame): the
   * caller may free the call as soon as cancel returns. A call that had
   * completed but was still queued keeps its status. */
  unqueue_done(conn, call);
  deliver_one(call);
}

/* --- bytes and time ----------------------------------------------------- */

/* Serialises what nghttp2 wants to send into conn->out, up to about
 * max_bytes pending. Fails the connection if nghttp2 ended the session
 * because of what the server sent (it then sends GOAWAY with an error). */
static void serialize(twe_grpc_conn_t *conn, size_t max_bytes) {
  if (conn->out_off == conn->out_len) conn->out_off = conn->out_len = 0;
  while (!conn->failed && conn->out_len - conn->out_off < max_bytes) {
    const uint8_t *chunk;
    ssize_t n = nghttp2_session_mem_send(conn->session, &chunk);
    if (n < 0) {
      char msg[160];
      snprintf(msg, sizeof msg, "HTTP/2 send failed: %s", nghttp2_strerror((int)n));
      twe__grpc_conn_fail(conn, msg);
      return;
    }
    if (n == 0) break;
    if (conn->out_len + (size_t)n > conn->out_cap) {
      size_t cap = conn->out_cap ? conn->out_cap : 16384;
      while (cap < conn->out_len + (size_t)n) cap *= 2;
      uint8_t *grown = realloc(conn->out, cap);
      if (!grown) {
        twe__grpc_conn_fail(conn, "out of memory for HTTP/2 output");
        return;
      }
      conn->out = grown;
      conn->out_cap = cap;
    }
    memcpy(conn->out + conn->out_len, chunk, (size_t)n);
    conn->out_len += (size_t)n;
  }
  if (conn->terminated && !conn->failed) {
    char msg[256];
    snprintf(msg, sizeof msg, "HTTP/2 protocol error from the server (%s)%s%s",
             h2_error_name(conn->terminated_code), conn->h2_error[0] ? ": " : "", conn->h2_error);
    twe__grpc_conn_fail(conn, msg);
  }
}

int twe__grpc_conn_feed(twe_grpc_conn_t *conn, const uint8_t *data, size_t len) {
  if (conn->failed) return TWE_EPROTOCOL;
  conn->h2_error[0] = '\0';
  ssize_t rv = nghttp2_session_mem_recv(conn->session, data, len);
  if (rv < 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "HTTP/2 error on received data: %s",
             conn->h2_error[0] ? conn->h2_error : nghttp2_strerror((int)rv));
    twe__grpc_conn_fail(conn, msg);
    return TWE_EPROTOCOL;
  }
  /* A connection error does not make mem_recv fail: nghttp2 queues GOAWAY
   * and stops reading. Serialising now turns that into a failure at once
   * (and stream errors only reset their stream: the call ends INTERNAL). */
  if (conn->h2_error[0]) serialize(conn, 1 << 16);
  deliver_done(conn);
  return conn->failed ? TWE_EPROTOCOL : 0;
}

int twe__grpc_conn_pending(twe_grpc_conn_t *conn, size_t max_bytes, const uint8_t **data,
                           size_t *len) {
  serialize(conn, max_bytes);
  /* mem_send may have closed streams (RST_STREAM sent, requests refused). */
  deliver_done(conn);
  *data = conn->out + conn->out_off;
  *len = conn->out_len - conn->out_off;
  return conn->failed && *len == 0 ? TWE_EPROTOCOL : 0;
}

void twe__grpc_conn_consume(twe_grpc_conn_t *conn, size_t n) {
  conn->out_off += n;
  if (conn->out_off > conn->out_len) conn->out_off = conn->out_len;
}

uint64_t twe__grpc_conn_tick(twe_grpc_conn_t *conn, uint64_t now_ns) {
  uint64_t next = UINT64_MAX;
  if (conn->failed) return next;
  for (struct twe__grpc_stream *s = conn->streams; s; s = s->next) {
    twe_grpc_call_t *call = s->call;
    if (!call || !call->deadline_ns) continue;
    if (now_ns >= call->deadline_ns)
      abort_call(conn, call, TWE_GRPC_DEADLINE_EXCEEDED, "call deadline exceeded");
    else if (call->deadline_ns < next)
      next = call->deadline_ns;
  }
  if (conn->ping_outstanding) {
    if (now_ns - conn->ping_sent_ns >= conn->ping_timeout_ns) {
      twe__grpc_conn_fail(conn, "keepalive PING not answered in time");
      return UINT64_MAX;
    }
    if (conn->ping_sent_ns + conn->ping_timeout_ns < next)
      next = conn->ping_sent_ns + conn->ping_timeout_ns;
  } else if (now_ns - conn->last_ping_ns >= conn->ping_interval_ns) {
    if (nghttp2_submit_ping(conn->session, NGHTTP2_FLAG_NONE, NULL) == 0) {
      conn->ping_outstanding = true;
      conn->ping_sent_ns = conn->last_ping_ns = now_ns;
      if (now_ns + conn->ping_timeout_ns < next) next = now_ns + conn->ping_timeout_ns;
    }
  } else if (conn->last_ping_ns + conn->ping_interval_ns < next) {
    next = conn->last_ping_ns + conn->ping_interval_ns;
  }
  if (conn->ack_held) {
    if (conn->ack_due_ns == 0) conn->ack_due_ns = now_ns + conn->ping_ack_delay_ns;
    if (now_ns >= conn->ack_due_ns) {
      int rv = send_held_ack(conn);
      if (rv != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "HTTP/2 error answering a PING: %s", nghttp2_strerror(rv));
        twe__grpc_conn_fail(conn, msg);
        return UINT64_MAX;
      }
    } else if (conn->ack_due_ns < next)
      next = conn->ack_due_ns;
  }
  deliver_done(conn);
  return next;
}

bool twe__grpc_conn_wants_tick(const twe_grpc_conn_t *conn) {
  return conn->ack_held && conn->ack_due_ns == 0 && !conn->failed;
}

void twe__grpc_conn_ping_counts(const twe_grpc_conn_t *conn, uint64_t *received,
                                uint64_t *answered) {
  *received = conn->pings_received;
  *answered = conn->ping_acks_sent;
}

bool twe__grpc_conn_answered(const twe_grpc_conn_t *conn) {
  return conn->peer_settings;
}

bool twe__grpc_conn_draining(const twe_grpc_conn_t *conn) {
  return conn->goaway || conn->failed;
}

size_t twe__grpc_conn_live_calls(const twe_grpc_conn_t *conn) {
  return conn->live_calls;
}

const char *twe__grpc_conn_error(const twe_grpc_conn_t *conn) {
  return conn->failed ? conn->error : NULL;
}
