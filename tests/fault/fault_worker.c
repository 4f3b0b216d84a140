/* tests/fault/fault_worker.c — the twe worker of the fault suite
 * (tests/fault/test_*.sh): one workflow and one activity, built to be
 * counted while servers, workers and the network fail under it.
 *
 *   fault_worker --task-queue Q [--activity-threads N]
 *
 * Workflow Steps {"n": N, "tag": T, "ms": M}: runs the activity Step N
 * times in sequence (i = 0 .. N-1; start-to-close 10 s, retried after
 * 100 ms, doubling up to 1 s, without limit) and returns
 * {"tag": T, "sum": N(N+1)/2}, the sum of what the steps returned.
 *
 * Activity Step {"i": i, "ms": M}: appends "<workflow_id> <i> <attempt>
 * <pid> start\n" to the file FAULT_STEP_LOG names, sleeps M ms (so that
 * activities are in flight when a fault hits), appends the same line with
 * "done" and returns i + 1. The file is opened O_APPEND and each line is
 * one write, so several worker processes share it and every line is
 * whole: "start" lines count executions, and those without their "done"
 * were cut short.
 *
 * Connects as every twe program does (twe_client_connect with the profile
 * and environment: TEMPORAL_ADDRESS, TWE_WAIT_FOR_SERVER,
 * TWE_KEEPALIVE_INTERVAL / _TIMEOUT ...). Prints "ready" once polling; on
 * SIGTERM or SIGINT stops gracefully, then prints one line
 * "stats {json}" with twe_worker_stats. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "twe/twe.h"

#define MS 1000000ull
#define SEC (1000 * MS)

static int g_log_fd = -1;

/* Appends "<workflow_id> <i> <attempt> <pid> <what>" to the step log. */
static int log_step(const twe_activity_info_t *info, int i, const char *what) {
  char line[512];
  int len = snprintf(line, sizeof line, "%s %d %d %ld %s\n", info->workflow_id, i,
                     (int)info->attempt, (long)getpid(), what);
  return len > 0 && len < (int)sizeof line && write(g_log_fd, line, (size_t)len) == len ? 0 : -1;
}

static void step(twe_activity_t *act, void *user) {
  (void)user;
  int i = 0, ms = 0;
  twe_error_info_t err;
  if (twe_activity_unpack_arg(act, 0, &err, "{s:i,s?i}", "i", &i, "ms", &ms) != 0) {
    twe_activity_fail(act, &err);
    return;
  }
  const twe_activity_info_t *info = twe_activity_info(act);
  /* Retryable: a line that could not be written is a lost count, and the
   * attempt must not pass for done. */
  twe_error_info_t log_failed = {.type = "StepLog", .message = "could not append to FAULT_STEP_LOG"};
  if (log_step(info, i, "start") != 0) {
    twe_activity_fail(act, &log_failed);
    return;
  }
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  twe_payload_t out;
  if (log_step(info, i, "done") != 0) {
    twe_activity_fail(act, &log_failed);
    return;
  }
  if (twe_activity_pack(act, &out, &err, "i", i + 1) != 0) {
    twe_activity_fail(act, &err);
    return;
  }
  twe_activity_complete(act, &out);
}

static void steps(twe_workflow_t *wf, void *user) {
  (void)user;
  int n = 0, ms = 0;
  const char *tag = "";
  twe_error_info_t err;
  if (twe_workflow_unpack_arg(wf, 0, &err, "{s:i,s:s,s?i}", "n", &n, "tag", &tag, "ms", &ms) !=
      0) {
    twe_workflow_fail(wf, &err);
    return;
  }
  twe_retry_policy_t rp = {.initial_interval_ns = 100 * MS, .backoff_coefficient = 2,
                           .maximum_interval_ns = SEC};
  twe_activity_options_t o = {.start_to_close_timeout_ns = 10 * SEC, .retry_policy = &rp};
  long sum = 0;
  for (int i = 0; i < n; i++) {
    twe_payload_t arg, r;
    int v = 0;
    if (twe_workflow_pack(wf, &arg, &err, "{s:i,s:i}", "i", i, "ms", ms) != 0 ||
        twe_workflow_execute_activity(wf, "Step", &o, &arg, 1, &r, &err) != 0 ||
        twe_workflow_unpack(wf, &r, &err, "i", &v) != 0) {
      twe_workflow_fail(wf, &err);
      return;
    }
    sum += v;
  }
  twe_payload_t out;
  if (twe_workflow_pack(wf, &out, &err, "{s:s,s:I}", "tag", tag, "sum", (json_int_t)sum) != 0) {
    twe_workflow_fail(wf, &err);
    return;
  }
  twe_workflow_complete(wf, &out);
}

static twe_worker_t *g_worker;
static void on_signal(int sig) {
  (void)sig;
  if (g_worker) twe_worker_stop(g_worker);
}

int main(int argc, char **argv) {
  const char *queue = NULL;
  unsigned activity_threads = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--task-queue") == 0 && i + 1 < argc) queue = argv[++i];
    else if (strcmp(argv[i], "--activity-threads") == 0 && i + 1 < argc)
      activity_threads = (unsigned)atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: %s --task-queue Q [--activity-threads N]\n", argv[0]);
      return 2;
    }
  }
  const char *log_path = getenv("FAULT_STEP_LOG");
  if (!queue || !log_path || !*log_path) {
    fprintf(stderr, "fault_worker: --task-queue and FAULT_STEP_LOG are required\n");
    return 2;
  }
  g_log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (g_log_fd < 0) {
    perror(log_path);
    return 1;
  }
  char err[512];
  twe_client_t *client;
  int rc = twe_client_connect(NULL, &client, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "fault_worker: connect: %s\n", err);
    return 1;
  }
  twe_worker_options_t o;
  twe_worker_options_init(&o);
  o.task_queue = queue;
  o.activity_threads = activity_threads;
  if ((rc = twe_worker_create(client, &o, &g_worker)) < 0 ||
      (rc = twe_worker_register_workflow(g_worker, "Steps", steps, NULL)) < 0 ||
      (rc = twe_worker_register_activity(g_worker, "Step", step, NULL)) < 0) {
    fprintf(stderr, "fault_worker: %s\n", twe_strerror(rc));
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if ((rc = twe_worker_start(g_worker)) < 0) {
    fprintf(stderr, "fault_worker: start: %s\n", twe_strerror(rc));
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  int wait_rc = twe_worker_wait(g_worker);
  twe_worker_stats_t s;
  twe_worker_stats(g_worker, &s);
  printf("stats {\"workflow_tasks_completed\":%llu,\"workflow_tasks_failed\":%llu,"
         "\"nondeterminism_errors\":%llu,\"activities_completed\":%llu,"
         "\"activities_failed\":%llu,\"activities_running\":%llu,"
         "\"connection_losses\":%llu,\"reconnects\":%llu,\"calls_failed\":%llu,"
         "\"polls_failed\":%llu}\n",
         (unsigned long long)s.workflow_tasks_completed,
         (unsigned long long)s.workflow_tasks_failed, (unsigned long long)s.nondeterminism_errors,
         (unsigned long long)s.activities_completed, (unsigned long long)s.activities_failed,
         (unsigned long long)s.activities_running, (unsigned long long)s.connection_losses,
         (unsigned long long)s.reconnects, (unsigned long long)s.calls_failed,
         (unsigned long long)s.polls_failed);
  fflush(stdout);
  twe_worker_destroy(g_worker);
  twe_client_close(client);
  close(g_log_fd);
  return wait_rc < 0 ? 1 : 0;
}
