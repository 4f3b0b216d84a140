/* tests/io/test_grpc_channel_local.c — the channel against local sockets
 * that are not a Temporal server: an HTTP/1.1 server, one sending broken
 * HTTP/2 frames, one that accepts and closes, a port nobody listens on, an
 * HTTP/2 peer that takes calls and never answers (attempt time limits), a
 * peer that accepts TCP and never says a word (a stopped server: its kernel
 * accepts), which is no connection made.
 * Each request ends with a clear status (never a crash, never a hang), and
 * the channel stays usable. Runs on both io backends. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/grpc_channel.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/twe.h"

#define MS 1000000ull

/* A fake server in a thread (fault injection: real servers do not misbehave
 * on demand): accepts connections and answers each with `reply`. */
typedef struct fake_server {
  int listen_fd;
  uint16_t port;
  const uint8_t *reply;
  size_t reply_len;
  pthread_t thread;
  int accepted;
  bool hold; /* keep connections open and silent (no reply, no close) */
  bool hold_after_reply; /* reply, then keep the connection open, silent */
  int held[16];
} fake_server_t;

static void *serve(void *arg) {
  fake_server_t *s = arg;
  for (;;) {
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0) return NULL;
    s->accepted++;
    if (s->hold) {
      if (s->accepted <= 16) s->held[s->accepted - 1] = fd;
      continue;
    }
    char buf[4096];
    (void)!read(fd, buf, sizeof buf); /* the client preface, whatever it is */
    if (s->reply_len) (void)!write(fd, s->reply, s->reply_len);
    if (s->hold_after_reply) {
      if (s->accepted <= 16) s->held[s->accepted - 1] = fd;
      continue;
    }
    usleep(20000);
    close(fd);
  }
}

static void fake_start(fake_server_t *s, const void *reply, size_t len) {
  memset(s, 0, sizeof *s);
  s->reply = reply;
  s->reply_len = len;
  s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(s->listen_fd, 16), 0);
  socklen_t alen = sizeof a;
  getsockname(s->listen_fd, (struct sockaddr *)&a, &alen);
  s->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void fake_stop(fake_server_t *s) {
  shutdown(s->listen_fd, SHUT_RDWR);
  close(s->listen_fd);
  pthread_join(s->thread, NULL);
  for (int i = 0; (s->hold || s->hold_after_reply) && i < s->accepted && i < 16; i++)
    close(s->held[i]);
}

/* Each attempt's own limit for ping_port (0: none). */
static uint64_t g_attempt_timeout_ns;
/* Times the channel of the last ping_port said it was up. */
static int g_ups;
static void count_ups(void *data, bool up, const char *why) {
  (void)data;
  (void)why;
  if (up) g_ups++;
}

/* One GetSystemInfo with a short deadline against 127.0.0.1:port. */
static twe_grpc_request_t *ping_port_tls(uint16_t port, bool tls, twe_arena_t *arena,
                                         twe_grpc_channel_stats_t *st) {
  twe_reactor_t *reactor;
  int rc = twe__reactor_create(&reactor, NULL);
  if (rc < 0) exit(77); /* a forced backend this machine lacks */
  char address[32];
  snprintf(address, sizeof address, "127.0.0.1:%u", port);
  twe_connection_options_t opts;
  twe_connection_options_init(&opts);
  opts.address = address;
  opts.tls = tls;
  opts.connect_timeout_ns = 150 * MS;
  twe_grpc_channel_t *ch;
  char err[128];
  assert_int_equal(twe__grpc_channel_create(reactor, &opts, &ch, err, sizeof err), 0);
  g_ups = 0;
  twe__grpc_channel_on_state(ch, count_ups, NULL);
  static Temporal__Api__Workflowservice__V1__GetSystemInfoRequest in =
      TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
  twe_grpc_request_t *req = twe__arena_alloc(arena, sizeof *req);
  memset(req, 0, sizeof *req);
  req->path = "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo";
  req->request = &in.base;
  req->response_type = &temporal__api__workflowservice__v1__get_system_info_response__descriptor;
  req->arena = arena;
  req->timeout_ns = 700 * MS;
  req->attempt_timeout_ns = g_attempt_timeout_ns;
  assert_int_equal(twe__grpc_channel_call_blocking(ch, req), 0);
  twe__grpc_channel_stats(ch, st);
  twe__grpc_channel_destroy(ch);
  twe__reactor_destroy(reactor);
  return req;
}

static twe_grpc_request_t *ping_port(uint16_t port, twe_arena_t *arena, twe_grpc_channel_stats_t *st) {
  return ping_port_tls(port, false, arena, st);
}

static void expect_failure(twe_grpc_request_t *req, const twe_grpc_channel_stats_t *st,
                           const char *needle) {
  printf("  -> %s: %s (attempts %d, connects %llu/%llu)\n", twe__grpc_code_name(req->status.code),
         req->status.message, req->attempts, (unsigned long long)st->connects_succeeded,
         (unsigned long long)st->connects_started);
  assert_int_not_equal(req->status.code, TWE_GRPC_OK);
  assert_int_equal(st->requests_live, 0);
  if (!strstr(req->status.message, needle) && !strstr(st->last_error, needle))
    fail_msg("'%s' not in '%s' nor in last error '%s'", needle, req->status.message, st->last_error);
}

