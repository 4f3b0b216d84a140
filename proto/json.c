/* proto/json.c — proto3 JSON to protobuf-c messages, driven by descriptors.
 *
 * One recursive walk: a JSON object becomes a message by looking each key up
 * among the descriptor's fields and storing the converted value at the
 * field's offset (protobuf-c's layout: scalars in place, strings and
 * messages as pointers, repeated fields as n_<field> plus an array, oneofs
 * with a <oneof>_case word, proto2/proto3-optional scalars with has_<field>).
 * Well-known types with a JSON form of their own are special-cased by full
 * name. The rules on plain strings (names, enums, base64, timestamps,
 * durations, masks) are proto/json_rules.c's, shared with json_text.c. See
 * json.h for the accepted forms. */
#include "proto/json.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "proto/codec.h"
#include "proto/json_internal.h"
#include "proto/registry.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/error.h"

typedef struct ctx {
  twe_arena_t *arena;
  twe__json_opts_t *opts;
  char *err;
  size_t err_len;
  int depth;
  /* Where we are, for error messages: "events[3].input.payloads[0]". */
  size_t path_len;
  char path[512];
} ctx_t;

/* ---- errors and the path ---------------------------------------------- */

static int fail(ctx_t *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ctx_t *c, int rc, const char *fmt, ...) {
  if (!c->err || c->err_len == 0) return rc;
  int n = 0;
  if (c->path_len > 0) n = snprintf(c->err, c->err_len, "%s: ", c->path);
  if (n < 0) n = 0;
  if ((size_t)n < c->err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return rc;
}

static int fail_alloc(ctx_t *c) {
  if (c->arena->limit_hit) return fail(c, TWE_ELIMIT, "arena budget exhausted");
  return fail(c, -ENOMEM, "out of memory");
}

/* Appends a segment; returns the length to restore with path_pop. A path
 * longer than the buffer is cut short (with "..."), never overflowed. */
static size_t path_push(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(ctx_t *c, const char *fmt, ...) {
  size_t saved = c->path_len;
  size_t room = sizeof c->path - c->path_len;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(c->path + c->path_len, room, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= room) {
    memcpy(c->path + sizeof c->path - 4, "...", 4);
    c->path_len = sizeof c->path - 1;
  } else {
    c->path_len += (size_t)n;
  }
  return saved;
}

static void path_pop(ctx_t *c, size_t saved) {
  c->path_len = saved;
  c->path[saved] = '\0';
}

static size_t push_field(ctx_t *c, const char *key) {
  return path_push(c, c->path_len ? ".%s" : "%s", key);
}

static const char *json_kind(const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER:
  case JSON_REAL: return "number";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  case JSON_NULL: return "null";
  }
  return "?";
}

static int wrong_type(ctx_t *c, const char *want, const json_t *j) {
  return fail(c, TWE_EJSON, "expected %s, got %s", want, json_kind(j));
}

static void *alloc(ctx_t *c, size_t size) { return twe__arena_alloc(c->arena, size); }

/* ---- scalars ------------------------------------------------------------ */

/* A JSON string that holds only a decimal number (no spaces, no hex, no
 * "inf"): what strtod should be allowed to see. */
static bool plain_number_text(const char *s) {
  if (*s == '-') s++;
  if (!(*s >= '0' && *s <= '9') && *s != '.') return false;
  for (; *s; s++)
    if (!strchr("0123456789.eE+-", *s)) return false;
  return true;
}

/* An integral double from a JSON number or numeric string. */
static int number_as_double(ctx_t *c, const json_t *j, double *out) {
  if (json_is_integer(j)) {
    *out = (double)json_integer_value(j);
    return 0;
  }
  if (json_is_real(j)) {
    *out = json_real_value(j);
    return 0;
  }
  if (json_is_string(j)) {
    const char *s = json_string_value(j);
    char *end;
    if (!plain_number_text(s)) return fail(c, TWE_EJSON, "invalid number \"%s\"", s);
    errno = 0;
    *out = strtod(s, &end);
    if (*end || end == s || errno == ERANGE)
      return fail(c, TWE_EJSON, "invalid number \"%s\"", s);
    return 0;
  }
  return wrong_type(c, "number", j);
}

static int parse_i64(ctx_t *c, const json_t *j, int64_t min, int64_t max, int64_t *out) {
  int64_t v;
  if (json_is_integer(j)) {
    v = json_integer_value(j);
  } else if (json_is_string(j)) {
    const char *s = json_string_value(j);
    char *end;
    errno = 0;
    long long ll = strtoll(s, &end, 10);
    if (*s && (*s == '-' || (*s >= '0' && *s <= '9')) && !*end) {
      if (errno == ERANGE) return fail(c, TWE_EJSON, "integer out of range \"%s\"", s);
      v = ll;
    } else {
      double d; /* "1e3", "5.0": exponent or fraction forms */
      int rc = number_as_double(c, j, &d);
      if (rc) return rc;
      if (d != trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return fail(c, TWE_EJSON, "not an integer \"%s\"", s);
      v = (int64_t)d;
    }
  } else {
    double d;
    int rc = number_as_double(c, j, &d);
    if (rc) return rc;
    if (d != trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
      return fail(c, TWE_EJSON, "not an integer: %g", d);
    v = (int64_t)d;
  }
  if (v < min || v > max) return fail(c, TWE_EJSON, "integer out of range: %" PRId64, v);
  *out = v;
  return 0;
}

static int parse_u64(ctx_t *c, const json_t *j, uint64_t max, uint64_t *out) {
  uint64_t v;
  if (json_is_string(j)) {
    const char *s = json_string_value(j);
    char *end;
    errno = 0;
    unsigned long long ull = strtoull(s, &end, 10);
    if (*s >= '0' && *s <= '9' && !*end) {
      if (errno == ERANGE) return fail(c, TWE_EJSON, "integer out of range \"%s\"", s);
      v = ull;
    } else {
      double d;
      int rc = number_as_double(c, j, &d);
      if (rc) return rc;
      if (d != trunc(d) || d < 0 || d >= 18446744073709551616.0)
        return fail(c, TWE_EJSON, "not an unsigned integer \"%s\"", s);
      v = (uint64_t)d;
    }
  } else if (json_is_integer(j)) {
    if (json_integer_value(j) < 0) return fail(c, TWE_EJSON, "negative value for unsigned field");
    v = (uint64_t)json_integer_value(j);
  } else {
    double d;
    int rc = number_as_double(c, j, &d);
    if (rc) return rc;
    if (d != trunc(d) || d < 0 || d >= 18446744073709551616.0)
      return fail(c, TWE_EJSON, "not an unsigned integer: %g", d);
    v = (uint64_t)d;
  }
  if (v > max) return fail(c, TWE_EJSON, "integer out of range: %" PRIu64, v);
  *out = v;
  return 0;
}

static int parse_double(ctx_t *c, const json_t *j, bool is_float, double *out) {
  double d;
  if (json_is_string(j)) {
    const char *s = json_string_value(j);
    if (!strcmp(s, "NaN")) d = NAN;
    else if (!strcmp(s, "Infinity")) d = INFINITY;
    else if (!strcmp(s, "-Infinity")) d = -INFINITY;
    else {
      int rc = number_as_double(c, j, &d);
      if (rc) return rc;
    }
  } else {
    int rc = number_as_double(c, j, &d);
    if (rc) return rc;
  }
  if (is_float && isfinite(d) && fabs(d) > FLT_MAX)
    return fail(c, TWE_EJSON, "float out of range: %g", d);
  *out = d;
  return 0;
}

static int parse_base64(ctx_t *c, const json_t *j, ProtobufCBinaryData *out) {
  if (!json_is_string(j)) return wrong_type(c, "base64 string", j);
  int rc = twe__json_base64(c->arena, json_string_value(j), json_string_length(j), out);
  if (rc < 0) return fail_alloc(c);
  return rc ? fail(c, TWE_EJSON, "invalid base64") : 0;
}

static int parse_enum(ctx_t *c, const ProtobufCEnumDescriptor *ed, const json_t *j, int32_t *out) {
  if (json_is_string(j)) {
    const char *s = json_string_value(j);
    if (twe__json_enum_by_name(ed, s, out)) return 0;
    return fail(c, TWE_EJSON, "unknown enum value \"%s\" for %s", s, ed->name);
  }
  if (json_is_number(j)) {
    int64_t v;
    int rc = parse_i64(c, j, INT32_MIN, INT32_MAX, &v);
    if (rc) return rc;
    *out = (int32_t)v; /* proto3 enums are open: unnamed numbers are kept */
    return 0;
  }
  return wrong_type(c, "enum name or number", j);
}

static int parse_string(ctx_t *c, const json_t *j, char **out) {
  if (!json_is_string(j)) return wrong_type(c, "string", j);
  size_t n = json_string_length(j);
  const char *s = json_string_value(j);
  /* protobuf-c keeps strings NUL-terminated; an embedded NUL would be cut. */
  if (strlen(s) != n) return fail(c, TWE_EJSON, "string contains NUL");
  *out = twe__arena_strndup(c->arena, s, n);
  return *out ? 0 : fail_alloc(c);
}

/* ---- messages ------------------------------------------------------------- */

static int parse_message(ctx_t *c, const ProtobufCMessageDescriptor *desc, const json_t *j,
                         ProtobufCMessage **out);
static int fill_message(ctx_t *c, const ProtobufCMessageDescriptor *desc, const json_t *j,
                        ProtobufCMessage *msg, bool skip_at_type);

static bool is_value_type(const ProtobufCFieldDescriptor *f) {
  return f->type == PROTOBUF_C_TYPE_MESSAGE &&
         f->descriptor == &google__protobuf__value__descriptor;
}

/* One value of field f's type from j into dst (the field's storage, or one
 * element of its array). j is never null here unless f is a Value. */
static int parse_element(ctx_t *c, const ProtobufCFieldDescriptor *f, const json_t *j, void *dst) {
  int rc;
  int64_t i;
  uint64_t u;
  double d;
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    if ((rc = parse_i64(c, j, INT32_MIN, INT32_MAX, &i))) return rc;
    *(int32_t *)dst = (int32_t)i;
    return 0;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    if ((rc = parse_u64(c, j, UINT32_MAX, &u))) return rc;
    *(uint32_t *)dst = (uint32_t)u;
    return 0;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    if ((rc = parse_i64(c, j, INT64_MIN, INT64_MAX, &i))) return rc;
    *(int64_t *)dst = i;
    return 0;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    if ((rc = parse_u64(c, j, UINT64_MAX, &u))) return rc;
    *(uint64_t *)dst = u;
    return 0;
  case PROTOBUF_C_TYPE_FLOAT:
    if ((rc = parse_double(c, j, true, &d))) return rc;
    *(float *)dst = (float)d;
    return 0;
  case PROTOBUF_C_TYPE_DOUBLE:
    if ((rc = parse_double(c, j, false, &d))) return rc;
    *(double *)dst = d;
    return 0;
  case PROTOBUF_C_TYPE_BOOL:
    if (!json_is_boolean(j)) return wrong_type(c, "boolean", j);
    *(protobuf_c_boolean *)dst = json_is_true(j);
    return 0;
  case PROTOBUF_C_TYPE_ENUM: {
    int32_t e = 0;
    if ((rc = parse_enum(c, f->descriptor, j, &e))) return rc;
    *(int32_t *)dst = e;
    return 0;
  }
  case PROTOBUF_C_TYPE_STRING: return parse_string(c, j, (char **)dst);
  case PROTOBUF_C_TYPE_BYTES: return parse_base64(c, j, (ProtobufCBinaryData *)dst);
  case PROTOBUF_C_TYPE_MESSAGE:
    return parse_message(c, f->descriptor, j, (ProtobufCMessage **)dst);
  }
  return fail(c, TWE_EJSON, "unsupported field type");
}

static int parse_map_key(ctx_t *c, const ProtobufCFieldDescriptor *kf, const char *key, void *dst) {
  if (kf->type == PROTOBUF_C_TYPE_STRING) {
    *(char **)dst = twe__arena_strndup(c->arena, key, strlen(key));
    return *(char **)dst ? 0 : fail_alloc(c);
  }
  if (kf->type == PROTOBUF_C_TYPE_BOOL) {
    if (strcmp(key, "true") && strcmp(key, "false"))
      return fail(c, TWE_EJSON, "invalid boolean map key");
    *(protobuf_c_boolean *)dst = key[0] == 't';
    return 0;
  }
  json_t *tmp = json_string(key); /* integer keys: parse like numeric strings */
  if (!tmp) return fail(c, -ENOMEM, "out of memory");
  int rc = parse_element(c, kf, tmp, dst);
  json_decref(tmp);
  return rc;
}

static int set_map(ctx_t *c, const ProtobufCFieldDescriptor *f, const json_t *j, uint8_t *base) {
  const ProtobufCMessageDescriptor *ed = f->descriptor;
  const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
  size_t n = json_object_size(j), i = 0;
  ProtobufCMessage **entries = alloc(c, n * sizeof *entries);
  if (!entries) return fail_alloc(c);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)j, key, v) {
    size_t saved = path_push(c, "[\"%s\"]", key);
    ProtobufCMessage *e = alloc(c, ed->sizeof_message);
    if (!e) return fail_alloc(c);
    ed->message_init(e);
    int rc = parse_map_key(c, kf, key, (uint8_t *)e + kf->offset);
    if (rc) return rc;
    if (json_is_null(v) && !is_value_type(vf)) return fail(c, TWE_EJSON, "null map value");
    if ((rc = parse_element(c, vf, v, (uint8_t *)e + vf->offset))) return rc;
    entries[i++] = e;
    path_pop(c, saved);
  }
  *(size_t *)(base + f->quantifier_offset) = i;
  *(ProtobufCMessage ***)(base + f->offset) = entries;
  return 0;
}

