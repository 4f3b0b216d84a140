/* engine/workflow/machine_version.c — versioning as the Go SDK's GetVersion
 * does it (twe_workflow_get_version), so Go histories replay here and ours
 * there: the first call for a change id in a run that runs it live returns
 * the newest version the code supports and records MARKER_RECORDED
 * "Version" with details {"change-id": <id>, "version": <n>} (JSON), then
 * upserts TemporalChangeVersion (a KeywordList of "<id>-<version>", newest
 * first); on replay it returns the version the task's marker holds, or
 * TWE_DEFAULT_VERSION (-1) when the task has none (the run began before the
 * change). A version outside the code's [min, max] fails the task (the
 * code dropped support for a version a run still has, or is too old).
 *
 *   CREATED --SENT--> COMMAND_SENT --MARKER_RECORDED--> RECORDED
 *   CREATED --MARKER_RECORDED--> RECORDED   (replay)
 *
 * As in the Go SDK, a Version marker stands apart from the order of the
 * other commands: it pairs by change id wherever it is among the task's
 * command events (the kind is unordered, machine.h), and one no call
 * pairs with is skipped (its call was removed), like the
 * TemporalChangeVersion upsert after it. A marker that says
 * "version-search-attribute-updated": false had no upsert after it. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define MARKER "Version"
#define CHANGE_ID_KEY "change-id"
#define VERSION_KEY "version"
#define SA_UPDATED_KEY "version-search-attribute-updated"

enum { CREATED, COMMAND_SENT, RECORDED, N_STATES };
static const char *const state_names[N_STATES] = {"CREATED", "COMMAND_SENT", "RECORDED"};

typedef struct version_machine {
  twe__machine_t m; /* first: the common part */
  const char *change_id;
} version_machine_t;

/* A change id's version: decided for the run, or held by a replayed
 * task's marker. Run arena. */
struct twe__version {
  const char *change_id;
  int version;
  bool sa_updated; /* the marker's upsert followed it */
  struct twe__version *next;
};

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, COMMAND_SENT, NULL},
    {CREATED, EV(MARKER_RECORDED), RECORDED, NULL},
    {COMMAND_SENT, EV(MARKER_RECORDED), RECORDED, NULL},
};
TWE__MKIND_HITS(hits, rows);

static bool is_marker(const twe_event_pb_t *e) {
  return e->attributes_case == HATTR(MARKER_RECORDED) && e->marker_recorded_event_attributes &&
         twe__str_eq(e->marker_recorded_event_attributes->marker_name, MARKER);
}

/* A JSON value of marker detail key (NULL when missing or not JSON). */
static json_t *detail(const twe_event_pb_t *e, const char *key) {
  const ProtobufCBinaryData *b = twe__marker_detail(e, key);
  return b ? json_loadb((const char *)b->data, b->len, JSON_DECODE_ANY, NULL) : NULL;
}

/* Reads a Version marker: its change id (arena copy), version and whether
 * its upsert followed. Returns false when e is not one, or not readable. */
static bool read_marker(const twe_event_pb_t *e, twe_arena_t *arena, struct twe__version *out) {
  if (!is_marker(e)) return false;
  json_t *id = detail(e, CHANGE_ID_KEY), *v = detail(e, VERSION_KEY),
         *sa = detail(e, SA_UPDATED_KEY);
  bool ok = json_is_string(id) && json_is_integer(v);
  if (ok) {
    out->change_id = twe__str(arena, json_string_value(id));
    out->version = (int)json_integer_value(v);
    out->sa_updated = !json_is_false(sa);
    ok = out->change_id != NULL;
  }
  json_decref(id), json_decref(v), json_decref(sa);
  return ok;
}

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)c;
  twe_arena_t scratch;
  twe__arena_init(&scratch, 0);
  struct twe__version v;
  bool same = read_marker(e, &scratch, &v) &&
              strcmp(v.change_id, ((const version_machine_t *)m)->change_id) == 0;
  twe__arena_destroy(&scratch);
  return same;
}

static void describe(const twe__machine_t *m, char *buf, size_t len) {
  snprintf(buf, len, "version of change \"%s\"", ((const version_machine_t *)m)->change_id);
}

const twe__mkind_t twe__mk_version = {
    .name = "version",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .same_key = same_key,
    .describe = describe,
    .claims = is_marker,
    .skippable = is_marker,
    .hits = hits,
};