static void test_channel_http1_server(void **state) {
  (void)state;
  static const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  fake_server_t s;
  fake_start(&s, reply, sizeof reply - 1);
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_grpc_channel_stats_t st;
  twe_grpc_request_t *req = ping_port(s.port, &arena, &st);
  expect_failure(req, &st, "SETTINGS");
  assert_true(s.accepted >= 1);
  fake_stop(&s);
  twe__arena_destroy(&arena);
}

static void test_channel_broken_http2_frames(void **state) {
  (void)state;
  /* A valid empty SETTINGS, then SETTINGS on stream 7 (a protocol error). */
  static const uint8_t reply[] = {0, 0, 0, 4, 0, 0, 0, 0, 0,
                                  0, 0, 6, 4, 0, 0, 0, 0, 7, 0, 1, 0, 0, 0, 0};
  fake_server_t s;
  fake_start(&s, reply, sizeof reply);
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_grpc_channel_stats_t st;
  twe_grpc_request_t *req = ping_port(s.port, &arena, &st);
  expect_failure(req, &st, "protocol error");
  fake_stop(&s);
  twe__arena_destroy(&arena);
}

static void test_channel_server_closes_at_once(void **state) {
  (void)state;
  fake_server_t s;
  fake_start(&s, NULL, 0);
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_grpc_channel_stats_t st;
  twe_grpc_request_t *req = ping_port(s.port, &arena, &st);
  expect_failure(req, &st, "closed the connection");
  /* It kept trying: more than one connection in 700 ms. */
  assert_true(st.connects_started >= 2);
  fake_stop(&s);
  twe__arena_destroy(&arena);
}

static void test_channel_nobody_listening(void **state) {
  (void)state;
  fake_server_t s;
  fake_start(&s, NULL, 0);
  uint16_t port = s.port;
  fake_stop(&s); /* the port is now closed */
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_grpc_channel_stats_t st;
  twe_grpc_request_t *req = ping_port(port, &arena, &st);
  assert_int_equal(req->status.code, TWE_GRPC_DEADLINE_EXCEEDED);
  expect_failure(req, &st, "refused");
  twe__arena_destroy(&arena);
}

/* A peer that accepts TCP and never answers the TLS ClientHello: the
 * handshake times out (connect_timeout) and the channel tries again. */
static void test_channel_tls_handshake_timeout(void **state) {
  (void)state;
  fake_server_t s;
  fake_start(&s, NULL, 0);
  s.hold = true;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_grpc_channel_stats_t st;
  twe_grpc_request_t *req = ping_port_tls(s.port, true, &arena, &st);
  expect_failure(req, &st, "TLS handshake");
  assert_true(st.connects_started >= 2);
  fake_stop(&s);
  twe__arena_destroy(&arena);
}

/* An HTTP/2 server that takes the call and never answers: with an attempt
 * limit, the hung attempt ends at it and the call is tried again while the
 * overall deadline allows; without one, the first attempt uses it all. */
static void test_channel_attempt_timeout(void **state) {
  (void)state;
  static const uint8_t settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0}; /* an empty SETTINGS */
  for (int with = 0; with < 2; with++) {
    fake_server_t s;
    fake_start(&s, settings, sizeof settings);
    s.hold_after_reply = true;
    twe_arena_t arena;
    twe__arena_init(&arena, 0);
    twe_grpc_channel_stats_t st;
    g_attempt_timeout_ns = with ? 150 * MS : 0;
    twe_grpc_request_t *req = ping_port(s.port, &arena, &st);
    g_attempt_timeout_ns = 0;
    expect_failure(req, &st, "deadline");
    assert_int_equal(req->status.code, TWE_GRPC_DEADLINE_EXCEEDED);
    /* It answered (SETTINGS): a connection made, the channel up. */
    assert_true(st.connects_succeeded >= 1);
    assert_true(g_ups >= 1);
    if (with) assert_true(req->attempts >= 2);
    else assert_int_equal(req->attempts, 1);
    fake_stop(&s);
    twe__arena_destroy(&arena);
  }
}

/* A peer that accepts TCP and never sends a byte (a SIGSTOPped server: its
 * kernel accepts into the listen backlog; a proxy in front of a server that
 * is gone): no connection is made — the channel never says it is up, and
 * once connect_timeout passes without the server's SETTINGS the attempt
 * fails and the channel tries again. */
static void test_channel_silent_after_accept(void **state) {
  (void)state;
  fake_server_t s;
  fake_start(&s, NULL, 0);
  s.hold = true;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_grpc_channel_stats_t st;
  twe_grpc_request_t *req = ping_port(s.port, &arena, &st);
  expect_failure(req, &st, "no SETTINGS came from the server");
  assert_int_equal(st.connects_succeeded, 0);
  assert_true(st.connects_failed >= 2);
  assert_true(st.connects_started >= 2);
  assert_false(st.up);
  assert_int_equal(g_ups, 0);
  fake_stop(&s);
  twe__arena_destroy(&arena);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_channel_http1_server),
    cmocka_unit_test(test_channel_broken_http2_frames),
    cmocka_unit_test(test_channel_server_closes_at_once),
    cmocka_unit_test(test_channel_nobody_listening),
    cmocka_unit_test(test_channel_tls_handshake_timeout),
    cmocka_unit_test(test_channel_attempt_timeout),
    cmocka_unit_test(test_channel_silent_after_accept),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
