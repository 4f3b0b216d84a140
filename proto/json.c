/* proto/json.c — proto3 JSON to protobuf-c messages, driven by descriptors.
 *
 * One recursive walk: a JSON object becomes a message by looking each key up
 * among the descriptor's fields and storing the converted value at the
 * field's offset (protobuf-c's layout: scalars in place, strings and
 * messages as pointers, repeated fields as n_<field> plus an array, oneofs
 * with a <oneof>_case word, proto2/proto3-optional scalars with has_<field>).
 * Well-known types with a JSON form of their own are special-cased by full
 * name. See json.h for the accepted forms. */
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

/* Standard or URL-safe base64, padding optional, CR/LF ignored (what Go's
 * decoder that protojson uses tolerates). */
int twe__json_base64(twe_arena_t *arena, const char *s, size_t n, ProtobufCBinaryData *out) {
  uint8_t *buf = twe__arena_alloc(arena, n / 4 * 3 + 3);
  if (!buf) return -1;
  uint32_t acc = 0;
  size_t bits = 0, len = 0, digits = 0, pad = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    int v;
    if (ch == '\r' || ch == '\n') continue;
    if (ch == '=') {
      pad++;
      continue;
    }
    if (pad) return 1;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    else if (ch == '+' || ch == '-') v = 62;
    else if (ch == '/' || ch == '_') v = 63;
    else return 1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    digits++;
    if (bits >= 8) {
      bits -= 8;
      buf[len++] = (uint8_t)(acc >> bits);
    }
  }
  /* One digit left over in a quad carries no whole byte; padding, when
   * present, must complete the quad exactly. */
  if (digits % 4 == 1 || pad > 2 || (pad && (digits + pad) % 4 != 0)) return 1;
  out->data = buf;
  out->len = len;
  return 0;
}

static int parse_base64(ctx_t *c, const json_t *j, ProtobufCBinaryData *out) {
  if (!json_is_string(j)) return wrong_type(c, "base64 string", j);
  int rc = twe__json_base64(c->arena, json_string_value(j), json_string_length(j), out);
  if (rc < 0) return fail_alloc(c);
  return rc ? fail(c, TWE_EJSON, "invalid base64") : 0;
}

/* "EventType" -> "EVENT_TYPE_" in buf; false if it does not fit. */
bool twe__json_enum_prefix(const char *type, char *buf, size_t size) {
  size_t n = 0;
  for (size_t i = 0; type[i]; i++) {
    char ch = type[i];
    bool upper = ch >= 'A' && ch <= 'Z';
    if (upper && i > 0) {
      char prev = type[i - 1], next = type[i + 1];
      bool prev_lower = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
      bool acronym_end = prev >= 'A' && prev <= 'Z' && next >= 'a' && next <= 'z';
      if (prev_lower || acronym_end) {
        if (n + 1 >= size) return false;
        buf[n++] = '_';
      }
    }
    if (n + 1 >= size) return false;
    buf[n++] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
  }
  if (n + 2 > size) return false;
  buf[n++] = '_';
  buf[n] = '\0';
  return true;
}

/* Does s spell rest ("WORKFLOW_EXECUTION_STARTED") in PascalCase
 * ("WorkflowExecutionStarted")? */