static int set_repeated(ctx_t *c, const ProtobufCFieldDescriptor *f, const json_t *j,
                        uint8_t *base) {
  if (json_is_object(j) && f->type == PROTOBUF_C_TYPE_MESSAGE && twe__json_is_map_entry(f->descriptor))
    return set_map(c, f, j, base);
  if (!json_is_array(j)) return wrong_type(c, "array", j);
  size_t n = json_array_size(j), size = twe__json_element_size(f->type);
  uint8_t *arr = alloc(c, n * size);
  if (!arr) return fail_alloc(c);
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_array_get(j, i);
    size_t saved = path_push(c, "[%zu]", i);
    if (json_is_null(v) && !is_value_type(f)) return fail(c, TWE_EJSON, "null in array");
    int rc = parse_element(c, f, v, arr + i * size);
    if (rc) return rc;
    path_pop(c, saved);
  }
  *(size_t *)(base + f->quantifier_offset) = n;
  *(void **)(base + f->offset) = arr;
  return 0;
}

static int set_field(ctx_t *c, const ProtobufCFieldDescriptor *f, const json_t *j,
                     ProtobufCMessage *msg) {
  uint8_t *base = (uint8_t *)msg;
  /* null means "not set", except for google.protobuf.Value, where it is the
   * JSON null value itself. */
  if (json_is_null(j) && !is_value_type(f)) return 0;
  if (f->label == PROTOBUF_C_LABEL_REPEATED) return set_repeated(c, f, j, base);
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
    if (*which != 0 && *which != f->id)
      return fail(c, TWE_EJSON, "more than one member of a oneof is set");
    int rc = parse_element(c, f, j, base + f->offset);
    if (rc) return rc;
    *which = f->id;
    return 0;
  }
  int rc = parse_element(c, f, j, base + f->offset);
  if (rc) return rc;
  if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
      f->type != PROTOBUF_C_TYPE_MESSAGE)
    *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
  return 0;
}

