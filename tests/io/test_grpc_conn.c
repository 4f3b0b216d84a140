/* tests/io/test_grpc_conn.c — gRPC unary calls over a real nghttp2 client
 * session talking to an in-process nghttp2 server session (memory to memory,
 * no sockets): responses, trailers-only errors, non-gRPC answers, deadlines,
 * cancel, REFUSED_STREAM, GOAWAY, keepalive, the server's PINGs answered late
 * (and a flood of them), broken frames, lying lengths,
 * response metadata that decodes to far more than arrived.
 * Every test counts callbacks: each submitted call completes exactly once. */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/grpc_conn.h"
#include "twe/error.h"

#define MS 1000000ull
#define SEC (1000 * MS)

/* --- a scripted in-process server ---------------------------------------- */

typedef enum behaviour {
  ECHO,          /* 200, the request message back, grpc-status 0 */
  TRAILERS_ONLY, /* 200 + grpc-status 5 + message, no body */
  HTTP_503,      /* not gRPC at all */
  SILENT,        /* never answers */
  REFUSE,        /* RST_STREAM REFUSED_STREAM */
  HUGE_PREFIX,   /* DATA with a 2 GiB length prefix */
  SHORT_BODY,    /* prefix says 10 bytes, stream ends after 3 */
} behaviour_t;

typedef struct server_stream {
  int32_t id;
  char path[256];
  char timeout[32];
  char namespace_md[64];
  uint8_t body[4096];
  size_t body_len;
  uint8_t reply[4096];
  size_t reply_len, reply_off;
  bool reset_by_client;
} server_stream_t;

typedef struct server {
  nghttp2_session *session;
  behaviour_t behaviour;
  server_stream_t streams[2048];
  size_t n_streams;
  bool auto_reply;
  int ping_acks; /* PING ACKs the client sent */
  uint8_t last_ack[8];
} server_t;

static server_stream_t *find_stream(server_t *srv, int32_t id) {
  for (size_t i = 0; i < srv->n_streams; i++)
    if (srv->streams[i].id == id) return &srv->streams[i];
  return NULL;
}

static int srv_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  (void)s;
  server_t *srv = ud;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    assert_true(srv->n_streams < sizeof srv->streams / sizeof srv->streams[0]);
    server_stream_t *st = &srv->streams[srv->n_streams++];
    memset(st, 0, sizeof *st);
    st->id = f->hd.stream_id;
  }
  return 0;
}

static int srv_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                      const uint8_t *value, size_t vl, uint8_t flags, void *ud) {
  (void)s;
  (void)flags;
  server_stream_t *st = find_stream(ud, f->hd.stream_id);
  if (!st) return 0;
  char *dst = NULL;
  size_t cap = 0;
  if (nl == 5 && memcmp(name, ":path", 5) == 0) dst = st->path, cap = sizeof st->path;
  if (nl == 12 && memcmp(name, "grpc-timeout", 12) == 0) dst = st->timeout, cap = sizeof st->timeout;
  if (nl == 18 && memcmp(name, "temporal-namespace", 18) == 0)
    dst = st->namespace_md, cap = sizeof st->namespace_md;
  if (dst && vl < cap) {
    memcpy(dst, value, vl);
    dst[vl] = 0;
  }
  return 0;
}

static int srv_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                    void *ud) {
  (void)s;
  (void)flags;
  server_stream_t *st = find_stream(ud, id);
  assert_non_null(st);
  assert_true(st->body_len + len <= sizeof st->body);
  memcpy(st->body + st->body_len, data, len);
  st->body_len += len;
  return 0;
}

static ssize_t srv_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                        uint32_t *flags, nghttp2_data_source *src, void *ud) {
  (void)s;
  (void)id;
  (void)ud;
  server_stream_t *st = src->ptr;
  size_t n = st->reply_len - st->reply_off;
  if (n > length) n = length;
  memcpy(buf, st->reply + st->reply_off, n);
  st->reply_off += n;
  if (st->reply_off == st->reply_len) {
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    static const nghttp2_nv ok[] = {{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, 0}};
    /* SHORT_BODY ends the stream without trailers after the partial body. */
    if (st->reply_len == 8) {
      *flags &= ~(uint32_t)NGHTTP2_DATA_FLAG_NO_END_STREAM;
    } else {
      nghttp2_submit_trailer(s, st->id, ok, 1);
    }
  }
  return (ssize_t)n;
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE}

