/* examples/system_patch/workflow.c — the workshop's workflow at each of
 * its stages, SystemPatchWorkflow_V1 .. _V7: V1 is the starting point and
 * V(n+1) the solution of exercise n.
 *
 * One function serves every stage, each registered with its stage_t: the
 * exercises build on each other, so each one's change is an `if
 * (st->...)` at the place it applies, and reading the function top to
 * bottom shows where every exercise changed the procedure (seven copies
 * would hide the differences in the repetition). The children of V6 and
 * V7 (a cluster's and a host's workflow) are workflow types of their own,
 * as in the workshop.
 *
 *   V1  every step an activity, clusters and hosts one after the other
 *   V2  exercise 1: the approval request, then wait (5 s at most) for
 *       approval by the signal approve_request or the update
 *       approve_request_update; no approval fails the workflow
 *   V3  exercise 2: the completed steps, answered by the query
 *       get_completed_steps
 *   V4  exercise 3: perform_update_activity heartbeats (2 s heartbeat
 *       timeout) and resumes from its last heartbeat when retried
 *   V5  exercise 4: the clusters, and the hosts of each, in parallel
 *       (twe_workflow_go)
 *   V6  exercise 5: a child workflow per cluster and one per host
 *   V7  exercises 6-7: a host's failure cancels the other hosts of its
 *       cluster; the cluster fails with that host's failure as its cause
 *
 * Memory: what the run keeps across waits (its state, the completed steps,
 * the unpacked input) is the run's (twe_workflow_alloc, documents
 * unpacked by twe_workflow_unpack*): nothing to free, nothing leaked when
 * the run is evicted. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "system_patch.h"

#define SEC 1000000000ull

typedef struct stage {
  int version;
  bool approval, progress, heartbeats, parallel, children, cancel_siblings;
  const char *cluster_type, *host_type; /* the children's (V6, V7) */
} stage_t;

static const stage_t stages[7] = {
    {1, false, false, false, false, false, false, NULL, NULL},
    {2, true, false, false, false, false, false, NULL, NULL},
    {3, true, true, false, false, false, false, NULL, NULL},
    {4, true, true, true, false, false, false, NULL, NULL},
    {5, true, true, true, true, false, false, NULL, NULL},
    {6, true, true, true, true, true, false, "SystemPatchWorkflow_Cluster_V6",
     "SystemPatchWorkflow_Host_V6"},
    {7, true, true, true, true, true, true, "SystemPatchWorkflow_Cluster_V7",
     "SystemPatchWorkflow_Host_V7"},
};

/* A run's state (the run's memory). */
typedef struct patch {
  const stage_t *st;
  sp_input_t in;
  bool approved;
  const char **steps; /* completed steps, for get_completed_steps */
  size_t n_steps, cap_steps;
} patch_t;

/* --- helpers ---------------------------------------------------------------------------- */

static const twe_retry_policy_t three_attempts = {.maximum_attempts = 3};
/* check_service_health_activity's: up to 10 attempts, 1 s apart. */
static const twe_retry_policy_t health_retries = {
    .maximum_attempts = 10, .initial_interval_ns = 1 * SEC, .backoff_coefficient = 1.0};

static twe_activity_options_t opts(uint64_t start_to_close_s, const twe_retry_policy_t *rp) {
  return (twe_activity_options_t){.start_to_close_timeout_ns = start_to_close_s * SEC,
                                  .retry_policy = rp};
}

