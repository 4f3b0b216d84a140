/* engine/workflow/workflow_api.c — the workflow calls that are no
 * machine's (include/twe/workflow.h): info, arguments, deterministic time
 * and randomness, memory, and how the workflow ends. The calls that start
 * something are beside their machine (machine_<kind>.c); the future calls
 * are in futures.c.
 *
 * Every function taking a twe_workflow_t must be called by the workflow
 * code of that run, on its fiber, during an activation: anything else is a
 * programming error and aborts with a message naming the function (there
 * is no sensible value to return, and carrying on would break determinism
 * silently). */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/workflow/run_internal.h"
#include "engine/values.h"
#include "engine/watchdog.h"
#include "twe/error.h"
#include "twe/workflow.h"

/* --- context ------------------------------------------------------------------------ */

const twe_workflow_info_t *twe_workflow_info(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  return &twe__run_of(wf, __func__)->info;
}

int64_t twe_workflow_history_length(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  /* The task's WORKFLOW_TASK_STARTED is the last event it holds. */
  return twe__run_of(wf, __func__)->last_started_event_id;
}

int64_t twe_workflow_history_size_bytes(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  return twe__run_of(wf, __func__)->history_size_bytes;
}

bool twe_workflow_continue_as_new_suggested(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  return twe__run_of(wf, __func__)->suggest_continue_as_new;
}

void twe_workflow_log(twe_workflow_t *wf, twe_log_level_t level, const char *fmt, ...) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  /* Said when the code first ran; a replay (or a query's look) is quiet. */
  if (run->replaying || level < run->env.log_level || !fmt) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  twe_workflow_log_record_t rec = {level, run->info.workflow_type, run->info.workflow_id,
                                   run->info.run_id, msg};
  if (run->env.log) {
    run->env.log(run->env.log_user, &rec);
    return;
  }
  /* Else the worker's log, in its format, every line. */
  twe_log_record_t r = {level, run->env.worker ? run->env.shard : -1, run->info.workflow_type,
                        run->info.workflow_id,
                        run->info.run_id, msg};
  twe__log_record(run->env.worker, &r);
}

int twe__search_attributes_note(twe_run_t *run, Temporal__Api__Common__V1__SearchAttributes *sa) {
  struct twe__sa_set *set = sa ? twe__arena_alloc(&run->arena, sizeof *set) : NULL;
  if (!set) return twe__run_oom(run);
  set->sa = sa;
  set->next = run->search_attributes;
  run->search_attributes = set;
  return 0;
}

int twe_workflow_memo(twe_workflow_t *wf, const char *name, twe_payload_t *out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!name || !out) return -EINVAL;
  for (size_t i = 0; run->memo && i < run->memo->n_fields; i++) {
    const Temporal__Api__Common__V1__Memo__FieldsEntry *f = run->memo->fields[i];
    if (f->key && f->value && strcmp(f->key, name) == 0)
      return twe__value_from_payload(&run->arena, f->value, out) < 0 ? -ENOMEM : 0;
  }
  return -ENOENT;
}

int twe_workflow_search_attribute(twe_workflow_t *wf, const char *name, twe_payload_t *out,
                                  const char **type) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!name || !out) return -EINVAL;
  for (const struct twe__sa_set *set = run->search_attributes; set; set = set->next)
    for (size_t i = 0; i < set->sa->n_indexed_fields; i++) {
      const Temporal__Api__Common__V1__SearchAttributes__IndexedFieldsEntry *f =
          set->sa->indexed_fields[i];
      if (!f->key || !f->value || strcmp(f->key, name) != 0) continue;
      if (twe__value_from_payload(&run->arena, f->value, out) < 0) return -ENOMEM;
      if (type) {
        *type = "";
        for (size_t k = 0; k < f->value->n_metadata; k++)
          if (f->value->metadata[k]->key && strcmp(f->value->metadata[k]->key, "type") == 0) {
            const ProtobufCBinaryData *t = &f->value->metadata[k]->value;
            char *copy = twe__arena_strndup(&run->arena, (const char *)t->data, t->len);
            if (!copy) return -ENOMEM;
            *type = copy;
          }
      }
      return 0;
    }
  return -ENOENT;
}

size_t twe_workflow_arg_count(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  return twe__run_of(wf, __func__)->nargs;
}

int twe_workflow_arg(twe_workflow_t *wf, size_t i, twe_payload_t *out) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (i >= run->nargs) return -ERANGE;
  *out = run->args[i];
  return 0;
}

int64_t twe_workflow_now(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  return twe__run_of(wf, __func__)->now_ns;
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t twe_workflow_random(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  /* xoshiro256**, seeded in run.c from the original run id. */
  twe_run_t *run = twe__run_of(wf, __func__);
  /* A query changes nothing: it draws from a copy of the state. */
  uint64_t copy[4], *s = run->rng;
  if (run->in_query) {
    memcpy(copy, run->rng, sizeof copy);
    s = copy;
  }
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

bool twe_workflow_is_replaying(twe_workflow_t *wf) {
  TWE__WATCH_API_GUARD();
  return twe__run_of(wf, __func__)->replaying;
}

void *twe_workflow_alloc(twe_workflow_t *wf, size_t size) {
  TWE__WATCH_API_GUARD();
  return twe__arena_alloc(&twe__run_of(wf, __func__)->arena, size);
}

/* --- JSON ------------------------------------------------------------------------------- */

int twe_workflow_pack(twe_workflow_t *wf, twe_payload_t *out, twe_error_info_t *err,
                      const char *fmt, ...) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!out || !fmt) return -EINVAL;
  va_list ap;
  va_start(ap, fmt);
  int rc = twe__json_vpack(&run->arena, out, err, fmt, ap);
  va_end(ap);
  return rc;
}

int twe_workflow_unpack(twe_workflow_t *wf, const twe_payload_t *p, twe_error_info_t *err,
                        const char *fmt, ...) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!fmt) return -EINVAL;
  va_list ap;
  va_start(ap, fmt);
  int rc = twe__json_vunpack(&run->arena, &run->json_keep, p, err, fmt, ap);
  va_end(ap);
  return rc;
}

int twe_workflow_unpack_arg(twe_workflow_t *wf, size_t i, twe_error_info_t *err,
                            const char *fmt, ...) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  if (!fmt) return -EINVAL;
  if (i >= run->nargs) {
    if (err) {
      memset(err, 0, sizeof *err);
      err->type = "twe.InvalidArgument";
      err->message = twe__str(&run->arena, "a workflow argument is missing");
      err->non_retryable = true;
    }
    return -ERANGE;
  }
  va_list ap;
  va_start(ap, fmt);
  int rc = twe__json_vunpack(&run->arena, &run->json_keep, &run->args[i], err, fmt, ap);
  va_end(ap);
  return rc;
}

/* --- the end ------------------------------------------------------------------------------- */

int twe_workflow_complete(twe_workflow_t *wf, const twe_payload_t *result) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  twe_payload_t null_value = twe_payload_null();
  twe_payload_pb_t *pb;
  rc = twe__value_to_payload(&run->arena, result ? result : &null_value, &pb);
  if (rc < 0) return rc;
  run->result = pb;
  return 0;
}

int twe_workflow_fail(twe_workflow_t *wf, const twe_error_info_t *err) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!err) return -EINVAL;
  twe_failure_pb_t *f;
  rc = twe__failure_from_error(&run->arena, err, &f);
  if (rc < 0) return rc;
  run->failure = f;
  return 0;
}