static void srv_respond(server_t *srv, server_stream_t *st) {
  nghttp2_session *s = srv->session;
  static const nghttp2_nv grpc200[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
  switch (srv->behaviour) {
    case ECHO:
    case HUGE_PREFIX:
    case SHORT_BODY: {
      if (srv->behaviour == ECHO) {
        memcpy(st->reply, st->body, st->body_len);
        st->reply_len = st->body_len;
      } else if (srv->behaviour == HUGE_PREFIX) {
        const uint8_t huge[] = {0, 0x80, 0, 0, 0, 'x', 'y'};
        memcpy(st->reply, huge, sizeof huge);
        st->reply_len = sizeof huge;
      } else {
        const uint8_t shortb[] = {0, 0, 0, 0, 10, 'a', 'b', 'c'};
        memcpy(st->reply, shortb, sizeof shortb);
        st->reply_len = sizeof shortb; /* 8: srv_read ends the stream here */
      }
      nghttp2_data_provider p = {.source.ptr = st, .read_callback = srv_read};
      assert_int_equal(nghttp2_submit_response(s, st->id, grpc200, 2, &p), 0);
      break;
    }
    case TRAILERS_ONLY: {
      static const nghttp2_nv h[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                                     NV("grpc-status", "5"), NV("grpc-message", "Workflow%20task%20not%20found")};
      assert_int_equal(nghttp2_submit_response(s, st->id, h, 4, NULL), 0);
      break;
    }
    case HTTP_503: {
      static const nghttp2_nv h[] = {NV(":status", "503"), NV("content-type", "text/plain")};
      assert_int_equal(nghttp2_submit_response(s, st->id, h, 2, NULL), 0);
      break;
    }
    case REFUSE:
      assert_int_equal(nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM), 0);
      break;
    case SILENT:
      break;
  }
}

static int srv_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  (void)s;
  server_t *srv = ud;
  if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK)) {
    srv->ping_acks++;
    memcpy(srv->last_ack, f->ping.opaque_data, 8);
  }
  if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
      (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && srv->auto_reply) {
    server_stream_t *st = find_stream(srv, f->hd.stream_id);
    if (st) srv_respond(srv, st);
  }
  return 0;
}

static int srv_stream_close(nghttp2_session *s, int32_t id, uint32_t err, void *ud) {
  (void)s;
  server_stream_t *st = find_stream(ud, id);
  if (st && err == NGHTTP2_CANCEL) st->reset_by_client = true;
  return 0;
}

static server_t *server_new(behaviour_t b) {
  server_t *srv = calloc(1, sizeof *srv);
  srv->behaviour = b;
  srv->auto_reply = true;
  nghttp2_session_callbacks *cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, srv_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, srv_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, srv_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, srv_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, srv_stream_close);
  assert_int_equal(nghttp2_session_server_new(&srv->session, cbs, srv), 0);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 4096}};
  nghttp2_submit_settings(srv->session, NGHTTP2_FLAG_NONE, iv, 1);
  return srv;
}

static void server_free(server_t *srv) {
  nghttp2_session_del(srv->session);
  free(srv);
}

/* Moves bytes both ways until neither side has anything to say. */
static void pump(twe_grpc_conn_t *conn, server_t *srv) {
  for (int round = 0; round < 10000; round++) {
    bool moved = false;
    const uint8_t *data;
    size_t len;
    if (twe__grpc_conn_pending(conn, 1 << 20, &data, &len) == 0 && len > 0) {
      assert_int_equal(nghttp2_session_mem_recv(srv->session, data, len), (ssize_t)len);
      twe__grpc_conn_consume(conn, len);
      moved = true;
    }
    const uint8_t *sdata;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(srv->session, &sdata)) > 0) {
      if (twe__grpc_conn_feed(conn, sdata, (size_t)n) < 0) return;
      moved = true;
    }
    if (!moved) return;
  }
  fail_msg("pump did not settle");
}

/* --- the client side ------------------------------------------------------ */

typedef struct call_box {
  twe_grpc_call_t call;
  twe_arena_t arena;
  int done_count;
} call_box_t;

static int total_done;

static void on_done(twe_grpc_call_t *call, void *arg) {
  call_box_t *box = arg;
  assert_ptr_equal(&box->call, call);
  box->done_count++;
  total_done++;
}

static const twe_grpc_metadata_t conn_md[] = {{"client-name", "temporal-c"},
                                              {"client-version", "0.1.0"}};

static twe_grpc_conn_t *client_new(uint64_t now) {
  twe_grpc_conn_options_t o = {.authority = "127.0.0.1:7233", .metadata = conn_md, .n_metadata = 2};
  twe_grpc_conn_t *conn;
  assert_int_equal(twe__grpc_conn_create(&o, now, &conn), 0);
  return conn;
}

static const twe_grpc_metadata_t ns_md[] = {{"temporal-namespace", "default"}};

static void submit(twe_grpc_conn_t *conn, call_box_t *box, const char *msg, uint64_t deadline,
                   uint64_t now) {
  memset(box, 0, sizeof *box);
  twe__arena_init(&box->arena, 0);
  box->call.arena = &box->arena;
  box->call.path = "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo";
  box->call.deadline_ns = deadline;
  box->call.metadata = ns_md;
  box->call.n_metadata = 1;
  box->call.done = on_done;
  box->call.done_arg = box;
  assert_int_equal(twe__grpc_conn_submit(conn, &box->call, (const uint8_t *)msg, strlen(msg), now), 0);
}

