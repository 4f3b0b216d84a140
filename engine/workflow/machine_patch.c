/* engine/workflow/machine_patch.c — versioning by patches, the way the
 * Python and TypeScript SDKs (sdk-core) record them, so their histories
 * replay here and ours there: twe_workflow_patched(id) is true for a run
 * that runs the new code (live), and on replay true only when the history
 * has the patch's marker in that task; a true patch records a
 * MARKER_RECORDED "core_patch" with details {"patch-data": {"id": id,
 * "deprecated": false}} and upserts the TemporalChangeVersion search
 * attribute (a KeywordList of the run's patches so far), once per id.
 *
 *   CREATED --SENT--> COMMAND_SENT --MARKER_RECORDED--> RECORDED
 *   CREATED --MARKER_RECORDED--> RECORDED   (replay)
 *
 * twe_workflow_deprecate_patch(id) records the marker with "deprecated":
 * true (live; on replay only when the task has a marker for id), and a
 * deprecated marker no command pairs with is skipped (the call was removed
 * after it), as in sdk-core's table of patch outcomes.
 *
 * Replay compares the marker name and the patch id. Markers of other names
 * (Go's "Version", side effects, local activities) are not this kind's:
 * they pair with nothing here and are reported as non-determinism. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"
#include "proto/payload.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES
#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define PATCH_MARKER "core_patch"
#define PATCH_DETAILS "patch-data"
#define CHANGE_VERSION "TemporalChangeVersion"

enum { CREATED, COMMAND_SENT, RECORDED, N_STATES };
static const char *const state_names[N_STATES] = {"CREATED", "COMMAND_SENT", "RECORDED"};

typedef struct patch_machine {
  twe__machine_t m; /* first: the common part */
  const char *id;
} patch_machine_t;

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, COMMAND_SENT, NULL},
    {CREATED, EV(MARKER_RECORDED), RECORDED, NULL},
    {COMMAND_SENT, EV(MARKER_RECORDED), RECORDED, NULL},
};
TWE__MKIND_HITS(hits, rows);

/* The patch id of a core_patch marker event, or NULL (another marker, or
 * details that are not what the SDKs write), and whether it is deprecated
 * (may be NULL). In arena. */
static const char *marker_patch_id(const twe_event_pb_t *e, twe_arena_t *arena,
                                   bool *deprecated) {
  if (e->attributes_case != HATTR(MARKER_RECORDED)) return NULL;
  const Temporal__Api__History__V1__MarkerRecordedEventAttributes *a =
      e->marker_recorded_event_attributes;
  if (!a || !a->marker_name || strcmp(a->marker_name, PATCH_MARKER) != 0) return NULL;
  for (size_t i = 0; i < a->n_details; i++) {
    const Temporal__Api__History__V1__MarkerRecordedEventAttributes__DetailsEntry *d =
        a->details[i];
    if (!d->key || strcmp(d->key, PATCH_DETAILS) != 0 || !d->value || !d->value->n_payloads)
      continue;
    const ProtobufCBinaryData *data = &d->value->payloads[0]->data;
    json_t *v = json_loadb((const char *)data->data, data->len, 0, NULL);
    const char *id = json_string_value(json_object_get(v, "id"));
    const char *copy = id ? twe__str(arena, id) : NULL;
    if (deprecated) *deprecated = json_is_true(json_object_get(v, "deprecated"));
    json_decref(v);
    return copy;
  }
  return NULL;
}

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)c;
  twe_arena_t scratch;
  twe__arena_init(&scratch, 0);
  const char *id = marker_patch_id(e, &scratch, NULL);
  bool same = id && strcmp(id, ((const patch_machine_t *)m)->id) == 0;
  twe__arena_destroy(&scratch);
  return same;
}

static void describe(const twe__machine_t *m, char *buf, size_t len) {
  snprintf(buf, len, "patch \"%s\"", ((const patch_machine_t *)m)->id);
}

/* A deprecated patch's marker: the code may have dropped the call. */
static bool skippable(const twe_event_pb_t *e) {
  twe_arena_t scratch;
  twe__arena_init(&scratch, 0);
  bool deprecated = false;
  bool yes = marker_patch_id(e, &scratch, &deprecated) && deprecated;
  twe__arena_destroy(&scratch);
  return yes;
}

const twe__mkind_t twe__mk_patch = {
    .name = "patch",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .same_key = same_key,
    .describe = describe,
    .skippable = skippable,
    .hits = hits,
};