int twe__versions_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from,
                            size_t n) {
  run->task_versions = NULL;
  for (size_t j = from; j < n; j++) {
    int type = (int)events[j]->event_type;
    if (type == EV(WORKFLOW_TASK_SCHEDULED) || type == EV(WORKFLOW_TASK_STARTED)) break;
    struct twe__version v;
    if (type != EV(MARKER_RECORDED) || !read_marker(events[j], &run->arena, &v)) continue;
    struct twe__version *copy = twe__arena_alloc(&run->arena, sizeof *copy);
    if (!copy) return twe__run_oom(run);
    *copy = v;
    copy->next = run->task_versions;
    run->task_versions = copy;
  }
  return 0;
}

static const struct twe__version *find(const struct twe__version *list, const char *id) {
  for (; list; list = list->next)
    if (strcmp(list->change_id, id) == 0) return list;
  return NULL;
}

/* The marker for v, then (if v says so) TemporalChangeVersion with every
 * change's "<id>-<version>" so far. */
static int record(twe_run_t *run, const struct twe__version *v) {
  static const char *const keys[2] = {CHANGE_ID_KEY, VERSION_KEY};
  version_machine_t *vm = twe__machine_new(run, &twe__mk_version, sizeof *vm);
  json_t *id = json_string(v->change_id);
  char *idtext = id ? json_dumps(id, JSON_ENCODE_ANY) : NULL;
  json_decref(id);
  char vtext[16];
  snprintf(vtext, sizeof vtext, "%d", v->version);
  twe_payloads_pb_t *vals[2];
  twe_command_pb_t *c;
  int rc = vm && idtext ? 0 : -ENOMEM;
  if (rc == 0) rc = twe__json_payloads_new(run, idtext, &vals[0]);
  free(idtext);
  if (rc == 0) rc = twe__json_payloads_new(run, vtext, &vals[1]);
  if (rc == 0) rc = twe__marker_command_new(run, MARKER, keys, vals, 2, NULL, &c);
  if (rc < 0) return rc;
  vm->change_id = v->change_id;
  if ((rc = twe__machine_command(run, &vm->m, c)) < 0 || !v->sa_updated) return rc;

  json_t *list = json_array();
  for (const struct twe__version *q = run->version_memo; list && q; q = q->next) {
    char item[512];
    snprintf(item, sizeof item, "%s-%d", q->change_id, q->version);
    json_array_append_new(list, json_string(item));
  }
  char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
  json_decref(list);
  if (!text) return -ENOMEM;
  rc = twe__upsert_search_attribute(run, "TemporalChangeVersion", "KeywordList", text,
                                    strlen(text));
  free(text);
  return rc;
}

int twe_workflow_get_version(twe_workflow_t *wf, const char *change_id, int min_supported,
                             int max_supported, int *out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!change_id || !*change_id || !out || min_supported > max_supported) return -EINVAL;
  const struct twe__version *known = find(run->version_memo, change_id);
  struct twe__version v = {.change_id = change_id, .sa_updated = true};
  const struct twe__version *replayed = NULL;
  if (known) {
    v = *known;
  } else if (run->in_query) {
    /* A query changes nothing: asked as replay would, not remembered. */
    replayed = find(run->task_versions, change_id);
    v.version = !run->replaying ? max_supported
                : replayed      ? replayed->version
                                : TWE_DEFAULT_VERSION;
  } else if (run->replaying) {
    replayed = find(run->task_versions, change_id);
    v.version = replayed ? replayed->version : TWE_DEFAULT_VERSION;
    if (replayed) v.sa_updated = replayed->sa_updated;
  } else {
    v.version = max_supported;
  }
  if (v.version < min_supported || v.version > max_supported)
    return twe__run_nondeterminism(
        run,
        "version %d of change \"%s\" is not supported by the code (it supports %d to %d): %s",
        v.version, change_id, min_supported, max_supported,
        v.version < min_supported ? "the code dropped a version this run still has"
                                  : "the code is older than the run");
  if (!known && !run->in_query) {
    struct twe__version *memo = twe__arena_alloc(&run->arena, sizeof *memo);
    if (!memo || !(memo->change_id = twe__str(&run->arena, change_id)))
      return twe__run_oom(run);
    memo->version = v.version;
    memo->sa_updated = v.sa_updated;
    memo->next = run->version_memo;
    run->version_memo = memo;
    /* Live, or replayed with the task's marker: the marker (and upsert). */
    if ((!run->replaying || replayed) && record(run, memo) < 0) return twe__run_oom(run);
  }
  *out = v.version;
  return 0;
}
