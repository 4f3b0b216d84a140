/* tests/io/test_tcp.c — resolution off the loop thread and timed connects,
 * on the backend TWE_IO_BACKEND names (ctest runs this file once per
 * backend; an io_uring run where io_uring is missing exits 77).
 *
 * The connect timeout is made deterministic with a full accept queue: a
 * listener with backlog 0 holding one connection nobody accepts drops every
 * further SYN (Linux counts it in ListenOverflows), so a connect to it stays
 * in SYN_SENT until our timer cancels it. Non-routable addresses are not used:
 * a sandbox may answer them at once with ENETUNREACH.
 *
 * Every test counts callbacks and ends with nothing live on the reactor.
 * Bounded loops only keep a broken test from hanging; nothing asserts how
 * long anything takes. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/reactor.h"
#include "tests/support/reactor_test.h"
#include "io/tcp.h"
#include "twe/error.h"

static twe_addr_t loopback(int family, uint16_t port) {
  twe_addr_t a;
  memset(&a, 0, sizeof a);
  if (family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&a.ss;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = htons(port);
    a.len = sizeof *in;
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_loopback;
    in6->sin6_port = htons(port);
    a.len = sizeof *in6;
  }
  return a;
}

static uint16_t port_of(const twe_addr_t *a) {
  if (a->ss.ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
  return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

/* A listener on family's loopback (kernel-chosen port) into *a, or -1 when
 * the family is not available here. */
static int listen_loopback(int family, int backlog, twe_addr_t *a) {
  *a = loopback(family, 0);
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, backlog) < 0 ||
      getsockname(fd, (struct sockaddr *)&a->ss, &a->len) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* A port that refuses: bound, not listening (kept bound so that nobody else
 * takes it during the test). */
static int refusing_port(int family, twe_addr_t *a) {
  *a = loopback(family, 0);
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&a->ss, a->len) < 0 ||
      getsockname(fd, (struct sockaddr *)&a->ss, &a->len) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* A listener whose accept queue is full (see the top of the file): connects
 * to it hang. *filler holds the queued connection. */
static int full_backlog(twe_addr_t *a, int *filler) {
  int l = listen_loopback(AF_INET, 0, a);
  assert_true(l >= 0);
  *filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(connect(*filler, (struct sockaddr *)&a->ss, a->len), 0);
  return l;
}

/* --- addresses -------------------------------------------------------------- */

static void test_addr_format_ipv4_ipv6(void **state) {
  (void)state;
  char buf[TWE_ADDR_STRLEN];
  twe_addr_t a = loopback(AF_INET, 7233);
  assert_string_equal(twe__addr_format(&a, buf, sizeof buf), "127.0.0.1:7233");
  a = loopback(AF_INET6, 443);
  assert_string_equal(twe__addr_format(&a, buf, sizeof buf), "[::1]:443");
}

/* --- resolution -------------------------------------------------------------- */

typedef struct resolved {
  int calls;
  int status;
  twe_addr_t addrs[16];
  size_t n;
  char detail[160];
} resolved_t;

static void on_resolved(void *data, int status, const twe_addr_t *addrs, size_t n,
                        const char *detail) {
  resolved_t *res = data;
  res->calls++;
  res->status = status;
  res->n = n < 16 ? n : 16;
  if (n) memcpy(res->addrs, addrs, res->n * sizeof *addrs);
  snprintf(res->detail, sizeof res->detail, "%s", detail);
}

static bool is_loopback(const twe_addr_t *a) {
  if (a->ss.ss_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr) >> 24) == 127;
  return a->ss.ss_family == AF_INET6 &&
         IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
}