int twe__patches_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from, size_t n) {
  run->task_patches = NULL;
  for (size_t j = from; j < n; j++) {
    int type = (int)events[j]->event_type;
    if (type == EV(WORKFLOW_TASK_SCHEDULED) || type == EV(WORKFLOW_TASK_STARTED)) break;
    if (type != EV(MARKER_RECORDED)) continue;
    const char *id = marker_patch_id(events[j], &run->arena, NULL);
    if (!id) continue;
    twe__patch_t *p = twe__arena_alloc(&run->arena, sizeof *p);
    if (!p) return twe__run_oom(run);
    p->id = id;
    p->next = run->task_patches;
    run->task_patches = p;
  }
  return 0;
}

static bool in_list(const twe__patch_t *list, const char *id) {
  for (; list; list = list->next)
    if (strcmp(list->id, id) == 0) return true;
  return false;
}

/* The marker for id, then TemporalChangeVersion with every patch so far. */
static int record(twe_run_t *run, const char *id, bool deprecated) {
  static const char *const keys[1] = {PATCH_DETAILS};
  twe_arena_t *a = &run->arena;
  patch_machine_t *pm = twe__machine_new(run, &twe__mk_patch, sizeof *pm);
  if (!pm || !(pm->id = twe__str(a, id))) return twe__arena_error(a);
  json_t *data = json_pack("{s:s,s:b}", "id", id, "deprecated", deprecated);
  twe_payload_pb_t *p = NULL;
  twe_payloads_pb_t *value;
  twe_command_pb_t *c;
  int rc = data ? twe__payload_new_json_value(a, data, &p) : -ENOMEM;
  json_decref(data);
  if (rc < 0 || (rc = twe__payloads_new(a, &p, 1, &value)) < 0 ||
      (rc = twe__marker_command_new(run, PATCH_MARKER, keys, &value, 1, NULL, &c)) < 0 ||
      (rc = twe__machine_command(run, &pm->m, c)) < 0)
    return rc;

  json_t *list = json_array();
  for (const twe__patch_t *q = run->change_versions; list && q; q = q->next)
    json_array_insert_new(list, 0, json_string(q->id)); /* the list is newest first */
  char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
  json_decref(list);
  if (!text) return -ENOMEM;
  rc = twe__upsert_search_attribute(run, CHANGE_VERSION, "KeywordList", text, strlen(text));
  free(text);
  return rc;
}

/* Remembers id's answer; a true one records the marker (deprecated or
 * not) and the search attribute. */
static int decide(twe_run_t *run, const char *id, bool result, bool deprecated) {
  twe__patch_t *memo = twe__arena_alloc(&run->arena, sizeof *memo);
  if (!memo || !(memo->id = twe__str(&run->arena, id))) return twe__arena_error(&run->arena);
  memo->result = result;
  memo->next = run->patch_memo;
  run->patch_memo = memo;
  if (!result) return 0;
  twe__patch_t *v = twe__arena_alloc(&run->arena, sizeof *v);
  if (!v) return twe__arena_error(&run->arena);
  v->id = memo->id;
  v->next = run->change_versions;
  run->change_versions = v;
  return record(run, id, deprecated) < 0 ? twe__run_oom(run) : 0;
}

static const twe__patch_t *memo_of(const twe_run_t *run, const char *id) {
  for (const twe__patch_t *p = run->patch_memo; p; p = p->next)
    if (strcmp(p->id, id) == 0) return p;
  return NULL;
}

int twe_workflow_patched(twe_workflow_t *wf, const char *id, bool *out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!id || !*id || !out) return -EINVAL;
  const twe__patch_t *memo = memo_of(run, id);
  if (memo) {
    *out = memo->result;
    return 0;
  }
  /* Queries change nothing: a patch not decided yet is asked as replay
   * would (present in this task's history), and not remembered. */
  if (run->in_query) {
    *out = !run->replaying;
    return 0;
  }
  bool result = !run->replaying || in_list(run->task_patches, id);
  int rc = decide(run, id, result, false);
  if (rc < 0) return rc;
  *out = result;
  return 0;
}

int twe_workflow_deprecate_patch(twe_workflow_t *wf, const char *id) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!id || !*id) return -EINVAL;
  if (memo_of(run, id) || run->in_query) return 0;
  /* Replayed without the marker: the run began before the patch, and its
   * history has nothing for it. The answer is true either way. */
  if (run->replaying && !in_list(run->task_patches, id)) {
    twe__patch_t *memo = twe__arena_alloc(&run->arena, sizeof *memo);
    if (!memo || !(memo->id = twe__str(&run->arena, id))) return twe__arena_error(&run->arena);
    memo->result = true;
    memo->next = run->patch_memo;
    run->patch_memo = memo;
    return 0;
  }
  return decide(run, id, true, true);
}