static int fill_message(ctx_t *c, const ProtobufCMessageDescriptor *desc, const json_t *j,
                        ProtobufCMessage *msg, bool skip_at_type) {
  if (!json_is_object(j)) return wrong_type(c, "object", j);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)j, key, v) {
    if (skip_at_type && !strcmp(key, "@type")) continue;
    const ProtobufCFieldDescriptor *f = twe__json_find_field(desc, key);
    size_t saved = push_field(c, key);
    if (!f) {
      if (c->opts && c->opts->reject_unknown)
        return fail(c, TWE_EJSON, "unknown field of %s", desc->name);
      if (c->opts) c->opts->unknown_fields++;
    } else {
      int rc = set_field(c, f, v, msg);
      if (rc) return rc;
    }
    path_pop(c, saved);
  }
  return 0;
}

/* ---- well-known types --------------------------------------------------- */

static int parse_timestamp(ctx_t *c, const json_t *j, Google__Protobuf__Timestamp *ts) {
  if (!json_is_string(j)) return wrong_type(c, "RFC 3339 timestamp string", j);
  const char *s = json_string_value(j);
  return twe__json_timestamp(s, ts) ? 0 : fail(c, TWE_EJSON, "invalid timestamp \"%s\"", s);
}

static int parse_duration(ctx_t *c, const json_t *j, Google__Protobuf__Duration *du) {
  if (!json_is_string(j)) return wrong_type(c, "duration string", j);
  const char *s = json_string_value(j);
  return twe__json_duration(s, du) ? 0 : fail(c, TWE_EJSON, "invalid duration \"%s\"", s);
}

