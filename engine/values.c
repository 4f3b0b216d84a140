/* engine/values.c — public values (twe/value.h) to and from Temporal's
 * Payload, Failure and RetryPolicy messages. See engine/values.h. */
#include "engine/values.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "twe/error.h"

char *twe__str(twe_arena_t *arena, const char *s) {
  if (!s) s = "";
  return twe__arena_strndup(arena, s, strlen(s));
}

bool twe_payload_is_json(const twe_payload_t *p) {
  return p && p->encoding && strcmp(p->encoding, "json/plain") == 0;
}

int twe__value_to_payload(twe_arena_t *arena, const twe_payload_t *p, twe_payload_pb_t **out) {
  if (!p || !p->encoding || !*p->encoding) return -EINVAL;
  twe_payload_pb_t *pb = twe__arena_alloc(arena, sizeof *pb);
  Temporal__Api__Common__V1__Payload__MetadataEntry *entry =
      twe__arena_alloc(arena, sizeof *entry);
  Temporal__Api__Common__V1__Payload__MetadataEntry **slots =
      twe__arena_alloc(arena, sizeof *slots);
  char *enc = twe__str(arena, p->encoding);
  uint8_t *data = twe__arena_alloc(arena, p->len);
  if (!pb || !entry || !slots || !enc || !data) return twe__arena_error(arena);
  temporal__api__common__v1__payload__init(pb);
  temporal__api__common__v1__payload__metadata_entry__init(entry);
  entry->key = "encoding";
  entry->value.data = (uint8_t *)enc;
  entry->value.len = strlen(enc);
  slots[0] = entry;
  pb->metadata = slots;
  pb->n_metadata = 1;
  if (p->len) memcpy(data, p->data, p->len);
  pb->data.data = p->len ? data : NULL;
  pb->data.len = p->len;
  *out = pb;
  return 0;
}

int twe__values_to_payloads(twe_arena_t *arena, const twe_payload_t *values, size_t n,
                            twe_payloads_pb_t **out) {
  twe_payload_pb_t **items = twe__arena_alloc(arena, n * sizeof *items);
  if (!items) return twe__arena_error(arena);
  for (size_t i = 0; i < n; i++) {
    int rc = twe__value_to_payload(arena, &values[i], &items[i]);
    if (rc < 0) return rc;
  }
  return twe__payloads_new(arena, items, n, out);
}

int twe__value_from_payload(twe_arena_t *arena, const twe_payload_pb_t *pb, twe_payload_t *out) {
  const ProtobufCBinaryData *enc = twe__payload_metadata(pb, "encoding");
  char *e = enc ? twe__arena_strndup(arena, (const char *)enc->data, enc->len)
                : twe__arena_strndup(arena, "", 0);
  if (!e) return twe__arena_error(arena);
  out->encoding = e;
  out->data = pb->data.len ? (const void *)pb->data.data : (const void *)"";
  out->len = pb->data.len;
  return 0;
}

int twe__value_check(const twe_payload_pb_t *pb, char *why, size_t why_len) {
  if (twe__payload_encoding(pb) != TWE_PAYLOAD_JSON) return 0;
  json_error_t error;
  json_t *v = json_loadb((const char *)pb->data.data, pb->data.len, JSON_DECODE_ANY, &error);
  if (v) {
    json_decref(v);
    return 0;
  }
  if (why && why_len)
    snprintf(why, why_len, "line %d column %d: %s", error.line, error.column, error.text);
  return TWE_EJSON;
}

static int failure_alloc(twe_arena_t *arena, const char *type, const char *message,
                         bool non_retryable, twe_failure_pb_t **out,
                         Temporal__Api__Failure__V1__ApplicationFailureInfo **info_out) {
  twe_failure_pb_t *f = twe__arena_alloc(arena, sizeof *f);
  Temporal__Api__Failure__V1__ApplicationFailureInfo *info = twe__arena_alloc(arena, sizeof *info);
  char *t = twe__str(arena, type);
  char *m = twe__str(arena, message);
  if (!f || !info || !t || !m) return twe__arena_error(arena);
  temporal__api__failure__v1__failure__init(f);
  temporal__api__failure__v1__application_failure_info__init(info);
  info->type = t;
  info->non_retryable = non_retryable;
  f->message = m;
  f->source = "twe";
  f->failure_info_case = TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_APPLICATION_FAILURE_INFO;
  f->application_failure_info = info;
  *out = f;
  if (info_out) *info_out = info;
  return 0;
}

int twe__failure_new(twe_arena_t *arena, const char *type, const char *message,
                     bool non_retryable, twe_failure_pb_t **out) {
  return failure_alloc(arena, type, message, non_retryable, out, NULL);
}

