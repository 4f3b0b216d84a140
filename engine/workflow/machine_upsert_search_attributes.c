/* engine/workflow/machine_upsert_search_attributes.c — the machine of an
 * UPSERT_WORKFLOW_SEARCH_ATTRIBUTES command and the event recorded for it;
 * and the call that makes one (twe_workflow_upsert_search_attribute). The
 * patch calls (machine_patch.c) upsert TemporalChangeVersion through it,
 * as the SDKs do.
 *
 *   CREATED --SENT--> COMMAND_SENT --UPSERT_WORKFLOW_SEARCH_ATTRIBUTES--> RECORDED
 *   CREATED --UPSERT_WORKFLOW_SEARCH_ATTRIBUTES--> RECORDED   (replay)
 *
 * Replay compares the attribute names (the values may be built from
 * nondeterministic-looking data such as times; the names are the code's).
 * An unpaired upsert of TemporalChangeVersion alone is skipped (a removed
 * deprecated patch's, see machine_patch.c). */
#include <errno.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES

typedef Temporal__Api__Common__V1__SearchAttributes search_attributes_pb_t;

enum { CREATED, COMMAND_SENT, RECORDED, N_STATES };
static const char *const state_names[N_STATES] = {"CREATED", "COMMAND_SENT", "RECORDED"};

static const twe__mrow_t rows[] = {
    {CREATED, TWE__IN_SENT, COMMAND_SENT, NULL},
    {CREATED, EV(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES), RECORDED, NULL},
    {COMMAND_SENT, EV(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES), RECORDED, NULL},
};
TWE__MKIND_HITS(hits, rows);

static bool has_key(const search_attributes_pb_t *sa, const char *key) {
  for (size_t i = 0; sa && i < sa->n_indexed_fields; i++)
    if (sa->indexed_fields[i]->key && strcmp(sa->indexed_fields[i]->key, key) == 0) return true;
  return false;
}

static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)m;
  const search_attributes_pb_t *a =
      c->upsert_workflow_search_attributes_command_attributes->search_attributes;
  const search_attributes_pb_t *b =
      e->upsert_workflow_search_attributes_event_attributes->search_attributes;
  size_t na = a ? a->n_indexed_fields : 0, nb = b ? b->n_indexed_fields : 0;
  if (na != nb) return false;
  for (size_t i = 0; i < na; i++)
    if (!has_key(b, a->indexed_fields[i]->key)) return false;
  return true;
}

/* An upsert of TemporalChangeVersion alone: a patch's (machine_patch.c),
 * left behind when a deprecated patch's call was removed, like its
 * marker (sdk-core skips both). */
static bool skippable(const twe_event_pb_t *e) {
  if (e->event_type != EV(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES) ||
      !e->upsert_workflow_search_attributes_event_attributes)
    return false;
  const search_attributes_pb_t *sa =
      e->upsert_workflow_search_attributes_event_attributes->search_attributes;
  return sa && sa->n_indexed_fields == 1 && has_key(sa, "TemporalChangeVersion");
}

const twe__mkind_t twe__mk_upsert_search_attributes = {
    .name = "upsert search attributes",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .same_key = same_key,
    .skippable = skippable,
    .hits = hits,
};

int twe__upsert_search_attribute(twe_run_t *run, const char *name, const char *type,
                                 const char *json, size_t len) {
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__UpsertWorkflowSearchAttributesCommandAttributes *u =
      twe__arena_alloc(a, sizeof *u);
  twe__machine_t *m = twe__machine_new(run, &twe__mk_upsert_search_attributes, sizeof *m);
  if (!c || !u || !m) return twe__arena_error(a);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__upsert_workflow_search_attributes_command_attributes__init(u);
  twe_field_t f = {name, type, {"json/plain", json, len}};
  int rc = twe__search_attributes_pb(a, &f, 1, &u->search_attributes);
  if (rc < 0) return rc;
  c->command_type =
      TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES;
  c->attributes_case = CATTR(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES);
  c->upsert_workflow_search_attributes_command_attributes = u;
  /* What twe_workflow_search_attribute reads from now on. */
  if ((rc = twe__search_attributes_note(run, u->search_attributes)) < 0) return rc;
  return twe__machine_command(run, m, c);
}

int twe_workflow_upsert_search_attribute(twe_workflow_t *wf, const char *name, const char *type,
                                         const twe_payload_t *value) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!name || !*name || !type || !*type || !value || !twe_payload_is_json(value) || run->closed)
    return -EINVAL;
  return twe__upsert_search_attribute(run, name, type, value->data, value->len);
}