static void test_resolve_localhost(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  twe_resolver_t *res;
  assert_int_equal(twe__resolver_create(r, &res), 0);
  resolved_t out = {0};
  assert_int_equal(twe__resolver_resolve(res, "localhost", 7233, on_resolved, &out, NULL), 0);
  assert_int_equal(out.calls, 0); /* never from inside the call */
  RUN_UNTIL(r, out.calls == 1);
  assert_int_equal(out.status, 0);
  assert_true(out.n >= 1);
  for (size_t i = 0; i < out.n; i++) {
    assert_true(is_loopback(&out.addrs[i]));
    assert_int_equal(port_of(&out.addrs[i]), 7233);
  }
  assert_string_equal(out.detail, "");

  /* A bracketed IPv6 literal, as in "[::1]:7233". */
  resolved_t v6 = {0};
  assert_int_equal(twe__resolver_resolve(res, "[::1]", 80, on_resolved, &v6, NULL), 0);
  RUN_UNTIL(r, v6.calls == 1);
  assert_int_equal(v6.status, 0);
  assert_int_equal(v6.n, 1);
  assert_int_equal(v6.addrs[0].ss.ss_family, AF_INET6);
  assert_true(is_loopback(&v6.addrs[0]));
  twe__resolver_destroy(res);
  assert_int_equal(out.calls, 1);
  reactor_end(r);
}

static void test_resolve_bad_name_clear_error(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  twe_resolver_t *res;
  assert_int_equal(twe__resolver_create(r, &res), 0);
  resolved_t out = {0};
  /* .invalid never resolves (RFC 6761). With DNS reachable the answer is
   * "no such name"; a sandbox without DNS may say the resolver failed
   * instead. Either way the error is a resolution error with words. */
  assert_int_equal(
      twe__resolver_resolve(res, "no-such-host.invalid", 7233, on_resolved, &out, NULL), 0);
  RUN_UNTIL(r, out.calls == 1);
  print_message("bad name: %s (%s): %s\n", twe_err_name(out.status), twe_strerror(out.status),
                out.detail);
  assert_true(out.status == TWE_ENOHOST || out.status == TWE_ERESOLVE);
  assert_int_equal(out.n, 0);
  assert_true(strlen(out.detail) > 0);
  assert_string_not_equal(twe_strerror(out.status), "unknown error");

  assert_int_equal(twe__resolver_resolve(res, "", 1, on_resolved, &out, NULL), -EINVAL);
  assert_int_equal(twe__resolver_resolve(res, "[]", 1, on_resolved, &out, NULL), -EINVAL);
  twe__resolver_destroy(res);
  assert_int_equal(out.calls, 1);
  reactor_end(r);
}

static void test_resolve_cancel_reports_once(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  twe_resolver_t *res;
  assert_int_equal(twe__resolver_create(r, &res), 0);
  resolved_t a = {0}, b = {0};
  twe_resolve_req_t *ra, *rb;
  assert_int_equal(twe__resolver_resolve(res, "localhost", 1, on_resolved, &a, &ra), 0);
  assert_int_equal(twe__resolver_resolve(res, "localhost", 2, on_resolved, &b, &rb), 0);
  twe__resolver_cancel(ra);
  twe__resolver_cancel(ra); /* a second cancel changes nothing */
  assert_int_equal(a.calls, 0);
  RUN_UNTIL(r, a.calls == 1 && b.calls == 1);
  assert_int_equal(a.status, -ECANCELED);
  assert_int_equal(b.status, 0);
  for (int i = 0; i < 5; i++) assert_true(twe__reactor_run_once(r, 1 * MS) >= 0);
  assert_int_equal(a.calls, 1);
  assert_int_equal(b.calls, 1);
  twe__resolver_destroy(res);
  reactor_end(r);
}

/* Destroy reports every request not yet reported, before it returns. */
static void test_resolver_destroy_reports_pending(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  twe_resolver_t *res;
  assert_int_equal(twe__resolver_create(r, &res), 0);
  resolved_t out[8];
  memset(out, 0, sizeof out);
  for (int i = 0; i < 8; i++)
    assert_int_equal(twe__resolver_resolve(res, "localhost", (uint16_t)(i + 1), on_resolved,
                                           &out[i], NULL),
                     0);
  twe__resolver_destroy(res);
  for (int i = 0; i < 8; i++) {
    assert_int_equal(out[i].calls, 1);
    assert_int_equal(out[i].status, -ECANCELED);
  }
  reactor_end(r);
}

/* --- connecting -------------------------------------------------------------- */

typedef struct connected {
  int calls;
  int status;
  int fd;
  char detail[1024];
} connected_t;