static int setup(void **state) {
  (void)state;
  total_done = 0;
  return 0;
}

static void test_grpc_conn_unary_echo(void **state) {
  (void)state;
  server_t *srv = server_new(ECHO);
  twe_grpc_conn_t *conn = client_new(0);
  call_box_t box;
  submit(conn, &box, "hello temporal", 10 * SEC, 0);
  pump(conn, srv);
  assert_int_equal(box.done_count, 1);
  assert_int_equal(box.call.status.code, TWE_GRPC_OK);
  assert_int_equal(box.call.response_len, 14);
  assert_memory_equal(box.call.response, "hello temporal", 14);
  server_stream_t *st = &srv->streams[0];
  assert_string_equal(st->path, "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo");
  assert_string_equal(st->timeout, "10000m");
  assert_string_equal(st->namespace_md, "default");
  assert_int_equal(st->body_len, 19); /* 5-byte prefix + message */
  assert_int_equal(twe__grpc_conn_live_calls(conn), 0);
  /* grpc-timeout: milliseconds rounded up, seconds past 8 digits of them. */
  const struct {
    uint64_t ns;
    const char *want;
  } timeouts[] = {{1, "1m"}, {1500 * 1000, "2m"}, {99999999 * MS, "99999999m"},
                  {30ull * 3600 * SEC, "108000S"}, {UINT64_MAX / 2, "99999999S"}};
  for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
    call_box_t t;
    submit(conn, &t, "t", timeouts[i].ns, 0);
    pump(conn, srv);
    assert_int_equal(t.done_count, 1);
    assert_string_equal(srv->streams[srv->n_streams - 1].timeout, timeouts[i].want);
    twe__arena_destroy(&t.arena);
  }
  twe__grpc_conn_destroy(conn);
  assert_int_equal(box.done_count, 1); /* destroy does not complete it again */
  twe__arena_destroy(&box.arena);
  server_free(srv);
}

static void test_grpc_conn_many_concurrent_calls(void **state) {
  (void)state;
  enum { N = 1000 };
  server_t *srv = server_new(ECHO);
  twe_grpc_conn_t *conn = client_new(0);
  call_box_t *boxes = calloc(N, sizeof *boxes);
  static char msg[N][24];
  for (int i = 0; i < N; i++) {
    snprintf(msg[i], sizeof msg[i], "call-%d", i);
    submit(conn, &boxes[i], msg[i], 0, 0);
  }
  assert_int_equal(twe__grpc_conn_live_calls(conn), N);
  pump(conn, srv);
  for (int i = 0; i < N; i++) {
    assert_int_equal(boxes[i].done_count, 1);
    assert_int_equal(boxes[i].call.status.code, TWE_GRPC_OK);
    assert_int_equal(boxes[i].call.response_len, strlen(msg[i]));
    assert_memory_equal(boxes[i].call.response, msg[i], strlen(msg[i]));
    twe__arena_destroy(&boxes[i].arena);
  }
  assert_int_equal(total_done, N);
  assert_int_equal(twe__grpc_conn_live_calls(conn), 0);
  twe__grpc_conn_destroy(conn);
  free(boxes);
  server_free(srv);
}

static void test_grpc_conn_trailers_only_and_not_grpc(void **state) {
  (void)state;
  server_t *srv = server_new(TRAILERS_ONLY);
  twe_grpc_conn_t *conn = client_new(0);
  call_box_t a, b;
  submit(conn, &a, "x", 0, 0);
  pump(conn, srv);
  assert_int_equal(a.done_count, 1);
  assert_int_equal(a.call.status.code, TWE_GRPC_NOT_FOUND);
  assert_string_equal(a.call.status.message, "Workflow task not found");
  assert_null(a.call.response);
  srv->behaviour = HTTP_503;
  submit(conn, &b, "y", 0, 0);
  pump(conn, srv);
  assert_int_equal(b.done_count, 1);
  assert_int_equal(b.call.status.code, TWE_GRPC_UNAVAILABLE);
  assert_non_null(strstr(b.call.status.message, "503"));
  twe__grpc_conn_destroy(conn);
  twe__arena_destroy(&a.arena);
  twe__arena_destroy(&b.arena);
  server_free(srv);
}

