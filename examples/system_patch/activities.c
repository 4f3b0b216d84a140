/* examples/system_patch/activities.c — the patching procedure's activities,
 * under the workshop's names. Each simulates its work with a short sleep
 * (cfg->work_ms) on an activity thread, where blocking is fine. Three
 * behave as the exercises need:
 *   - check_service_health_activity fails its first attempt for host
 *     "cluster1_host1" (exercise 1: Attempts and LastFailure in the UI);
 *   - perform_update_activity works in steps with a heartbeat each, and a
 *     retry resumes from the last heartbeat's step (exercise 3), or with
 *     --slow-update outlasts its 10 s start-to-close;
 *   - check_host_preconditions_activity fails for the --fail-host host
 *     (non-retryable) or times out for the --timeout-host host
 *     (exercises 6-7). */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "system_patch.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Sleeps ms in slices, looking for a cancellation between them (one that
 * a heartbeat's answer brought, or the worker stopping); returns false
 * when the activity was cancelled. */
static bool work(twe_activity_t *act, int ms) {
  for (int left = ms; left > 0; left -= 50) {
    sleep_ms(left < 50 ? left : 50);
    if (twe_activity_cancelled(act)) return false;
  }
  return true;
}

static void cancelled(twe_activity_t *act) {
  twe_error_info_t e = {.type = "CanceledError", .message = "the activity was cancelled"};
  twe_activity_fail(act, &e);
}

/* The hostname field of an input that has one ("" when absent). */
static const char *hostname(twe_activity_t *act) {
  const char *h = "";
  twe_activity_unpack_arg(act, 0, NULL, "{s?s}", "hostname", &h);
  return h;
}

/* Every step without a result of its own: work, then null. */
static void simple_step(twe_activity_t *act, void *user) {
  const sp_activity_config_t *cfg = user;
  if (!work(act, cfg->work_ms)) cancelled(act);
}

/* VaultClientActivityInput {vaultAddress} -> VaultResponse {address, token}. */
static void vault_client(twe_activity_t *act, void *user) {
  const sp_activity_config_t *cfg = user;
  const char *address = "https://vault.example.com:8200";
  twe_error_info_t e;
  if (twe_activity_unpack_arg(act, 0, &e, "{s?s}", "vaultAddress", &address) < 0) {
    twe_activity_fail(act, &e);
    return;
  }
  if (!work(act, cfg->work_ms)) {
    cancelled(act);
    return;
  }
  twe_payload_t r;
  if (twe_activity_pack(act, &r, &e, "{s:s s:s}", "address", address, "token",
                        "s.simulated-token") < 0)
    twe_activity_fail(act, &e);
  else
    twe_activity_complete(act, &r);
}

/* GetClusterHostsActivityInput {targetCluster} ->
 * GetClusterHostsActivityOutput {hostnames}: "<cluster>_host1" ... */
static void get_cluster_hosts(twe_activity_t *act, void *user) {
  const sp_activity_config_t *cfg = user;
  const char *cluster = "default-cluster";
  twe_error_info_t e;
  if (twe_activity_unpack_arg(act, 0, &e, "{s?s}", "targetCluster", &cluster) < 0) {
    twe_activity_fail(act, &e);
    return;
  }
  if (!work(act, cfg->work_ms)) {
    cancelled(act);
    return;
  }
  json_t *hosts = json_array();
  for (int i = 1; i <= cfg->hosts_per_cluster; i++) {
    char name[256];
    snprintf(name, sizeof name, "%s_host%d", cluster, i);
    json_array_append_new(hosts, json_string(name));
  }
  twe_payload_t r;
  if (twe_activity_pack(act, &r, &e, "{s:o}", "hostnames", hosts) < 0)
    twe_activity_fail(act, &e);
  else
    twe_activity_complete(act, &r);
}

/* CheckHostPreconditionsActivityInput {hostname} ->
 * CheckHostPreconditionsActivityOutput {preconditionsMet, sshPrivateKey}. */
static void check_host_preconditions(twe_activity_t *act, void *user) {
  const sp_activity_config_t *cfg = user;
  const char *host = hostname(act);
  twe_error_info_t e;
  if (cfg->fail_host && strcmp(host, cfg->fail_host) == 0) {
    if (!work(act, cfg->work_ms)) {
      cancelled(act);
      return;
    }
    e = (twe_error_info_t){.type = "PreconditionsFailed",
                           .message = "host preconditions cannot be met",
                           .non_retryable = true};
    twe_activity_fail(act, &e);
    return;
  }
  if (cfg->timeout_host && strcmp(host, cfg->timeout_host) == 0) {
    /* Past the 5 s start-to-close: the server times the attempt out. */
    fprintf(stderr, "system_patch: check_host_preconditions_activity: %s hangs (attempt %d)\n",
            host, twe_activity_info(act)->attempt);
    if (!work(act, 6000)) {
      cancelled(act);
      return;
    }
  }
  if (!work(act, cfg->work_ms)) {
    cancelled(act);
    return;
  }
  twe_payload_t r;
  if (twe_activity_pack(act, &r, &e, "{s:b s:s}", "preconditionsMet", 1, "sshPrivateKey",
                        "simulated-key") < 0)
    twe_activity_fail(act, &e);
  else
    twe_activity_complete(act, &r);
}

