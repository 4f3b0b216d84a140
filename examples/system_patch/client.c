/* examples/system_patch/client.c — the workshop's client
 * (temporal_client.py) in C: start a patching run, approve it, watch its
 * progress, cancel it.
 *
 *   system_patch_client run VERSION ID [start options] [--approve signal|update|none]
 *                                      [--interval-ms N]
 *       start, approve, print the completed steps as they grow, then the
 *       result (exit 0 when it completed, 1 when it did not)
 *   system_patch_client start VERSION ID [start options]   prints the run id
 *   system_patch_client approve ID [--update]
 *   system_patch_client progress ID                        the completed steps (JSON)
 *   system_patch_client result ID                          waits; as run
 *   system_patch_client cancel ID
 *
 * start options: --clusters c1,c2 (default cluster1,cluster2) --pilot N
 * (default 1) --requester EMAIL --task-queue Q (default system-patch).
 * VERSION is 1..7 (SystemPatchWorkflow_V<VERSION>). */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "system_patch.h"

#define SEC 1000000000ull

static twe_client_t *g_client;
static char g_err[1024];

static int failed(const char *what, int rc) {
  fprintf(stderr, "system_patch_client: %s: %s%s%s\n", what, twe_strerror(rc),
          g_err[0] ? ": " : "", g_err);
  return 1;
}

typedef struct start_args {
  int version;
  const char *id, *task_queue, *clusters, *requester, *approve;
  int pilot, interval_ms;
  bool update;
} start_args_t;

/* Reads "VERSION ID" (when want_version) or "ID", then the options. */
static int parse(int argc, char **argv, bool want_version, start_args_t *a) {
  *a = (start_args_t){.task_queue = "system-patch",
                      .clusters = "cluster1,cluster2",
                      .requester = "default@example.com",
                      .approve = "signal",
                      .pilot = 1,
                      .interval_ms = 1000};
  int i = 0;
  if (want_version) {
    if (i >= argc) return -1;
    a->version = atoi(argv[i++]);
    if (a->version < 1 || a->version > 7) return -1;
  }
  if (i >= argc) return -1;
  a->id = argv[i++];
  for (; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(o, "--update") == 0) a->update = true;
    else if (!v) return -1;
    else if (strcmp(o, "--clusters") == 0) a->clusters = argv[++i];
    else if (strcmp(o, "--pilot") == 0) a->pilot = atoi(argv[++i]);
    else if (strcmp(o, "--requester") == 0) a->requester = argv[++i];
    else if (strcmp(o, "--task-queue") == 0) a->task_queue = argv[++i];
    else if (strcmp(o, "--approve") == 0) a->approve = argv[++i];
    else if (strcmp(o, "--interval-ms") == 0) a->interval_ms = atoi(argv[++i]);
    else return -1;
  }
  return 0;
}

/* SystemPatchWorkflowInput for a, as JSON text (malloc'd). */
static char *input_json(const start_args_t *a) {
  sp_input_t in;
  sp_input_defaults(&in);
  in.targetClusters = json_array();
  char *list = strdup(a->clusters);
  for (char *save = NULL, *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save))
    json_array_append_new(in.targetClusters, json_string(c));
  free(list);
  in.pilotHostCount = a->pilot;
  in.approverEmails = json_pack("[s]", "approver@example.com");
  in.serviceList = json_pack("[ss]", "nginx", "postgres");
  in.requesterEmail = a->requester;
  json_t *j = sp_input_json(&in);
  json_decref(in.targetClusters);
  json_decref(in.approverEmails);
  json_decref(in.serviceList);
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  return text;
}

static int start(const start_args_t *a, char *run_id, size_t len) {
  char type[64];
  snprintf(type, sizeof type, "SystemPatchWorkflow_V%d", a->version);
  char *text = input_json(a);
  twe_payload_t arg = twe_payload_json(text);
  twe_start_workflow_options_t o = {.workflow_id = a->id, .task_queue = a->task_queue};
  int rc = twe_client_start_workflow(g_client, type, &o, &arg, 1, run_id, len, g_err,
                                     sizeof g_err);
  free(text);
  return rc < 0 ? failed("start", rc) : 0;
}

static int approve(const char *id, bool by_update) {
  if (!by_update) {
    int rc = twe_client_signal_workflow(g_client, id, NULL, SP_SIGNAL_APPROVE, NULL, 0, g_err,
                                        sizeof g_err);
    if (rc < 0) return failed("approve (signal)", rc);
    printf("approved by signal\n");
    return 0;
  }
  twe_client_value_t v;
  int rc = twe_client_update_workflow(g_client, id, NULL, SP_UPDATE_APPROVE, NULL, NULL, 0,
                                      TWE_UPDATE_WAIT_COMPLETED, &v, NULL, 0, g_err,
                                      sizeof g_err);
  if (rc == TWE_EFAILED) {
    fprintf(stderr, "system_patch_client: the update was refused: %s\n",
            v.error.message ? v.error.message : "");
    twe_client_value_free(&v);
    return 1;
  }
  if (rc < 0) return failed("approve (update)", rc);
  printf("approved by update: %.*s\n", (int)v.value.len, (const char *)v.value.data);
  twe_client_value_free(&v);
  return 0;
}