static void test_grpc_conn_deadline_and_cancel(void **state) {
  (void)state;
  server_t *srv = server_new(SILENT);
  twe_grpc_conn_t *conn = client_new(0);
  call_box_t a, b;
  submit(conn, &a, "slow", 2 * SEC, 0);
  submit(conn, &b, "cancel me", 0, 0);
  pump(conn, srv);
  assert_int_equal(total_done, 0);
  uint64_t next = twe__grpc_conn_tick(conn, 1 * SEC);
  assert_int_equal(next, 2 * SEC);
  twe__grpc_conn_tick(conn, 2 * SEC);
  assert_int_equal(a.done_count, 1);
  assert_int_equal(a.call.status.code, TWE_GRPC_DEADLINE_EXCEEDED);
  twe__grpc_conn_cancel(conn, &b.call);
  assert_int_equal(b.done_count, 1);
  assert_int_equal(b.call.status.code, TWE_GRPC_CANCELLED);
  twe__grpc_conn_cancel(conn, &b.call); /* twice: no second callback */
  /* The caller may free the calls now; the resets still reach the server. */
  twe__arena_destroy(&a.arena);
  twe__arena_destroy(&b.arena);
  memset(&a, 0xAB, sizeof a);
  memset(&b, 0xAB, sizeof b);
  pump(conn, srv);
  assert_true(srv->streams[0].reset_by_client);
  assert_true(srv->streams[1].reset_by_client);
  assert_int_equal(total_done, 2);
  assert_int_equal(twe__grpc_conn_live_calls(conn), 0);
  twe__grpc_conn_destroy(conn);
  server_free(srv);
}

/* A callback that cancels another call: that call's callback must run
 * before cancel returns (its caller may free it right after). */
typedef struct cancel_other {
  twe_grpc_conn_t *conn;
  call_box_t *other;
  int other_count_after_cancel;
} cancel_other_t;
static cancel_other_t cancel_ctx;

static void on_done_cancel_other(twe_grpc_call_t *call, void *arg) {
  on_done(call, arg);
  twe__grpc_conn_cancel(cancel_ctx.conn, &cancel_ctx.other->call);
  cancel_ctx.other_count_after_cancel = cancel_ctx.other->done_count;
}

static void test_grpc_conn_cancel_from_another_callback(void **state) {
  (void)state;
  server_t *srv = server_new(ECHO);
  srv->auto_reply = false;
  twe_grpc_conn_t *conn = client_new(0);
  call_box_t a, b;
  submit(conn, &a, "a", 0, 0);
  submit(conn, &b, "b", 0, 0);
  a.call.done = on_done_cancel_other;
  cancel_ctx = (cancel_other_t){.conn = conn, .other = &b};
  pump(conn, srv);
  srv_respond(srv, &srv->streams[0]); /* only a is answered */
  pump(conn, srv);
  assert_int_equal(a.done_count, 1);
  assert_int_equal(cancel_ctx.other_count_after_cancel, 1);
  assert_int_equal(b.done_count, 1);
  assert_int_equal(b.call.status.code, TWE_GRPC_CANCELLED);
  twe__grpc_conn_destroy(conn);
  assert_int_equal(total_done, 2);
  twe__arena_destroy(&a.arena);
  twe__arena_destroy(&b.arena);
  server_free(srv);
}

static void test_grpc_conn_refused_stream_is_retryable(void **state) {
  (void)state;
  server_t *srv = server_new(REFUSE);
  twe_grpc_conn_t *conn = client_new(0);
  call_box_t a;
  submit(conn, &a, "x", 0, 0);
  pump(conn, srv);
  assert_int_equal(a.done_count, 1);
  assert_int_equal(a.call.status.code, TWE_GRPC_UNAVAILABLE);
  assert_true(a.call.not_processed);
  assert_non_null(strstr(a.call.status.message, "REFUSED_STREAM"));
  twe__grpc_conn_destroy(conn);
  twe__arena_destroy(&a.arena);
  server_free(srv);
}

/* GOAWAY with last-stream-id 1: stream 1 still finishes, 3 and 5 are
 * refused (not processed), and the connection takes no new calls. */
static void test_grpc_conn_goaway(void **state) {
  (void)state;
  server_t *srv = server_new(ECHO);
  srv->auto_reply = false;
  twe_grpc_conn_t *conn = client_new(0);
  call_box_t a, b, c;
  submit(conn, &a, "a", 0, 0);
  submit(conn, &b, "b", 0, 0);
  submit(conn, &c, "c", 0, 0);
  pump(conn, srv);
  assert_int_equal(srv->n_streams, 3);
  assert_int_equal(nghttp2_submit_goaway(srv->session, NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR, NULL, 0), 0);
  pump(conn, srv);
  assert_true(twe__grpc_conn_draining(conn));
  assert_int_equal(b.done_count, 1);
  assert_int_equal(c.done_count, 1);
  assert_int_equal(b.call.status.code, TWE_GRPC_UNAVAILABLE);
  assert_true(b.call.not_processed);
  assert_true(c.call.not_processed);
  assert_int_equal(a.done_count, 0);
  srv_respond(srv, &srv->streams[0]);
  pump(conn, srv);
  assert_int_equal(a.done_count, 1);
  assert_int_equal(a.call.status.code, TWE_GRPC_OK);
  call_box_t d;
  memset(&d, 0, sizeof d);
  twe__arena_init(&d.arena, 0);
  d.call.arena = &d.arena;
  d.call.path = "/x";
  d.call.done = on_done;
  d.call.done_arg = &d;
  assert_int_equal(twe__grpc_conn_submit(conn, &d.call, (const uint8_t *)"d", 1, 0), -ENOTCONN);
  twe__grpc_conn_destroy(conn);
  assert_int_equal(d.done_count, 0);
  assert_int_equal(total_done, 3);
  twe__arena_destroy(&a.arena);
  twe__arena_destroy(&b.arena);
  twe__arena_destroy(&c.arena);
  twe__arena_destroy(&d.arena);
  server_free(srv);
}