/* PerformUpdateActivityInput {hostname, updateCommand}: update_steps
 * steps, a heartbeat with the step done after each; a retry starts after
 * the last step a heartbeat recorded. Result: {hostname, steps,
 * resumedFrom} (resumedFrom 0: from the start). */
static void perform_update(twe_activity_t *act, void *user) {
  const sp_activity_config_t *cfg = user;
  const char *host = hostname(act);
  const twe_activity_info_t *info = twe_activity_info(act);
  fprintf(stderr, "system_patch: ***Starting perform_update_activity*** host %s attempt %d\n",
          host, info->attempt);
  twe_error_info_t e;
  if (cfg->slow_update) {
    if (!work(act, 12000)) {
      cancelled(act);
      return;
    }
  }
  int from = 0;
  twe_payload_t d;
  if (twe_activity_heartbeat_details_count(act) > 0 &&
      twe_activity_heartbeat_details(act, 0, &d) == 0 &&
      twe_activity_unpack(act, &d, NULL, "i", &from) == 0 && from > 0)
    fprintf(stderr, "system_patch: perform_update_activity: host %s resumes after step %d\n",
            host, from);
  for (int step = from + 1; step <= cfg->update_steps; step++) {
    if (!work(act, cfg->update_step_ms)) {
      cancelled(act);
      return;
    }
    twe_payload_t p;
    if (twe_activity_pack(act, &p, &e, "i", step) < 0) {
      twe_activity_fail(act, &e);
      return;
    }
    if (twe_activity_heartbeat(act, &p, 1) == TWE_ECANCELED_ACTIVITY) {
      cancelled(act);
      return;
    }
  }
  twe_payload_t r;
  if (twe_activity_pack(act, &r, &e, "{s:s s:i s:i}", "hostname", host, "steps",
                        cfg->update_steps, "resumedFrom", from) < 0)
    twe_activity_fail(act, &e);
  else
    twe_activity_complete(act, &r);
}

/* CheckServiceHealthActivityInput {hostname, serviceList} -> true; the
 * first attempt for cluster1_host1 fails. */
static void check_service_health(twe_activity_t *act, void *user) {
  const sp_activity_config_t *cfg = user;
  const char *host = hostname(act);
  if (!work(act, cfg->work_ms)) {
    cancelled(act);
    return;
  }
  if (strcmp(host, "cluster1_host1") == 0 && twe_activity_info(act)->attempt == 1) {
    twe_error_info_t e = {.type = "HealthCheckFailed",
                          .message = "service health check failed on cluster1_host1"};
    twe_activity_fail(act, &e);
    return;
  }
  twe_payload_t r = twe_payload_json("true");
  twe_activity_complete(act, &r);
}

int sp_register_activities(twe_worker_t *w, const sp_activity_config_t *cfg) {
  static const char *const simple[] = {
      "send_approval_request_activity",   "send_failure_alert_activity",
      "run_pre_downtime_scripts_activity", "set_maintenance_mode_activity",
      "stop_services_activity",            "wait_for_workload_drain_activity",
      "run_pre_update_scripts_activity",   "start_services_activity",
      "run_post_update_scripts_activity",  "send_success_notification_activity",
      "send_final_success_notification_activity",
  };
  void *u = (void *)cfg;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof simple / sizeof simple[0]; i++)
    rc = twe_worker_register_activity(w, simple[i], simple_step, u);
  if (rc == 0) rc = twe_worker_register_activity(w, "vault_client_activity", vault_client, u);
  if (rc == 0)
    rc = twe_worker_register_activity(w, "get_cluster_hosts_activity", get_cluster_hosts, u);
  if (rc == 0)
    rc = twe_worker_register_activity(w, "check_host_preconditions_activity",
                                      check_host_preconditions, u);
  if (rc == 0) rc = twe_worker_register_activity(w, "perform_update_activity", perform_update, u);
  if (rc == 0)
    rc = twe_worker_register_activity(w, "check_service_health_activity", check_service_health,
                                      u);
  return rc;
}