static void on_connected(void *data, int status, int fd, const char *detail) {
  connected_t *c = data;
  c->calls++;
  c->status = status;
  c->fd = fd;
  snprintf(c->detail, sizeof c->detail, "%s", detail);
}

/* What the socket tests do with a connected fd: one exchange through the
 * reactor, then close. */
typedef struct echo {
  twe_sock_t sock;
  int recv_calls, recv_n, send_calls, close_calls;
} echo_t;

static void echo_on_recv(twe_sock_t *s, int n) {
  echo_t *e = s->data;
  e->recv_calls++;
  e->recv_n = n;
}
static void echo_on_send(twe_sock_t *s, int status) {
  echo_t *e = s->data;
  assert_int_equal(status, 0);
  e->send_calls++;
}
static void echo_on_close(twe_sock_t *s) {
  echo_t *e = s->data;
  e->close_calls++;
}

static void exchange_and_close(twe_reactor_t *r, int fd, int listener) {
  int nodelay = 0;
  socklen_t len = sizeof nodelay;
  assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  assert_true(nodelay);
  int peer = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  assert_true(peer >= 0);
  echo_t e;
  memset(&e, 0, sizeof e);
  e.sock.data = &e;
  assert_int_equal(twe__sock_init(r, &e.sock, fd), 0);
  char buf[8];
  assert_int_equal(twe__sock_send(&e.sock, "ping", 4, echo_on_send), 0);
  assert_int_equal(twe__sock_recv(&e.sock, buf, sizeof buf, echo_on_recv), 0);
  RUN_UNTIL(r, e.send_calls == 1);
  char got[4];
  assert_int_equal(read(peer, got, 4), 4);
  assert_memory_equal(got, "ping", 4);
  assert_int_equal(write(peer, "pong", 4), 4);
  RUN_UNTIL(r, e.recv_calls == 1);
  assert_int_equal(e.recv_n, 4);
  assert_memory_equal(buf, "pong", 4);
  assert_int_equal(twe__sock_close(&e.sock, echo_on_close), 0);
  RUN_UNTIL(r, e.close_calls == 1);
  close(peer);
}

static void connect_loopback(int family) {
  twe_addr_t a;
  int l = listen_loopback(family, 4, &a);
  if (l < 0) {
    print_message("no %s loopback here: skipped\n", family == AF_INET6 ? "IPv6" : "IPv4");
    skip();
  }
  twe_reactor_t *r = reactor_new();
  connected_t c = {0};
  assert_int_equal(twe__tcp_connect_addrs(r, &a, 1, 5000 * MS, on_connected, &c, NULL), 0);
  assert_int_equal(c.calls, 0);
  RUN_UNTIL(r, c.calls == 1);
  assert_int_equal(c.status, 0);
  assert_true(c.fd >= 0);
  assert_string_equal(c.detail, "");
  exchange_and_close(r, c.fd, l);
  close(l);
  reactor_end(r);
}

static void test_connect_ipv4(void **state) {
  (void)state;
  connect_loopback(AF_INET);
}

static void test_connect_ipv6(void **state) {
  (void)state;
  connect_loopback(AF_INET6);
}

static void test_connect_host_localhost(void **state) {
  (void)state;
  /* /etc/hosts may map localhost to 127.0.0.1, ::1 or both; listen on the
   * IPv4 one and accept that an IPv6 attempt before it is refused. */
  twe_addr_t a;
  int l = listen_loopback(AF_INET, 4, &a);
  assert_true(l >= 0);
  twe_reactor_t *r = reactor_new();
  twe_resolver_t *res;
  assert_int_equal(twe__resolver_create(r, &res), 0);
  connected_t c = {0};
  assert_int_equal(twe__tcp_connect_host(r, res, "localhost", port_of(&a), 5000 * MS, on_connected,
                                         &c, NULL),
                   0);
  RUN_UNTIL(r, c.calls == 1);
  if (c.status != 0) print_message("detail: %s\n", c.detail);
  assert_int_equal(c.status, 0);
  exchange_and_close(r, c.fd, l);
  twe__resolver_destroy(res);
  close(l);
  reactor_end(r);
}

