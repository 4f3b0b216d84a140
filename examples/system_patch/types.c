/* examples/system_patch/types.c — SystemPatchWorkflowInput, the workshop's
 * dataclass, as a JSON object: read with its defaults, written whole. The
 * other types are small enough to read where they are used (activities.c,
 * workflow.c): each names its fields there as the dataclass does. */
#include <stdio.h>
#include <string.h>

#include "system_patch.h"

bool sp_string_array(const json_t *a) {
  if (!a) return true;
  if (!json_is_array(a)) return false;
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) if (!json_is_string(v)) return false;
  return true;
}

void sp_input_defaults(sp_input_t *in) {
  /* The dataclass's defaults; the lists stay NULL (empty). */
  *in = (sp_input_t){.pilotHostCount = 0,
                     .requesterEmail = "default@example.com",
                     .vaultAddress = "https://vault.example.com:8200",
                     .vaultToken = "default-token",
                     .secretPathPrefix = "default-prefix",
                     .updateCommand = "default-update-command"};
}

int sp_input_read(json_t *j, sp_input_t *out, char *err, size_t len) {
  sp_input_defaults(out);
  json_error_t e;
  if (!json_is_object(j)) {
    snprintf(err, len, "SystemPatchWorkflowInput must be a JSON object");
    return -1;
  }
  if (json_unpack_ex(j, &e, 0, "{s?o s?i s?o s?s s?s s?s s?s s?s s?o}", "targetClusters",
                     &out->targetClusters, "pilotHostCount", &out->pilotHostCount,
                     "approverEmails", &out->approverEmails, "requesterEmail",
                     &out->requesterEmail, "vaultAddress", &out->vaultAddress, "vaultToken",
                     &out->vaultToken, "secretPathPrefix", &out->secretPathPrefix,
                     "updateCommand", &out->updateCommand, "serviceList",
                     &out->serviceList) != 0) {
    snprintf(err, len, "SystemPatchWorkflowInput: %s", e.text);
    return -1;
  }
  /* null is what Python's None sends for a list left unset. */
  json_t **lists[3] = {&out->targetClusters, &out->approverEmails, &out->serviceList};
  static const char *const names[3] = {"targetClusters", "approverEmails", "serviceList"};
  for (int i = 0; i < 3; i++) {
    if (*lists[i] && json_is_null(*lists[i])) *lists[i] = NULL;
    if (!sp_string_array(*lists[i])) {
      snprintf(err, len, "SystemPatchWorkflowInput: %s must be a list of strings", names[i]);
      return -1;
    }
  }
  if (out->pilotHostCount < 0) {
    snprintf(err, len, "SystemPatchWorkflowInput: pilotHostCount must not be negative");
    return -1;
  }
  return 0;
}

static json_t *list(json_t *a) {
  return a ? json_incref(a) : json_array();
}

json_t *sp_input_json(const sp_input_t *in) {
  return json_pack("{s:o s:i s:o s:s s:s s:s s:s s:s s:o}", "targetClusters",
                   list(in->targetClusters), "pilotHostCount", in->pilotHostCount,
                   "approverEmails", list(in->approverEmails), "requesterEmail",
                   in->requesterEmail, "vaultAddress", in->vaultAddress, "vaultToken",
                   in->vaultToken, "secretPathPrefix", in->secretPathPrefix, "updateCommand",
                   in->updateCommand, "serviceList", list(in->serviceList));
}