/* The completed steps (JSON text, malloc'd), or NULL. */
static char *progress(const char *id) {
  twe_client_value_t v;
  int rc = twe_client_query_workflow(g_client, id, NULL, SP_QUERY_STEPS, NULL, 0, &v, g_err,
                                     sizeof g_err);
  char *out = NULL;
  if (rc == TWE_EFAILED)
    snprintf(g_err, sizeof g_err, "%s", v.error.message ? v.error.message : "query failed");
  if (rc < 0) fprintf(stderr, "system_patch_client: progress: %s: %s\n", twe_strerror(rc), g_err);
  if (rc == 0 && v.has_value) {
    out = malloc(v.value.len + 1);
    if (out) {
      memcpy(out, v.value.data, v.value.len);
      out[v.value.len] = 0;
    }
  }
  twe_client_value_free(&v);
  return out;
}

/* Waits up to timeout_ns for the result: 0 completed, 1 ended otherwise,
 * 2 still running, -1 error. Prints the outcome (when it ended) if say. */
static int result(const char *id, uint64_t timeout_ns, bool say) {
  twe_workflow_result_t r;
  int rc = twe_client_workflow_result(g_client, id, NULL, timeout_ns, &r, g_err, sizeof g_err);
  int out;
  if (rc == -ETIMEDOUT) {
    out = 2;
  } else if (rc == 0) {
    if (say)
      printf("result: %s %.*s\n", twe_workflow_status_name(r.status), (int)r.result.len,
             (const char *)r.result.data);
    out = 0;
  } else if (rc == TWE_EWORKFLOW) {
    if (say)
      printf("result: %s %s: %s\n", twe_workflow_status_name(r.status),
             r.error.type ? r.error.type : "", r.error.message ? r.error.message : "");
    out = 1;
  } else {
    failed("result", rc);
    out = -1;
  }
  twe_workflow_result_free(&r);
  return out;
}

static int run(const start_args_t *a) {
  char run_id[64];
  if (start(a, run_id, sizeof run_id)) return 1;
  printf("started SystemPatchWorkflow_V%d %s (run %s)\n", a->version, a->id, run_id);
  if (a->version >= 2 && strcmp(a->approve, "none") != 0 &&
      approve(a->id, strcmp(a->approve, "update") == 0) != 0)
    return 1;
  /* Progress while it runs, and once more when it ended (a closed run
   * answers queries too), then the result. */
  char *last = NULL;
  for (int r = 2;;) {
    if (r == 2) r = result(a->id, (uint64_t)a->interval_ms * 1000000ull, false);
    char *now = a->version >= 3 ? progress(a->id) : NULL;
    /* The last look, after the run closed, is worth a second try. */
    for (int tries = 0; !now && r != 2 && a->version >= 3 && tries < 3; tries++) {
      nanosleep(&(struct timespec){0, 300000000L}, NULL);
      now = progress(a->id);
    }
    if (now && (!last || strcmp(now, last) != 0)) printf("progress: %s\n", now);
    if (now) {
      free(last);
      last = now;
    }
    if (r != 2) {
      free(last);
      return result(a->id, 0, true) == 0 ? 0 : 1;
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 3) goto usage;
  const char *cmd = argv[1];
  start_args_t a;
  bool versioned = strcmp(cmd, "run") == 0 || strcmp(cmd, "start") == 0;
  if (parse(argc - 2, argv + 2, versioned, &a) < 0) goto usage;
  int rc = twe_client_connect(NULL, &g_client, g_err, sizeof g_err);
  if (rc < 0) return failed("connect", rc);
  setvbuf(stdout, NULL, _IOLBF, 0);
  int status = 1;
  if (strcmp(cmd, "run") == 0) {
    status = run(&a);
  } else if (strcmp(cmd, "start") == 0) {
    char run_id[64];
    status = start(&a, run_id, sizeof run_id);
    if (!status) printf("%s\n", run_id);
  } else if (strcmp(cmd, "approve") == 0) {
    status = approve(a.id, a.update);
  } else if (strcmp(cmd, "progress") == 0) {
    char *p = progress(a.id);
    if (p) printf("%s\n", p);
    else fprintf(stderr, "system_patch_client: progress: %s\n", g_err);
    status = p ? 0 : 1;
    free(p);
  } else if (strcmp(cmd, "result") == 0) {
    status = result(a.id, 0, true) == 0 ? 0 : 1;
  } else if (strcmp(cmd, "cancel") == 0) {
    rc = twe_client_cancel_workflow(g_client, a.id, NULL, "cancelled by system_patch_client",
                                    g_err, sizeof g_err);
    status = rc < 0 ? failed("cancel", rc) : 0;
  } else {
    twe_client_close(g_client);
    goto usage;
  }
  twe_client_close(g_client);
  return status;
usage:
  fprintf(stderr,
          "usage: %s run|start VERSION ID [--clusters c1,c2] [--pilot N] [--requester E]\n"
          "           [--task-queue Q] [--approve signal|update|none] [--interval-ms N]\n"
          "       %s approve ID [--update] | progress ID | result ID | cancel ID\n",
          argv[0], argv[0]);
  return 2;
}