static int parse_field_mask(ctx_t *c, const json_t *j, Google__Protobuf__FieldMask *fm) {
  if (!json_is_string(j)) return wrong_type(c, "field mask string", j);
  return twe__json_field_mask(c->arena, json_string_value(j), fm) < 0 ? fail_alloc(c) : 0;
}

static int parse_value(ctx_t *c, const json_t *j, Google__Protobuf__Value *v) {
  const ProtobufCMessageDescriptor *d = &google__protobuf__value__descriptor;
  switch (json_typeof(j)) {
  case JSON_NULL:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
    v->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
    return 0;
  case JSON_TRUE:
  case JSON_FALSE:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
    v->bool_value = json_is_true(j);
    return 0;
  case JSON_INTEGER:
  case JSON_REAL:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    v->number_value = json_number_value(j);
    return 0;
  case JSON_STRING:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    return parse_string(c, j, &v->string_value);
  case JSON_OBJECT:
  case JSON_ARRAY: {
    const char *name = json_is_object(j) ? "struct_value" : "list_value";
    return set_field(c, protobuf_c_message_descriptor_get_field_by_name(d, name), j, &v->base);
  }
  }
  return wrong_type(c, "JSON value", j);
}

/* Types whose JSON is not a plain object of their fields; inside an Any
 * their JSON sits under "value". */