bool twe__json_pascal_equal(const char *rest, const char *s) {
  bool word_start = true;
  for (; *rest; rest++) {
    char ch = *rest;
    if (ch == '_') {
      word_start = true;
      continue;
    }
    if (!word_start && ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
    word_start = false;
    if (*s++ != ch) return false;
  }
  return *s == '\0';
}

bool twe__json_enum_by_name(const ProtobufCEnumDescriptor *ed, const char *s, int32_t *out) {
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
  if (v) {
    *out = v->value;
    return true;
  }
  char prefix[160];
  bool have_prefix = twe__json_enum_prefix(ed->short_name, prefix, sizeof prefix);
  size_t plen = have_prefix ? strlen(prefix) : 0;
  for (unsigned i = 0; i < ed->n_values; i++) {
    const char *name = ed->values[i].name;
    const char *rest = have_prefix && !strncmp(name, prefix, plen) ? name + plen : name;
    if (twe__json_pascal_equal(rest, s)) {
      *out = ed->values[i].value;
      return true;
    }
  }
  return false;
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

size_t twe__json_element_size(ProtobufCType t) {
  switch (t) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_ENUM: return 4;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64: return 8;
  case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
  case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
  case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
  }
  return 0;
}

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

/* A map<K,V> field is a repeated K/V entry message in protobuf-c; the entry
 * type has exactly the fields key = 1 and value = 2. */
bool twe__json_is_map_entry(const ProtobufCMessageDescriptor *d) {
  return d->n_fields == 2 && d->fields[0].id == 1 && d->fields[1].id == 2 &&
         !strcmp(d->fields[0].name, "key") && !strcmp(d->fields[1].name, "value");
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

/* protoc's json_name: drop each '_' and upper-case the letter after it. */
bool twe__json_camel_equal(const char *name, const char *key) {
  bool up = false;
  for (; *name; name++) {
    if (*name == '_') {
      up = true;
      continue;
    }
    char ch = *name;
    if (up && ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
    up = false;
    if (*key++ != ch) return false;
  }
  return *key == '\0';
}

/* The .proto name first; then the json_name. A lowerCamelCase key without
 * '_' is turned back into snake_case ("eventId" -> "event_id") for the
 * descriptor's binary search by name, and the field found is kept only if
 * its json_name is the key; else every field is compared (protoc refuses
 * two fields with one json_name, so the first that matches is the one). */
const ProtobufCFieldDescriptor *twe__json_find_field(const ProtobufCMessageDescriptor *desc,
                                                     const char *key) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, key);
  if (f) return f;
  char snake[128];
  size_t n = 0;
  bool upper = false;
  for (const char *k = key; *k && *k != '_' && n + 2 < sizeof snake; k++) {
    if (*k >= 'A' && *k <= 'Z') {
      snake[n++] = '_';
      snake[n++] = (char)(*k - 'A' + 'a');
      upper = true;
    } else {
      snake[n++] = *k;
    }
    if (!k[1]) {
      snake[n] = '\0';
      f = upper ? protobuf_c_message_descriptor_get_field_by_name(desc, snake) : NULL;
      if (f && twe__json_camel_equal(f->name, key)) return f;
    }
  }
  for (unsigned i = 0; i < desc->n_fields; i++)
    if (twe__json_camel_equal(desc->fields[i].name, key)) return &desc->fields[i];
  return NULL;
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

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at *s into *out; advances *s. */
static bool digits(const char **s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char ch = (*s)[i];
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + (ch - '0');
  }
  *s += n;
  *out = v;
  return true;
}

/* Up to 9 fraction digits after '.' as nanoseconds; at least one digit. */
static bool fraction(const char **s, int32_t *nanos) {
  int32_t v = 0;
  int n = 0;
  while (**s >= '0' && **s <= '9') {
    if (n == 9) return false;
    v = v * 10 + (**s - '0');
    n++;
    (*s)++;
  }
  if (n == 0) return false;
  for (; n < 9; n++) v *= 10;
  *nanos = v;
  return true;
}

/* RFC 3339: "2024-05-01T10:00:00.123456789Z", or with "+02:00" / "-05:30". */
bool twe__json_timestamp(const char *s, Google__Protobuf__Timestamp *ts) {
  const char *p = s;
  int y, mo, d, h, mi, se, oh = 0, om = 0;
  int32_t nanos = 0;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
      !digits(&p, 2, &d) || (*p != 'T' && *p != 't') || !(++p, digits(&p, 2, &h)) ||
      *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &se))
    goto bad;
  if (*p == '.' && !(++p, fraction(&p, &nanos))) goto bad;
  int sign = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    sign = *p++ == '+' ? 1 : -1;
    if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
      goto bad;
  } else {
    goto bad;
  }
  if (*p) goto bad;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 ||
      mi > 59 || se > 59)
    goto bad;
  int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
  secs -= sign * (oh * 3600 + om * 60);
  /* The range protobuf allows: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
  if (secs < -62135596800LL || secs > 253402300799LL) goto bad;
  ts->seconds = secs;
  ts->nanos = nanos;
  return true;
bad:
  return false;
}

static int parse_timestamp(ctx_t *c, const json_t *j, Google__Protobuf__Timestamp *ts) {
  if (!json_is_string(j)) return wrong_type(c, "RFC 3339 timestamp string", j);
  const char *s = json_string_value(j);
  return twe__json_timestamp(s, ts) ? 0 : fail(c, TWE_EJSON, "invalid timestamp \"%s\"", s);
}

/* "1.5s", "-0.001s", "3600s"; at most 10,000 years either way. */
bool twe__json_duration(const char *s, Google__Protobuf__Duration *du) {
  const char *p = s;
  bool neg = *p == '-';
  if (neg) p++;
  if (*p < '0' || *p > '9') goto bad;
  int64_t secs = 0;
  int32_t nanos = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    secs = secs * 10 + (*p - '0');
    if (secs > 315576000000LL) goto bad;
  }
  if (*p == '.' && !(++p, fraction(&p, &nanos))) goto bad;
  if (p[0] != 's' || p[1] != '\0') goto bad;
  du->seconds = neg ? -secs : secs;
  du->nanos = neg ? -nanos : nanos;
  return true;