static void test_connect_refused_says_which_and_why(void **state) {
  (void)state;
  twe_addr_t a[2];
  int b4 = refusing_port(AF_INET, &a[0]);
  int b6 = refusing_port(AF_INET6, &a[1]);
  assert_true(b4 >= 0);
  size_t n = b6 >= 0 ? 2 : 1;
  twe_reactor_t *r = reactor_new();
  connected_t c = {0};
  assert_int_equal(twe__tcp_connect_addrs(r, a, n, 5000 * MS, on_connected, &c, NULL), 0);
  RUN_UNTIL(r, c.calls == 1);
  print_message("refused: %s\n", c.detail);
  assert_int_equal(c.status, -ECONNREFUSED);
  assert_int_equal(c.fd, -1);
  char name[TWE_ADDR_STRLEN], want[TWE_ADDR_STRLEN + 64];
  snprintf(want, sizeof want, "%s: connect: Connection refused",
           twe__addr_format(&a[0], name, sizeof name));
  assert_non_null(strstr(c.detail, want));
  if (n == 2) {
    snprintf(want, sizeof want, "%s: connect: Connection refused",
             twe__addr_format(&a[1], name, sizeof name));
    assert_non_null(strstr(c.detail, want));
  }
  close(b4);
  if (b6 >= 0) close(b6);
  reactor_end(r);
}

/* Addresses are tried in order: a refusing one first, then one that works. */
static void test_connect_tries_next_address(void **state) {
  (void)state;
  twe_addr_t a[2];
  int b = refusing_port(AF_INET, &a[0]);
  int l = listen_loopback(AF_INET, 4, &a[1]);
  assert_true(b >= 0 && l >= 0);
  twe_reactor_t *r = reactor_new();
  connected_t c = {0};
  assert_int_equal(twe__tcp_connect_addrs(r, a, 2, 5000 * MS, on_connected, &c, NULL), 0);
  RUN_UNTIL(r, c.calls == 1);
  assert_int_equal(c.status, 0);
  assert_non_null(strstr(c.detail, "Connection refused")); /* the first one, noted */
  exchange_and_close(r, c.fd, l);
  close(b);
  close(l);
  reactor_end(r);
}

static void test_connect_timeout(void **state) {
  (void)state;
  twe_addr_t a;
  int filler;
  int l = full_backlog(&a, &filler);
  twe_reactor_t *r = reactor_new();
  connected_t c = {0};
  assert_int_equal(twe__tcp_connect_addrs(r, &a, 1, 50 * MS, on_connected, &c, NULL), 0);
  RUN_UNTIL(r, c.calls == 1);
  print_message("timeout: %s\n", c.detail);
  assert_int_equal(c.status, -ETIMEDOUT);
  assert_int_equal(c.fd, -1);
  assert_non_null(strstr(c.detail, "timed out after 50 ms"));
  for (int i = 0; i < 5; i++) assert_true(twe__reactor_run_once(r, 1 * MS) >= 0);
  assert_int_equal(c.calls, 1);
  close(filler);
  close(l);
  reactor_end(r);
}

static void test_connect_cancel_reports_once(void **state) {
  (void)state;
  twe_addr_t a;
  int filler;
  int l = full_backlog(&a, &filler);
  twe_reactor_t *r = reactor_new();
  /* Canceled before the first attempt started... */
  connected_t early = {0};
  twe_tcp_connect_t *ce;
  assert_int_equal(twe__tcp_connect_addrs(r, &a, 1, 0, on_connected, &early, &ce), 0);
  twe__tcp_connect_cancel(ce);
  /* ...and while an attempt hangs (no timeout: only cancel ends it). */
  connected_t late = {0};
  twe_tcp_connect_t *cl;
  assert_int_equal(twe__tcp_connect_addrs(r, &a, 1, 0, on_connected, &late, &cl), 0);
  for (int i = 0; i < 3; i++) assert_true(twe__reactor_run_once(r, 1 * MS) >= 0);
  assert_int_equal(late.calls, 0);
  twe__tcp_connect_cancel(cl);
  assert_int_equal(late.calls, 0);
  RUN_UNTIL(r, early.calls == 1 && late.calls == 1);
  assert_int_equal(early.status, -ECANCELED);
  assert_int_equal(late.status, -ECANCELED);
  for (int i = 0; i < 5; i++) assert_true(twe__reactor_run_once(r, 1 * MS) >= 0);
  assert_int_equal(early.calls + late.calls, 2);
  close(filler);
  close(l);
  reactor_end(r);
}

