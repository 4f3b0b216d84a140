/* bench/grpc_bench.c — GetSystemInfo against TEMPORAL_ADDRESS on ONE
 * connection, with N requests kept in flight: calls per second, p50/p99
 * latency, and the client's CPU time per call (user + system, from
 * getrusage, divided by calls).
 *
 *   grpc_bench [--seconds S] [--concurrency N]...   (several N: one row each)
 *
 * bench/run_grpc_bench.sh starts a dev server and prints the table. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "io/grpc_channel.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/twe.h"

#define SEC 1000000000ull

typedef struct slot {
  twe_grpc_request_t req;
  twe_arena_t arena;
  uint64_t started_ns;
} slot_t;

static twe_reactor_t *reactor;
static twe_grpc_channel_t *channel;
static bool stopping;
static long live, failed;
static uint64_t *latencies;
static size_t n_latencies, cap_latencies;
static Temporal__Api__Workflowservice__V1__GetSystemInfoRequest info_req =
    TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;

static void start(slot_t *s);

static void on_done(twe_grpc_request_t *req) {
  slot_t *s = req->data;
  live--;
  /* Latency from start to callback, on the loop's clock: refresh it, the
   * cached one is per iteration. */
  twe__reactor_update_time(reactor);
  if (req->status.code != TWE_GRPC_OK) {
    failed++;
  } else if (!stopping) {
    if (n_latencies == cap_latencies) {
      cap_latencies = cap_latencies ? cap_latencies * 2 : 65536;
      latencies = realloc(latencies, cap_latencies * sizeof *latencies);
    }
    latencies[n_latencies++] = twe__reactor_now(reactor) - s->started_ns;
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
  s->req.done = on_done;
  s->req.data = s;
  s->started_ns = twe__reactor_now(reactor);
  if (twe__grpc_channel_start(channel, &s->req) == 0) live++;
}

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void run(int concurrency, double seconds) {
  slot_t *slots = calloc((size_t)concurrency, sizeof *slots);
  for (int i = 0; i < concurrency; i++) twe__arena_init(&slots[i].arena, 0);
  /* Warm-up: connect and let the server settle, not measured. */
  stopping = false;
  n_latencies = 0;
  for (int i = 0; i < concurrency; i++) start(&slots[i]);
  uint64_t t0 = twe__reactor_now(reactor);
  while (twe__reactor_now(reactor) < t0 + SEC / 2) twe__reactor_run_once(reactor, SEC / 10);
  n_latencies = 0;
  double cpu0 = cpu_seconds();
  twe__reactor_update_time(reactor);
  uint64_t start_ns = twe__reactor_now(reactor);
  uint64_t end_ns = start_ns + (uint64_t)(seconds * 1e9);
  while (twe__reactor_now(reactor) < end_ns) twe__reactor_run_once(reactor, SEC / 10);
  size_t calls = n_latencies;
  double cpu = cpu_seconds() - cpu0;
  double elapsed = (double)(twe__reactor_now(reactor) - start_ns) / 1e9;
  stopping = true;
  while (live > 0) twe__reactor_run_once(reactor, -1);
  qsort(latencies, calls, sizeof *latencies, compare_u64);
  printf("| %11d | %9.0f | %8.3f | %8.3f | %12.1f | %6ld |\n", concurrency, (double)calls / elapsed,
         calls ? (double)latencies[calls / 2] / 1e6 : 0,
         calls ? (double)latencies[calls * 99 / 100] / 1e6 : 0, calls ? cpu * 1e6 / (double)calls : 0,
         failed);
  fflush(stdout);
  for (int i = 0; i < concurrency; i++) twe__arena_destroy(&slots[i].arena);
  free(slots);
}

int main(int argc, char **argv) {
  double seconds = 5;
  int concurrency[16], n_conc = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
    if (!strcmp(argv[i], "--concurrency") && n_conc < 16) concurrency[n_conc++] = atoi(argv[i + 1]);
  }
  if (n_conc == 0) concurrency[n_conc++] = 1;
  if (twe__reactor_create(&reactor, NULL) < 0) return 1;
  twe_connection_options_t opts;
  char err[256];
  if (twe_connection_options_from_env(&opts, err, sizeof err) < 0 ||
      twe__grpc_channel_create(reactor, &opts, &channel, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  printf("GetSystemInfo on one connection to %s, io backend %s, %.0f s per row\n\n", opts.address,
         twe__io_backend_name(twe__reactor_backend(reactor)), seconds);
  printf("| in flight   | calls/s   | p50 ms   | p99 ms   | CPU us/call  | failed |\n");
  printf("|-------------|-----------|----------|----------|--------------|--------|\n");
  for (int i = 0; i < n_conc; i++) run(concurrency[i], seconds);
  twe_grpc_channel_stats_t st;
  twe__grpc_channel_stats(channel, &st);
  printf("\nconnections opened: %llu, retried attempts: %llu\n", (unsigned long long)st.connects_succeeded,
         (unsigned long long)st.retries);
  twe__grpc_channel_destroy(channel);
  twe__reactor_destroy(reactor);
  free(latencies);
  return failed ? 1 : 0;
}