/* Bytes that are not HTTP/2 fail the connection and every call on it. */
static void test_grpc_conn_broken_frames(void **state) {
  (void)state;
  server_t *srv = server_new(SILENT);
  twe_grpc_conn_t *conn = client_new(0);
  call_box_t a;
  submit(conn, &a, "x", 0, 0);
  pump(conn, srv);
  /* SETTINGS must be on stream 0; this one claims stream 7. */
  const uint8_t broken[] = {0x00, 0x00, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00, 0x07, 0, 1, 0, 0, 0, 0};
  assert_int_equal(twe__grpc_conn_feed(conn, broken, sizeof broken), TWE_EPROTOCOL);
  assert_int_equal(a.done_count, 1);
  assert_int_equal(a.call.status.code, TWE_GRPC_UNAVAILABLE);
  assert_non_null(strstr(a.call.status.message, "protocol error"));
  assert_non_null(strstr(a.call.status.message, "PROTOCOL_ERROR"));
  assert_non_null(twe__grpc_conn_error(conn));
  assert_true(twe__grpc_conn_draining(conn));
  assert_int_equal(twe__grpc_conn_feed(conn, broken, sizeof broken), TWE_EPROTOCOL);
  twe__grpc_conn_destroy(conn);
  assert_int_equal(total_done, 1);
  twe__arena_destroy(&a.arena);
  server_free(srv);

  /* An HTTP/1.1 server answering instead of an HTTP/2 one. */
  srv = server_new(SILENT);
  conn = client_new(0);
  submit(conn, &a, "x", 0, 0);
  const uint8_t *out;
  size_t out_len;
  twe__grpc_conn_pending(conn, 1 << 20, &out, &out_len);
  const char *h1 = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  assert_int_equal(twe__grpc_conn_feed(conn, (const uint8_t *)h1, strlen(h1)), TWE_EPROTOCOL);
  assert_int_equal(a.done_count, 1);
  assert_non_null(strstr(a.call.status.message, "SETTINGS"));
  twe__grpc_conn_destroy(conn);
  twe__arena_destroy(&a.arena);
  server_free(srv);
}

static void test_grpc_conn_lying_length_prefix(void **state) {
  (void)state;
  server_t *srv = server_new(HUGE_PREFIX);
  twe_grpc_conn_t *conn = client_new(0);
  call_box_t a, b;
  submit(conn, &a, "x", 0, 0);
  pump(conn, srv);
  assert_int_equal(a.done_count, 1);
  assert_int_equal(a.call.status.code, TWE_GRPC_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(a.call.status.message, "exceeds"));
  srv->behaviour = SHORT_BODY;
  submit(conn, &b, "y", 0, 0);
  pump(conn, srv);
  assert_int_equal(b.done_count, 1);
  assert_int_equal(b.call.status.code, TWE_GRPC_INTERNAL);
  twe__grpc_conn_destroy(conn);
  twe__arena_destroy(&a.arena);
  twe__arena_destroy(&b.arena);
  server_free(srv);
}

/* HPACK lets a server repeat a field it put in the dynamic table with one
 * byte per copy: one 12 KiB HEADERS frame below decodes to 12000 copies of a
 * 4000-byte grpc-message, 48 MB. The call keeps what it reads of the
 * response's metadata in its arena; past the limit it stops, resets the
 * stream and ends RESOURCE_EXHAUSTED, and the connection goes on. */
static size_t hpack_int(uint8_t *out, size_t v, unsigned prefix_bits, uint8_t first) {
  size_t max = (1u << prefix_bits) - 1, n = 0;
  if (v < max) {
    out[n++] = (uint8_t)(first | v);
    return n;
  }
  out[n++] = (uint8_t)(first | max);
  for (v -= max; v >= 128; v >>= 7) out[n++] = (uint8_t)((v & 0x7f) | 0x80);
  out[n++] = (uint8_t)v;
  return n;
}

