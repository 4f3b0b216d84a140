/* tests/io/grpc_load_client.c — a test driver, not a test by itself: keeps
 * --concurrency GetSystemInfo requests in flight against TEMPORAL_ADDRESS
 * for --seconds, then waits for every one of them, and reports. Exit 0 only
 * when every request ended OK. test_grpc_restart.sh kills and restarts the
 * server underneath it. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/grpc_channel.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/twe.h"

#define SEC 1000000000ull

typedef struct slot {
  twe_grpc_request_t req;
  twe_arena_t arena;
} slot_t;

static twe_grpc_channel_t *channel;
static bool stopping; /* time is up: finished slots are not restarted */
static long started, ok, failed, live;
static Temporal__Api__Workflowservice__V1__GetSystemInfoRequest info_req =
    TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;

static void start(slot_t *s);

static void on_done(twe_grpc_request_t *req) {
  slot_t *s = req->data;
  live--;
  if (req->status.code == TWE_GRPC_OK) {
    ok++;
  } else {
    failed++;
    fprintf(stderr, "request failed after %d attempt(s): %s: %s\n", req->attempts,
            twe__grpc_code_name(req->status.code), req->status.message);
  }
  twe__arena_reset(&s->arena);
  if (!stopping) start(s);
}

static void start(slot_t *s) {
  memset(&s->req, 0, sizeof s->req);
  s->req.path = "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo";
  s->req.request = &info_req.base;
  s->req.response_type = &temporal__api__workflowservice__v1__get_system_info_response__descriptor;
  s->req.arena = &s->arena;
  s->req.timeout_ns = 60 * SEC;
  s->req.done = on_done;
  s->req.data = s;
  if (twe__grpc_channel_start(channel, &s->req) == 0) {
    started++;
    live++;
  }
}

int main(int argc, char **argv) {
  int seconds = 10, concurrency = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--seconds")) seconds = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--concurrency")) concurrency = atoi(argv[i + 1]);
  }
  twe_reactor_t *reactor;
  if (twe__reactor_create(&reactor, NULL) < 0) return 2;
  twe_connection_options_t opts;
  char err[256];
  if (twe_connection_options_from_env(&opts, err, sizeof err) < 0 ||
      twe__grpc_channel_create(reactor, &opts, &channel, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  uint64_t stop_at = twe__reactor_now(reactor) + (uint64_t)seconds * SEC;
  slot_t *slots = calloc((size_t)concurrency, sizeof *slots);
  for (int i = 0; i < concurrency; i++) {
    twe__arena_init(&slots[i].arena, 0);
    start(&slots[i]);
  }
  /* Keep the requests coming until the time is up, then let them drain. */
  while (twe__reactor_now(reactor) < stop_at) twe__reactor_run_once(reactor, 100000000);
  stopping = true;
  while (live > 0) twe__reactor_run_once(reactor, -1);
  twe_grpc_channel_stats_t st;
  twe__grpc_channel_stats(channel, &st);
  printf("requests: %ld started, %ld OK, %ld failed; retries %llu; connections: %llu started, "
         "%llu succeeded, %llu failed; last error: %s\n",
         started, ok, failed, (unsigned long long)st.retries,
         (unsigned long long)st.connects_started, (unsigned long long)st.connects_succeeded,
         (unsigned long long)st.connects_failed, st.last_error[0] ? st.last_error : "(none)");
  twe__grpc_channel_destroy(channel);
  twe__reactor_destroy(reactor);
  for (int i = 0; i < concurrency; i++) twe__arena_destroy(&slots[i].arena);
  free(slots);
  return failed == 0 && ok > 0 ? 0 : 1;
}