int twe__failure_from_error(twe_arena_t *arena, const twe_error_info_t *err,
                            twe_failure_pb_t **out) {
  Temporal__Api__Failure__V1__ApplicationFailureInfo *info;
  int rc = failure_alloc(arena, err->type, err->message, err->non_retryable, out, &info);
  if (rc < 0) return rc;
  if (err->details_count) {
    rc = twe__values_to_payloads(arena, err->details, err->details_count, &info->details);
    if (rc < 0) return rc;
  }
  return 0;
}

/* The name other SDKs give a failure that is not an application error. */
static const char *failure_kind(const twe_failure_pb_t *f) {
  switch (f->failure_info_case) {
    case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_TIMEOUT_FAILURE_INFO:
      return "TimeoutError";
    case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_CANCELED_FAILURE_INFO:
      return "CanceledError";
    case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_TERMINATED_FAILURE_INFO:
      return "TerminatedError";
    case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_SERVER_FAILURE_INFO:
      return "ServerError";
    case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_ACTIVITY_FAILURE_INFO:
      return "ActivityError";
    case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_CHILD_WORKFLOW_EXECUTION_FAILURE_INFO:
      return "ChildWorkflowError";
    default:
      return "Error";
  }
}

int twe__error_from_failure(twe_arena_t *arena, const twe_failure_pb_t *f,
                            twe_error_info_t *out) {
  memset(out, 0, sizeof *out);
  /* An activity's (or child's) failure wraps what actually happened: report
   * the cause, which is what the code that failed raised (or the timeout). */
  const twe_failure_pb_t *top = f;
  while (f->cause && (f->failure_info_case ==
                          TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_ACTIVITY_FAILURE_INFO ||
                      f->failure_info_case ==
                          TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_CHILD_WORKFLOW_EXECUTION_FAILURE_INFO))
    f = f->cause;
  const char *message = (f->message && *f->message) ? f->message : top->message;
  out->message = twe__str(arena, message);
  if (f->failure_info_case ==
          TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_APPLICATION_FAILURE_INFO &&
      f->application_failure_info) {
    const Temporal__Api__Failure__V1__ApplicationFailureInfo *info = f->application_failure_info;
    out->type = twe__str(arena, info->type);
    out->non_retryable = info->non_retryable;
    if (info->details && info->details->n_payloads) {
      size_t n = info->details->n_payloads;
      twe_payload_t *details = twe__arena_alloc(arena, n * sizeof *details);
      if (!details) return twe__arena_error(arena);
      for (size_t i = 0; i < n; i++) {
        int rc = twe__value_from_payload(arena, info->details->payloads[i], &details[i]);
        if (rc < 0) return rc;
      }
      out->details = details;
      out->details_count = n;
    }
  } else {
    out->type = twe__str(arena, failure_kind(f));
  }
  if (!out->message || !out->type) return twe__arena_error(arena);
  return 0;
}

Google__Protobuf__Duration *twe__duration_pb(twe_arena_t *arena, uint64_t ns) {
  if (ns == 0) return NULL;
  Google__Protobuf__Duration *d = twe__arena_alloc(arena, sizeof *d);
  if (!d) return NULL;
  google__protobuf__duration__init(d);
  d->seconds = (int64_t)(ns / 1000000000u);
  d->nanos = (int32_t)(ns % 1000000000u);
  return d;
}

int64_t twe__duration_ns(const Google__Protobuf__Duration *d) {
  return d ? d->seconds * 1000000000 + d->nanos : 0;
}

int64_t twe__timestamp_ns(const Google__Protobuf__Timestamp *t) {
  return t ? t->seconds * 1000000000 + t->nanos : 0;
}

static bool search_attribute_type(const char *type) {
  static const char *const types[] = {"Keyword", "Text",     "Int",        "Double",
                                      "Bool",    "Datetime", "KeywordList"};
  for (size_t i = 0; type && i < sizeof types / sizeof types[0]; i++)
    if (strcmp(type, types[i]) == 0) return true;
  return false;
}

