/* engine/activity_api.c — twe_activity_* (include/twe/activity.h): what
 * activity code calls on its pool thread. Reads come from the activity's
 * fixed fields (set before the job was submitted); the outcome goes into
 * the job-owned out_arena; heartbeats go to the shard through
 * twe__act_record_heartbeat. See engine/activity_internal.h for who owns
 * what. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine/activity_internal.h"
#include "twe/error.h"

const twe_activity_info_t *twe_activity_info(twe_activity_t *act) {
  return &act->info;
}

size_t twe_activity_arg_count(twe_activity_t *act) {
  return act->nargs;
}

int twe_activity_pack(twe_activity_t *act, twe_payload_t *out, twe_error_info_t *err,
                      const char *fmt, ...) {
  if (!act || !out || !fmt) return -EINVAL;
  va_list ap;
  va_start(ap, fmt);
  int rc = twe__json_vpack(&act->out_arena, out, err, fmt, ap);
  va_end(ap);
  return rc;
}

int twe_activity_unpack(twe_activity_t *act, const twe_payload_t *p, twe_error_info_t *err,
                        const char *fmt, ...) {
  if (!act || !fmt) return -EINVAL;
  va_list ap;
  va_start(ap, fmt);
  int rc = twe__json_vunpack(&act->out_arena, &act->json_keep, p, err, fmt, ap);
  va_end(ap);
  return rc;
}

int twe_activity_unpack_arg(twe_activity_t *act, size_t i, twe_error_info_t *err,
                            const char *fmt, ...) {
  if (!act || !fmt) return -EINVAL;
  if (i >= act->nargs) {
    if (err) {
      memset(err, 0, sizeof *err);
      err->type = "twe.InvalidArgument";
      err->message = "an activity argument is missing";
      err->non_retryable = true;
    }
    return -ERANGE;
  }
  va_list ap;
  va_start(ap, fmt);
  int rc = twe__json_vunpack(&act->out_arena, &act->json_keep, &act->args[i], err, fmt, ap);
  va_end(ap);
  return rc;
}

int twe_activity_arg(twe_activity_t *act, size_t i, twe_payload_t *out) {
  if (i >= act->nargs) return -ERANGE;
  *out = act->args[i];
  return 0;
}

size_t twe_activity_heartbeat_details_count(twe_activity_t *act) {
  return act->nprev_details;
}

int twe_activity_heartbeat_details(twe_activity_t *act, size_t i, twe_payload_t *out) {
  if (i >= act->nprev_details) return -ERANGE;
  *out = act->prev_details[i];
  return 0;
}

twe__act_details_t *twe__act_details_new(const twe_payload_t *p, size_t n, int *rc) {
  /* One block: the header, the array, then each encoding and data. */
  size_t size = sizeof(twe__act_details_t) + n * sizeof(twe_payload_t);
  for (size_t i = 0; i < n; i++) {
    if (!p[i].encoding || !*p[i].encoding || (p[i].len && !p[i].data)) {
      *rc = -EINVAL;
      return NULL;
    }
    size += strlen(p[i].encoding) + 1 + p[i].len;
  }
  twe__act_details_t *d = malloc(size);
  if (!d) {
    *rc = -ENOMEM;
    return NULL;
  }
  d->n = n;
  char *cursor = (char *)&d->items[n];
  for (size_t i = 0; i < n; i++) {
    size_t elen = strlen(p[i].encoding) + 1;
    memcpy(cursor, p[i].encoding, elen);
    d->items[i].encoding = cursor;
    cursor += elen;
    if (p[i].len) memcpy(cursor, p[i].data, p[i].len);
    d->items[i].data = cursor;
    d->items[i].len = p[i].len;
    cursor += p[i].len;
  }
  *rc = 0;
  return d;
}

int twe_activity_heartbeat(twe_activity_t *act, const twe_payload_t *details, size_t n) {
  int rc;
  twe__act_details_t *d = twe__act_details_new(details, details ? n : 0, &rc);
  if (!d) return rc;
  return twe__act_record_heartbeat(act, d);
}

bool twe_activity_cancelled(twe_activity_t *act) {
  /* Relaxed: see the field's comment; the worker's stop and the pool's own
   * cancel both count. */
  return atomic_load_explicit(&act->cancel, memory_order_relaxed) != TWE__ACT_CANCEL_NONE ||
         twe__job_cancelled(&act->job);
}

/* Copies p (encoding and bytes) into the job-owned arena. */
static int copy_payload(twe_arena_t *arena, const twe_payload_t *p, twe_payload_t *out) {
  if (!p->encoding || !*p->encoding || (p->len && !p->data)) return -EINVAL;
  char *enc = twe__arena_strndup(arena, p->encoding, strlen(p->encoding));
  void *data = twe__arena_alloc(arena, p->len ? p->len : 1);
  if (!enc || !data) return -ENOMEM;
  if (p->len) memcpy(data, p->data, p->len);
  out->encoding = enc;
  out->data = data;
  out->len = p->len;
  return 0;
}

int twe_activity_complete(twe_activity_t *act, const twe_payload_t *result) {
  twe_payload_t null = twe_payload_null();
  twe_payload_t copy;
  int rc = copy_payload(&act->out_arena, result ? result : &null, &copy);
  if (rc < 0) return rc;
  act->result = copy;
  act->outcome = TWE__ACT_COMPLETED;
  return 0;
}

int twe_activity_fail(twe_activity_t *act, const twe_error_info_t *err) {
  if (!err) return -EINVAL;
  twe_arena_t *a = &act->out_arena;
  twe_error_info_t e = {.non_retryable = err->non_retryable};
  const char *type = err->type && *err->type ? err->type : "Error";
  const char *message = err->message ? err->message : "";
  e.type = twe__arena_strndup(a, type, strlen(type));
  e.message = twe__arena_strndup(a, message, strlen(message));
  if (!e.type || !e.message) return -ENOMEM;
  if (err->details_count) {
    if (!err->details) return -EINVAL;
    twe_payload_t *details = twe__arena_alloc(a, err->details_count * sizeof *details);
    if (!details) return -ENOMEM;
    for (size_t i = 0; i < err->details_count; i++) {
      int rc = copy_payload(a, &err->details[i], &details[i]);
      if (rc < 0) return rc;
    }
    e.details = details;
    e.details_count = err->details_count;
  }
  act->error = e;
  act->outcome = TWE__ACT_FAILED;
  return 0;
}
