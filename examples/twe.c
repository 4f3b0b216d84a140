/* examples/twe.c — the `twe` command.
 *
 *   twe ping [--address host:port] [--namespace ns] [--count n] [--timeout seconds]
 *
 * Connects the way a worker would (TEMPORAL_* environment, TLS, API key),
 * and prints the server's version and capabilities, the namespace's state,
 * and the round-trip time of GetSystemInfo. Exit status 0 when the server
 * answered and the namespace exists, 1 otherwise, with the reason. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/grpc_channel.h"
#include "io/reactor.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/twe.h"

#define WS "/temporal.api.workflowservice.v1.WorkflowService/"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void print_failure(const char *what, const twe_grpc_request_t *req) {
  fprintf(stderr, "twe ping: %s failed: %s: %s\n", what, twe__grpc_code_name(req->status.code),
          req->status.message);
  if (req->status.detail_type)
    fprintf(stderr, "twe ping:   details: %s\n", req->status.detail_type->name);
}

/* Every boolean capability the server reports as true, by field name. */
static void print_capabilities(const ProtobufCMessage *caps) {
  printf("capabilities:   ");
  int printed = 0;
  const ProtobufCMessageDescriptor *d = caps->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->type != PROTOBUF_C_TYPE_BOOL || f->label == PROTOBUF_C_LABEL_REPEATED) continue;
    protobuf_c_boolean v;
    memcpy(&v, (const char *)caps + f->offset, sizeof v);
    if (v) printf("%s%s", printed++ ? ", " : "", f->name);
  }
  printf("%s\n", printed ? "" : "(none)");
}

static int ping(const twe_connection_options_t *opts, int count, uint64_t timeout_ns) {
  twe_reactor_t *reactor;
  int rc = twe__reactor_create(&reactor, NULL);
  if (rc < 0) {
    fprintf(stderr, "twe ping: cannot create the io reactor: %s\n", twe_strerror(rc));
    return 1;
  }
  char err[256] = "";
  twe_grpc_channel_t *ch;
  rc = twe__grpc_channel_create(reactor, opts, &ch, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "twe ping: %s\n", err[0] ? err : twe_strerror(rc));
    twe__reactor_destroy(reactor);
    return 1;
  }
  int status = 1;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  printf("address:        %s (%s, io backend %s)\n", opts->address, opts->tls ? "TLS" : "plaintext",
         twe__io_backend_name(twe__reactor_backend(reactor)));

  Temporal__Api__Workflowservice__V1__GetSystemInfoRequest info_req =
      TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
  twe_grpc_request_t req = {
    .path = WS "GetSystemInfo",
    .request = &info_req.base,
    .response_type = &temporal__api__workflowservice__v1__get_system_info_response__descriptor,
    .arena = &arena,
    .timeout_ns = timeout_ns,
  };
  uint64_t start = now_ns();
  twe__grpc_channel_call_blocking(ch, &req);
  uint64_t first_ns = now_ns() - start;
  if (req.status.code != TWE_GRPC_OK) {
    print_failure("GetSystemInfo", &req);
    goto out;
  }
  Temporal__Api__Workflowservice__V1__GetSystemInfoResponse *info = (void *)req.response;
  printf("server version: %s\n", info->server_version[0] ? info->server_version : "(not reported)");
  if (info->capabilities) print_capabilities(&info->capabilities->base);
  printf("connect + first call: %.2f ms\n", (double)first_ns / 1e6);

  Temporal__Api__Workflowservice__V1__DescribeNamespaceRequest ns_req =
      TEMPORAL__API__WORKFLOWSERVICE__V1__DESCRIBE_NAMESPACE_REQUEST__INIT;
  ns_req.namespace_ = (char *)opts->namespace_name;
  twe_grpc_request_t nreq = {
    .path = WS "DescribeNamespace",
    .request = &ns_req.base,
    .response_type = &temporal__api__workflowservice__v1__describe_namespace_response__descriptor,
    .arena = &arena,
    .namespaced = true,
    .timeout_ns = timeout_ns,
  };
  twe__grpc_channel_call_blocking(ch, &nreq);
  if (nreq.status.code != TWE_GRPC_OK) {
    print_failure("DescribeNamespace", &nreq);
    goto out;
  }
  Temporal__Api__Workflowservice__V1__DescribeNamespaceResponse *ns = (void *)nreq.response;
  const ProtobufCEnumValue *state = protobuf_c_enum_descriptor_get_value(
      &temporal__api__enums__v1__namespace_state__descriptor, ns->namespace_info->state);
  printf("namespace:      %s (%s)\n", ns->namespace_info->name, state ? state->name : "?");

  uint64_t *rtt = calloc((size_t)count, sizeof *rtt);
  for (int i = 0; rtt && i < count; i++) {
    twe__arena_reset(&arena);
    req.arena = &arena;
    start = now_ns();
    twe__grpc_channel_call_blocking(ch, &req);
    rtt[i] = now_ns() - start;
    if (req.status.code != TWE_GRPC_OK) {
      print_failure("GetSystemInfo", &req);
      free(rtt);
      goto out;
    }
  }
  if (rtt && count > 0) {
    qsort(rtt, (size_t)count, sizeof *rtt, compare_u64);
    printf("round trip:     min %.3f ms, median %.3f ms, max %.3f ms (%d GetSystemInfo calls)\n",
           (double)rtt[0] / 1e6, (double)rtt[count / 2] / 1e6, (double)rtt[count - 1] / 1e6, count);
  }
  free(rtt);
  status = 0;

out:
  twe__grpc_channel_destroy(ch);
  twe__reactor_destroy(reactor);
  twe__arena_destroy(&arena);
  return status;
}

static int usage(void) {
  fprintf(stderr,
          "usage: twe ping [--address host:port] [--namespace ns] [--count n] [--timeout s]\n"
          "  Connection settings come from the temporal.toml profile (TEMPORAL_PROFILE,\n"
          "  TEMPORAL_CONFIG_FILE), then TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,\n"
          "  TEMPORAL_API_KEY, TEMPORAL_TLS*, overridden by the flags.\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "ping") != 0) return usage();
  twe_connection_options_t opts;
  twe_connection_config_t *config = NULL; /* kept to the end: opts points into it */
  char err[256];
  if (twe_connection_options_load(&opts, &config, err, sizeof err) < 0) {
    fprintf(stderr, "twe: %s\n", err);
    return 1;
  }
  int count = 5;
  double timeout_s = 10;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--address") && i + 1 < argc)
      opts.address = argv[++i];
    else if (!strcmp(argv[i], "--namespace") && i + 1 < argc)
      opts.namespace_name = argv[++i];
    else if (!strcmp(argv[i], "--count") && i + 1 < argc)
      count = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
      timeout_s = atof(argv[++i]);
    else
      return usage();
  }
  if (timeout_s <= 0) timeout_s = 10;
  int rc = ping(&opts, count < 0 ? 0 : count, (uint64_t)(timeout_s * 1e9));
  twe_connection_config_free(config);
  return rc;
}
