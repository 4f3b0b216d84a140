/* examples/system_patch/system_patch.h — the System Patching workshop on
 * twe: the workflow types of each stage (workflow.c), the activities
 * (activities.c) and the types the two share with the workshop's Python
 * client (types.c). README.md walks through the exercises. */
#ifndef TWE_EXAMPLES_SYSTEM_PATCH_H
#define TWE_EXAMPLES_SYSTEM_PATCH_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "twe/twe.h"

/* --- types.c: the workshop's dataclasses as JSON objects ------------------- */
/* SystemPatchWorkflowInput, field for field (camelCase, as the Python
 * dataclass serialises). Strings and arrays are borrowed from the JSON
 * document they were read from. */
typedef struct sp_input {
  json_t *targetClusters; /* array of strings */
  int pilotHostCount;
  json_t *approverEmails; /* array of strings */
  const char *requesterEmail;
  const char *vaultAddress;
  const char *vaultToken;
  const char *secretPathPrefix;
  const char *updateCommand;
  json_t *serviceList; /* array of strings */
} sp_input_t;

/* Reads j into *out, with the dataclass's defaults for missing fields.
 * Returns 0, or -1 with what is wrong in err (a field of the wrong type). */
int sp_input_read(json_t *j, sp_input_t *out, char *err, size_t len);
/* The JSON object of in (new reference), every field written. */
json_t *sp_input_json(const sp_input_t *in);
/* An empty array (new reference) for a default list field. */
void sp_input_defaults(sp_input_t *in);
/* Whether a is an array of strings (NULL: an empty list). */
bool sp_string_array(const json_t *a);

/* --- activities.c --------------------------------------------------------------------- */
/* How the simulated work behaves (the worker's flags). */
typedef struct sp_activity_config {
  int work_ms;          /* each activity's simulated work (the workshop: a short sleep) */
  int hosts_per_cluster;
  int update_steps;     /* perform_update_activity: steps, one heartbeat each */
  int update_step_ms;
  /* perform_update_activity outlasts its 10 s start-to-close (exercise 3's
   * first half): no heartbeats, a sleep of 12 s. */
  bool slow_update;
  /* check_host_preconditions_activity fails for this host: non-retryable
   * (fail_host), or by sleeping past its start-to-close (timeout_host). */
  const char *fail_host;
  const char *timeout_host;
} sp_activity_config_t;

/* Registers every activity under the workshop's names
 * (send_approval_request_activity, ...). cfg must outlive the worker. */
int sp_register_activities(twe_worker_t *w, const sp_activity_config_t *cfg);

/* --- workflow.c ----------------------------------------------------------------------- */
/* Registers SystemPatchWorkflow_V1 .. _V7 and the children of V6 and V7
 * (SystemPatchWorkflow_Cluster_V6/_V7, SystemPatchWorkflow_Host_V6/_V7). */
int sp_register_workflows(twe_worker_t *w);

/* Names the workflows and the client share. */
#define SP_SIGNAL_APPROVE "approve_request"
#define SP_UPDATE_APPROVE "approve_request_update"
#define SP_QUERY_STEPS "get_completed_steps"
#define SP_APPROVAL_TIMEOUT_S 5
#define SP_RESULT "your output"

#endif /* TWE_EXAMPLES_SYSTEM_PATCH_H */
