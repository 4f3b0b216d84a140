/* tests/engine/test_client_local.c — the client without a Temporal server:
 * options are deep-copied with their defaults, arguments are checked, and
 * a server that cannot be reached (nobody listening, a silent peer, a bad
 * address) gives a clear error quickly instead of a hang. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/client_internal.h"
#include "engine/worker_internal.h"
#include "io/grpc_status.h"
#include "twe/twe.h"

#define MS 1000000ull

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A local TCP port: bound (so nobody else takes it) and listening or not.
 * Bound without listen, a connect to it is refused. */
static int local_port(bool listening, uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  if (listening) assert_int_equal(listen(fd, 8), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

static void test_twe_client_connect_refused(void **state) {
  (void)state;
  uint16_t port;
  int fd = local_port(false, &port);
  char address[64], err[512] = "";
  snprintf(address, sizeof address, "127.0.0.1:%u", port);
  twe_connection_options_t opts;
  twe_connection_options_init(&opts);
  opts.address = address;
  twe_client_t *c = (twe_client_t *)&opts; /* must be reset to NULL */
  uint64_t t0 = now_ns();
  int rc = twe_client_connect(&opts, &c, err, sizeof err);
  uint64_t took = now_ns() - t0;
  assert_int_equal(rc, -ECONNREFUSED);
  assert_null(c);
  assert_non_null(strstr(err, address));
  assert_non_null(strstr(err, "refused"));
  /* Not the 10 s a request would wait for a connection. */
  assert_true(took < 3000 * MS);
  close(fd);
}

static void test_twe_client_connect_from_env(void **state) {
  (void)state;
  uint16_t port;
  int fd = local_port(false, &port);
  char address[64], err[512] = "";
  snprintf(address, sizeof address, "127.0.0.1:%u", port);
  setenv("TEMPORAL_ADDRESS", address, 1);
  unsetenv("TEMPORAL_API_KEY");
  unsetenv("TEMPORAL_TLS");
  twe_client_t *c = NULL;
  int rc = twe_client_connect(NULL, &c, err, sizeof err);
  assert_int_equal(rc, -ECONNREFUSED);
  assert_null(c);
  assert_non_null(strstr(err, address)); /* the environment's address was used */
  unsetenv("TEMPORAL_ADDRESS");
  close(fd);
}

static void test_twe_client_connect_bad_address(void **state) {
  (void)state;
  twe_connection_options_t opts;
  twe_connection_options_init(&opts);
  opts.address = "no-port-here";
  char err[256] = "";
  twe_client_t *c = NULL;
  assert_int_equal(twe_client_connect(&opts, &c, err, sizeof err), TWE_ECONFIG);
  assert_null(c);
  assert_non_null(strstr(err, "no-port-here"));
}

static void test_twe_client_connect_silent_server(void **state) {
  (void)state;
  /* The kernel completes the TCP handshake from the backlog; nothing ever
   * answers the HTTP/2 preface or the call. */
  uint16_t port;
  int fd = local_port(true, &port);
  char address[64], err[512] = "";
  snprintf(address, sizeof address, "127.0.0.1:%u", port);
  twe_connection_options_t opts;
  twe_connection_options_init(&opts);
  opts.address = address;
  opts.connect_timeout_ns = 300 * MS;
  twe_client_t *c = NULL;
  uint64_t t0 = now_ns();
  int rc = twe_client_connect(&opts, &c, err, sizeof err);
  uint64_t took = now_ns() - t0;
  assert_int_equal(rc, -ETIMEDOUT);
  assert_null(c);
  assert_non_null(strstr(err, "GetSystemInfo"));
  assert_true(took >= 250 * MS && took < 3000 * MS);
  close(fd);
}

static void test_twe__client_create_unchecked_copies_options(void **state) {
  (void)state;
  char address[] = "127.0.0.1:1", ns[] = "my-namespace", server_name[] = "server.example";
  twe_connection_options_t opts;
  twe_connection_options_init(&opts);
  opts.address = address;
  opts.namespace_name = ns;
  opts.tls_server_name = server_name; /* copied even without TLS */
  opts.connect_timeout_ns = 123 * MS;
  twe_client_t *c = NULL;
  char err[256] = "";
  assert_int_equal(twe__client_create_unchecked(&opts, &c, err, sizeof err), 0);
  assert_non_null(c);
  /* The caller's strings change and go away; the client's copies stay. */
  memset(address, 'x', sizeof address - 1);
  memset(ns, 'y', sizeof ns - 1);
  memset(server_name, 'z', sizeof server_name - 1);
  const twe_connection_options_t *copy = twe__client_options(c);
  assert_string_equal(copy->address, "127.0.0.1:1");
  assert_string_equal(copy->namespace_name, "my-namespace");
  assert_string_equal(copy->tls_server_name, "server.example");
  assert_ptr_not_equal(copy->address, address);
  assert_int_equal(copy->connect_timeout_ns, 123 * MS);
  assert_string_equal(twe_client_namespace(c), "my-namespace");
  /* Default identity: "<pid>@<hostname>". */
  char host[256] = "", expect[300];
  gethostname(host, sizeof host - 1);
  snprintf(expect, sizeof expect, "%ld@%s", (long)getpid(), host);
  assert_string_equal(twe__client_identity(c), expect);
  assert_string_equal(copy->identity, expect);
  twe_client_close(c);
}

static void test_twe__client_create_unchecked_defaults(void **state) {
  (void)state;
  twe_connection_options_t opts;
  memset(&opts, 0, sizeof opts); /* nothing set at all */
  char identity[] = "worker-7";
  opts.identity = identity;
  twe_client_t *c = NULL;
  assert_int_equal(twe__client_create_unchecked(&opts, &c, NULL, 0), 0);
  identity[0] = 'W';
  assert_string_equal(twe__client_identity(c), "worker-7");
  assert_string_equal(twe__client_options(c)->address, "localhost:7233");
  assert_string_equal(twe_client_namespace(c), "default");
  assert_null(twe__client_options(c)->api_key);
  twe_client_close(c);
  twe_client_close(NULL); /* no-op */
}

static void test_twe_client_start_workflow_invalid_arguments(void **state) {
  (void)state;
  twe_client_t *c = NULL;
  assert_int_equal(twe__client_create_unchecked(NULL, &c, NULL, 0), 0);
  char err[256] = "", run_id[64] = "stale";
  twe_start_workflow_options_t so = {.workflow_id = "wf-1", .task_queue = NULL};
  assert_int_equal(
      twe_client_start_workflow(c, "Hello", &so, NULL, 0, run_id, sizeof run_id, err, sizeof err),
      -EINVAL);
  assert_string_equal(run_id, "");
  assert_non_null(strstr(err, "task queue"));
  so.task_queue = "q";
  assert_int_equal(twe_client_start_workflow(c, "", &so, NULL, 0, NULL, 0, NULL, 0), -EINVAL);
  assert_int_equal(twe_client_start_workflow(c, "Hello", NULL, NULL, 0, NULL, 0, NULL, 0), -EINVAL);
  assert_int_equal(twe_client_start_workflow(c, "Hello", &so, NULL, 2, NULL, 0, NULL, 0), -EINVAL);
  /* An argument without an encoding cannot go out (no call is made). */
  twe_payload_t bad = {NULL, "x", 1};
  err[0] = '\0';
  assert_int_equal(twe_client_start_workflow(c, "Hello", &so, &bad, 1, NULL, 0, err, sizeof err),
                   -EINVAL);
  assert_non_null(strstr(err, "encoding"));
  twe_client_close(c);
}

static void test_twe_client_workflow_result_invalid_arguments(void **state) {
  (void)state;
  twe_client_t *c = NULL;
  assert_int_equal(twe__client_create_unchecked(NULL, &c, NULL, 0), 0);
  twe_workflow_result_t r;
  memset(&r, 0xa5, sizeof r);
  char err[128] = "";
  assert_int_equal(twe_client_workflow_result(c, "", NULL, 0, &r, err, sizeof err), -EINVAL);
  assert_int_equal(r.status, TWE_WORKFLOW_STATUS_UNKNOWN);
  assert_null(r.internal_);
  assert_true(err[0] != '\0');
  assert_int_equal(twe_client_workflow_result(c, "wf", NULL, 0, NULL, NULL, 0), -EINVAL);
  twe_workflow_result_free(&r);
  twe_workflow_result_free(NULL);
  twe_client_close(c);
}

static void test_twe_client_workflow_result_times_out(void **state) {
  (void)state;
  uint16_t port;
  int fd = local_port(true, &port); /* silent */
  char address[64], err[256] = "";
  snprintf(address, sizeof address, "127.0.0.1:%u", port);
  twe_connection_options_t opts;
  twe_connection_options_init(&opts);
  opts.address = address;
  twe_client_t *c = NULL;
  assert_int_equal(twe__client_create_unchecked(&opts, &c, NULL, 0), 0);
  twe_workflow_result_t r;
  uint64_t t0 = now_ns();
  int rc = twe_client_workflow_result(c, "wf-silent", NULL, 400 * MS, &r, err, sizeof err);
  uint64_t took = now_ns() - t0;
  assert_int_equal(rc, -ETIMEDOUT);
  assert_int_equal(r.status, TWE_WORKFLOW_STATUS_UNKNOWN);
  assert_null(r.internal_);
  assert_non_null(strstr(err, "wf-silent"));
  assert_true(took >= 350 * MS && took < 3000 * MS);
  twe_client_close(c);
  close(fd);
}

static void test_twe__client_errno_from_grpc_codes(void **state) {
  (void)state;
  assert_int_equal(twe__client_errno_from_grpc(TWE_GRPC_OK), 0);
  assert_int_equal(twe__client_errno_from_grpc(TWE_GRPC_NOT_FOUND), -ENOENT);
  assert_int_equal(twe__client_errno_from_grpc(TWE_GRPC_ALREADY_EXISTS), -EEXIST);
  assert_int_equal(twe__client_errno_from_grpc(TWE_GRPC_DEADLINE_EXCEEDED), -ETIMEDOUT);
  assert_int_equal(twe__client_errno_from_grpc(TWE_GRPC_INVALID_ARGUMENT), -EINVAL);
  assert_int_equal(twe__client_errno_from_grpc(TWE_GRPC_PERMISSION_DENIED), -EACCES);
  assert_int_equal(twe__client_errno_from_grpc(TWE_GRPC_UNAVAILABLE), -ENOTCONN);
  assert_int_equal(twe__client_errno_from_grpc(TWE_GRPC_INTERNAL), -EIO);
  assert_int_equal(twe__client_errno_from_grpc(99), -EIO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_twe_client_connect_refused),
    cmocka_unit_test(test_twe_client_connect_from_env),
    cmocka_unit_test(test_twe_client_connect_bad_address),
    cmocka_unit_test(test_twe_client_connect_silent_server),
    cmocka_unit_test(test_twe__client_create_unchecked_copies_options),
    cmocka_unit_test(test_twe__client_create_unchecked_defaults),
    cmocka_unit_test(test_twe_client_start_workflow_invalid_arguments),
    cmocka_unit_test(test_twe_client_workflow_result_invalid_arguments),
    cmocka_unit_test(test_twe_client_workflow_result_times_out),
    cmocka_unit_test(test_twe__client_errno_from_grpc_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