static void test_grpc_conn_metadata_bomb(void **state) {
  (void)state;
  enum { VALUE = 4000, COPIES = 12000 };
  twe_grpc_conn_t *conn = client_new(0);
  call_box_t a;
  submit(conn, &a, "x", 0, 0);
  const uint8_t *out;
  size_t out_len;
  twe__grpc_conn_pending(conn, 1 << 20, &out, &out_len); /* preface, SETTINGS, stream 1 */
  twe__grpc_conn_consume(conn, out_len);

  static uint8_t wire[9 + 9 + 16384];
  size_t n = 0;
  const uint8_t settings[9] = {0, 0, 0, 0x04, 0, 0, 0, 0, 0};
  memcpy(wire, settings, sizeof settings);
  n += sizeof settings;
  size_t head = n;
  n += 9;
  /* :status 200 (static 8); content-type (static 31, literal without indexing). */
  const uint8_t status_ct[] = {0x88, 0x0f, 0x10, 16, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't',
                               'i', 'o', 'n', '/', 'g', 'r', 'p', 'c'};
  memcpy(wire + n, status_ct, sizeof status_ct);
  n += sizeof status_ct;
  /* grpc-message: VALUE bytes, with incremental indexing: dynamic entry 62. */
  wire[n++] = 0x40;
  n += hpack_int(wire + n, 12, 7, 0);
  memcpy(wire + n, "grpc-message", 12);
  n += 12;
  n += hpack_int(wire + n, VALUE, 7, 0);
  memset(wire + n, 'A', VALUE);
  n += VALUE;
  memset(wire + n, 0x80 | 62, COPIES); /* indexed: entry 62, again and again */
  n += COPIES;
  size_t len = n - head - 9;
  /* HEADERS (0x01), END_HEADERS (0x04), stream 1; no END_STREAM. */
  const uint8_t hd[9] = {(uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, 0x01, 0x04,
                         0, 0, 0, 1};
  memcpy(wire + head, hd, sizeof hd);

  twe__grpc_conn_feed(conn, wire, n);
  twe__grpc_conn_pending(conn, 1 << 20, &out, &out_len); /* the RST_STREAM */
  assert_in_range(a.arena.reserved_bytes, 0, 2u << 20);
  assert_int_equal(a.done_count, 1);
  assert_int_equal(a.call.status.code, TWE_GRPC_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(a.call.status.message, "metadata"));
  assert_null(twe__grpc_conn_error(conn));
  twe__grpc_conn_destroy(conn);
  assert_int_equal(total_done, 1);
  twe__arena_destroy(&a.arena);
}

/* A connection with call a on stream 1, its request taken by the peer, and
 * the peer's (empty) SETTINGS fed: the start of a hand-made peer's frames. */
static twe_grpc_conn_t *conn_with_call(call_box_t *a) {
  twe_grpc_conn_t *conn = client_new(0);
  submit(conn, a, "x", 0, 0);
  const uint8_t *out;
  size_t out_len;
  twe__grpc_conn_pending(conn, 1 << 20, &out, &out_len);
  twe__grpc_conn_consume(conn, out_len);
  const uint8_t settings[9] = {0, 0, 0, 0x04, 0, 0, 0, 0, 0};
  assert_int_equal(twe__grpc_conn_feed(conn, settings, sizeof settings), 0);
  return conn;
}

/* Frames that carry nothing, as fast as they come: a WINDOW_UPDATE flood
 * (an increment of 1 on the connection), then empty DATA on the call's
 * stream. A run below the limit with a frame that carries something in
 * between is fine; past the limit the connection fails, saying so, and the
 * call ends UNAVAILABLE. */
static void flood(uint8_t type, bool reset_midway) {
  call_box_t a;
  twe_grpc_conn_t *conn = conn_with_call(&a);
  /* The response's headers first, so that empty DATA is legal on stream 1. */
  const uint8_t headers[9 + 20] = {0, 0, 20, 0x01, 0x04, 0, 0, 0, 1, 0x88, 0x0f, 0x10, 16,
                                   'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n',
                                   '/', 'g', 'r', 'p', 'c'};
  assert_int_equal(twe__grpc_conn_feed(conn, headers, sizeof headers), 0);
  enum { FRAMES = 12000 };
  size_t fsize = type == 0x08 ? 13 : 9;
  static uint8_t wire[FRAMES * 13];
  size_t n = 0;
  for (int i = 0; i < FRAMES; i++) {
    if (type == 0x08) { /* WINDOW_UPDATE, connection, +1 */
      const uint8_t f[13] = {0, 0, 4, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 1};
      memcpy(wire + n, f, sizeof f);
    } else { /* DATA, stream 1, empty, no END_STREAM */
      const uint8_t f[9] = {0, 0, 0, 0x00, 0, 0, 0, 0, 1};
      memcpy(wire + n, f, sizeof f);
    }
    n += fsize;
  }
  if (reset_midway) {
    /* 9,000 empty frames, a frame with a payload (a gRPC message's first
     * byte), 3,000 more: never 10,000 in a row. */
    static uint8_t two[FRAMES * 13 + 10];
    size_t mid = 9000 * fsize;
    memcpy(two, wire, mid);
    const uint8_t data1[10] = {0, 0, 1, 0x00, 0, 0, 0, 0, 1, 0};
    memcpy(two + mid, data1, sizeof data1);
    memcpy(two + mid + sizeof data1, wire + mid, n - mid);
    assert_int_equal(twe__grpc_conn_feed(conn, two, n + sizeof data1), 0);
    assert_null(twe__grpc_conn_error(conn));
    assert_int_equal(a.done_count, 0);
  } else {
    assert_int_equal(twe__grpc_conn_feed(conn, wire, n), TWE_EPROTOCOL);
    assert_non_null(twe__grpc_conn_error(conn));
    assert_non_null(strstr(twe__grpc_conn_error(conn), "flood"));
    assert_int_equal(a.done_count, 1);
    assert_int_equal(a.call.status.code, TWE_GRPC_UNAVAILABLE);
  }
  twe__grpc_conn_destroy(conn);
  twe__arena_destroy(&a.arena);
}

static void test_grpc_conn_empty_frame_floods(void **state) {
  (void)state;
  flood(0x08, false);
  flood(0x00, false);
  flood(0x08, true);
  flood(0x00, true);
}

static void test_grpc_conn_keepalive(void **state) {
  (void)state;
  server_t *srv = server_new(SILENT);
  twe_grpc_conn_t *conn = client_new(0);
  pump(conn, srv);
  assert_int_equal(twe__grpc_conn_tick(conn, 1 * SEC), 30 * SEC);
  /* Due: a PING goes out; the server's session answers it. */
  assert_int_equal(twe__grpc_conn_tick(conn, 30 * SEC), 45 * SEC);
  pump(conn, srv);
  assert_int_equal(twe__grpc_conn_tick(conn, 31 * SEC), 60 * SEC);
  /* Next PING is never answered: the connection fails and so do its calls. */
  call_box_t a;
  submit(conn, &a, "x", 0, 60 * SEC);
  twe__grpc_conn_tick(conn, 60 * SEC);
  twe__grpc_conn_tick(conn, 75 * SEC);
  assert_int_equal(a.done_count, 1);
  assert_int_equal(a.call.status.code, TWE_GRPC_UNAVAILABLE);
  assert_non_null(strstr(a.call.status.message, "keepalive"));
  assert_true(a.call.not_processed); /* never flushed to the server */
  twe__grpc_conn_destroy(conn);
  twe__arena_destroy(&a.arena);
  server_free(srv);
}

/* The server's PINGs are answered 50 ms later (one held at a time), at
 * once when a second comes or the server says GOAWAY, and at once when the
 * delay is set to UINT64_MAX. */
static void test_grpc_conn_ping_ack_held(void **state) {
  (void)state;
  server_t *srv = server_new(SILENT);
  twe_grpc_conn_t *conn = client_new(0);
  pump(conn, srv);
  assert_false(twe__grpc_conn_wants_tick(conn));
  assert_int_equal(twe__grpc_conn_tick(conn, 1 * SEC), 30 * SEC);

  /* One PING: held, timed at the next tick, answered when due. */
  assert_int_equal(nghttp2_submit_ping(srv->session, NGHTTP2_FLAG_NONE, (const uint8_t *)"bdp-ping"), 0);
  pump(conn, srv);
  assert_int_equal(srv->ping_acks, 0);
  assert_true(twe__grpc_conn_wants_tick(conn));
  assert_int_equal(twe__grpc_conn_tick(conn, 2 * SEC), 2 * SEC + 50 * MS);
  assert_false(twe__grpc_conn_wants_tick(conn));
  pump(conn, srv);
  assert_int_equal(srv->ping_acks, 0);
  assert_int_equal(twe__grpc_conn_tick(conn, 2 * SEC + 49 * MS), 2 * SEC + 50 * MS);
  pump(conn, srv);
  assert_int_equal(srv->ping_acks, 0);
  assert_int_equal(twe__grpc_conn_tick(conn, 2 * SEC + 50 * MS), 30 * SEC);
  pump(conn, srv);
  assert_int_equal(srv->ping_acks, 1);
  assert_memory_equal(srv->last_ack, "bdp-ping", 8);

  /* Two PINGs in one read: the first is answered at once, the second held. */
  assert_int_equal(nghttp2_submit_ping(srv->session, NGHTTP2_FLAG_NONE, (const uint8_t *)"first..."), 0);
  assert_int_equal(nghttp2_submit_ping(srv->session, NGHTTP2_FLAG_NONE, (const uint8_t *)"second.."), 0);
  pump(conn, srv);
  assert_int_equal(srv->ping_acks, 2);
  assert_memory_equal(srv->last_ack, "first...", 8);
  assert_int_equal(twe__grpc_conn_tick(conn, 3 * SEC), 3 * SEC + 50 * MS);
  twe__grpc_conn_tick(conn, 3 * SEC + 50 * MS);
  pump(conn, srv);
  assert_int_equal(srv->ping_acks, 3);
  assert_memory_equal(srv->last_ack, "second..", 8);
  uint64_t received, answered;
  twe__grpc_conn_ping_counts(conn, &received, &answered);
  assert_int_equal(received, 3);
  assert_int_equal(answered, 3);

  /* A held PING, then GOAWAY: answered with it; a PING after GOAWAY at once.
   * (A call stays open: a server session with none left reads nothing.) */
  call_box_t a;
  submit(conn, &a, "x", 0, 3 * SEC);
  assert_int_equal(nghttp2_submit_ping(srv->session, NGHTTP2_FLAG_NONE, (const uint8_t *)"held...."), 0);
  pump(conn, srv);
  assert_int_equal(srv->ping_acks, 3);
  assert_int_equal(nghttp2_submit_goaway(srv->session, NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR, NULL, 0), 0);
  pump(conn, srv);
  assert_int_equal(srv->ping_acks, 4);
  assert_memory_equal(srv->last_ack, "held....", 8);
  assert_int_equal(nghttp2_submit_ping(srv->session, NGHTTP2_FLAG_NONE, (const uint8_t *)"drain..."), 0);
  pump(conn, srv);
  assert_int_equal(srv->ping_acks, 5);
  assert_false(twe__grpc_conn_wants_tick(conn));
  twe__grpc_conn_destroy(conn);
  assert_int_equal(a.done_count, 1);
  twe__arena_destroy(&a.arena);
  server_free(srv);

  /* UINT64_MAX: every PING answered as it comes. */
  srv = server_new(SILENT);
  twe_grpc_conn_options_t o = {.authority = "127.0.0.1:7233", .ping_ack_delay_ns = UINT64_MAX};
  assert_int_equal(twe__grpc_conn_create(&o, 0, &conn), 0);
  pump(conn, srv);
  assert_int_equal(nghttp2_submit_ping(srv->session, NGHTTP2_FLAG_NONE, (const uint8_t *)"at once."), 0);
  pump(conn, srv);
  assert_int_equal(srv->ping_acks, 1);
  assert_false(twe__grpc_conn_wants_tick(conn));
  twe__grpc_conn_destroy(conn);
  server_free(srv);
}

/* A peer that sends PINGs and never reads our answers: once nghttp2's queue
 * of answers not yet sent is full (1,000), the connection fails as nghttp2
 * fails it when it answers itself ("Flooding was detected"), and the live
 * call with it. */
static void test_grpc_conn_ping_flood(void **state) {
  (void)state;
  call_box_t a;
  twe_grpc_conn_t *conn = conn_with_call(&a);
  enum { PINGS = 1100 };
  static uint8_t wire[PINGS * 17];
  for (int i = 0; i < PINGS; i++) {
    const uint8_t f[17] = {0, 0, 8, 0x06, 0, 0, 0, 0, 0, 'p', 'i', 'n', 'g', 0, 0, 0, (uint8_t)i};
    memcpy(wire + i * 17, f, sizeof f);
  }
  assert_int_equal(twe__grpc_conn_feed(conn, wire, sizeof wire), TWE_EPROTOCOL);
  assert_non_null(twe__grpc_conn_error(conn));
  assert_non_null(strstr(twe__grpc_conn_error(conn), "Flooding was detected"));
  assert_int_equal(a.done_count, 1);
  assert_int_equal(a.call.status.code, TWE_GRPC_UNAVAILABLE);
  uint64_t received, answered;
  twe__grpc_conn_ping_counts(conn, &received, &answered);
  assert_true(received > 1000 && received < PINGS);
  assert_int_equal(answered, 999); /* the SETTINGS answer is the queue's 1,000th */
  twe__grpc_conn_destroy(conn);
  twe__arena_destroy(&a.arena);
}

static void test_grpc_conn_destroy_completes_live_calls(void **state) {
  (void)state;
  server_t *srv = server_new(SILENT);
  twe_grpc_conn_t *conn = client_new(0);
  call_box_t a, b;
  submit(conn, &a, "x", 0, 0);
  pump(conn, srv);
  submit(conn, &b, "y", 0, 0);
  twe__grpc_conn_destroy(conn);
  assert_int_equal(a.done_count, 1);
  assert_int_equal(b.done_count, 1);
  assert_int_equal(a.call.status.code, TWE_GRPC_UNAVAILABLE);
  assert_false(a.call.not_processed); /* its HEADERS went out */
  assert_true(b.call.not_processed);
  twe__arena_destroy(&a.arena);
  twe__arena_destroy(&b.arena);
  server_free(srv);
}

#define T(f) cmocka_unit_test_setup(f, setup)
int main(void) {
  const struct CMUnitTest tests[] = {
    T(test_grpc_conn_unary_echo),
    T(test_grpc_conn_many_concurrent_calls),
    T(test_grpc_conn_trailers_only_and_not_grpc),
    T(test_grpc_conn_deadline_and_cancel),
    T(test_grpc_conn_cancel_from_another_callback),
    T(test_grpc_conn_refused_stream_is_retryable),
    T(test_grpc_conn_goaway),
    T(test_grpc_conn_broken_frames),
    T(test_grpc_conn_lying_length_prefix),
    T(test_grpc_conn_metadata_bomb),
    T(test_grpc_conn_empty_frame_floods),
    T(test_grpc_conn_keepalive),
    T(test_grpc_conn_ping_ack_held),
    T(test_grpc_conn_ping_flood),
    T(test_grpc_conn_destroy_completes_live_calls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