/* Notes a completed step (V3 on: the query reads them). */
static void step_done(twe_workflow_t *wf, patch_t *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void step_done(twe_workflow_t *wf, patch_t *p, const char *fmt, ...) {
  if (!p || !p->st->progress) return;
  char buf[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (p->n_steps == p->cap_steps) {
    size_t cap = p->cap_steps ? p->cap_steps * 2 : 16;
    const char **grown = twe_workflow_alloc(wf, cap * sizeof *grown);
    if (!grown) return;
    if (p->n_steps) memcpy(grown, p->steps, p->n_steps * sizeof *grown);
    p->steps = grown;
    p->cap_steps = cap;
  }
  char *copy = twe_workflow_alloc(wf, strlen(buf) + 1);
  if (!copy) return;
  strcpy(copy, buf);
  p->steps[p->n_steps++] = copy;
}

/* Runs activity type with one argument packed from fmt; its result in
 * *result (may be NULL). Returns 0 or TWE_EFAILED (or a start error) with
 * *err set. */
static int run_activity(twe_workflow_t *wf, const char *type, const twe_activity_options_t *o,
                        twe_payload_t *result, twe_error_info_t *err, const char *fmt, ...) {
  twe_payload_t arg;
  va_list ap;
  va_start(ap, fmt);
  json_error_t je;
  json_t *j = json_vpack_ex(&je, 0, fmt, ap);
  va_end(ap);
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!text) {
    *err = (twe_error_info_t){.type = "BadInput", .message = "cannot build an activity input"};
    return TWE_EFAILED;
  }
  /* The payload is copied by the start: the text can go at once. */
  arg = twe_payload_json(text);
  int rc = twe_workflow_execute_activity(wf, type, o, &arg, 1, result, err);
  free(text);
  if (rc < 0 && rc != TWE_EFAILED) {
    *err = (twe_error_info_t){.type = "StartFailed", .message = twe_strerror(rc)};
    return TWE_EFAILED;
  }
  return rc;
}

static bool cancelled_error(const twe_error_info_t *e) {
  return e->type && strcmp(e->type, "CanceledError") == 0;
}

/* --- one host ------------------------------------------------------------------------ */

/* The patching procedure on one host. p: the run's state when the host is
 * patched inside the main workflow (NULL in a host child). Returns 0, or
 * TWE_EFAILED with *err: a step failed (after the failure alert), or the
 * host's work was cancelled (CanceledError, no alert). */
static int patch_host(twe_workflow_t *wf, patch_t *p, const stage_t *st, const char *host,
                      const char *update_command, json_t *services, const char *requester,
                      twe_error_info_t *err) {
  twe_workflow_log(wf, TWE_LOG_DEBUG, "processing host %s", host);
  twe_activity_options_t five = opts(5, &three_attempts);
  twe_payload_t r;
  int rc = run_activity(wf, "check_host_preconditions_activity", &five, &r, err, "{s:s}",
                        "hostname", host);
  int met = 0;
  if (rc == 0 && twe_workflow_unpack(wf, &r, err, "{s?b}", "preconditionsMet", &met) < 0)
    rc = TWE_EFAILED;
  if (rc == 0 && !met) {
    twe_error_info_t ignored;
    run_activity(wf, "send_failure_alert_activity", &five, NULL, &ignored, "{s:s s:s s:s}",
                 "hostname", host, "failureDetails", "preconditions not met", "requesterEmail",
                 requester);
    return 0;
  }
  static const char *const before[] = {
      "run_pre_downtime_scripts_activity", "set_maintenance_mode_activity",
      "stop_services_activity", "wait_for_workload_drain_activity",
      "run_pre_update_scripts_activity"};
  for (size_t i = 0; rc == 0 && i < sizeof before / sizeof before[0]; i++) {
    rc = run_activity(wf, before[i], &five, NULL, err, "{s:s}", "hostname", host);
  }
  if (rc == 0) {
    /* Exercise 3: the long step heartbeats from V4 on; a worker that dies
     * under it is noticed within 2 s, and the retry resumes. */
    twe_activity_options_t update = opts(10, &three_attempts);
    if (st->heartbeats) update.heartbeat_timeout_ns = 2 * SEC;
    rc = run_activity(wf, "perform_update_activity", &update, NULL, err, "{s:s s:s}", "hostname",
                      host, "updateCommand", update_command);
  }
  static const char *const after[] = {"start_services_activity",
                                      "run_post_update_scripts_activity"};
  for (size_t i = 0; rc == 0 && i < sizeof after / sizeof after[0]; i++) {
    rc = run_activity(wf, after[i], &five, NULL, err, "{s:s}", "hostname", host);
  }
  if (rc == 0) {
    twe_activity_options_t health = opts(5, &health_retries);
    rc = run_activity(wf, "check_service_health_activity", &health, NULL, err, "{s:s s:o}",
                      "hostname", host, "serviceList",
                      services ? json_incref(services) : json_array());
  }
  if (rc != 0) {
    if (cancelled_error(err) || twe_workflow_cancel_requested(wf)) return TWE_EFAILED;
    /* A step failed: alert, and the host fails with that step's error. */
    twe_error_info_t ignored;
    run_activity(wf, "send_failure_alert_activity", &five, NULL, &ignored, "{s:s s:s s:s}",
                 "hostname", host, "failureDetails", err->message ? err->message : "",
                 "requesterEmail", requester);
    return TWE_EFAILED;
  }
  /* The success notice is best effort: its failure is not the host's. */
  twe_error_info_t ignored;
  run_activity(wf, "send_success_notification_activity", &five, NULL, &ignored, "{s:s s:s}",
               "hostname", host, "requesterEmail", requester);
  step_done(wf, p, "host %s patched", host);
  return 0;
}

/* --- hosts on coroutines (V5) --------------------------------------------------------- */

typedef struct host_job {
  patch_t *p;
  const char *host;
} host_job_t;

static int host_coroutine(twe_workflow_t *wf, void *arg, twe_payload_t *result,
                          twe_error_info_t *err) {
  (void)result;
  host_job_t *j = arg;
  return patch_host(wf, j->p, j->p->st, j->host, j->p->in.updateCommand, j->p->in.serviceList,
                    j->p->in.requesterEmail, err);
}

/* Patches hosts[from, to): in parallel from V5 on, else one by one. The
 * first failure is returned (after every host ended). */
static int patch_hosts(twe_workflow_t *wf, patch_t *p, json_t *hosts, size_t from, size_t to,
                       twe_error_info_t *err) {
  if (from >= to) return 0;
  if (!p->st->parallel) {
    for (size_t i = from; i < to; i++)
      if (patch_host(wf, p, p->st, json_string_value(json_array_get(hosts, i)),
                     p->in.updateCommand, p->in.serviceList, p->in.requesterEmail, err) != 0)
        return TWE_EFAILED;
    return 0;
  }
  size_t n = to - from;
  twe_future_t **fs = twe_workflow_alloc(wf, n * sizeof *fs);
  host_job_t *jobs = twe_workflow_alloc(wf, n * sizeof *jobs);
  if (!fs || !jobs) {
    *err = (twe_error_info_t){.type = "OutOfMemory", .message = "out of memory"};
    return TWE_EFAILED;
  }
  for (size_t i = 0; i < n; i++) {
    jobs[i] = (host_job_t){p, json_string_value(json_array_get(hosts, from + i))};
    if (twe_workflow_go(wf, jobs[i].host, host_coroutine, &jobs[i], &fs[i]) < 0) {
      *err = (twe_error_info_t){.type = "StartFailed", .message = "cannot start a coroutine"};
      return TWE_EFAILED;
    }
  }
  if (twe_future_wait_all(wf, fs, n) == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (twe_future_error(fs[i], err) == 0) return TWE_EFAILED;
  return TWE_EFAILED;
}

/* The hosts of a cluster: get_cluster_hosts_activity, then the pilot hosts,
 * then the others. On success *hosts is the list. */
static int cluster_hosts(twe_workflow_t *wf, const char *cluster, json_t **hosts,
                         twe_error_info_t *err) {
  twe_activity_options_t two = opts(2, &three_attempts);
  twe_payload_t r;
  if (run_activity(wf, "get_cluster_hosts_activity", &two, &r, err, "{s:s}", "targetCluster",
                   cluster) != 0)
    return TWE_EFAILED;
  *hosts = NULL;
  if (twe_workflow_unpack(wf, &r, err, "{s:o}", "hostnames", hosts) < 0 ||
      !sp_string_array(*hosts)) {
    *err = (twe_error_info_t){.type = "BadOutput",
                              .message = "get_cluster_hosts_activity: hostnames is not a list"};
    return TWE_EFAILED;
  }
  return 0;
}

static int patch_cluster(twe_workflow_t *wf, patch_t *p, const char *cluster,
                         twe_error_info_t *err) {
  json_t *hosts;
  if (cluster_hosts(wf, cluster, &hosts, err) != 0) return TWE_EFAILED;
  size_t n = json_array_size(hosts);
  size_t pilots = (size_t)p->in.pilotHostCount < n ? (size_t)p->in.pilotHostCount : n;
  twe_workflow_log(wf, TWE_LOG_INFO, "cluster %s: %zu host(s), %zu pilot(s)", cluster, n, pilots);
  if (patch_hosts(wf, p, hosts, 0, pilots, err) != 0) return TWE_EFAILED;
  return patch_hosts(wf, p, hosts, pilots, n, err);
}

typedef struct cluster_job {
  patch_t *p;
  const char *cluster;
} cluster_job_t;

static int cluster_coroutine(twe_workflow_t *wf, void *arg, twe_payload_t *result,
                             twe_error_info_t *err) {
  (void)result;
  cluster_job_t *j = arg;
  int rc = patch_cluster(wf, j->p, j->cluster, err);
  if (rc == 0) step_done(wf, j->p, "cluster %s patched", j->cluster);
  return rc;
}

/* --- children (V6, V7) ----------------------------------------------------------------- */

/* Starts a child of type with input json (taken), id "<parent id>/<what>". */
static int start_child(twe_workflow_t *wf, const char *type, const char *what, json_t *input,
                       twe_future_t **result, twe_error_info_t *err) {
  char id[512];
  snprintf(id, sizeof id, "%s/%s", twe_workflow_info(wf)->workflow_id, what);
  char *text = json_dumps(input, JSON_COMPACT);
  json_decref(input);
  twe_child_options_t o = {.workflow_id = id};
  twe_payload_t arg = twe_payload_json(text ? text : "{}");
  int rc = twe_workflow_start_child(wf, type, &o, &arg, 1, NULL, result);
  free(text);
  if (rc < 0) {
    *err = (twe_error_info_t){.type = "StartFailed", .message = twe_strerror(rc)};
    return TWE_EFAILED;
  }
  return 0;
}

/* The clusters as children, all at once; the first failure is returned
 * once every child ended. */
static int clusters_as_children(twe_workflow_t *wf, patch_t *p, twe_error_info_t *err) {
  size_t n = json_array_size(p->in.targetClusters);
  if (!n) return 0;
  twe_future_t **fs = twe_workflow_alloc(wf, n * sizeof *fs);
  if (!fs) {
    *err = (twe_error_info_t){.type = "OutOfMemory", .message = "out of memory"};
    return TWE_EFAILED;
  }
  for (size_t i = 0; i < n; i++) {
    const char *c = json_string_value(json_array_get(p->in.targetClusters, i));
    char what[300];
    snprintf(what, sizeof what, "cluster:%s", c);
    if (start_child(wf, p->st->cluster_type, what,
                    json_pack("{s:s s:i}", "targetCluster", c, "pilotHostCount",
                              p->in.pilotHostCount),
                    &fs[i], err) != 0)
      return TWE_EFAILED;
  }
  int rc = twe_future_wait_all(wf, fs, n);
  for (size_t i = 0; i < n; i++) {
    const char *c = json_string_value(json_array_get(p->in.targetClusters, i));
    twe_error_info_t e;
    if (twe_future_error(fs[i], &e) == 0) {
      if (rc == TWE_EFAILED && !err->type) *err = e;
    } else {
      step_done(wf, p, "cluster %s patched", c);
    }
  }
  return rc == 0 ? 0 : TWE_EFAILED;
}

/* --- the workflow --------------------------------------------------------------------- */

static void on_approve_signal(twe_workflow_t *wf, const twe_signal_t *sig, void *user) {
  (void)sig;
  patch_t *p = user;
  p->approved = true;
  twe_workflow_log(wf, TWE_LOG_INFO, "approved by signal");
}

static int validate_approve(twe_workflow_t *wf, const twe_update_t *u, void *user,
                            twe_error_info_t *err) {
  (void)wf, (void)u;
  patch_t *p = user;
  if (p->approved) {
    err->message = "already approved";
    return -1;
  }
  return 0;
}

static int on_approve_update(twe_workflow_t *wf, const twe_update_t *u, void *user,
                             twe_payload_t *result, twe_error_info_t *err) {
  (void)u, (void)err;
  patch_t *p = user;
  p->approved = true;
  twe_workflow_log(wf, TWE_LOG_INFO, "approved by update");
  *result = twe_payload_json("\"approved\"");
  return 0;
}

static int on_steps_query(twe_workflow_t *wf, const twe_query_t *q, void *user,
                          twe_payload_t *result, twe_error_info_t *err) {
  (void)wf;
  patch_t *p = user;
  json_t *a = json_array();
  for (size_t i = 0; i < p->n_steps; i++) json_array_append_new(a, json_string(p->steps[i]));
  char *text = json_dumps(a, JSON_COMPACT);
  json_decref(a);
  char *kept = text ? twe_query_alloc(q, strlen(text) + 1) : NULL;
  if (!kept) {
    free(text);
    err->message = "out of memory";
    return -1;
  }
  strcpy(kept, text);
  free(text);
  *result = twe_payload_json(kept);
  return 0;
}

static bool is_approved(twe_workflow_t *wf, void *arg) {
  (void)wf;
  return ((patch_t *)arg)->approved;
}

/* How a workflow function's body ends: its result set, failed with err,
 * or cancelled. One place turns that into the workflow's end. */
enum { END_OK = 0, END_FAILED = 1, END_CANCELED = 2 };

static void end_as(twe_workflow_t *wf, int how, const twe_error_info_t *err) {
  if (how == END_CANCELED) twe_workflow_end_canceled(wf);
  else if (how == END_FAILED) twe_workflow_fail(wf, err);
}

static int failed_with(twe_error_info_t *err, const char *type, const char *message) {
  *err = (twe_error_info_t){.type = type, .message = message};
  return END_FAILED;
}

/* The failure (or cancellation) of a step: cancelled when the workflow
 * was asked to cancel, else failed with what *err already holds. */
static int step_failed(twe_workflow_t *wf) {
  return twe_workflow_cancel_requested(wf) ? END_CANCELED : END_FAILED;
}

/* Step 4 of V5: every cluster on a coroutine of its own. */
static int clusters_in_parallel(twe_workflow_t *wf, patch_t *p, twe_error_info_t *err) {
  size_t n = json_array_size(p->in.targetClusters);
  if (!n) return 0;
  twe_future_t **fs = twe_workflow_alloc(wf, n * sizeof *fs);
  cluster_job_t *jobs = twe_workflow_alloc(wf, n * sizeof *jobs);
  if (!fs || !jobs) return failed_with(err, "OutOfMemory", "out of memory");
  for (size_t i = 0; i < n; i++) {
    jobs[i] = (cluster_job_t){p, json_string_value(json_array_get(p->in.targetClusters, i))};
    if (twe_workflow_go(wf, jobs[i].cluster, cluster_coroutine, &jobs[i], &fs[i]) < 0)
      return failed_with(err, "StartFailed", "cannot start a coroutine");
  }
  if (twe_future_wait_all(wf, fs, n) == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (twe_future_error(fs[i], err) == 0) break;
  return TWE_EFAILED;
}

static int system_patch_body(twe_workflow_t *wf, const stage_t *st, twe_error_info_t *err) {
  patch_t *p = twe_workflow_alloc(wf, sizeof *p);
  if (!p) return failed_with(err, "OutOfMemory", "out of memory");
  memset(p, 0, sizeof *p);
  p->st = st;
  json_t *in;
  if (twe_workflow_unpack_arg(wf, 0, err, "o", &in) < 0) return END_FAILED;
  char *why = twe_workflow_alloc(wf, 256);
  if (!why) return failed_with(err, "OutOfMemory", "out of memory");
  if (sp_input_read(in, &p->in, why, 256) < 0) {
    *err = (twe_error_info_t){.type = "BadInput", .message = why, .non_retryable = true};
    return END_FAILED;
  }
  twe_workflow_log(wf, TWE_LOG_INFO, "Workflow starts (stage V%d)", st->version);
  if (st->progress) twe_workflow_set_query_handler(wf, SP_QUERY_STEPS, on_steps_query, p);
  twe_activity_options_t five = opts(5, &three_attempts);

  /* Step 2 (exercise 1): ask for approval, and wait for it. */
  if (st->approval) {
    twe_workflow_set_signal_handler(wf, SP_SIGNAL_APPROVE, on_approve_signal, p);
    twe_workflow_set_update_handler(wf, SP_UPDATE_APPROVE, on_approve_update, validate_approve,
                                    p);
    if (run_activity(wf, "send_approval_request_activity", &five, NULL, err, "{s:o s:o s:s}",
                     "targetClusters",
                     p->in.targetClusters ? json_incref(p->in.targetClusters) : json_array(),
                     "approverEmails",
                     p->in.approverEmails ? json_incref(p->in.approverEmails) : json_array(),
                     "requesterEmail", p->in.requesterEmail) != 0)
      return step_failed(wf);
    step_done(wf, p, "send_approval_request_activity");
    int rc = twe_workflow_wait_condition(wf, is_approved, p, SP_APPROVAL_TIMEOUT_S * SEC);
    if (rc == -ETIMEDOUT)
      return failed_with(err, "ApprovalTimeout",
                         "no approval within 5 s: the patching does not start");
    if (rc < 0) return twe_workflow_cancel_requested(wf) ? END_CANCELED : END_FAILED;
    step_done(wf, p, "approval_request_received");
  }

  /* Step 3. */
  if (run_activity(wf, "vault_client_activity", &five, NULL, err, "{s:s}", "vaultAddress",
                   p->in.vaultAddress) != 0)
    return step_failed(wf);
  step_done(wf, p, "vault_client_activity");

  /* Step 4: every target cluster. */
  int rc = 0;
  if (st->children) {
    rc = clusters_as_children(wf, p, err);
  } else if (st->parallel) {
    rc = clusters_in_parallel(wf, p, err);
  } else {
    size_t n = json_array_size(p->in.targetClusters);
    for (size_t i = 0; i < n && rc == 0; i++) {
      const char *c = json_string_value(json_array_get(p->in.targetClusters, i));
      rc = patch_cluster(wf, p, c, err);
      if (rc == 0) step_done(wf, p, "cluster %s patched", c);
    }
  }
  if (rc != 0) return step_failed(wf);

  if (run_activity(wf, "send_final_success_notification_activity", &five, NULL, err, "{}") != 0)
    return step_failed(wf);
  step_done(wf, p, "send_final_success_notification_activity");
  twe_workflow_log(wf, TWE_LOG_INFO, "About to complete workflow");
  twe_payload_t out = twe_payload_json("\"" SP_RESULT "\"");
  twe_workflow_complete(wf, &out);
  return END_OK;
}

static void system_patch(twe_workflow_t *wf, void *user) {
  twe_error_info_t err = {0};
  end_as(wf, system_patch_body(wf, user, &err), &err);
}

/* SystemPatchWorkflow_Host_V6/_V7 {host}: one host's procedure. Cancelled,
 * it ends CANCELED. */
static void host_workflow(twe_workflow_t *wf, void *user) {
  const stage_t *st = user;
  const char *host = NULL;
  twe_error_info_t err = {0};
  int how = END_FAILED;
  if (twe_workflow_unpack_arg(wf, 0, &err, "{s:s}", "host", &host) == 0) {
    sp_input_t defaults;
    sp_input_defaults(&defaults);
    how = patch_host(wf, NULL, st, host, defaults.updateCommand, NULL, defaults.requesterEmail,
                     &err) == 0
              ? END_OK
              : step_failed(wf);
  }
  end_as(wf, how, &err);
}

/* Hosts [from, to) as host children, all at once. V7: the first one that
 * fails cancels the others, which end CANCELED; the failure, with how many
 * were cancelled, is returned once they all ended. */
static int hosts_as_children(twe_workflow_t *wf, const stage_t *st, json_t *hosts, size_t from,
                             size_t to, twe_error_info_t *err) {
  size_t n = to - from;
  if (!n) return 0;
  twe_future_t **fs = twe_workflow_alloc(wf, n * sizeof *fs);
  if (!fs) {
    *err = (twe_error_info_t){.type = "OutOfMemory", .message = "out of memory"};
    return TWE_EFAILED;
  }
  for (size_t i = 0; i < n; i++) {
    const char *h = json_string_value(json_array_get(hosts, from + i));
    char what[300];
    snprintf(what, sizeof what, "host:%s", h);
    if (start_child(wf, st->host_type, what, json_pack("{s:s}", "host", h), &fs[i], err) != 0)
      return TWE_EFAILED;
  }
  if (!st->cancel_siblings) {
    if (twe_future_wait_all(wf, fs, n) == 0) return 0;
    for (size_t i = 0; i < n; i++)
      if (twe_future_error(fs[i], err) == 0) break;
    return TWE_EFAILED;
  }
  /* V7: wait for the first failure among those still running. */
  size_t failed = n, left = n;
  twe_future_t **pending = twe_workflow_alloc(wf, n * sizeof *pending);
  size_t *index = twe_workflow_alloc(wf, n * sizeof *index);
  if (!pending || !index) {
    *err = (twe_error_info_t){.type = "OutOfMemory", .message = "out of memory"};
    return TWE_EFAILED;
  }
  while (left && failed == n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (!twe_future_ready(fs[i])) pending[k] = fs[i], index[k++] = i;
    if (!k) break;
    size_t got = index[twe_future_wait_any(wf, pending, k)];
    left = k - 1;
    if (twe_future_error(fs[got], err) == 0 && !cancelled_error(err)) failed = got;
  }
  if (failed == n) return 0;
  size_t cancelled = 0;
  for (size_t i = 0; i < n; i++)
    if (!twe_future_ready(fs[i])) {
      twe_future_cancel(wf, fs[i]);
      cancelled++;
    }
  twe_future_wait_all(wf, fs, n);
  const char *h = json_string_value(json_array_get(hosts, from + failed));
  twe_workflow_log(wf, TWE_LOG_WARN, "host %s failed (%s); %zu other host(s) cancelled", h,
                   err->message ? err->message : "", cancelled);
  char msg[600];
  snprintf(msg, sizeof msg, "host %s failed: %s: %s (%zu other host(s) of the cluster cancelled)",
           h, err->type ? err->type : "", err->message ? err->message : "", cancelled);
  char *kept = twe_workflow_alloc(wf, strlen(msg) + 1);
  if (kept) strcpy(kept, msg);
  err->message = kept ? kept : "a host failed";
  err->non_retryable = false;
  return TWE_EFAILED;
}

/* SystemPatchWorkflow_Cluster_V6/_V7 {targetCluster, pilotHostCount}: the
 * hosts as children, the pilots first. */
static int cluster_body(twe_workflow_t *wf, const stage_t *st, twe_error_info_t *err) {
  const char *cluster = NULL;
  int pilots = 0;
  if (twe_workflow_unpack_arg(wf, 0, err, "{s:s s?i}", "targetCluster", &cluster,
                              "pilotHostCount", &pilots) < 0)
    return END_FAILED;
  json_t *hosts;
  if (cluster_hosts(wf, cluster, &hosts, err) != 0) return step_failed(wf);
  size_t n = json_array_size(hosts);
  size_t np = pilots < 0 ? 0 : (size_t)pilots < n ? (size_t)pilots : n;
  if (hosts_as_children(wf, st, hosts, 0, np, err) != 0 ||
      hosts_as_children(wf, st, hosts, np, n, err) != 0)
    return step_failed(wf);
  return END_OK;
}

static void cluster_workflow(twe_workflow_t *wf, void *user) {
  twe_error_info_t err = {0};
  end_as(wf, cluster_body(wf, user, &err), &err);
}

int sp_register_workflows(twe_worker_t *w) {
  int rc = 0;
  for (int i = 0; rc == 0 && i < 7; i++) {
    char name[64];
    snprintf(name, sizeof name, "SystemPatchWorkflow_V%d", stages[i].version);
    rc = twe_worker_register_workflow(w, name, system_patch, (void *)&stages[i]);
    if (rc == 0 && stages[i].children)
      rc = twe_worker_register_workflow(w, stages[i].cluster_type, cluster_workflow,
                                        (void *)&stages[i]);
    if (rc == 0 && stages[i].children)
      rc = twe_worker_register_workflow(w, stages[i].host_type, host_workflow,
                                        (void *)&stages[i]);
  }
  return rc;
}
