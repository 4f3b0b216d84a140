/* examples/system_patch/worker.c — the workshop's worker
 * (temporal_worker.py): every stage's workflows and the activities on one
 * task queue, with the worker's options as flags (exercise 8 tunes them).
 *
 *   system_patch_worker [--task-queue Q] [--cache N] [--activity-threads N]
 *       [--metrics ADDR] [--work-ms N] [--hosts-per-cluster N]
 *       [--update-steps N] [--update-step-ms N] [--slow-update]
 *       [--fail-host H] [--timeout-host H]
 *
 * Prints "ready" on stdout once it polls, and "metrics port N" when the
 * metrics endpoint is on (by default on a free loopback port; --metrics
 * off turns it off). Connection settings come from the TEMPORAL_*
 * environment variables and temporal.toml profiles, as for the CLI; a
 * server that is not up yet is waited for (TWE_WAIT_FOR_SERVER=0: fail at
 * once). */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "system_patch.h"

static twe_worker_t *g_worker;
static void on_signal(int sig) {
  (void)sig;
  if (g_worker) twe_worker_stop(g_worker);
}

static int usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [--task-queue Q] [--cache N] [--activity-threads N] [--metrics ADDR|off]\n"
          "          [--work-ms N] [--hosts-per-cluster N] [--update-steps N]\n"
          "          [--update-step-ms N] [--slow-update] [--fail-host H] [--timeout-host H]\n",
          prog);
  return 2;
}

int main(int argc, char **argv) {
  const char *task_queue = "system-patch", *metrics = NULL;
  long cache = -1;
  unsigned activity_threads = 0;
  static sp_activity_config_t cfg = {.work_ms = 200,
                                     .hosts_per_cluster = 3,
                                     .update_steps = 9,
                                     .update_step_ms = 1000};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--slow-update") == 0) cfg.slow_update = true;
    else if (!v) return usage(argv[0]);
    else if (strcmp(a, "--task-queue") == 0) task_queue = argv[++i];
    else if (strcmp(a, "--cache") == 0) cache = atol(argv[++i]);
    else if (strcmp(a, "--activity-threads") == 0) activity_threads = (unsigned)atoi(argv[++i]);
    else if (strcmp(a, "--metrics") == 0) metrics = argv[++i];
    else if (strcmp(a, "--work-ms") == 0) cfg.work_ms = atoi(argv[++i]);
    else if (strcmp(a, "--hosts-per-cluster") == 0) cfg.hosts_per_cluster = atoi(argv[++i]);
    else if (strcmp(a, "--update-steps") == 0) cfg.update_steps = atoi(argv[++i]);
    else if (strcmp(a, "--update-step-ms") == 0) cfg.update_step_ms = atoi(argv[++i]);
    else if (strcmp(a, "--fail-host") == 0) cfg.fail_host = argv[++i];
    else if (strcmp(a, "--timeout-host") == 0) cfg.timeout_host = argv[++i];
    else return usage(argv[0]);
  }
  char err[512];
  /* A worker may start before its server: it waits for it (saying so at
   * each attempt) unless TWE_WAIT_FOR_SERVER says otherwise. */
  twe_connection_options_t co;
  twe_connection_config_t *config = NULL;
  int rc = twe_connection_options_load(&co, &config, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "system_patch_worker: %s\n", err);
    return 1;
  }
  if (!getenv("TWE_WAIT_FOR_SERVER")) co.wait_for_server_ns = TWE_WAIT_FOREVER;
  twe_client_t *client;
  rc = twe_client_connect(&co, &client, err, sizeof err);
  twe_connection_config_free(config);
  if (rc < 0) {
    fprintf(stderr, "system_patch_worker: cannot connect: %s\n", err);
    return 1;
  }
  twe_worker_options_t opts;
  twe_worker_options_init(&opts);
  opts.task_queue = task_queue;
  opts.max_cached_workflows = cache < 0 ? TWE_CACHE_DEFAULT : cache == 0 ? TWE_CACHE_OFF : cache;
  /* Exercise 8: how many activities run at once (the workshop's
   * max_concurrent_activities). */
  opts.activity_threads = activity_threads;
  if (metrics && strcmp(metrics, "off") != 0) opts.metrics_address = metrics;
  else if (!metrics && !getenv("TWE_METRICS_ADDRESS")) opts.metrics_address = "127.0.0.1:0";
  if ((rc = twe_worker_create(client, &opts, &g_worker)) < 0 ||
      (rc = sp_register_workflows(g_worker)) < 0 ||
      (rc = sp_register_activities(g_worker, &cfg)) < 0) {
    fprintf(stderr, "system_patch_worker: %s\n", twe_strerror(rc));
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if ((rc = twe_worker_start(g_worker)) < 0) {
    fprintf(stderr, "system_patch_worker: cannot start the worker: %s\n", twe_strerror(rc));
    return 1;
  }
  int port = twe_worker_metrics_port(g_worker);
  if (port > 0) printf("metrics port %d\n", port);
  printf("ready\n");
  fflush(stdout);
  fprintf(stderr, "system_patch_worker: running on task queue \"%s\"; Ctrl-C stops it\n",
          task_queue);
  if ((rc = twe_worker_wait(g_worker)) == TWE_ESTUCK) return 3;
  twe_worker_stats_t st;
  twe_worker_stats(g_worker, &st);
  fprintf(stderr,
          "system_patch_worker: stopped: %llu workflow tasks (%llu failed), %llu activities "
          "(%llu failed)\n",
          (unsigned long long)st.workflow_tasks_completed,
          (unsigned long long)st.workflow_tasks_failed,
          (unsigned long long)st.activities_completed, (unsigned long long)st.activities_failed);
  twe_worker_destroy(g_worker);
  twe_client_close(client);
  return 0;
}