static bool has_special_json(const ProtobufCMessageDescriptor *d) {
  return d == &google__protobuf__timestamp__descriptor ||
         d == &google__protobuf__duration__descriptor ||
         d == &google__protobuf__field_mask__descriptor ||
         d == &google__protobuf__struct__descriptor || d == &google__protobuf__value__descriptor ||
         d == &google__protobuf__list_value__descriptor ||
         d == &google__protobuf__any__descriptor || twe__json_is_wrapper(d);
}

static int parse_any(ctx_t *c, const json_t *j, Google__Protobuf__Any *any) {
  if (!json_is_object(j)) return wrong_type(c, "object with \"@type\"", j);
  const json_t *t = json_object_get(j, "@type");
  if (!t) return json_object_size(j) == 0 ? 0 : fail(c, TWE_EJSON, "Any without \"@type\"");
  if (!json_is_string(t)) return fail(c, TWE_EJSON, "\"@type\" is not a string");
  const char *url = json_string_value(t);
  size_t name_len;
  const char *name = twe__proto_any_type_name(url, &name_len);
  const ProtobufCMessageDescriptor *d = twe__proto_descriptor_by_name(name, name_len);
  if (!d) return fail(c, TWE_EJSON, "unknown Any type \"%s\"", url);
  ProtobufCMessage *inner;
  int rc;
  if (has_special_json(d)) {
    const json_t *v = json_object_get(j, "value");
    if (!v) return fail(c, TWE_EJSON, "Any of %s without \"value\"", d->name);
    size_t saved = push_field(c, "value");
    if ((rc = parse_message(c, d, v, &inner))) return rc;
    path_pop(c, saved);
  } else {
    inner = alloc(c, d->sizeof_message);
    if (!inner) return fail_alloc(c);
    d->message_init(inner);
    if (++c->depth > TWE_JSON_MAX_DEPTH) return fail(c, TWE_EJSON, "nesting too deep");
    rc = fill_message(c, d, j, inner, true);
    c->depth--;
    if (rc) return rc;
  }
  uint8_t *bytes;
  size_t len;
  if ((rc = twe__proto_encode(inner, c->arena, &bytes, &len)))
    return rc == TWE_EENCODE ? fail(c, TWE_EJSON, "cannot encode Any body") : fail_alloc(c);
  if (!(any->type_url = twe__arena_strndup(c->arena, url, strlen(url)))) return fail_alloc(c);
  any->value.data = bytes;
  any->value.len = len;
  return 0;
}