static void test_connect_host_bad_name(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  twe_resolver_t *res;
  assert_int_equal(twe__resolver_create(r, &res), 0);
  connected_t c = {0};
  assert_int_equal(twe__tcp_connect_host(r, res, "no-such-host.invalid", 7233, 5000 * MS,
                                         on_connected, &c, NULL),
                   0);
  RUN_UNTIL(r, c.calls == 1);
  print_message("bad name: %s\n", c.detail);
  assert_true(c.status == TWE_ENOHOST || c.status == TWE_ERESOLVE);
  assert_int_equal(c.fd, -1);
  assert_non_null(strstr(c.detail, "resolving 'no-such-host.invalid': "));
  twe__resolver_destroy(res);
  reactor_end(r);
}

static void test_connect_bad_arguments_never_call_back(void **state) {
  (void)state;
  twe_reactor_t *r = reactor_new();
  twe_resolver_t *res;
  assert_int_equal(twe__resolver_create(r, &res), 0);
  connected_t c = {0};
  twe_addr_t a = loopback(AF_INET, 1);
  assert_int_equal(twe__tcp_connect_addrs(r, &a, 0, 0, on_connected, &c, NULL), -EINVAL);
  assert_int_equal(twe__tcp_connect_addrs(r, &a, 1, 0, NULL, &c, NULL), -EINVAL);
  assert_int_equal(twe__tcp_connect_host(r, res, "", 1, 0, on_connected, &c, NULL), -EINVAL);
  for (int i = 0; i < 3; i++) assert_true(twe__reactor_run_once(r, 1 * MS) >= 0);
  assert_int_equal(c.calls, 0);
  twe__resolver_destroy(res);
  reactor_end(r);
}

/* "host:port" and "[v6]:port" split; anything else refused. */
static void test_split_address(void **state) {
  (void)state;
  char *host = NULL;
  uint16_t port = 0;
  assert_int_equal(twe__tcp_split_address("temporal.example:7233", &host, &port), 0);
  assert_string_equal(host, "temporal.example");
  assert_int_equal(port, 7233);
  free(host);
  assert_int_equal(twe__tcp_split_address("[::1]:443", &host, &port), 0);
  assert_string_equal(host, "::1");
  assert_int_equal(port, 443);
  free(host);
  const char *bad[] = {"localhost", ":7233", "h:", "h:0", "h:65536", "h:72x", "[::1:80", "[]:80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(twe__tcp_split_address(bad[i], &host, &port), -1);
}

int main(void) {
  const char *b = getenv("TWE_IO_BACKEND");
  if (b && strcmp(b, "io_uring") == 0) {
    int rc = twe__reactor_probe(TWE_IO_BACKEND_URING);
    if (rc < 0) {
      printf("io_uring is not available here (%s): skipped\n", twe_strerror(rc));
      return 77;
    }
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_addr_format_ipv4_ipv6),
      cmocka_unit_test(test_split_address),
      cmocka_unit_test(test_resolve_localhost),
      cmocka_unit_test(test_resolve_bad_name_clear_error),
      cmocka_unit_test(test_resolve_cancel_reports_once),
      cmocka_unit_test(test_resolver_destroy_reports_pending),
      cmocka_unit_test(test_connect_ipv4),
      cmocka_unit_test(test_connect_ipv6),
      cmocka_unit_test(test_connect_host_localhost),
      cmocka_unit_test(test_connect_refused_says_which_and_why),
      cmocka_unit_test(test_connect_tries_next_address),
      cmocka_unit_test(test_connect_timeout),
      cmocka_unit_test(test_connect_cancel_reports_once),
      cmocka_unit_test(test_connect_host_bad_name),
      cmocka_unit_test(test_connect_bad_arguments_never_call_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