bad:
  return false;
}

static int parse_duration(ctx_t *c, const json_t *j, Google__Protobuf__Duration *du) {
  if (!json_is_string(j)) return wrong_type(c, "duration string", j);
  const char *s = json_string_value(j);
  return twe__json_duration(s, du) ? 0 : fail(c, TWE_EJSON, "invalid duration \"%s\"", s);
}

/* "fooBar,baz.quxQuux" -> ["foo_bar", "baz.qux_quux"]. */
int twe__json_field_mask(twe_arena_t *arena, const char *s, Google__Protobuf__FieldMask *fm) {
  size_t n = *s ? 1 : 0;
  for (const char *p = s; *p; p++) n += *p == ',';
  fm->paths = twe__arena_alloc(arena, n * sizeof *fm->paths);
  if (!fm->paths) return -1;
  const char *p = s;
  for (size_t i = 0; i < n; i++) {
    size_t len = strcspn(p, ","), upper = 0;
    for (size_t k = 0; k < len; k++) upper += p[k] >= 'A' && p[k] <= 'Z';
    char *out = twe__arena_alloc(arena, len + upper + 1), *o = out;
    if (!out) return -1;
    for (size_t k = 0; k < len; k++) {
      if (p[k] >= 'A' && p[k] <= 'Z') {
        *o++ = '_';
        *o++ = (char)(p[k] - 'A' + 'a');
      } else {
        *o++ = p[k];
      }
    }
    *o = '\0';
    fm->paths[i] = out;
    p += len + (p[len] == ',');
  }
  fm->n_paths = n;
  return 0;
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

bool twe__json_is_wrapper(const ProtobufCMessageDescriptor *d) {
  static const char *const names[] = {
      "google.protobuf.DoubleValue", "google.protobuf.FloatValue",  "google.protobuf.Int64Value",
      "google.protobuf.UInt64Value", "google.protobuf.Int32Value",  "google.protobuf.UInt32Value",
      "google.protobuf.BoolValue",   "google.protobuf.StringValue", "google.protobuf.BytesValue",
  };
  if (strncmp(d->name, "google.protobuf.", 16) != 0) return false;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(d->name, names[i])) return true;
  return false;
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