/* Fills msg of a well-known type from j. Returns 1 when desc is not one
 * with a JSON form of its own (then the caller reads a plain object). */
static int parse_well_known(ctx_t *c, const ProtobufCMessageDescriptor *d, const json_t *j,
                            ProtobufCMessage *msg) {
  if (strncmp(d->name, "google.protobuf.", 16) != 0) return 1;
  if (d == &google__protobuf__timestamp__descriptor)
    return parse_timestamp(c, j, (Google__Protobuf__Timestamp *)msg);
  if (d == &google__protobuf__duration__descriptor)
    return parse_duration(c, j, (Google__Protobuf__Duration *)msg);
  if (d == &google__protobuf__field_mask__descriptor)
    return parse_field_mask(c, j, (Google__Protobuf__FieldMask *)msg);
  if (d == &google__protobuf__value__descriptor)
    return parse_value(c, j, (Google__Protobuf__Value *)msg);
  if (d == &google__protobuf__any__descriptor)
    return parse_any(c, j, (Google__Protobuf__Any *)msg);
  if (d == &google__protobuf__struct__descriptor) {
    if (!json_is_object(j)) return wrong_type(c, "object", j);
    return set_field(c, &d->fields[0], j, msg); /* map<string, Value> fields = 1 */
  }
  if (d == &google__protobuf__list_value__descriptor) {
    if (!json_is_array(j)) return wrong_type(c, "array", j);
    return set_field(c, &d->fields[0], j, msg); /* repeated Value values = 1 */
  }
  if (twe__json_is_wrapper(d)) return set_field(c, &d->fields[0], j, msg); /* value = 1 */
  return 1;
}

static int parse_message(ctx_t *c, const ProtobufCMessageDescriptor *desc, const json_t *j,
                         ProtobufCMessage **out) {
  if (json_is_null(j) && desc != &google__protobuf__value__descriptor)
    return wrong_type(c, "object", j);
  if (c->depth >= TWE_JSON_MAX_DEPTH) return fail(c, TWE_EJSON, "nesting too deep");
  ProtobufCMessage *msg = alloc(c, desc->sizeof_message);
  if (!msg) return fail_alloc(c);
  desc->message_init(msg);
  c->depth++;
  int rc = parse_well_known(c, desc, j, msg);
  if (rc == 1) rc = fill_message(c, desc, j, msg, false);
  c->depth--;
  if (rc) return rc;
  *out = msg;
  return 0;
}

/* ---- entry points --------------------------------------------------------- */

static void ctx_init(ctx_t *c, twe_arena_t *arena, twe__json_opts_t *opts, char *err,
                     size_t err_len) {
  c->arena = arena;
  c->opts = opts;
  c->err = err;
  c->err_len = err_len;
  c->depth = 0;
  c->path_len = 0;
  c->path[0] = '\0';
  if (err && err_len) err[0] = '\0';
}