int twe__search_attributes_pb(twe_arena_t *arena, const twe_field_t *fields, size_t n,
                              Temporal__Api__Common__V1__SearchAttributes **out) {
  *out = NULL;
  if (!n) return 0;
  Temporal__Api__Common__V1__SearchAttributes *sa = twe__arena_alloc(arena, sizeof *sa);
  Temporal__Api__Common__V1__SearchAttributes__IndexedFieldsEntry **fs =
      twe__arena_alloc(arena, n * sizeof *fs);
  if (!sa || !fs) return twe__arena_error(arena);
  temporal__api__common__v1__search_attributes__init(sa);
  for (size_t i = 0; i < n; i++) {
    const twe_field_t *f = &fields[i];
    if (!f->name || !*f->name || !search_attribute_type(f->type) || !twe_payload_is_json(&f->value))
      return -EINVAL;
    Temporal__Api__Common__V1__SearchAttributes__IndexedFieldsEntry *e =
        twe__arena_alloc(arena, sizeof *e);
    Temporal__Api__Common__V1__Payload__MetadataEntry *me =
        twe__arena_alloc(arena, 2 * sizeof *me);
    Temporal__Api__Common__V1__Payload__MetadataEntry **mes =
        twe__arena_alloc(arena, 2 * sizeof *mes);
    twe_payload_pb_t *p = twe__arena_alloc(arena, sizeof *p);
    char *data = twe__arena_alloc(arena, f->value.len ? f->value.len : 1);
    char *type = twe__str(arena, f->type);
    if (!e || !me || !mes || !p || !data || !type) return twe__arena_error(arena);
    temporal__api__common__v1__search_attributes__indexed_fields_entry__init(e);
    if (!(e->key = twe__str(arena, f->name))) return twe__arena_error(arena);
    temporal__api__common__v1__payload__init(p);
    for (int k = 0; k < 2; k++) {
      temporal__api__common__v1__payload__metadata_entry__init(&me[k]);
      mes[k] = &me[k];
    }
    me[0].key = "encoding";
    me[0].value.data = (uint8_t *)"json/plain";
    me[0].value.len = strlen("json/plain");
    me[1].key = "type";
    me[1].value.data = (uint8_t *)type;
    me[1].value.len = strlen(type);
    memcpy(data, f->value.data, f->value.len);
    p->n_metadata = 2;
    p->metadata = mes;
    p->data.data = (uint8_t *)data;
    p->data.len = f->value.len;
    e->value = p;
    fs[i] = e;
  }
  sa->n_indexed_fields = n;
  sa->indexed_fields = fs;
  *out = sa;
  return 0;
}

int twe__memo_pb(twe_arena_t *arena, const twe_field_t *fields, size_t n,
                 Temporal__Api__Common__V1__Memo **out) {
  *out = NULL;
  if (!n) return 0;
  Temporal__Api__Common__V1__Memo *m = twe__arena_alloc(arena, sizeof *m);
  Temporal__Api__Common__V1__Memo__FieldsEntry **fs = twe__arena_alloc(arena, n * sizeof *fs);
  if (!m || !fs) return twe__arena_error(arena);
  temporal__api__common__v1__memo__init(m);
  for (size_t i = 0; i < n; i++) {
    if (!fields[i].name || !*fields[i].name) return -EINVAL;
    Temporal__Api__Common__V1__Memo__FieldsEntry *e = twe__arena_alloc(arena, sizeof *e);
    if (!e) return twe__arena_error(arena);
    temporal__api__common__v1__memo__fields_entry__init(e);
    if (!(e->key = twe__str(arena, fields[i].name))) return twe__arena_error(arena);
    int rc = twe__value_to_payload(arena, &fields[i].value, &e->value);
    if (rc < 0) return rc;
    fs[i] = e;
  }
  m->n_fields = n;
  m->fields = fs;
  *out = m;
  return 0;
}

int twe__retry_policy_to_pb(twe_arena_t *arena, const twe_retry_policy_t *policy,
                            Temporal__Api__Common__V1__RetryPolicy **out) {
  Temporal__Api__Common__V1__RetryPolicy *rp = twe__arena_alloc(arena, sizeof *rp);
  if (!rp) return twe__arena_error(arena);
  temporal__api__common__v1__retry_policy__init(rp);
  rp->initial_interval = twe__duration_pb(arena, policy->initial_interval_ns);
  rp->maximum_interval = twe__duration_pb(arena, policy->maximum_interval_ns);
  if ((policy->initial_interval_ns && !rp->initial_interval) ||
      (policy->maximum_interval_ns && !rp->maximum_interval))
    return twe__arena_error(arena);
  rp->backoff_coefficient = policy->backoff_coefficient;
  rp->maximum_attempts = policy->maximum_attempts;
  size_t n = policy->non_retryable_error_types_count;
  if (n) {
    char **types = twe__arena_alloc(arena, n * sizeof *types);
    if (!types) return twe__arena_error(arena);
    for (size_t i = 0; i < n; i++) {
      types[i] = twe__str(arena, policy->non_retryable_error_types[i]);
      if (!types[i]) return twe__arena_error(arena);
    }
    rp->non_retryable_error_types = types;
    rp->n_non_retryable_error_types = n;
  }
  *out = rp;
  return 0;
}