int twe__proto_from_json_opts(const ProtobufCMessageDescriptor *desc, const json_t *json,
                              twe_arena_t *arena, twe__json_opts_t *opts, ProtobufCMessage **out,
                              char *err, size_t err_len) {
  ctx_t c;
  ctx_init(&c, arena, opts, err, err_len);
  if (!json) return fail(&c, TWE_EJSON, "no JSON value");
  return parse_message(&c, desc, json, out);
}

int twe__json_tree_field(const ProtobufCFieldDescriptor *f, const json_t *j, ProtobufCMessage *msg,
                         twe_arena_t *arena, int depth) {
  ctx_t c;
  ctx_init(&c, arena, NULL, NULL, 0);
  c.depth = depth;
  return set_field(&c, f, j, msg);
}

int twe__proto_from_json(const ProtobufCMessageDescriptor *desc, const json_t *json,
                         twe_arena_t *arena, ProtobufCMessage **out, char *err, size_t err_len) {
  return twe__proto_from_json_opts(desc, json, arena, NULL, out, err, err_len);
}

static int load_text(const char *text, size_t len, json_t **out, char *err, size_t err_len) {
  json_error_t je;
  *out = json_loadb(text, len, JSON_DECODE_ANY, &je);
  if (*out) return 0;
  if (err && err_len)
    snprintf(err, err_len, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
  return TWE_EJSON;
}

/* The text entry points try the one-pass reader (json_text.c) first; when
 * it gives up, the arena goes back to where it stood and the tree reader
 * runs, so every outcome (the message, the error and its message, the
 * arena's budget) is the tree reader's. */
int twe__proto_from_json_text(const ProtobufCMessageDescriptor *desc, const char *text,
                              size_t len, twe_arena_t *arena, ProtobufCMessage **out, char *err,
                              size_t err_len) {
  twe__arena_mark_t mark;
  twe__arena_mark(arena, &mark);
  if (twe__json_text_read(desc, text, len, arena, out) == 0) {
    if (err && err_len) err[0] = '\0';
    return 0;
  }
  twe__arena_rewind(arena, &mark);
  json_t *j;
  int rc = load_text(text, len, &j, err, err_len);
  if (rc) return rc;
  rc = twe__proto_from_json(desc, j, arena, out, err, err_len);
  json_decref(j);
  return rc;
}

int twe__history_from_json_text(const char *text, size_t len, twe_arena_t *arena,
                                Temporal__Api__History__V1__History **out, char *err,
                                size_t err_len) {
  twe__arena_mark_t mark;
  twe__arena_mark(arena, &mark);
  if (twe__json_text_read_history(text, len, arena, out) == 0) {
    if (err && err_len) err[0] = '\0';
    return 0;
  }
  twe__arena_rewind(arena, &mark);
  json_t *j;
  int rc = load_text(text, len, &j, err, err_len);
  if (rc) return rc;
  ProtobufCMessage *msg;
  if (json_is_array(j)) {
    /* A bare list of events: read it as {"events": [...]}. */
    json_t *wrap = json_object();
    if (!wrap || json_object_set(wrap, "events", j)) {
      json_decref(wrap);
      json_decref(j);
      if (err && err_len) snprintf(err, err_len, "out of memory");
      return -ENOMEM;
    }
    json_decref(j);
    j = wrap;
  }
  if (json_is_object(j) && json_object_get(j, "history") && !json_object_get(j, "events")) {
    rc = twe__proto_from_json(
        &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor,
        j, arena, &msg, err, err_len);
    if (rc == 0) {
      Temporal__Api__History__V1__History *h =
          ((Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *)msg)
              ->history;
      if (!h) { /* {"history": null} */
        h = twe__arena_alloc(arena, sizeof *h);
        if (!h) rc = twe__arena_error(arena);
        else temporal__api__history__v1__history__init(h);
      }
      if (rc == 0) *out = h;
      else if (err && err_len) snprintf(err, err_len, "out of memory");
    }
  } else {
    rc = twe__proto_from_json(&temporal__api__history__v1__history__descriptor, j, arena, &msg,
                              err, err_len);
    if (rc == 0) *out = (Temporal__Api__History__V1__History *)msg;
  }
  json_decref(j);
  return rc;
}
